/**
 * The HTTP client `trust fetch` uses for AMD's KDS and for NVIDIA's RIM service and OCSP responder:
 * requests spaced by a minimum interval, transient failures (network errors, HTTP 408, 429 and 5xx, and
 * answers the caller calls transient) retried with Retry-After honoured, a per-request timeout and a
 * body size limit. What would fail the same way again is not retried: another 4xx, an answer over the size
 * limit, a name that does not resolve, a TLS failure, a URL that is not one; nor is an answer the caller
 * then finds invalid (it validates after the request returns). Spacing is per client unless the caller keeps the last request's time somewhere
 * shared: KDS's one request per 10 seconds is kept across processes through the trust store.
 */

/** A Retry-After longer than this is not waited for: the item fails and the user can run again later. */
const MAX_RETRY_AFTER_MS = 120_000

/** The transport of a collateral fetch, replaceable for tests and embedding. */
export interface HttpHooks {
  /** The HTTP client. Unset: the global `fetch`. */
  fetch?: typeof globalThis.fetch
  /** How to wait. Unset: a `setTimeout` promise. */
  sleep?: (ms: number) => Promise<void>
}

/** Where a client keeps the start time of its last request, for spacing. */
export interface LastRequestRecord {
  /** The start of the last request, or null if none is known. */
  read(): Date | null
  write(at: Date): void
}

/** How a {@link ServiceClient} behaves. Callers fill in their defaults for the required fields. */
export interface ServiceClientOptions {
  /** The service as the subject of a sentence, for messages ("KDS", "the NVIDIA RIM service"). */
  service: string
  /** The HTTP client. Unset: the global `fetch`. */
  fetch?: HttpHooks['fetch'] | undefined
  /** How to wait. Unset: a `setTimeout` promise. */
  sleep?: HttpHooks['sleep'] | undefined
  now: () => Date
  /** Minimum time between the starts of two requests, as kept by `lastRequest`. */
  minIntervalMs: number
  /** Retries after a transient failure (network, 408, 429, 5xx); other 4xx and permanent network failures are never retried. */
  retries: number
  /**
   * The first retry waits at least this long, each later one twice the one before; 0: only
   * `minIntervalMs` and Retry-After count.
   */
  backoffMs: number
  timeoutMs: number
  /** Answers larger than this are refused. */
  maxBodyBytes: number
  /** Why an answer of so many bytes (over `maxBodyBytes`) is refused. Unset: it is over the limit. */
  tooLarge?: (bytes: number) => string
  /** Where the last request's start is kept. Unset: in this client, so spacing is per client. */
  lastRequest?: LastRequestRecord
  /** Set: every wait before a request (spacing, or a retry's delay) is logged as `waiting <s> s (<waitReason>)`. Unset: silent. */
  waitReason?: string
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

/**
 * Codes of network failures that a retry meets again: the name does not resolve, TLS refuses the peer (its
 * certificate, or a server that does not speak TLS), the URL is not one. Connection refused or reset and
 * timeouts are not here: a restarting or overloaded service recovers.
 */
const PERMANENT_NETWORK_FAILURE = /^(ENOTFOUND|ERR_INVALID_URL|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z_]+|CERT_[A-Z_]+|UNABLE_TO_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH)$/

/** Whether `error` (a fetch rejection) or one of its causes is a {@link PERMANENT_NETWORK_FAILURE}. */
function isPermanent(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && PERMANENT_NETWORK_FAILURE.test(code)) return true
  }
  return false
}

function describeError(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause
  const base = error instanceof Error ? error.message : String(error)
  return cause instanceof Error && cause.message !== base ? `${base} (${cause.message})` : base
}

/** The options with every default filled in. */
type Resolved = ServiceClientOptions & Required<HttpHooks> & { lastRequest: LastRequestRecord }

/** A {@link LastRequestRecord} in memory. */
function memoryRecord(): LastRequestRecord {
  let last: Date | null = null
  return {
    read: () => last,
    write: (at) => {
      last = at
    },
  }
}

/** Requests to one service, spaced and retried. `requests` counts every attempt. */
export class ServiceClient {
  requests = 0
  readonly #o: Resolved

  constructor(options: ServiceClientOptions) {
    this.#o = {
      ...options,
      fetch: options.fetch ?? globalThis.fetch,
      sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      minIntervalMs: Math.max(0, options.minIntervalMs),
      retries: Math.max(0, Math.floor(options.retries)),
      lastRequest: options.lastRequest ?? memoryRecord(),
    }
  }

  /** Waits until `minIntervalMs` after the last recorded request started, and until `notBefore`. */
  async #pace(notBefore: number): Promise<void> {
    const o = this.#o
    const now = o.now().getTime()
    const last = o.lastRequest.read()?.getTime()
    // A timestamp in the future (a clock stepped back) delays by one interval at most.
    const spaced = last === undefined ? now : Math.min(last, now) + o.minIntervalMs
    const wait = Math.max(spaced, notBefore) - now
    if (wait > 0) {
      if (o.waitReason !== undefined) o.log(`waiting ${(wait / 1000).toFixed(1)} s (${o.waitReason})`)
      await o.sleep(wait)
    }
  }

  async request(req: ServiceRequest): Promise<ServiceResult> {
    const o = this.#o
    const what = `${req.method} ${req.url}`
    let notBefore = 0
    for (let attempt = 1; ; attempt++) {
      await this.#pace(notBefore)
      this.requests++
      o.log(what)
      let failure: string
      let status: number | null = null
      let retryAfter = 0
      try {
        const init: RequestInit = { method: req.method, signal: AbortSignal.timeout(o.timeoutMs), headers: { 'user-agent': 'vouch-verify', ...req.headers } }
        if (req.body !== undefined) init.body = Buffer.from(req.body)
        const pending = o.fetch(req.url, init)
        // Read the time once the request is issued, so the next one is spaced from no earlier than this one's real
        // start. `pending` is awaited below; the no-op catch only keeps it from going unhandled if the write throws.
        const started = o.now()
        pending.catch(() => {})
        o.lastRequest.write(started)
        const response = await pending
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
          // Only a request timeout, rate limiting and server errors can go away by themselves.
          if (status !== 408 && status !== 429 && status < 500) return { ok: false, status, message: `${what}: ${failure}` }
          retryAfter = retryAfterMs(response.headers.get('retry-after'), o.now())
        }
      } catch (error) {
        failure = `request failed: ${describeError(error)}`
        if (isPermanent(error)) return { ok: false, status, message: `${what}: ${failure} (not retried: it would fail the same way)` }
      }
      if (attempt > o.retries) {
        return { ok: false, status, message: `${what}: ${failure}${attempt > 1 ? ` (gave up after ${attempt} attempts)` : ''}` }
      }
      if (retryAfter > MAX_RETRY_AFTER_MS) {
        return { ok: false, status, message: `${what}: ${failure}, and ${o.service} asks to wait ${Math.ceil(retryAfter / 1000)} s: try again later` }
      }
      // Back off: the interval, the doubling back-off, or what Retry-After asks, whichever is longest.
      const wait = Math.max(o.minIntervalMs, o.backoffMs * 2 ** (attempt - 1), retryAfter)
      o.log(`${failure}: retrying in ${(wait / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${o.retries + 1})`)
      notBefore = o.now().getTime() + wait
    }
  }

  /** The body, or why it is refused. */
  async #body(response: Response): Promise<Uint8Array | string> {
    const limit = this.#o.maxBodyBytes
    const refuse = (bytes: number): string =>
      this.#o.tooLarge?.(bytes) ?? `a ${bytes}-byte answer is over the ${limit}-byte limit`
    const declared = Number(response.headers.get('content-length') ?? '0')
    if (declared > limit) {
      await response.body?.cancel()
      return refuse(declared)
    }
    const body = new Uint8Array(await response.arrayBuffer())
    return body.length > limit ? refuse(body.length) : body
  }
}
