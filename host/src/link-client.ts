/**
 * The host's side of the enclave link (DESIGN.md §9, docs/protocol.md "Host ↔ enclave link"): one connection
 * to the enclave's socket carrying length-prefixed CBOR frames, many requests in flight on it.
 *
 * - Every request gets an id and a timeout; an answer that comes after its timeout is dropped, but the request
 *   still counts as in flight until the enclave answers it, so the bound on in-flight work stays true.
 * - At most `maxInFlight` requests, and `maxInFlightBytes` of their bodies, are written and unanswered; the rest
 *   wait in a queue bounded in count and bytes, and a request that does not fit is refused at once
 *   (`ERR_HOST_QUEUE_FULL`, 503) rather than held. The bytes bound keeps the enclave's memory (the scarce one, in
 *   a confidential VM) from holding a dozen 5 MB requests that its model would only run one after another; a
 *   queued body costs the host nothing more, since it holds the body anyway.
 * - Writing stops while `socket.write` says the kernel buffer is full, and resumes on `drain` (backpressure).
 * - The link is `up` only while it is connected and the enclave has answered a ping; a heartbeat keeps
 *   checking. While it is down every request is refused at once (`ERR_HOST_ENCLAVE_UNAVAILABLE`, 503) and the
 *   client reconnects with backoff. A frame that is not the link protocol ends the connection: nothing after
 *   it on the stream can be trusted to line up.
 */
import { EventEmitter } from 'node:events'
import { connect, type Socket } from 'node:net'
import {
  DEFAULT_MAX_FRAME_SIZE,
  decodeLinkResponse,
  decodeLinkResult,
  encodeFramePieces,
  FrameDecoder,
  linkRequestPayload,
  writePieces,
  type LinkOp,
  type LinkRequestFields,
  type LinkResult,
  parseLinkAddress,
  type LinkAddress,
} from '@vouch/protocol'
import { hop } from '@vouch/protocol/hop-trace'
import type { Logger } from 'pino'
import { HostError, toEnclaveRefusal, type EnclaveRefusal } from './errors.js'
import type { LinkMetrics } from './metrics.js'

/** Options of one request. */
export interface LinkCallOptions {
  /** Time from queueing to the answer before the request fails with `ERR_HOST_TIMEOUT`. Unset: the op's default. */
  timeoutMs?: number
  /** Aborting it drops the request (from the queue, or its answer once it comes). */
  signal?: AbortSignal
}

/** What the HTTP app needs of the link; {@link EnclaveLinkClient} implements it, tests fake it. */
export type { LinkAddress }

export interface EnclaveLink {
  /** True while the link is connected and the enclave answers pings. */
  readonly up: boolean
  /**
   * Sends an `op` request with `fields` and resolves to the enclave's result, checked as the op's result
   * (`LinkOperations` in `@vouch/protocol`). Rejects with a {@link HostError} (unavailable, queue full, timeout,
   * body too large, or bad gateway: an answer that is not the op's result) or an {@link EnclaveRefusal} (the
   * enclave's own code).
   */
  request<O extends LinkOp>(op: O, fields: LinkRequestFields<O>, options?: LinkCallOptions): Promise<LinkResult<O>>
}

/** The result of an `op` request, checked; `ERR_HOST_BAD_GATEWAY` (with the protocol's reason as cause) for anything else. */
export function toLinkResult<O extends LinkOp>(op: O, result: Record<string, unknown>): LinkResult<O> {
  try {
    return decodeLinkResult(op, result)
  } catch (cause) {
    throw new HostError('ERR_HOST_BAD_GATEWAY', { cause })
  }
}

/** Link client settings. Every field says what happens when it is unset. */
export interface LinkClientOptions {
  /** The enclave's socket path or `tcp://HOST:PORT` ({@link parseLinkAddress}). */
  address: string
  log: Logger
  /** Queue and request hooks. Unset: none. */
  metrics?: LinkMetrics
  /** Largest frame sent or accepted. Unset: {@link DEFAULT_MAX_FRAME_SIZE} (the enclave's default). */
  maxFrameSize?: number
  /** Requests written and unanswered at once. Unset: 32 (the enclave pauses a connection at 64). */
  maxInFlight?: number
  /** Bytes of request bodies written and unanswered at once; one request is let through whatever its size. Unset: 16 MiB. */
  maxInFlightBytes?: number
  /** Requests waiting to be written. Unset: 256. */
  maxQueue?: number
  /** Bytes of request bodies waiting to be written. Unset: 128 MiB. */
  maxQueueBytes?: number
  /** Per-op timeouts from queueing to answer. Unset: ping and models 5 s, attest 30 s, infer 65 s (past the enclave's own 60 s). */
  timeoutsMs?: Partial<Record<LinkOp, number>>
  /** Time between heartbeat pings while connected. Unset: 2 s. */
  heartbeatMs?: number
  /** First and largest delay between reconnection attempts (doubling in between). Unset: 50 ms and 1 s. */
  reconnectMs?: { min: number; max: number }
  /** Time a TCP connection may take to open. Unset: 5 s. */
  connectTimeoutMs?: number
}

const DEFAULT_TIMEOUTS_MS: Record<LinkOp, number> = { ping: 5_000, models: 5_000, attest: 30_000, infer: 65_000, drain: 5_000, rotate: 5_000 }
/** CBOR map and field overhead of a frame beyond its sealed body (an infer frame's kid and model are at most 256 bytes each). */
const PAYLOAD_FRAME_OVERHEAD = 1024

interface Pending {
  readonly id: number
  readonly op: LinkOp
  /** The request's fields; dropped once written, so a queued body is held once (by the caller), not again here. */
  fields: LinkRequestFields<LinkOp> | null
  /** The request's sealed body, if it has one: framed by reference; its size counts against the byte limits. */
  payload: Uint8Array | undefined
  readonly bytes: number
  readonly started: number
  /** Control requests (the handshake and heartbeat pings) jump the queue and the in-flight bound. */
  readonly control: boolean
  settled: boolean
  timer: NodeJS.Timeout | undefined
  resolve(result: LinkResult<LinkOp>): void
  reject(error: HostError | EnclaveRefusal): void
  cleanup(): void
}

/**
 * The robust link client: ids, timeouts, a bounded queue, backpressure, reconnection and an `up` state.
 * Emits `up` and `down` when that state changes, and `ping` with each answered ping (kid, draining). Call {@link start} once; {@link close} at shutdown.
 */
export class EnclaveLinkClient extends EventEmitter implements EnclaveLink {
  readonly #options: LinkClientOptions
  readonly #address: LinkAddress
  readonly #maxFrameSize: number
  readonly #maxInFlight: number
  readonly #maxInFlightBytes: number
  readonly #maxQueue: number
  readonly #maxQueueBytes: number
  readonly #timeouts: Record<LinkOp, number>
  readonly #log: Logger
  #socket: Socket | null = null
  #connected = false
  #writable = true
  #up = false
  #started = false
  #closed = false
  #nextId = 1
  readonly #queue: Pending[] = []
  #queuedBytes = 0
  readonly #inFlight = new Map<number, Pending>()
  #inFlightBytes = 0
  #reconnectTimer: NodeJS.Timeout | undefined
  #heartbeatTimer: NodeJS.Timeout | undefined
  #heartbeatPending = false
  #delay: number
  /** Why the current connection is being torn down; what its pending requests fail with. */
  #failure: HostError | null = null

  constructor(options: LinkClientOptions) {
    super()
    this.#options = options
    this.#address = parseLinkAddress(options.address)
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE
    this.#maxInFlight = options.maxInFlight ?? 32
    this.#maxInFlightBytes = options.maxInFlightBytes ?? 16 * 1024 * 1024
    this.#maxQueue = options.maxQueue ?? 256
    this.#maxQueueBytes = options.maxQueueBytes ?? 128 * 1024 * 1024
    this.#timeouts = { ...DEFAULT_TIMEOUTS_MS, ...options.timeoutsMs }
    this.#log = options.log
    this.#delay = options.reconnectMs?.min ?? 50
  }

  /** True while connected and the enclave answers pings. */
  get up(): boolean {
    return this.#up
  }

  /** Requests waiting to be written. */
  get queueDepth(): number {
    return this.#queue.length
  }

  /** Requests written and not yet answered (including those whose caller gave up). */
  get inFlight(): number {
    return this.#inFlight.size
  }

  /** Starts connecting (and reconnecting whenever the connection drops). */
  start(): void {
    if (this.#started) return
    this.#started = true
    this.#connect()
  }

  /** Tries to connect now instead of at the next backoff step (the supervisor calls it when the enclave says it is ready). */
  reconnectNow(): void {
    if (this.#closed || !this.#started || this.#socket !== null) return
    clearTimeout(this.#reconnectTimer)
    this.#delay = this.#options.reconnectMs?.min ?? 50
    this.#connect()
  }

  /** Resolves true once the link is up, or false after `timeoutMs`. */
  waitUntilUp(timeoutMs: number): Promise<boolean> {
    if (this.#up) return Promise.resolve(true)
    return new Promise((resolve) => {
      const onUp = (): void => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => {
        this.off('up', onUp)
        resolve(false)
      }, timeoutMs)
      timer.unref()
      this.once('up', onUp)
    })
  }

  request<O extends LinkOp>(op: O, fields: LinkRequestFields<O>, options: LinkCallOptions = {}): Promise<LinkResult<O>> {
    if (this.#closed || !this.#up) return Promise.reject(new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE'))
    const bytes = linkRequestPayload(op, fields)?.length ?? 0
    if (bytes + PAYLOAD_FRAME_OVERHEAD > this.#maxFrameSize) return Promise.reject(new HostError('ERR_HOST_BODY_TOO_LARGE'))
    if (this.#queue.length >= this.#maxQueue || (bytes > 0 && this.#queuedBytes + bytes > this.#maxQueueBytes && this.#queue.length > 0)) {
      return Promise.reject(new HostError('ERR_HOST_QUEUE_FULL'))
    }
    return this.#enqueue(op, fields, options, false)
  }

  /** Stops reconnecting, fails whatever is still pending and closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#reconnectTimer)
    clearInterval(this.#heartbeatTimer)
    this.#setUp(false, 'closed')
    const socket = this.#socket
    this.#failAll(new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE'))
    if (socket === null) return
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve())
      socket.destroy()
    })
  }

  #enqueue<O extends LinkOp>(op: O, fields: LinkRequestFields<O>, options: LinkCallOptions, control: boolean): Promise<LinkResult<O>> {
    const signal = options.signal
    if (signal?.aborted) return Promise.reject(abortError(signal))
    const payload = linkRequestPayload(op, fields)
    return new Promise<LinkResult<O>>((resolve, reject) => {
      const id = this.#nextId
      this.#nextId = this.#nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.#nextId + 1
      const onAbort = (): void => this.#abandon(pending, abortError(signal!))
      const pending: Pending = {
        id,
        op,
        fields,
        payload,
        bytes: payload?.length ?? 0,
        started: performance.now(),
        control,
        settled: false,
        timer: undefined,
        // Settled with the result decoded for this op (#answer).
        resolve: resolve as (result: LinkResult<LinkOp>) => void,
        reject,
        cleanup: () => {
          clearTimeout(pending.timer)
          signal?.removeEventListener('abort', onAbort)
        },
      }
      pending.timer = setTimeout(() => this.#abandon(pending, new HostError('ERR_HOST_TIMEOUT')), options.timeoutMs ?? this.#timeouts[op])
      signal?.addEventListener('abort', onAbort, { once: true })
      if (control) this.#queue.unshift(pending)
      else this.#queue.push(pending)
      this.#queuedBytes += pending.bytes
      this.#pump()
    })
  }

  /** Settles a request before its answer (timeout, abort). Queued: removed. Written: its answer will be dropped. */
  #abandon(pending: Pending, error: HostError | EnclaveRefusal): void {
    if (pending.settled) return
    const at = this.#queue.indexOf(pending)
    if (at >= 0) {
      this.#queue.splice(at, 1)
      this.#queuedBytes -= pending.bytes
      pending.fields = null
      pending.payload = undefined
    }
    this.#settle(pending, error)
    this.#reportQueue()
  }

  #settle(pending: Pending, outcome: LinkResult<LinkOp> | HostError | EnclaveRefusal): void {
    if (pending.settled) return
    pending.settled = true
    pending.cleanup()
    const failed = outcome instanceof Error
    this.#options.metrics?.linkRequest(pending.op, failed ? outcome.code : 'ok', (performance.now() - pending.started) / 1000)
    if (failed) pending.reject(outcome)
    else pending.resolve(outcome)
  }

  /** Writes queued requests while the connection takes them and the in-flight bound allows. */
  #pump(): void {
    const socket = this.#socket
    while (socket !== null && this.#connected && this.#writable && this.#queue.length > 0) {
      const next = this.#queue[0]!
      if (!next.control && this.#inFlight.size >= this.#maxInFlight) break
      if (!next.control && this.#inFlightBytes > 0 && this.#inFlightBytes + next.bytes > this.#maxInFlightBytes) break
      this.#queue.shift()
      this.#queuedBytes -= next.bytes
      const { fields, payload } = next
      next.fields = null
      next.payload = undefined
      let pieces: Uint8Array[]
      try {
        // A frame with a sealed body is written around the body, not with a copy of it.
        pieces = encodeFramePieces({ id: next.id, op: next.op, ...fields }, payload, this.#maxFrameSize)
      } catch (error) {
        const code = (error as { code?: string }).code === 'ERR_LINK_FRAME_TOO_LARGE' ? 'ERR_HOST_BODY_TOO_LARGE' : 'ERR_HOST_INTERNAL'
        this.#settle(next, new HostError(code, { cause: error }))
        continue
      }
      this.#inFlight.set(next.id, next)
      this.#inFlightBytes += next.bytes
      this.#writable = writePieces(socket, pieces)
      hop('relay (link write)')
    }
    this.#reportQueue()
  }

  #reportQueue(): void {
    this.#options.metrics?.queue(this.#queue.length, this.#inFlight.size)
  }

  #connect(): void {
    if (this.#closed) return
    const socket = connect('path' in this.#address ? { path: this.#address.path } : { host: this.#address.host, port: this.#address.port })
    this.#socket = socket
    this.#failure = null
    const decoder = new FrameDecoder(this.#maxFrameSize)
    socket.setNoDelay?.(true)
    socket.setTimeout(this.#options.connectTimeoutMs ?? 5_000, () => {
      if (!this.#connected) socket.destroy(new Error('connect timeout'))
    })
    socket.once('connect', () => {
      socket.setTimeout(0)
      this.#connected = true
      this.#writable = true
      this.#log.debug({ address: this.#options.address }, 'enclave link connected')
      this.#handshake()
    })
    socket.on('data', (chunk: Buffer) => {
      let frames: Uint8Array[]
      try {
        frames = decoder.push(chunk)
        for (const frame of frames) this.#answer(decodeLinkResponse(frame))
      } catch (error) {
        // Not the link protocol (or a frame over the limit): nothing after it on this stream can be trusted.
        this.#log.warn({ err: { code: (error as { code?: string }).code, message: (error as Error).message } }, 'enclave link: malformed answer; reconnecting')
        this.#drop(new HostError('ERR_HOST_BAD_GATEWAY', { cause: error }))
      }
    })
    socket.on('drain', () => {
      this.#writable = true
      this.#pump()
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // Refused or missing sockets are expected while the enclave (re)starts.
      const expected = error.code === 'ECONNREFUSED' || error.code === 'ENOENT'
      this.#log[expected ? 'debug' : 'warn']({ err: { code: error.code, message: error.message } }, 'enclave link error')
    })
    socket.once('close', () => {
      this.#socket = null
      this.#connected = false
      clearInterval(this.#heartbeatTimer)
      this.#heartbeatPending = false
      this.#setUp(false, 'connection closed')
      this.#failAll(this.#failure ?? new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE'))
      if (this.#closed) return
      this.#reconnectTimer = setTimeout(() => this.#connect(), this.#delay)
      this.#reconnectTimer.unref()
      this.#delay = Math.min(this.#delay * 2, this.#options.reconnectMs?.max ?? 1_000)
    })
  }

  /** Ends the connection, failing what it carries with `failure`; the close handler reconnects. */
  #drop(failure: HostError): void {
    this.#failure = failure
    this.#setUp(false, failure.code)
    this.#socket?.destroy()
  }

  #failAll(error: HostError): void {
    const queued = this.#queue.splice(0)
    this.#queuedBytes = 0
    for (const pending of queued) {
      pending.fields = null
      pending.payload = undefined
      this.#settle(pending, error)
    }
    // An inference the enclave was given may have run: not "unavailable" (retry elsewhere) but lost, outcome unknown.
    const lost = error.code === 'ERR_HOST_ENCLAVE_UNAVAILABLE' ? new HostError('ERR_HOST_ENCLAVE_LOST', { cause: error }) : error
    for (const pending of this.#inFlight.values()) this.#settle(pending, pending.op === 'infer' ? lost : error)
    this.#inFlight.clear()
    this.#inFlightBytes = 0
    this.#reportQueue()
  }

  #answer(response: ReturnType<typeof decodeLinkResponse>): void {
    if (response.id === null) {
      // The enclave could not read one of our frames' ids; it cannot be matched, and the frames we send are well-formed.
      this.#log.warn({ code: response.ok ? undefined : response.error.code }, 'enclave link: answer without a request id')
      return
    }
    const pending = this.#inFlight.get(response.id)
    if (pending === undefined) throw new Error(`answer for request ${response.id}, which was never sent`)
    this.#inFlight.delete(response.id)
    this.#inFlightBytes -= pending.bytes
    if (pending.settled) this.#log.debug({ op: pending.op, id: pending.id }, 'enclave link: late answer dropped')
    else this.#settle(pending, response.ok ? this.#decode(pending.op, response.result) : toEnclaveRefusal(response.error))
    this.#pump()
  }

  /** The result of an `op` answer, or the bad gateway it is when it is not that op's result (only this request fails). */
  #decode(op: LinkOp, result: Record<string, unknown>): LinkResult<LinkOp> | HostError {
    try {
      return toLinkResult(op, result)
    } catch (error) {
      return error as HostError
    }
  }

  #ping(): Promise<LinkResult<'ping'>> {
    return this.#enqueue('ping', {}, {}, true)
  }

  /** Pings the enclave now, ahead of the queue, and emits `ping` with its answer (the fleet learns a new kid at once). */
  probe(): Promise<LinkResult<'ping'>> {
    if (this.#closed || !this.#connected) return Promise.reject(new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE'))
    const socket = this.#socket
    return this.#ping().then((result) => {
      if (this.#socket === socket) this.emit('ping', result)
      return result
    })
  }

  /** A new connection is up once the enclave answers a ping on it; then a heartbeat keeps checking. */
  #handshake(): void {
    const socket = this.#socket
    this.#ping().then(
      (result) => {
        if (this.#socket !== socket) return
        if (!result.ready) {
          this.#drop(new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE', { cause: new Error('the enclave answered ping with ready other than true') }))
          return
        }
        this.#delay = this.#options.reconnectMs?.min ?? 50
        this.#setUp(true, 'ping answered', result)
        this.emit('ping', result)
        this.#heartbeatTimer = setInterval(() => this.#heartbeat(), this.#options.heartbeatMs ?? 2_000)
        this.#heartbeatTimer.unref()
      },
      (error: unknown) => {
        if (this.#socket !== socket) return
        this.#drop(new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE', { cause: error }))
      },
    )
  }

  #heartbeat(): void {
    if (this.#heartbeatPending || !this.#connected) return
    this.#heartbeatPending = true
    const socket = this.#socket
    this.#ping().then(
      (result) => {
        this.#heartbeatPending = false
        if (this.#socket !== socket) return
        this.#setUp(result.ready, 'heartbeat', result)
        this.emit('ping', result)
      },
      (error: unknown) => {
        this.#heartbeatPending = false
        // A missed heartbeat marks the link down but keeps the connection: answers may still come. A hung enclave is the supervisor's to kill.
        if (this.#socket === socket) this.#setUp(false, `heartbeat failed: ${(error as { code?: string }).code ?? 'error'}`)
      },
    )
  }

  #setUp(up: boolean, reason: string, ping?: LinkResult<'ping'>): void {
    if (this.#up === up) return
    this.#up = up
    this.#options.metrics?.linkUp(up)
    if (up) {
      this.#log.info({ address: this.#options.address, platform: ping?.platform, kid: ping?.kid, models: ping?.models }, 'enclave link up')
      this.emit('up')
    } else {
      this.#log.warn({ address: this.#options.address, reason }, 'enclave link down')
      this.emit('down', reason)
    }
  }
}

function abortError(signal: AbortSignal): HostError {
  const reason: unknown = signal.reason
  return reason instanceof HostError ? reason : new HostError('ERR_HOST_TIMEOUT', { cause: reason })
}
