/**
 * The client's HTTP: node:https with TLS 1.3 only, the caller's CA (or none, for development), one
 * keep-alive agent per client, a deadline per exchange and a cap on response bodies. Or, when the caller
 * brings one, a fetch-compatible function. Failures become {@link ClientError}s: unreachable, TLS,
 * timeout, too large. Statuses are not judged here, except that {@link sendWithRetry} sends again on the
 * statuses that say "later" (429, 503).
 */
import { Agent, request as httpsRequest } from 'node:https'
import type { IncomingMessage } from 'node:http'
import { ClientError } from './errors.js'

/** One exchange. */
export interface HttpRequest {
  method: 'GET' | 'POST'
  url: URL
  headers: Record<string, string>
  body?: Uint8Array
  /** Largest response body read; larger fails with `ERR_CLIENT_RESPONSE_TOO_LARGE`. */
  maxBytes: number
  /** Send on a new connection, not a kept-alive one (node:https only; a fetch function keeps its own). Unset: false. */
  fresh?: boolean
  /**
   * Called once the body has been handed to the connection, while the answer is awaited (node:https: the request's
   * `finish`; again if the request is retried). A fetch function does not say: it is not called then.
   */
  onSent?: () => void
}

/** A response, body read in full. */
export interface HttpResponse {
  status: number
  /** The media type, lower case, without parameters (`application/vnd.vouch.sealed`); empty when absent. */
  mediaType: string
  /** Header names in lower case. */
  headers: Record<string, string>
  body: Uint8Array
}

/** Sends exchanges; {@link Transport.close} releases kept-alive connections. */
export interface Transport {
  request(request: HttpRequest): Promise<HttpResponse>
  close(): void
}

/** The part of a fetch Response the client reads. */
export interface FetchLikeResponse {
  status: number
  headers: { get(name: string): string | null; forEach(callback: (value: string, name: string) => void): void }
  arrayBuffer(): Promise<ArrayBuffer>
}

/** A fetch-compatible function (`globalThis.fetch`, undici's with a dispatcher, a test double). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: Uint8Array; signal: AbortSignal },
) => Promise<FetchLikeResponse>

/** Options of {@link createHttpsTransport}. */
export interface HttpsTransportOptions {
  /** PEM CA certificates the server's certificate must chain to. Unset: Node's bundled public CAs. */
  ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>
  /** Accept any server certificate (development only). Unset: false. */
  insecureTls?: boolean
  /** Deadline of one exchange, connection to last body byte, in ms. */
  timeoutMs: number
}

/** The media type of a Content-Type value: lower case, parameters dropped. */
export function mediaTypeOf(value: string | null | undefined): string {
  return (value ?? '').split(';')[0]!.trim().toLowerCase()
}

// TLS failures say "your trust settings or the server's certificate", not "the server is down".
const TLS_CODE = /^(ERR_SSL_|ERR_TLS_)|CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/

function where(request: HttpRequest): string {
  return `${request.method} ${request.url.origin}${request.url.pathname}`
}

/** The ClientError for a failed exchange (not for a status: those are answers). */
function failure(error: unknown, request: HttpRequest): ClientError {
  if (error instanceof ClientError) return error
  const e = error as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } }
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return timeout(request)
  const code = e?.code ?? e?.cause?.code ?? ''
  const message = e?.cause?.message ?? e?.message ?? String(error)
  if (TLS_CODE.test(code) || /SSL routines/.test(message)) {
    return new ClientError('ERR_CLIENT_TLS', `${where(request)}: TLS failed (${code}: ${message}); trust the host's certificate with \`ca\` (--ca FILE), or for development only, \`insecureTls\``, { cause: error })
  }
  return new ClientError('ERR_CLIENT_UNREACHABLE', `${where(request)}: cannot reach the host (${code ? `${code}: ` : ''}${message})`, { cause: error })
}

/** Codes of a connection that failed or closed before the exchange: refused, reset ("socket hang up"), or broken on write. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE'])

/** The failures of exchanges that lost their connection before any byte of a response arrived. */
const unanswered = new WeakSet<ClientError>()

/**
 * Whether `error` is an exchange whose connection was refused, reset or broken before any byte of a response arrived
 * (a host restarting behind a load balancer): nothing was answered, so the caller may send again on a new connection.
 * Not a timeout, and not a connection lost mid-response.
 */
export function failedBeforeResponse(error: unknown): boolean {
  return error instanceof ClientError && unanswered.has(error)
}

/** The ClientError for `error`, marked {@link failedBeforeResponse} when it is a lost connection and nothing was answered. */
function lost(error: unknown, request: HttpRequest, answered: boolean): ClientError {
  const failed = failure(error, request)
  const e = error as { code?: string; cause?: { code?: string } } | null
  if (!answered && failed.code === 'ERR_CLIENT_UNREACHABLE' && CONNECTION_LOST.has(e?.code ?? e?.cause?.code ?? '')) unanswered.add(failed)
  return failed
}

function timeout(request: HttpRequest): ClientError {
  return new ClientError('ERR_CLIENT_TIMEOUT', `${where(request)}: no complete answer in time`)
}

function tooLarge(request: HttpRequest, size: number | string): ClientError {
  return new ClientError('ERR_CLIENT_RESPONSE_TOO_LARGE', `${where(request)}: the response body (${size} bytes) exceeds the ${request.maxBytes}-byte limit`)
}

type Exchanged = HttpResponse & { reused: boolean }

/** Reads `res` whole (refusing more than `request.maxBytes`) and hands it, or the reason it could not be read, to `done`. */
function readResponse(res: IncomingMessage, request: HttpRequest, reused: () => boolean, done: (error: unknown, response?: Exchanged) => void): void {
  const declared = Number(res.headers['content-length'] ?? NaN)
  if (declared > request.maxBytes) {
    done(tooLarge(request, declared))
    res.destroy()
    return
  }
  const chunks: Buffer[] = []
  let size = 0
  res.on('data', (chunk: Buffer) => {
    size += chunk.length
    if (size > request.maxBytes) {
      done(tooLarge(request, `over ${request.maxBytes}`))
      res.destroy()
      return
    }
    chunks.push(chunk)
  })
  res.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
    const flat: Record<string, string> = {}
    for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
    done(undefined, {
      status: res.statusCode ?? 0,
      mediaType: mediaTypeOf(res.headers['content-type']),
      headers: flat,
      body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
      reused: reused(),
    })
  })
  res.on('error', (error) => done(error))
  res.on('aborted', () => done(new Error('the connection closed before the response ended')))
}

/** One exchange on `agent`; a failure carries whether it ran on a kept-alive socket (`reused`) and the raw error. */
function exchangeOnce(agent: Agent, request: HttpRequest, timeoutMs: number): Promise<Exchanged> {
  return new Promise((resolve, reject) => {
    let settled = false
    let answered = false
    const done = (error: unknown, response?: Exchanged): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (response !== undefined) resolve(response)
      else reject(Object.assign(lost(error, request, answered), { reused: req.reusedSocket, raw: error }))
    }
    const headers: Record<string, string> = { ...request.headers }
    if (request.body !== undefined) headers['content-length'] = String(request.body.length)
    const req = httpsRequest(request.url, { method: request.method, headers, agent }, (res: IncomingMessage) => {
      answered = true
      readResponse(res, request, () => req.reusedSocket, done)
    })
    const timer = setTimeout(() => {
      const error = timeout(request)
      req.destroy(error)
      done(error)
    }, timeoutMs)
    req.on('error', (error) => done(error))
    if (request.onSent !== undefined) req.once('finish', request.onSent)
    req.end(request.body === undefined ? undefined : Buffer.from(request.body.buffer, request.body.byteOffset, request.body.byteLength))
  })
}

/** A transport over node:https: TLS 1.3 only, keep-alive. */
export function createHttpsTransport(options: HttpsTransportOptions): Transport {
  const ca = options.ca === undefined ? undefined : (Array.isArray(options.ca) ? options.ca : [options.ca]).map((c: string | Uint8Array) => (typeof c === 'string' ? c : Buffer.from(c)))
  const tlsOptions = { minVersion: 'TLSv1.3' as const, rejectUnauthorized: options.insecureTls !== true, ...(ca !== undefined && { ca }) }
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ...tlsOptions })
  // Retries go on a new connection: after a pause, every kept-alive socket may be one the server is closing, and a
  // retry on the next of them would fail the same way (several expire together after requests made in parallel).
  const fresh = new Agent({ keepAlive: false, ...tlsOptions })
  const once = (request: HttpRequest, on = agent): Promise<Exchanged> => exchangeOnce(on, request, options.timeoutMs)

  return {
    async request(request) {
      try {
        const { reused: _, ...response } = await once(request, request.fresh === true ? fresh : agent)
        return response
      } catch (error) {
        // A kept-alive connection the server closed while idle fails at once with ECONNRESET (or EPIPE when
        // the write lost the race); Node's advice is to retry on a fresh one. Safe for POST too: the enclave
        // refuses a replayed id.
        const e = error as ClientError & { reused?: boolean; raw?: { code?: string } }
        if (e.reused === true && (e.raw?.code === 'ECONNRESET' || e.raw?.code === 'EPIPE')) {
          const { reused: _, ...response } = await once(request, fresh)
          return response
        }
        throw error
      }
    },
    close: () => {
      agent.destroy()
      fresh.destroy()
    },
  }
}

/** A transport over a fetch-compatible function. TLS settings are the function's own. */
export function createFetchTransport(fetch: FetchLike, options: { timeoutMs: number }): Transport {
  return {
    async request(request) {
      const signal = AbortSignal.timeout(options.timeoutMs)
      let res: FetchLikeResponse
      try {
        res = await fetch(request.url.href, {
          method: request.method,
          headers: request.headers,
          ...(request.body !== undefined && { body: request.body }),
          signal,
        })
      } catch (error) {
        throw signal.aborted ? timeout(request) : lost(error, request, false)
      }
      try {
        const declared = Number(res.headers.get('content-length') ?? NaN)
        if (declared > request.maxBytes) throw tooLarge(request, declared)
        const body = new Uint8Array(await res.arrayBuffer())
        if (body.length > request.maxBytes) throw tooLarge(request, body.length)
        const headers: Record<string, string> = {}
        res.headers.forEach((value, name) => (headers[name.toLowerCase()] = value))
        return { status: res.status, mediaType: mediaTypeOf(res.headers.get('content-type')), headers, body }
      } catch (error) {
        throw signal.aborted ? timeout(request) : failure(error, request)
      }
    },
    close: () => undefined,
  }
}

/** How a request is sent again when the host answers 429 or 503. Every field says what happens when it is unset. */
export interface RetryOptions {
  /** Tries in all, the first included (1: never again). Unset: 5. */
  attempts?: number
  /** Backoff before the first retry in ms, doubled before each next one. Unset: 250. */
  baseDelayMs?: number
  /** Largest backoff in ms. Unset: 4000. */
  maxDelayMs?: number
  /** Time from the first try in ms after which no retry starts (a wait that would end later is not begun). Unset: 15000. */
  totalMs?: number
}

/**
 * The retry of attestation fetches by default: 5 tries; before each retry, the host's `Retry-After` (if any) plus a
 * random part of a backoff that starts at 250 ms and doubles up to 4 s ("full jitter", so clients turned away
 * together do not come back together); no retry that would start more than 15 s after the first try.
 */
export const DEFAULT_RETRY: Readonly<Required<RetryOptions>> = { attempts: 5, baseDelayMs: 250, maxDelayMs: 4_000, totalMs: 15_000 }

/** Statuses that say "the same request may succeed later". */
const RETRYABLE = new Set([429, 503])

/** The wait a `Retry-After` value asks for, in ms (delta-seconds or an HTTP date, RFC 9110 §10.2.3); null if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | null {
  if (value === undefined) return null
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  // An HTTP date names its weekday and month; Date.parse alone would read "-1" as a year.
  const at = /^[A-Za-z]{3}/.test(text) ? Date.parse(text) : Number.NaN
  return Number.isNaN(at) ? null : Math.max(0, at - now)
}

/** Clocks and randomness of {@link sendWithRetry}, for tests. */
export interface RetryEnvironment {
  now(): number
  sleep(ms: number): Promise<void>
  random(): number
}

const REAL_ENVIRONMENT: RetryEnvironment = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
}

/**
 * Sends `request`, and again while the host answers 429 or 503, within `options` ({@link DEFAULT_RETRY} for what is
 * unset): each wait is the host's `Retry-After` plus a random part of the exponential backoff. Resolves to the first
 * other answer, or to the last 429 or 503 once the tries or the time are used up; failures to exchange are not retried.
 */
export async function sendWithRetry(transport: Transport, request: HttpRequest, options: RetryOptions = {}, environment: RetryEnvironment = REAL_ENVIRONMENT): Promise<HttpResponse> {
  const { attempts, baseDelayMs, maxDelayMs, totalMs } = { ...DEFAULT_RETRY, ...options }
  const started = environment.now()
  for (let attempt = 1; ; attempt++) {
    const response = await transport.request(request)
    if (!RETRYABLE.has(response.status) || attempt >= attempts) return response
    const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1))
    const wait = (parseRetryAfter(response.headers['retry-after']) ?? 0) + environment.random() * backoff
    if (environment.now() - started + wait > totalMs) return response
    await environment.sleep(wait)
  }
}
