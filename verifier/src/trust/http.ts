/**
 * The HTTP client `trust fetch` uses for NVIDIA's RIM service and OCSP responder: requests spaced by a
 * minimum interval, transient failures (network errors, HTTP 429 and 5xx, and answers the caller
 * calls transient) retried with Retry-After honoured, a per-request timeout and a body size limit.
 * The same approach as the AMD KDS client in kds.ts, without its cross-process spacing: NVIDIA's
 * services have no rule like KDS's one request per 10 seconds.
 */

/** A Retry-After longer than this is not waited for: the item fails and the user can run again later. */
const MAX_RETRY_AFTER_MS = 120_000

/** How a {@link ServiceClient} behaves. Every field is required; callers fill in their defaults. */
export interface ServiceClientOptions {
  /** The service, for messages ("NVIDIA RIM service"). */
  service: string
  fetch: typeof globalThis.fetch
  sleep: (ms: number) => Promise<void>
  now: () => Date
  /** Minimum time between the starts of two requests of this client. */
  minIntervalMs: number
  /** Retries after a transient failure; 404 and other 4xx are never retried. */
  retries: number
  timeoutMs: number
  /** Answers larger than this are refused. */
  maxBodyBytes: number
  log: (line: string) => void
}

/** A request to make. */
export interface ServiceRequest {
  method: 'GET' | 'POST'
  url: string
  headers?: Record<string, string>
  body?: Uint8Array
  /** For a 200 answer: a reason to retry it anyway (an OCSP "tryLater"), or null to accept it. Unset: accepted. */
  transient?: (body: Uint8Array) => string | null
}

/** The outcome: the body of a 2xx answer, or what went wrong (with the last HTTP status, if any). */
export type ServiceResult = { ok: true; body: Uint8Array } | { ok: false; status: number | null; message: string }

/** How long a Retry-After header asks to wait (delta-seconds or an HTTP date); 0 when absent or unreadable. */
export function retryAfterMs(value: string | null, now: Date): number {
  if (value === null) return 0
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const at = Date.parse(text)
  return Number.isNaN(at) ? 0 : Math.max(0, at - now.getTime())
}

function describeError(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause
  const base = error instanceof Error ? error.message : String(error)
  return cause instanceof Error && cause.message !== base ? `${base} (${cause.message})` : base
}

/** Requests to one service, spaced and retried. `requests` counts every attempt. */
export class ServiceClient {
  requests = 0
  readonly #o: ServiceClientOptions
  #last: number | null = null

  constructor(options: ServiceClientOptions) {
    this.#o = { ...options, minIntervalMs: Math.max(0, options.minIntervalMs), retries: Math.max(0, Math.floor(options.retries)) }
  }

  /** Waits until `minIntervalMs` after this client's last request started, and until `notBefore`. */
  async #pace(notBefore: number): Promise<void> {
    const now = this.#o.now().getTime()
    const spaced = this.#last === null ? now : Math.min(this.#last, now) + this.#o.minIntervalMs
    const wait = Math.max(spaced, notBefore) - now
    if (wait > 0) await this.#o.sleep(wait)
  }

  async request(req: ServiceRequest): Promise<ServiceResult> {
    const o = this.#o
    const what = `${req.method} ${req.url}`
    let notBefore = 0
    for (let attempt = 1; ; attempt++) {
      await this.#pace(notBefore)
      this.requests++
      this.#last = o.now().getTime()
      o.log(what)
      let failure: string
      let status: number | null = null
      let retryAfter = 0
      try {
        const init: RequestInit = { method: req.method, signal: AbortSignal.timeout(o.timeoutMs), headers: { 'user-agent': 'vouch-verify', ...req.headers } }
        if (req.body !== undefined) init.body = Buffer.from(req.body)
        const response = await o.fetch(req.url, init)
        status = response.status
        if (response.ok) {
          const got = await this.#body(response)
          if (typeof got === 'string') return { ok: false, status, message: `${what}: ${got}` }
          const again = req.transient?.(got) ?? null
          if (again === null) return { ok: true, body: got }
          failure = again
        } else {
          await response.body?.cancel()
          failure = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`
          // Only rate limiting and server errors can go away by themselves.
          if (status !== 429 && status < 500) return { ok: false, status, message: `${what}: ${failure}` }
          retryAfter = retryAfterMs(response.headers.get('retry-after'), o.now())
        }
      } catch (error) {
        failure = `request failed: ${describeError(error)}`
      }
      if (attempt > o.retries) {
        return { ok: false, status, message: `${what}: ${failure}${attempt > 1 ? ` (gave up after ${attempt} attempts)` : ''}` }
      }
      if (retryAfter > MAX_RETRY_AFTER_MS) {
        return { ok: false, status, message: `${what}: ${failure}, and the ${o.service} asks to wait ${Math.ceil(retryAfter / 1000)} s: try again later` }
      }
      // Back off: at least one second, doubling per attempt, or what Retry-After asks if longer.
      const wait = Math.max(o.minIntervalMs, 1000 * 2 ** (attempt - 1), retryAfter)
      o.log(`${failure}: retrying in ${(wait / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${o.retries + 1})`)
      notBefore = o.now().getTime() + wait
    }
  }

  /** The body, or why it is refused. */
  async #body(response: Response): Promise<Uint8Array | string> {
    const limit = this.#o.maxBodyBytes
    const declared = Number(response.headers.get('content-length') ?? '0')
    if (declared > limit) {
      await response.body?.cancel()
      return `a ${declared}-byte answer is over the ${limit}-byte limit`
    }
    const body = new Uint8Array(await response.arrayBuffer())
    return body.length > limit ? `a ${body.length}-byte answer is over the ${limit}-byte limit` : body
  }
}
