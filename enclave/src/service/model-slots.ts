/**
 * How many requests to one model may be open (decrypted, decoded and packed for a run) at once. A model's
 * session runs one request at a time, so opening more than the next one or two only multiplies plaintext in
 * memory: a detector request is 4.9 MB, and each open one holds its plaintext and its packed run. The others wait
 * sealed, in arrival order, and are opened when a slot frees. The enclave's memory then stays bounded under any
 * concurrency (DESIGN.md §10), and plaintext lives no longer than its run needs.
 */

import { KeyedSemaphores, type Release } from '@vouch/protocol'

/** Requests open per model at once by default: the one running and the one prepared to run next. */
export const DEFAULT_OPEN_PER_MODEL = 2

/** Slots per model name: at most `perModel` holders each, the rest waiting first come, first served. */
export class ModelSlots {
  readonly #models: KeyedSemaphores

  /** @param perModel - Holders per model at once (at least 1). */
  constructor(readonly perModel = DEFAULT_OPEN_PER_MODEL) {
    // Throws a RangeError unless perModel is a positive integer.
    this.#models = new KeyedSemaphores(perModel)
  }

  /**
   * Resolves once a slot of `model` is free, with the function that frees it; rejects with `signal.reason` if
   * `signal` aborts first (a request the link has given up on is never opened).
   */
  acquire(model: string, signal?: AbortSignal): Promise<Release> {
    return this.#models.acquire(model, 1, signal)
  }

  /** Requests waiting for a slot of `model`. */
  waiting(model: string): number {
    return this.#models.waiting(model)
  }
}
