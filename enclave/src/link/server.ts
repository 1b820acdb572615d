/**
 * The enclave's side of the host link (DESIGN.md §9): a Unix socket carrying length-prefixed CBOR
 * frames. Each request has an id; answers may come back in any order. A malformed frame gets a coded
 * error and the connection carries on; an oversized one gets an error and the connection is closed,
 * since its body cannot be skipped safely. The enclave keeps serving either way.
 */
import { createServer, type Server, type Socket } from 'node:net'
import { rmSync } from 'node:fs'
import type { ProtocolError } from '@vouch/protocol'
import {
  BufferPool,
  formatTcpAddress,
  parseLinkAddress,
  DEFAULT_MAX_FRAME_SIZE,
  decodeCbor,
  decodeLinkRequest,
  encodeFrame,
  encodeFramePieces,
  FrameDecoder,
  linkResultPayload,
  requestIdOf,
  writePieces,
  type LinkError,
  type LinkOp,
  type LinkRequest,
  type LinkRequestFields,
  type LinkResult,
} from '@vouch/protocol'
import { hop, hopClock, traceRequest } from '@vouch/protocol/hop-trace'
import type { Logger } from 'pino'
import { refusalReason, toLinkError } from '../errors.js'

/**
 * What the link serves, one method per operation of `LinkOperations` (in `@vouch/protocol`), each taking that
 * operation's request fields and resolving to its result; implemented by the enclave service. `signal` aborts when
 * the link stops waiting for the answer (its timeout).
 */
export type LinkHandler = { [O in LinkOp]: (request: LinkRequestFields<O>, signal: AbortSignal) => Promise<LinkResult<O>> }

/** Link limits. Every field says what happens when it is unset. */
export interface LinkServerOptions {
  /** Largest frame accepted or sent. Unset: {@link DEFAULT_MAX_FRAME_SIZE}. */
  maxFrameSize?: number
  /** Requests in flight per connection before reading pauses (backpressure). Unset: 64. */
  maxInFlight?: number
  /** Time an operation may take before it is answered with ERR_ENCLAVE_TIMEOUT. Unset: 60 s (inference), 30 s (others). */
  timeoutMs?: Partial<Record<LinkOp, number>>
}

const DEFAULT_TIMEOUT_MS: Record<LinkOp, number> = { ping: 5_000, models: 5_000, attest: 30_000, infer: 60_000, drain: 5_000, rotate: 5_000 }

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
  /** Where it listens: the socket path, or `tcp://HOST:PORT` with the port bound. */
  readonly address: string
  /**
   * True when every connected host has been told, by a ping answer, that the enclave drains, and nothing received
   * is left unanswered: no host will send another request, so closing loses none.
   */
  settled(): boolean
  close(): Promise<void>
}

/** Runs `request` on the handler method of its op: the op and its types are correlated here, once. */
function dispatch<O extends LinkOp>(handler: LinkHandler, request: LinkRequest<O>, signal: AbortSignal): Promise<LinkResult<O>> {
  return handler[request.op](request, signal)
}

/** One host connection: its frames in, its answers out, with backpressure both ways. */
class LinkConnection {
  readonly #decoder: FrameDecoder
  #inFlight = 0
  #writable = true
  /** True once this connection's host was answered a ping saying the enclave drains: it sends no new request after. */
  toldDraining = false

  /** Requests received and not yet answered. */
  get inFlight(): number {
    return this.#inFlight
  }

  /** @param frames - The frame buffers all of the server's connections share. */
  constructor(
    readonly socket: Socket,
    readonly handler: LinkHandler,
    readonly log: Logger,
    readonly limits: { maxFrameSize: number; maxInFlight: number; timeouts: Record<LinkOp, number> },
    readonly frames: BufferPool,
  ) {
    this.#decoder = new FrameDecoder(limits.maxFrameSize, (length) => frames.take(length))
    socket.on('data', (chunk: Buffer) => this.#receive(chunk))
    socket.on('drain', () => {
      this.#writable = true
      this.#updateFlow()
    })
    socket.on('error', (error) => log.warn({ err: { code: (error as NodeJS.ErrnoException).code } }, 'link connection error'))
  }

  /** Stops reading while too many requests are in flight or the socket's write buffer is full. */
  #updateFlow(): void {
    if (this.#inFlight >= this.limits.maxInFlight || !this.#writable) this.socket.pause()
    else this.socket.resume()
  }

  /** Sends `message`; `bytes`, a byte string it holds (a sealed answer), is written as it is, not copied into the frame. */
  #send(message: unknown, bytes?: Uint8Array): void {
    if (this.socket.destroyed) return
    let pieces: Uint8Array[]
    try {
      pieces = encodeFramePieces(message, bytes, this.limits.maxFrameSize)
    } catch (error) {
      const id = requestIdOf(message)
      pieces = [encodeFrame({ id, ok: false, error: toLinkError(error, this.log) })]
    }
    this.#writable = writePieces(this.socket, pieces)
    this.#updateFlow()
  }

  #fail(id: number | null, error: LinkError): void {
    this.#send({ id, ok: false, error })
  }

  #receive(chunk: Buffer): void {
    let frames: Uint8Array[]
    try {
      frames = this.#decoder.push(chunk)
    } catch (error) {
      // An oversized header: its body cannot be skipped without reading it, so answer and hang up.
      this.log.warn({ code: (error as ProtocolError).code }, 'oversized link frame; closing the connection')
      this.#fail(null, toLinkError(error, this.log))
      this.socket.end()
      this.socket.pause()
      return
    }
    for (const frame of frames) this.#handle(frame)
  }

  #handle(frame: Uint8Array): void {
    const since = hopClock()
    let request: LinkRequest
    try {
      request = decodeLinkRequest(frame)
    } catch (error) {
      let id: number | null = null
      try {
        id = requestIdOf(decodeCbor(frame))
      } catch {
        // not CBOR at all: no id to answer with
      }
      this.frames.give(frame)
      this.log.warn({ code: (error as ProtocolError).code }, 'malformed link frame')
      this.#fail(id, toLinkError(error, this.log))
      return
    }
    this.#inFlight++
    this.#updateFlow()
    // The request's byte strings are views of the frame: it goes back to the pool once its handler has settled, not
    // when a timeout answered for it (the handler may still be reading it).
    const handled = (work: Promise<unknown>): void => void work.then(() => this.frames.give(frame), () => this.frames.give(frame))
    // Only inferences are traced (VOUCH_TRACE_HOPS): the heartbeat's pings would only blur them.
    const served = since !== null && request.op === 'infer' ? traceRequest('enclave', () => this.#serve(request, handled), since) : this.#serve(request, handled)
    // #serve never rejects (it answers a failure as a link error), so neither does this.
    void served.finally(() => {
      this.#inFlight--
      this.#updateFlow()
    })
  }

  /**
   * Answers `request`: its result, or its refusal as a coded link error; never rejects. `handled` is given the
   * handler's own promise, which may settle after a timeout has answered.
   */
  async #serve<O extends LinkOp>(request: LinkRequest<O>, handled: (work: Promise<unknown>) => void): Promise<void> {
    const started = performance.now()
    // What follows keeps the op and id only, not the request: its body is a whole frame.
    const { op, id } = request
    let result: LinkResult<O>
    try {
      hop('read frame')
      result = await withTimeout((signal) => {
        const work = dispatch(this.handler, request, signal)
        handled(work)
        return work
      }, this.limits.timeouts[op])
    } catch (error) {
      const linkError = toLinkError(error, this.log)
      // The reason (which tensor, which shape) stays here: the link carries the code's fixed message only.
      this.log.info({ op, id, code: linkError.code, reason: refusalReason(error), ms: Math.round(performance.now() - started) }, 'link request refused')
      this.#fail(id, linkError)
      return
    }
    this.log.debug({ op, id, ms: Math.round(performance.now() - started) }, 'link request served')
    if (op === 'ping' && (result as LinkResult<'ping'>).draining) this.toldDraining = true
    this.#send({ id, ok: true, result }, linkResultPayload(op, result))
    hop('answer (link write)')
  }
}

/**
 * Serves `handler` at `address` ({@link parseLinkAddress}): a Unix socket path (an existing socket file there is
 * replaced) or `tcp://HOST:PORT` (port 0: any free one; {@link LinkServer.address} says which).
 */
export async function startLinkServer(address: string, handler: LinkHandler, log: Logger, options: LinkServerOptions = {}): Promise<LinkServer> {
  const limits = {
    maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
    maxInFlight: options.maxInFlight ?? 64,
    timeouts: { ...DEFAULT_TIMEOUT_MS, ...options.timeoutMs },
  }
  const where = parseLinkAddress(address, { anyPort: true })
  const connections = new Map<Socket, LinkConnection>()
  // Zeroed when given back: a frame holds its request's plaintext once opened in place. At most two frames' worth kept.
  const frames = new BufferPool(true, 2 * limits.maxFrameSize)
  if ('path' in where) rmSync(where.path, { force: true })
  const server = createServer((socket) => {
    socket.on('close', () => connections.delete(socket))
    // Answers are written as soon as they are ready: no Nagle delay on a TCP link.
    socket.setNoDelay?.(true)
    connections.set(socket, new LinkConnection(socket, handler, log, limits, frames))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    const listening = (): void => {
      server.off('error', reject)
      resolve()
    }
    if ('path' in where) server.listen(where.path, listening)
    else server.listen(where.port, where.host, listening)
  })
  const bound = server.address()
  return {
    server,
    address: typeof bound === 'string' || bound === null ? address : formatTcpAddress(bound.address, bound.port),
    settled: () => [...connections.values()].every((c) => c.toldDraining && c.inFlight === 0),
    close: () =>
      new Promise<void>((resolve) => {
        // What was written (the last answers) is flushed before the connection goes: ended, then destroyed if the
        // host does not hang up within a second.
        for (const s of connections.keys()) {
          s.end()
          setTimeout(() => s.destroy(), 1_000).unref()
        }
        server.close(() => resolve())
      }),
  }
}
