/**
 * Loopback attackers and bound clients for the availability tests and `bench/attacks.ts`: a slow-body client that
 * opens a sealed request and trickles its body (a declared length it never reaches, or a chunked body that never
 * ends), and a fetch over node:https from a chosen local address (127.0.0.0/8 is all loopback on Linux), so one
 * test can play several clients.
 */
import { request as httpsRequest, Agent } from 'node:https'
import { connect as connectTcp } from 'node:net'
import { connect as connectTls } from 'node:tls'
import type { FetchLike } from '@vouch/client'

/** How a slow-body connection ended: the host's answer (status and problem code) and when, or null if none came. */
export interface SlowOutcome {
  status: number | null
  code: string | null
  /** Milliseconds from opening the connection to the answer (or to the close, when no answer came). */
  atMs: number
  /** Body bytes the client had sent by then. */
  sent: number
  /** Whether the host closed the connection after its answer (within a second), rather than keep reading. */
  closedByHost: boolean
}

/** A slow-body connection. */
export interface SlowBody {
  /** Resolves once the host answers or closes the connection. */
  readonly outcome: Promise<SlowOutcome>
  /** Resolves once the TLS connection is up and the request head is sent. */
  readonly opened: Promise<void>
  /** Stops trickling and closes the connection. */
  close(): void
}

/** Options of {@link openSlowBody}. */
export interface SlowBodyOptions {
  port: number
  /** PEM CA of the host's certificate. Unset: plain HTTP (an in-process app). */
  ca?: string | Buffer
  /** Source address. Unset: the system's choice (127.0.0.1). */
  localAddress?: string
  /** `declared`: a Content-Length it never reaches; `chunked`: a chunked body that never ends. */
  mode: 'declared' | 'chunked'
  /** The Content-Length declared (`declared` mode). */
  declared?: number
  /** Bytes sent at once before trickling. Unset: 0. */
  burst?: number
  /** Time between trickled bytes. */
  intervalMs: number
}

const KID = 'k'.repeat(43)

/** Opens a sealed request to `/v2/models/ppocr-cls/infer` (over TLS when `ca` is given) and trickles its body one byte per `intervalMs`. */
export function openSlowBody(options: SlowBodyOptions): SlowBody {
  const started = performance.now()
  let sent = 0
  let closing = false
  let timer: NodeJS.Timeout | undefined
  const local = options.localAddress === undefined ? {} : { localAddress: options.localAddress }
  const socket = options.ca === undefined ? connectTcp({ host: '127.0.0.1', port: options.port, ...local }) : connectTls({ host: '127.0.0.1', port: options.port, ca: options.ca, servername: 'localhost', ...local })
  const framing = options.mode === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${options.declared ?? 16 * 1024 * 1024}`
  const send = (bytes: Buffer): void => {
    if (socket.destroyed || !socket.writable) return
    socket.write(options.mode === 'chunked' ? Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]) : bytes)
    sent += bytes.length
  }
  const opened = new Promise<void>((resolve, reject) => {
    socket.once(options.ca === undefined ? 'connect' : 'secureConnect', () => {
      socket.write(`POST /v2/models/ppocr-cls/infer HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/vnd.vouch.sealed\r\nVouch-Key-Id: ${KID}\r\n${framing}\r\n\r\n`)
      if ((options.burst ?? 0) > 0) send(Buffer.alloc(options.burst!, 0x5a))
      timer = setInterval(() => send(Buffer.from([0x5a])), options.intervalMs)
      resolve()
    })
    socket.once('error', reject)
  })
  opened.catch(() => undefined)
  const outcome = new Promise<SlowOutcome>((resolve) => {
    let text = Buffer.alloc(0)
    let answer: Omit<SlowOutcome, 'closedByHost'> | null = null
    let done = false
    const parse = (): Omit<SlowOutcome, 'closedByHost'> => {
      const head = /^HTTP\/1\.1 (\d{3})/.exec(text.toString('latin1'))
      const code = /"code":"([A-Z0-9_]+)"/.exec(text.toString('utf8'))
      return { status: head === null ? null : Number(head[1]), code: code === null ? null : code[1]!, atMs: performance.now() - started, sent }
    }
    const finish = (closedByHost: boolean): void => {
      if (done) return
      done = true
      clearInterval(timer)
      resolve({ ...(answer ?? parse()), closedByHost })
      socket.destroy()
    }
    socket.on('data', (chunk: Buffer) => {
      text = Buffer.concat([text, chunk])
      const end = text.indexOf('\r\n\r\n')
      if (end < 0 || answer !== null) return
      const length = /\r\ncontent-length: (\d+)/i.exec(text.subarray(0, end).toString('latin1'))
      if (length === null || text.length < end + 4 + Number(length[1])) return
      answer = parse()
      // The answer is whole: give the host a second to close the connection, as it should after cutting a body off.
      clearInterval(timer)
      setTimeout(() => finish(false), 1_000).unref()
    })
    socket.once('end', () => finish(!closing))
    socket.once('close', () => finish(!closing))
    socket.once('error', () => undefined)
  })
  return {
    outcome,
    opened,
    close: () => {
      closing = true
      clearInterval(timer)
      socket.destroy()
    },
  }
}

/** A fetch over node:https from `localAddress`, trusting `ca`: the SDK as a client at another address. */
export function boundFetch(localAddress: string, ca: string | Buffer): { fetch: FetchLike; close(): void } {
  const agent = new Agent({ keepAlive: true, localAddress, ca, minVersion: 'TLSv1.3' })
  const fetch: FetchLike = (url, init) =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method: init.method, headers: { ...init.headers, ...(init.body !== undefined && { 'content-length': String(init.body.length) }) }, agent, signal: init.signal }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('error', reject)
        res.on('end', () => {
          const body = Buffer.concat(chunks)
          const headers = new Map(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]))
          resolve({
            status: res.statusCode ?? 0,
            headers: { get: (name) => headers.get(name.toLowerCase()) ?? null, forEach: (cb) => headers.forEach((v, k) => cb(v, k)) },
            arrayBuffer: async () => body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer,
          })
        })
      })
      req.on('error', reject)
      req.end(init.body === undefined ? undefined : Buffer.from(init.body))
    })
  return { fetch, close: () => agent.destroy() }
}
