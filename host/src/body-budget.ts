/**
 * A bound on the request bodies the host holds at once: read, queued for the enclave or in flight to it. A
 * request takes its declared length from the budget before its body is read; when that does not fit, it waits,
 * first come first served, with its body unread (TCP pushes back on the client), until earlier requests are
 * answered, it times out, or its client goes away. Without it, a thousand concurrent 16 MiB uploads would be
 * a thousand buffers in the host; with it, the host's memory for bodies stays under the budget whatever the
 * load (DESIGN.md §10), and requests beyond it cost a socket each.
 */

/** Frees what {@link BodyBudget.acquire} took; calling it again does nothing. */
export type ReleaseBytes = () => void

interface Waiter {
  bytes: number
  grant(): void
}

/** Bytes of request bodies, taken before reading and given back once answered. */
export class BodyBudget {
  #free: number
  readonly #waiting: Waiter[] = []

  /**
   * @param capacity - Bytes held at most; a single request is at most this large (`limits.bodyBytes` ≤ the budget).
   * @param onChange - Told the bytes held and the requests waiting whenever either changes (metrics).
   */
  constructor(
    readonly capacity: number,
    private readonly onChange: (held: number, waiting: number) => void = () => undefined,
  ) {
    this.#free = capacity
  }

  /** Bytes taken now. */
  get held(): number {
    return this.capacity - this.#free
  }

  /** Requests waiting for bytes. */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Resolves once `bytes` (capped at the capacity) are free and taken, with the function that gives them back.
   * Rejects with `signal.reason` if `signal` aborts first; the request then takes nothing.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<ReleaseBytes> {
    const wanted = Math.min(Math.max(0, bytes), this.capacity)
    if (signal?.aborted) return Promise.reject(signal.reason as Error)
    if (this.#waiting.length === 0 && wanted <= this.#free) {
      this.#free -= wanted
      this.#changed()
      return Promise.resolve(this.#releaser(wanted))
    }
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        const at = this.#waiting.indexOf(waiter)
        if (at >= 0) this.#waiting.splice(at, 1)
        // The head may have been the one blocking the others.
        this.#grant()
        this.#changed()
        reject(signal!.reason as Error)
      }
      const waiter: Waiter = {
        bytes: wanted,
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve(this.#releaser(wanted))
        },
      }
      this.#waiting.push(waiter)
      this.#changed()
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  #releaser(bytes: number): ReleaseBytes {
    let released = false
    return () => {
      if (released) return
      released = true
      this.#free += bytes
      this.#grant()
      this.#changed()
    }
  }

  #changed(): void {
    this.onChange(this.held, this.#waiting.length)
  }

  /** Lets waiters in, in order, while the first one fits. */
  #grant(): void {
    while (this.#waiting.length > 0 && this.#waiting[0]!.bytes <= this.#free) {
      const next = this.#waiting.shift()!
      this.#free -= next.bytes
      next.grant()
    }
  }
}
