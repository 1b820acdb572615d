/**
 * `@vouch/protocol`: Vouch's wire formats. Parsing and composing only; no I/O, no trust decisions.
 */
export { ProtocolError, PROTOCOL_ERROR_CODES, type ProtocolErrorCode } from './errors.js'
export { toHex, fromHex, isAllZero, bytesEqual, reversed } from './bytes.js'
export * from './sev-snp/report.js'
export * from './sev-snp/kds.js'
export * from './nvidia/spdm.js'
