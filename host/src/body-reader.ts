/**
 * Reading sealed request bodies without letting slow clients hold what others need (issue 10). A body's bytes are
 * taken from the host's budget (`limits.bufferedBytes`) as they arrive, never before, in blocks that grow with
 * what has arrived, so a client that declares 16 MiB and sends one byte holds 4 KiB, not 16 MiB. The budget is a
 * {@link Semaphore} lease per body, its claim the declared length (or `limits.bodyBytes` for a chunked body): the
 * banker's rule of the semaphore keeps bodies being read from ever waiting on each other in a circle. While a body
 * waits for the budget its client is paused (TCP pushes back) and its clock stops.
 *
 * A body must keep coming: in each `windowMs` of reading, at least `minRate` bytes per second of it must arrive (408
 * `ERR_HOST_BODY_TOO_SLOW`), so a client that trickles, or sends a burst and then stalls, is cut off within two
 * windows (time paused for the budget is not the client's and does not count); and it must be whole within
 * `timeoutMs` of the host starting to read it, waits included (408 `ERR_HOST_BODY_TIMEOUT`), so no body holds its
 * bytes longer than that. Either way the connection is closed. One client address reads at most `perClient` bodies at once; its others wait unread,
 * holding nothing but their sockets.
 */
import type { IncomingMessage } from 'node:http'
import { BufferPool, KeyedSemaphores, Semaphore, type Lease } from '@vouch/protocol'
import { HostError } from './errors.js'

/** Settings of {@link BodyReader}. */
export interface BodyLimits {
  /** Largest body (413 beyond). */
  maxBytes: number
  /** Bytes of bodies held at once: being read, queued for the enclave or in flight to it. At least `maxBytes`. */
  bufferedBytes: number
  /** Bodies one client reads at once; the others wait unread. */
  perClient: number
  /** Slowest arrival, in bytes per second, over each `windowMs` of reading (0: no floor). */
  minRate: number
  /** Reading time over which the rate is measured, window after window. */
  windowMs: number
  /** Time a whole body may take from the start of reading, waits for the budget included (Infinity: no limit of its own). */
  timeoutMs: number
}

/** A body read whole, and the function that gives its bytes back to the budget (once the enclave has answered). */
export interface ReadBody {
  body: Buffer
  /**
   * Gives the body's bytes back to the budget. With `reusable`, its buffer too, for a later body: only when nothing
   * refers to its bytes any more (the enclave has answered it, so the link has written it all).
   */
  release: (reusable?: boolean) => void
}

/** First block of a body: a client that sends little holds little. */
const FIRST_BLOCK = 4 * 1024
/** Largest block: blocks double up to it, so the budget taken is never more than twice what has arrived (plus 4 KiB). */
const LARGEST_BLOCK = 1024 * 1024

/** The host's request bodies: one budget, bodies per client, the rate and time rules. */
export class BodyReader {
  readonly #budget: Semaphore
  readonly #clients: KeyedSemaphores
  /**
   * Buffers of large bodies read before, for the next (sealed bytes: nothing to hide from the host, not zeroed); at
   * most the budget's worth kept, so bodies never hold more than twice the budget.
   */
  readonly #buffers: BufferPool

  /** @param onChange - Told the bytes held and the bodies waiting for the budget whenever either changes (metrics). */
  constructor(
    readonly limits: BodyLimits,
    onChange?: (held: number, waiting: number) => void,
  ) {
    this.#budget = new Semaphore(Math.max(limits.maxBytes, limits.bufferedBytes), onChange)
    this.#clients = new KeyedSemaphores(limits.perClient)
    this.#buffers = new BufferPool(false, Math.max(limits.maxBytes, limits.bufferedBytes))
  }

  /**
   * Reads the body of `req` (from `client`, a {@link toClientKey} key) once that client has a free reading slot.
   * `declared` is its Content-Length, or null for a chunked body. Rejects with a {@link HostError}: 413 over
   * `maxBytes`, 408 too slow or too long, 400 when the client goes away; or with `signal.reason` when `signal` aborts.
   */
  async read(req: IncomingMessage, client: string, declared: number | null, signal?: AbortSignal): Promise<ReadBody> {
    if (declared !== null && declared > this.limits.maxBytes) throw new HostError('ERR_HOST_BODY_TOO_LARGE')
    const slot = await this.#clients.acquire(client, 1, signal)
    const lease = this.#budget.lease(declared ?? this.limits.maxBytes)
    try {
      const body = await new BodyRead(req, lease, this.limits, declared, signal, this.#buffers).done
      lease.settle(body.length)
      return {
        body,
        release: (reusable = false) => {
          lease.release()
          if (reusable && declared !== null) this.#buffers.give(body)
        },
      }
    } catch (error) {
      lease.release()
      throw error
    } finally {
      slot()
    }
  }
}

/**
 * One body being read: blocks taken from the lease as bytes arrive, and the clock of the rate and time rules. A body
 * of declared length is read into one buffer of that length, its blocks being consecutive views of it, so it is never
 * joined (joining the detector's 4.9 MB cost the host a copy and a fresh buffer faulted in, about 14 ms, per request).
 * A large one is a buffer a body before it used, once that body was answered ({@link BufferPool}); a new one is left
 * uninitialised, so the system gives it memory only as bytes are written into it: a client that declares 16 MiB and
 * sends one byte holds one page, and the budget counts only the blocks taken either way. A chunked body's blocks are
 * buffers of their own, joined at the end.
 */
class BodyRead {
  readonly done: Promise<Buffer>
  readonly #blocks: Buffer[] = []
  /** The body's buffer when its length is declared (its blocks are views of it); null for a chunked body. */
  readonly #whole: Buffer | null
  /** Bytes of {@link #whole} given to blocks so far. */
  #taken = 0
  /** Bytes copied into the last block. */
  #filled = 0
  #received = 0
  /** Reading time at which the current rate window began, and the bytes received by then. */
  #windowStart = 0
  #windowBytes = 0
  /** When reading began; reading time before the current stretch, and when that stretch began (null while paused for the budget). */
  readonly #startedAt = performance.now()
  #readMs = 0
  #since: number | null = this.#startedAt
  #timer: NodeJS.Timeout | undefined
  #finished = false
  #resolve!: (body: Buffer) => void
  #reject!: (error: Error) => void

  constructor(
    private readonly req: IncomingMessage,
    private readonly lease: Lease,
    private readonly limits: BodyLimits,
    private readonly declared: number | null,
    private readonly signal: AbortSignal | undefined,
    buffers: BufferPool,
  ) {
    this.done = new Promise<Buffer>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    const whole = declared === null ? null : buffers.take(declared)
    // A view as a Buffer (for `copy`), not a copy. router.ts's asBuffer would be an import cycle.
    this.#whole = whole === null ? null : Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength)
    if (signal?.aborted || req.destroyed) {
      this.#fail(signal?.aborted ? (signal.reason as Error) : new HostError('ERR_HOST_BAD_REQUEST', { cause: new Error('the client closed the request') }))
      return
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true })
    req.on('data', this.#onData)
    req.once('end', this.#onEnd)
    req.once('error', this.#onError)
    req.once('close', this.#onClose)
    this.#schedule()
  }

  readonly #onAbort = (): void => this.#fail(this.signal!.reason as Error)
  readonly #onError = (error: Error): void => this.#fail(new HostError('ERR_HOST_BAD_REQUEST', { cause: error }))
  readonly #onClose = (): void => this.#fail(new HostError('ERR_HOST_BAD_REQUEST', { cause: new Error('the client closed the request') }))

  readonly #onData = (chunk: Buffer): void => {
    this.#consume(chunk)
  }

  readonly #onEnd = (): void => {
    if (this.declared !== null && this.#received !== this.declared) {
      this.#fail(new HostError('ERR_HOST_BAD_REQUEST', { cause: new Error(`the body ended after ${this.#received} of ${this.declared} bytes`) }))
      return
    }
    const last = this.#blocks.at(-1)
    const body = this.#whole ?? (this.#blocks.length === 1 && last !== undefined ? last.subarray(0, this.#filled) : Buffer.concat(this.#blocks, this.#received))
    this.#finish()
    this.#resolve(body)
  }

  /** Copies `chunk` into blocks, taking a new one from the lease when the last is full; pauses the request while the budget makes it wait. */
  #consume(chunk: Buffer): void {
    let at = 0
    while (at < chunk.length && !this.#finished) {
      const last = this.#blocks.at(-1)
      if (last === undefined || this.#filled === last.length) {
        const size = Math.min(this.lease.need, Math.max(FIRST_BLOCK, Math.min(LARGEST_BLOCK, this.lease.held)))
        if (size === 0) {
          // Past the claim: a chunked body over the limit (a declared one cannot be, its parser stops at the length).
          this.#fail(new HostError('ERR_HOST_BODY_TOO_LARGE'))
          return
        }
        if (!this.lease.tryTake(size)) {
          this.#wait(size, chunk.subarray(at))
          return
        }
        this.#addBlock(size)
        continue
      }
      const copied = chunk.copy(last, this.#filled, at)
      this.#filled += copied
      this.#received += copied
      at += copied
    }
  }

  /** A block of `size` bytes, taken from the lease already: the next part of the body's buffer, or a buffer of its own. */
  #addBlock(size: number): void {
    this.#blocks.push(this.#whole === null ? Buffer.allocUnsafe(size) : this.#whole.subarray(this.#taken, (this.#taken += size)))
    this.#filled = 0
  }

  /** Pauses the client and the clock until the budget grants `size` more, then carries on with `rest`. */
  #wait(size: number, rest: Buffer): void {
    this.req.pause()
    this.#pauseClock()
    this.lease.take(size, this.signal).then(
      () => {
        if (this.#finished) return
        this.#addBlock(size)
        this.#resumeClock()
        this.#consume(rest)
        // Still reading, and not waiting again: let the client send the rest.
        if (!this.#finished && this.#since !== null) this.req.resume()
      },
      (error: unknown) => this.#fail(error as Error),
    )
  }

  #readingMs(): number {
    return this.#readMs + (this.#since === null ? 0 : performance.now() - this.#since)
  }

  #pauseClock(): void {
    this.#readMs = this.#readingMs()
    this.#since = null
    this.#schedule()
  }

  #resumeClock(): void {
    this.#since = performance.now()
    this.#schedule()
  }

  /**
   * Sets the timer for whichever comes first: the body timeout (wall-clock from the start, waits for the budget
   * included, so nothing holds its bytes longer) or, while reading, the end of the rate window (reading time).
   */
  #schedule(): void {
    clearTimeout(this.#timer)
    const untilTimeout = this.#startedAt + this.limits.timeoutMs - performance.now()
    const untilWindow = this.#since === null || this.limits.minRate === 0 ? Infinity : this.#windowStart + this.limits.windowMs - this.#readingMs()
    const delay = Math.min(untilTimeout, untilWindow)
    if (delay === Infinity) return
    this.#timer = setTimeout(() => this.#check(), Math.max(1, delay))
    this.#timer.unref()
  }

  #check(): void {
    if (performance.now() - this.#startedAt >= this.limits.timeoutMs) {
      this.#fail(new HostError('ERR_HOST_BODY_TIMEOUT'))
      return
    }
    const read = this.#readingMs()
    const windowMs = read - this.#windowStart
    if (this.#since !== null && this.limits.minRate > 0 && windowMs >= this.limits.windowMs) {
      if ((this.#received - this.#windowBytes) * 1000 < this.limits.minRate * windowMs) {
        this.#fail(new HostError('ERR_HOST_BODY_TOO_SLOW'))
        return
      }
      this.#windowStart = read
      this.#windowBytes = this.#received
    }
    this.#schedule()
  }

  #finish(): void {
    this.#finished = true
    clearTimeout(this.#timer)
    this.signal?.removeEventListener('abort', this.#onAbort)
    this.req.off('data', this.#onData)
    this.req.off('end', this.#onEnd)
    this.req.off('error', this.#onError)
    this.req.off('close', this.#onClose)
  }

  #fail(error: Error): void {
    if (this.#finished) return
    this.#finish()
    // Read no more: the error response closes the connection.
    this.req.pause()
    this.#blocks.length = 0
    this.#reject(error)
  }
}
