/**
 * Every code a wire-format parser can report. Codes are stable: tests and callers switch on them,
 * messages are for people and may change.
 */
export const PROTOCOL_ERROR_CODES = [
  'ERR_PROTOCOL_MALFORMED',
  'ERR_PROTOCOL_UNSUPPORTED_VERSION',
  'ERR_PROTOCOL_TOO_LARGE',
  'ERR_ENVELOPE_OPEN_FAILED',
  'ERR_RECEIPT_MALFORMED',
  'ERR_RECEIPT_SIGNATURE_INVALID',
  'ERR_REPORT_LENGTH',
  'ERR_REPORT_VERSION_UNSUPPORTED',
  'ERR_REPORT_RESERVED',
  'ERR_REPORT_SIGNATURE_ALGORITHM',
  'ERR_REPORT_SIGNING_KEY_INVALID',
  'ERR_REPORT_PRODUCT_UNKNOWN',
  'ERR_SPDM_MALFORMED',
  'ERR_LINK_MALFORMED',
  'ERR_LINK_FRAME_TOO_LARGE',
  'ERR_LOG_ENTRY_MALFORMED',
  'ERR_TLOG_MALFORMED',
  'ERR_TLOG_PROOF_INVALID',
  'ERR_NOTE_MALFORMED',
  'ERR_NOTE_SIGNATURE_INVALID',
  'ERR_NOTE_UNKNOWN_KEY',
] as const

export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number]

/**
 * The one base of every Vouch error that callers switch on: a stable `code` from one union per class, a message
 * for people, the `cause` kept when there is one, and `name` the class's own. Each package derives its classes from
 * it ({@link ProtocolError} here; the verifier's, the enclave's, the host's and the client's), so
 * `error instanceof CodedError` tells a refusal Vouch raised on purpose from a bug.
 */
export abstract class CodedError<C extends string = string> extends Error {
  readonly code: C

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.name = new.target.name
  }
}

/** Raised when bytes do not follow a wire format. Carries a stable {@link ProtocolErrorCode}. */
export class ProtocolError extends CodedError<ProtocolErrorCode> {
  /**
   * Every problem found, one `path: what is wrong` line each (`keyset.enc.x: must be 43 base64url
   * characters`), when a validator collected several; empty otherwise. The message joins them.
   */
  readonly issues: readonly string[]

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown; issues?: readonly string[] }) {
    super(code, message, options)
    this.issues = options?.issues ?? []
  }
}
