/** The host's shutdown state, shared by the app (which refuses new requests while draining) and the server (which drains). */
import type { ServerResponse } from 'node:http'

/**
 * Shutdown state shared by the app and the server: while `draining`, new requests get 503
 * `ERR_HOST_SHUTTING_DOWN` and readiness fails; `idle()` resolves once no request is in progress.
 */
export class HostLifecycle {
  draining = false
  #active = 0
  #waiters: Array<() => void> = []

  /** Requests in progress. */
  get active(): number {
    return this.#active
  }

  /** Resolves when no request is in progress. */
  idle(): Promise<void> {
    return this.#active === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Counts a request until its response closes. */
  track(res: ServerResponse): void {
    this.#active++
    res.once('close', () => {
      this.#active--
      if (this.#active === 0) for (const resolve of this.#waiters.splice(0)) resolve()
    })
  }
}
