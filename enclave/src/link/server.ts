/**
 * The enclave's side of the host link (DESIGN.md §9): a Unix socket carrying length-prefixed CBOR
 * frames. Each request has an id; answers may come back in any order. A malformed frame gets a coded
 * error and the connection carries on; an oversized one gets an error and the connection is closed,
 * since its body cannot be skipped safely. The enclave keeps serving either way.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { rmSync } from 'node:fs'
import type { ProtocolError} from '@vouch/protocol';
import { DEFAULT_MAX_FRAME_SIZE, decodeLinkRequest, encodeFrame, encodeFramePieces, FrameDecoder, requestIdOf, decodeCbor, writePieces, type LinkError, type LinkRequest } from '@vouch/protocol'
import type { Logger } from 'pino'
import { refusalReason, toLinkError } from '../errors.js'

/** What the link serves; implemented by the enclave service. */
export interface LinkHandler {
  ping(): Promise<Record<string, unknown>>
  attest(nonce: Uint8Array | null): Promise<Record<string, unknown>>
  models(): Promise<Record<string, unknown>>
  /** `signal` aborts when the link stops waiting for the answer (its timeout). */
  infer(kid: string, model: string, version: string | null, body: Uint8Array, signal?: AbortSignal): Promise<Record<string, unknown>>
}

/** Link limits. Every field says what happens when it is unset. */
export interface LinkServerOptions {
  /** Largest frame accepted or sent. Unset: {@link DEFAULT_MAX_FRAME_SIZE}. */
  maxFrameSize?: number
  /** Requests in flight per connection before reading pauses (backpressure). Unset: 64. */
  maxInFlight?: number
  /** Time an operation may take before it is answered with ERR_ENCLAVE_TIMEOUT. Unset: 60 s (inference), 30 s (others). */
  timeoutMs?: Partial<Record<LinkRequest['op'], number>>
}

const DEFAULT_TIMEOUT_MS: Record<LinkRequest['op'], number> = { ping: 5_000, models: 5_000, attest: 30_000, infer: 60_000 }

/**
 * Runs `task`, or rejects with ERR_ENCLAVE_TIMEOUT after `ms`, when the signal given to `task` also aborts: work
 * that has not started yet (a request waiting for its model) is dropped; work under way finishes and its late
 * answer is dropped.
 */
function withTimeout<T>(task: (signal: AbortSignal) => Promise<T>, ms: number): Promise<T> {
  const controller = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = Object.assign(new Error('timeout'), { code: 'ERR_ENCLAVE_TIMEOUT' })
      controller.abort(error)
      reject(error)
    }, ms)
    timer.unref()
  })
  return Promise.race([task(controller.signal), timeout]).finally(() => clearTimeout(timer))
}

/** A listening link server. */
export interface LinkServer {
  readonly server: Server
  close(): Promise<void>
}

/** Serves `handler` on the Unix socket `path` (an existing socket file there is replaced). */
export async function startLinkServer(path: string, handler: LinkHandler, log: Logger, options: LinkServerOptions = {}): Promise<LinkServer> {
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
  const maxInFlight = options.maxInFlight ?? 64
  const timeouts = { ...DEFAULT_TIMEOUT_MS, ...options.timeoutMs }
  const sockets = new Set<Socket>()

  const serve = (socket: Socket): void => {
    sockets.add(socket)
    const decoder = new FrameDecoder(maxFrameSize)
    let inFlight = 0
    let writable = true
    const updateFlow = (): void => {
      if (inFlight >= maxInFlight || !writable) socket.pause()
      else socket.resume()
    }
    /** Sends `message`; `bytes`, a byte string it holds (a sealed answer), is written as it is, not copied into the frame. */
    const send = (message: unknown, bytes?: Uint8Array): void => {
      if (socket.destroyed) return
      let pieces: Uint8Array[]
      try {
        pieces = encodeFramePieces(message, bytes, maxFrameSize)
      } catch (error) {
        const id = requestIdOf(message)
        pieces = [encodeFrame({ id, ok: false, error: toLinkError(error, log) })]
      }
      writable = writePieces(socket, pieces)
      updateFlow()
    }
    const fail = (id: number | null, error: LinkError): void => send({ id, ok: false, error })

    const dispatch = async (request: LinkRequest, signal: AbortSignal): Promise<Record<string, unknown>> => {
      switch (request.op) {
        case 'ping':
          return handler.ping()
        case 'attest':
          return handler.attest(request.nonce)
        case 'models':
          return handler.models()
        case 'infer':
          return handler.infer(request.kid, request.model, request.version, request.body, signal)
      }
    }

    const handle = (body: Uint8Array): void => {
      let request: LinkRequest
      try {
        request = decodeLinkRequest(body)
      } catch (error) {
        let id: number | null = null
        try {
          id = requestIdOf(decodeCbor(body))
        } catch {
          // not CBOR at all: no id to answer with
        }
        log.warn({ code: (error as ProtocolError).code }, 'malformed link frame')
        fail(id, toLinkError(error, log))
        return
      }
      inFlight++
      updateFlow()
      const started = performance.now()
      // The callbacks keep the op and id only, not the request: its body is a whole frame.
      const { op, id } = request
      withTimeout((signal) => dispatch(request, signal), timeouts[op])
        .then(
          (result) => {
            log.debug({ op, id, ms: Math.round(performance.now() - started) }, 'link request served')
            const sealed = result['body']
            send({ id, ok: true, result }, op === 'infer' && sealed instanceof Uint8Array ? sealed : undefined)
          },
          (error: unknown) => {
            const linkError = toLinkError(error, log)
            // The reason (which tensor, which shape) stays here: the link carries the code's fixed message only.
            log.info({ op, id, code: linkError.code, reason: refusalReason(error), ms: Math.round(performance.now() - started) }, 'link request refused')
            fail(id, linkError)
          },
        )
        .finally(() => {
          inFlight--
          updateFlow()
        })
    }

    socket.on('data', (chunk: Buffer) => {
      let frames: Uint8Array[]
      try {
        frames = decoder.push(chunk)
      } catch (error) {
        // An oversized header: its body cannot be skipped without reading it, so answer and hang up.
        log.warn({ code: (error as ProtocolError).code }, 'oversized link frame; closing the connection')
        fail(null, toLinkError(error, log))
        socket.end()
        socket.pause()
        return
      }
      for (const frame of frames) handle(frame)
    })
    socket.on('drain', () => {
      writable = true
      updateFlow()
    })
    socket.on('error', (error) => log.warn({ err: { code: (error as NodeJS.ErrnoException).code } }, 'link connection error'))
    socket.on('close', () => sockets.delete(socket))
  }

  rmSync(path, { force: true })
  const server = createServer(serve)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
