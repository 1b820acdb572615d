/**
 * Every code a wire-format parser can report. Codes are stable: tests and callers switch on them,
 * messages are for people and may change.
 */
export const PROTOCOL_ERROR_CODES = [
  'ERR_PROTOCOL_MALFORMED',
  'ERR_PROTOCOL_UNSUPPORTED_VERSION',
  'ERR_REPORT_LENGTH',
  'ERR_REPORT_VERSION_UNSUPPORTED',
  'ERR_REPORT_RESERVED',
  'ERR_REPORT_SIGNATURE_ALGORITHM',
  'ERR_REPORT_SIGNING_KEY_INVALID',
  'ERR_REPORT_PRODUCT_UNKNOWN',
  'ERR_SPDM_MALFORMED',
] as const

export type ProtocolErrorCode = (typeof PROTOCOL_ERROR_CODES)[number]

/** Raised when bytes do not follow a wire format. Carries a stable {@link ProtocolErrorCode}. */
export class ProtocolError extends Error {
  readonly code: ProtocolErrorCode

  constructor(code: ProtocolErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ProtocolError'
    this.code = code
  }
}
