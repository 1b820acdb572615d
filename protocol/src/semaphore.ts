/**
 * A bounded, fair wait for a shared resource, used on both sides of the link (`host/src/app.ts`,
 * `enclave/src/service/model-slots.ts`).
 */

/** Gives back what {@link Semaphore.acquire} took; calling it again does nothing. */
export type Release = () => void

interface Waiter {
  weight: number
  grant(): void
}

/**
 * A first-come, first-served semaphore of `capacity` units (bytes, slots): each holder takes a weight, and a waiter
 * is not overtaken by later, smaller ones, so a large request is never starved. A waiter whose signal aborts leaves
 * the line and takes nothing. The host bounds the request bodies it holds with one (`limits.bufferedBytes`); the
 * enclave bounds the requests each model has open with one per model.
 */
export class Semaphore {
  #free: number
  readonly #waiting: Waiter[] = []

  /**
   * @param capacity - Units held at most at once.
   * @param onChange - Told the units held and the waiters whenever either changes (metrics).
   */
  constructor(
    readonly capacity: number,
    private readonly onChange: (held: number, waiting: number) => void = () => undefined,
  ) {
    this.#free = capacity
  }

  /** Units taken now. */
  get held(): number {
    return this.capacity - this.#free
  }

  /** Acquirers waiting for units. */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Resolves once `weight` units (capped at the capacity, so anything fits once alone) are free and taken, with the
   * function that gives them back. Rejects with `signal.reason` if `signal` aborts first; nothing is taken then.
   */
  acquire(weight = 1, signal?: AbortSignal): Promise<Release> {
    const wanted = Math.min(Math.max(0, weight), this.capacity)
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
        weight: wanted,
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

  #releaser(units: number): Release {
    let released = false
    return () => {
      if (released) return
      released = true
      this.#free += units
      this.#grant()
      this.#changed()
    }
  }

  #changed(): void {
    this.onChange(this.held, this.#waiting.length)
  }

  /** Lets waiters in, in order, while the first one fits. */
  #grant(): void {
    while (this.#waiting.length > 0 && this.#waiting[0]!.weight <= this.#free) {
      const next = this.#waiting.shift()!
      this.#free -= next.weight
      next.grant()
    }
  }
}
