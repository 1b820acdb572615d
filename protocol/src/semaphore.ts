/**
 * A bounded, fair wait for a shared resource, used on both sides of the link (`host/src/body-reader.ts`,
 * `enclave/src/service/model-slots.ts`).
 */

/** Gives back what {@link Semaphore.acquire} took; calling it again does nothing. */
export type Release = () => void

/**
 * Units taken a piece at a time, up to a claim stated when it is opened ({@link Semaphore.lease}): the host takes a
 * request body's bytes as they arrive, with the body's declared length (or the body limit) as the claim.
 */
export interface Lease {
  /** Units held. */
  readonly held: number
  /** Units it may still take: the claim less what it holds (none once released). */
  readonly need: number
  /** Takes `units` (at most {@link Lease.need}) if that can be done now without waiting; true if it did. */
  tryTake(units: number): boolean
  /** Takes `units` (at most {@link Lease.need}) once it may; rejects with `signal.reason` if `signal` aborts first (nothing taken). */
  take(units: number, signal?: AbortSignal): Promise<void>
  /** Takes no more: the claim shrinks to `keep` units (at most what it holds), and the rest goes back. */
  settle(keep?: number): void
  /** Gives back everything and closes the lease; a take still waiting is rejected. Calling it again does nothing. */
  release(): void
}

interface LeaseState {
  claim: number
  held: number
  closed: boolean
}

interface Waiter {
  lease: LeaseState
  units: number
  grant(): void
  reject(error: Error): void
}

/**
 * A semaphore of `capacity` units (bytes, slots). A holder either takes its weight at once ({@link Semaphore.acquire})
 * or opens a {@link Lease} and takes its units a piece at a time up to a claim. Two rules keep it fair and live:
 * - Waiters are served in arrival order, and one that waits for units to free is not overtaken by later ones, so
 *   a large request is never starved by a stream of small ones.
 * - A piece is granted only if every open lease could still take the rest of its claim, one after another, as
 *   holders give back (the banker's algorithm): leases never wait for each other in a circle. A waiter held back
 *   by this rule alone does not hold back the waiters behind it. How long a slow lease holds what it took is the
 *   caller's to bound (the host cuts slow bodies off).
 * A waiter whose signal aborts leaves the line and takes nothing. The host bounds the request bodies it holds with
 * one (`limits.bufferedBytes`); the enclave bounds the requests each model has open with one per model.
 */
export class Semaphore {
  #free: number
  readonly #waiting: Waiter[] = []
  /**
   * Leases part-way through their claim: they hold units and may take more. Only these can wait on each other; a
   * holder that takes no more gives back in time, and one that holds nothing blocks nobody.
   */
  readonly #partial = new Set<LeaseState>()

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

  /** Takes waiting for units. */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * Resolves once `weight` units (capped at the capacity, so anything fits once alone) are free and taken, with the
   * function that gives them back. Rejects with `signal.reason` if `signal` aborts first; nothing is taken then.
   */
  acquire(weight = 1, signal?: AbortSignal): Promise<Release> {
    const lease = this.lease(weight)
    const release = (): void => lease.release()
    return lease.take(lease.need, signal).then(
      () => release,
      (error: unknown) => {
        release()
        throw error
      },
    )
  }

  /** Opens a lease that will take at most `claim` units (capped at the capacity); it holds nothing yet. */
  lease(claim: number): Lease {
    const state: LeaseState = { claim: Math.min(Math.max(0, claim), this.capacity), held: 0, closed: false }
    const check = (units: number): number => {
      if (state.closed) throw new Error('the lease is released')
      if (!(units >= 0 && units <= state.claim - state.held)) throw new RangeError(`a lease may take ${state.claim - state.held} more units, not ${units}`)
      return units
    }
    return {
      get held() {
        return state.held
      },
      get need() {
        return state.closed ? 0 : state.claim - state.held
      },
      tryTake: (units) => {
        check(units)
        if (!this.#mayTake(state, units)) return false
        this.#grantTo(state, units)
        this.#changed()
        return true
      },
      take: (units, signal) => {
        check(units)
        if (signal?.aborted) return Promise.reject(signal.reason as Error)
        if (this.#mayTake(state, units)) {
          this.#grantTo(state, units)
          this.#changed()
          return Promise.resolve()
        }
        return new Promise<void>((resolve, reject) => {
          const onAbort = (): void => this.#drop(waiter, signal!.reason as Error)
          const waiter: Waiter = {
            lease: state,
            units,
            grant: () => {
              signal?.removeEventListener('abort', onAbort)
              resolve()
            },
            reject: (error) => {
              signal?.removeEventListener('abort', onAbort)
              reject(error)
            },
          }
          this.#waiting.push(waiter)
          this.#changed()
          signal?.addEventListener('abort', onAbort, { once: true })
        })
      },
      settle: (keep = state.held) => {
        if (state.closed) return
        const kept = Math.min(Math.max(0, keep), state.held)
        this.#free += state.held - kept
        state.held = kept
        state.claim = kept
        this.#partial.delete(state)
        this.#grant()
        this.#changed()
      },
      release: () => {
        if (state.closed) return
        state.closed = true
        this.#free += state.held
        state.held = 0
        this.#partial.delete(state)
        const mine = this.#waiting.filter((w) => w.lease === state)
        for (const w of mine) this.#waiting.splice(this.#waiting.indexOf(w), 1)
        for (const w of mine) w.reject(new Error('the lease is released'))
        this.#grant()
        this.#changed()
      },
    }
  }

  /** Removes a waiter whose signal aborted; the waiters behind it may now go. */
  #drop(waiter: Waiter, reason: Error): void {
    const at = this.#waiting.indexOf(waiter)
    if (at >= 0) this.#waiting.splice(at, 1)
    this.#grant()
    this.#changed()
    waiter.reject(reason)
  }

  /**
   * Whether `units` may go to `lease` now, behind the waiters: they fit, no waiter waits for units to free (arrival
   * order; the others wait for the banker's rule only), and the state after it is safe.
   */
  #mayTake(lease: LeaseState, units: number): boolean {
    if (units > this.#free || this.#waiting.some((w) => w.units > this.#free)) return false
    return this.#safeAfter(lease, units)
  }

  /**
   * The banker's check: after `units` more go to `lease`, can every lease part-way through its claim take the rest,
   * one after another? Holders that take no more give back in time (the host's answered requests, the enclave's
   * finished runs), so the first lease can count on every unit no partial lease holds; each one that finishes adds
   * what it holds. Trying them in order of need is enough with one kind of unit.
   */
  #safeAfter(lease: LeaseState, units: number): boolean {
    const leases: Array<{ need: number; held: number }> = []
    for (const l of this.#partial) if (l !== lease) leases.push({ need: l.claim - l.held, held: l.held })
    if (lease.claim - lease.held - units > 0) leases.push({ need: lease.claim - lease.held - units, held: lease.held + units })
    if (leases.length === 0) return true
    let work = this.capacity - leases.reduce((sum, l) => sum + l.held, 0)
    leases.sort((a, b) => a.need - b.need)
    for (const l of leases) {
      if (l.need > work) return false
      work += l.held
    }
    return true
  }

  #grantTo(lease: LeaseState, units: number): void {
    this.#free -= units
    lease.held += units
    if (lease.held > 0 && lease.held < lease.claim) this.#partial.add(lease)
    else this.#partial.delete(lease)
  }

  #changed(): void {
    this.onChange(this.held, this.#waiting.length)
  }

  /** Lets waiters in, in order: stops at the first that does not fit, passes over those the banker's check holds back. */
  #grant(): void {
    for (let i = 0; i < this.#waiting.length; ) {
      const next = this.#waiting[i]!
      if (next.units > this.#free) return
      if (!this.#safeAfter(next.lease, next.units)) {
        i++
        continue
      }
      this.#waiting.splice(i, 1)
      this.#grantTo(next.lease, next.units)
      next.grant()
    }
  }
}

/**
 * One {@link Semaphore} of `capacity` per key, made on first use and dropped once nothing holds or waits for it, so
 * keys from the outside (the host's client addresses) cost nothing once idle: the enclave's slots per model, the
 * host's request bodies being read per client.
 */
export class KeyedSemaphores {
  readonly #byKey = new Map<string, Semaphore>()

  /** @param capacity - Units per key (at least 1). */
  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`)
  }

  /** {@link Semaphore.acquire} on the semaphore of `key`. */
  acquire(key: string, weight = 1, signal?: AbortSignal): Promise<Release> {
    let semaphore = this.#byKey.get(key)
    if (semaphore === undefined) {
      semaphore = new Semaphore(this.capacity)
      this.#byKey.set(key, semaphore)
    }
    const idle = (): void => {
      if (semaphore.held === 0 && semaphore.waiting === 0 && this.#byKey.get(key) === semaphore) this.#byKey.delete(key)
    }
    return semaphore.acquire(weight, signal).then(
      (release) => () => {
        release()
        idle()
      },
      (error: unknown) => {
        idle()
        throw error
      },
    )
  }

  /** Units of `key` held now. */
  held(key: string): number {
    return this.#byKey.get(key)?.held ?? 0
  }

  /** Acquirers of `key` waiting. */
  waiting(key: string): number {
    return this.#byKey.get(key)?.waiting ?? 0
  }

  /** Keys held or waited for now. */
  get size(): number {
    return this.#byKey.size
  }
}
