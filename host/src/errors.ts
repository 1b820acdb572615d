/**
 * The host's error registry (fastify's `lib/errors.js`, STYLE.md): every code the host answers with, its
 * HTTP status and its fixed public message. Clients see the code and that message only (RFC 9457 problem
 * details); causes go to the logs. Failures the enclave reports cross the link as `{ code, message, status }`
 * and are relayed as they are ({@link EnclaveRefusal}). Every code is documented in `docs/errors.md`
 * (section "Host"); `test/errors-doc.test.ts` keeps the two in sync.
 */
import { STATUS_CODES } from 'node:http'
import { CodedError } from '@vouch/protocol'

/** Code → HTTP status and fixed public message. */
export const HOST_ERRORS = {
  ERR_HOST_BAD_REQUEST: { status: 400, message: 'the request is malformed' },
  ERR_HOST_KEY_ID_INVALID: { status: 400, message: 'a sealed request needs a Vouch-Key-Id header naming the attested keyset' },
  ERR_HOST_LOG_RANGE_INVALID: { status: 400, message: 'tree sizes are decimal integers, from at most to, and to at most the latest checkpoint\'s size' },
  ERR_HOST_NONCE_INVALID: { status: 400, message: 'nonce must be 64 hexadecimal digits (32 bytes)' },
  ERR_HOST_NOT_FOUND: { status: 404, message: 'no such route' },
  ERR_HOST_LOG_ENTRY_NOT_FOUND: { status: 404, message: 'the receipt log holds no such entry (yet): its latest checkpoint does not cover it' },
  ERR_HOST_MODEL_NOT_FOUND: { status: 404, message: 'no such model (or version) in this enclave' },
  ERR_HOST_METHOD_NOT_ALLOWED: { status: 405, message: 'this route does not serve that method' },
  ERR_HOST_BODY_TOO_SLOW: { status: 408, message: 'the request body arrived more slowly than this host accepts' },
  ERR_HOST_BODY_TIMEOUT: { status: 408, message: 'the request body did not arrive in time' },
  ERR_HOST_BODY_TOO_LARGE: { status: 413, message: 'the request body is larger than this host accepts' },
  ERR_HOST_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'sealed requests are application/vnd.vouch.sealed, without content encoding' },
  ERR_HOST_ATTEST_RATE_LIMITED: { status: 429, message: 'too many challenged attestations from this client: retry after the time in Retry-After, or use the unchallenged bundle' },
  ERR_HOST_INTERNAL: { status: 500, message: 'the host failed to serve the request' },
  ERR_HOST_LOG_INCONSISTENT: { status: 500, message: "the receipt log's storage disagrees with itself; the host refuses to build on it" },
  ERR_HOST_BAD_GATEWAY: { status: 502, message: 'the enclave answered with something the host cannot relay' },
  ERR_HOST_ENCLAVE_UNAVAILABLE: { status: 503, message: 'the enclave is not available: retry later (and attest again if it restarted)' },
  ERR_HOST_ENCLAVE_NOT_FOUND: { status: 404, message: 'no such enclave behind this host' },
  ERR_HOST_ENCLAVE_LOST: { status: 502, message: 'the enclave went away while it held the request: its outcome is unknown' },
  ERR_HOST_QUEUE_FULL: { status: 503, message: 'too many requests are waiting for the enclave: retry later' },
  ERR_HOST_LOG_UNAVAILABLE: { status: 503, message: 'the receipt log could not take or read an entry: retry later' },
  ERR_HOST_SHUTTING_DOWN: { status: 503, message: 'the host is shutting down: retry on another instance or later' },
  ERR_HOST_TIMEOUT: { status: 504, message: 'the request was not served in time' },
} as const satisfies Record<string, { status: number; message: string }>

/** A code of {@link HOST_ERRORS}. */
export type HostErrorCode = keyof typeof HOST_ERRORS

/**
 * Codes raised while the host starts, never answered over HTTP: a configuration (flags, environment, file)
 * that is not valid, or TLS material that cannot be used.
 */
export const HOST_STARTUP_ERROR_CODES = ['ERR_HOST_CONFIG_INVALID', 'ERR_HOST_TLS_INVALID', 'ERR_HOST_ENCLAVE_START', 'ERR_HOST_LOG_OPEN_FAILED'] as const

/** A code of {@link HOST_STARTUP_ERROR_CODES}. */
export type HostStartupErrorCode = (typeof HOST_STARTUP_ERROR_CODES)[number]

/** Every code the host defines: those answered over HTTP, then those raised at start. */
export const HOST_ERROR_CODES = [...(Object.keys(HOST_ERRORS) as HostErrorCode[]), ...HOST_STARTUP_ERROR_CODES] as const

/**
 * A refusal of the host: its code, status and the fixed message of {@link HOST_ERRORS}; the cause is kept for the
 * logs, and `retryAfterS` (whole seconds) goes out as `Retry-After` (unset: 1 s for a 429 or 503, none otherwise).
 */
export class HostError extends CodedError<HostErrorCode> {
  readonly status: number
  readonly retryAfterS: number | undefined

  constructor(code: HostErrorCode, options?: { cause?: unknown; retryAfterS?: number }) {
    super(code, HOST_ERRORS[code].message, options)
    this.status = HOST_ERRORS[code].status
    this.retryAfterS = options?.retryAfterS
  }
}

/** A failure at start (configuration, TLS, the enclave that would not start); the message names the source and field. */
export class HostStartupError extends CodedError<HostStartupErrorCode> {}

/** What the enclave said when it refused a request; relayed to the client with its own status and message. */
export class EnclaveRefusal extends CodedError {
  readonly status: number

  constructor(code: string, status: number, message: string) {
    super(code, message)
    this.status = status
  }
}

const RELAYABLE_CODE = /^ERR_[A-Z0-9_]{1,64}$/
const MAX_RELAYED_MESSAGE = 512

/**
 * The enclave's refusal as the client will see it. The host is outside the trust boundary but still relays only
 * what has the link's shape: a code of the `ERR_*` form and a 4xx or 5xx status; anything else becomes
 * `ERR_HOST_BAD_GATEWAY`. A well-formed coded refusal is always relayed with its code and status: its message is
 * made one line of printable text of at most 512 characters (control characters become spaces), not refused.
 */
export function toEnclaveRefusal(error: { code: string; message: string; status: number }): EnclaveRefusal | HostError {
  const { code, message, status } = error
  if (!RELAYABLE_CODE.test(code) || !Number.isInteger(status) || status < 400 || status > 599) {
    return new HostError('ERR_HOST_BAD_GATEWAY', { cause: new Error(`unrelayable enclave error (code ${JSON.stringify(code.slice(0, 80))}, status ${status})`) })
  }
  return new EnclaveRefusal(code, status, toOneLine(message, MAX_RELAYED_MESSAGE) || 'the enclave refused the request')
}

/** `text` as one line: control characters (line breaks included) as spaces, runs of spaces as one, at most `max` characters. */
function toOneLine(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/ {2,}/g, ' ').trim()
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`
}

/** Media type of problem details (RFC 9457). */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json'

/** An RFC 9457 problem details object, with Vouch's `code` and the `requestId` that finds it in the logs. */
export interface Problem {
  /** `urn:vouch:error:<code>`: identifies the problem type; docs/errors.md explains each. */
  type: string
  /** The HTTP reason phrase of `status`. */
  title: string
  status: number
  /** The fixed public message of `code`. */
  detail: string
  /** The path of the request that failed. */
  instance: string
  code: string
  requestId: string
}

/** The problem details of a host or relayed enclave error. */
export function toProblem(error: HostError | EnclaveRefusal, instance: string, requestId: string): Problem {
  return {
    type: `urn:vouch:error:${error.code}`,
    title: STATUS_CODES[error.status] ?? 'Error',
    status: error.status,
    detail: error.message,
    instance,
    code: error.code,
    requestId,
  }
}
