/**
 * The enclave's logger. Logs never hold plaintext, keys, ciphertext or request bodies: the code logs ids,
 * codes, sizes and timings only, and {@link LOG_REDACT_PATHS} censors what must never appear should it be
 * logged by mistake.
 */
import { LOG_REDACT_PATHS } from '@vouch/protocol'
import { pino, type DestinationStream, type Logger } from 'pino'

/** Field paths censored wherever they appear (one or two levels deep). */
export const REDACT_PATHS = LOG_REDACT_PATHS

/** A pino logger named `vouch-enclave` at `level`, writing to `destination` (stdout when unset). */
export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  const options = { name: 'vouch-enclave', level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }
  return destination === undefined ? pino(options) : pino(options, destination)
}
