/**
 * Group commit for the receipt log: appends wait in a queue and are integrated together, one transaction (and one
 * fsync) per batch instead of one per entry. A batch starts once {@link BatchOptions.entries} wait, or once the
 * oldest waiting one has waited {@link BatchOptions.ms}; one batch runs at a time, and what arrives meanwhile waits
 * for the next.
 */
import { HostError } from '../errors.js'

/** When a batch starts. */
export interface BatchOptions {
  /** Most entries in one batch; a batch starts as soon as this many wait. */
  entries: number
  /**
   * Longest the oldest waiting entry waits before its batch starts. 0: at the next turn of the event loop
   * (`setImmediate`, not a timer: Node's shortest is 1 ms, which every answer would wait), with all queued meanwhile.
   */
  ms: number
}

interface Waiting<I, O> {
  item: I
  resolve(result: O): void
  reject(error: unknown): void
}

/** Queues items and hands them to `run` in batches; each item's promise settles with its batch. */
export class AppendBatcher<I, O> {
  readonly #run: (batch: I[]) => Promise<O[]>
  readonly #options: BatchOptions
  #queue: Array<Waiting<I, O>> = []
  /** Cancels the pending start of the oldest waiting item's batch; null when none is pending. */
  #timer: (() => void) | null = null
  /** A batch is due: the queue is full, its oldest item waited long enough, or the batcher is closing. */
  #due = false
  #draining = false
  /** Settles when the current (or last) drain ends. */
  #drained: Promise<void> = Promise.resolve()
  #closed = false

  constructor(run: (batch: I[]) => Promise<O[]>, options: BatchOptions) {
    this.#run = run
    this.#options = options
  }

  /** Queues `item`; resolves with its result once its batch is committed, rejects when that batch fails. */
  add(item: I): Promise<O> {
    if (this.#closed) return Promise.reject(new HostError('ERR_HOST_LOG_UNAVAILABLE', { cause: new Error('the receipt log is closed') }))
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject })
      if (this.#queue.length >= this.#options.entries) this.#start()
      else this.#arm()
    })
  }

  /** Runs what is queued, then refuses new items. */
  async close(): Promise<void> {
    this.#closed = true
    this.#start()
    await this.#drained
  }

  /** Schedules the start of the oldest waiting item's batch, if none is scheduled. */
  #arm(): void {
    if (this.#timer !== null || this.#due) return
    const start = (): void => {
      this.#timer = null
      this.#start()
    }
    if (this.#options.ms === 0) {
      const immediate = setImmediate(start)
      this.#timer = () => clearImmediate(immediate)
    } else {
      const timeout = setTimeout(start, this.#options.ms)
      this.#timer = () => clearTimeout(timeout)
    }
  }

  #start(): void {
    this.#due = true
    if (this.#draining) return
    this.#draining = true
    this.#drained = this.#drain()
  }

  /** Runs batches while one is due. Ends, and clears `#draining`, in the same turn as its last check of the queue. */
  async #drain(): Promise<void> {
    while (this.#due && this.#queue.length > 0) {
      this.#timer?.()
      this.#timer = null
      const batch = this.#queue.splice(0, this.#options.entries)
      this.#due = this.#closed || this.#queue.length >= this.#options.entries
      if (this.#queue.length > 0) this.#arm()
      try {
        const results = await this.#run(batch.map((w) => w.item))
        batch.forEach((w, i) => w.resolve(results[i]!))
      } catch (error) {
        for (const w of batch) w.reject(error)
      }
    }
    this.#due = false
    this.#draining = false
  }
}
