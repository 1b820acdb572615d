/**
 * The host's logger. The host never holds plaintext, but it does hold ciphertext bodies and whatever headers
 * clients send: the code logs ids, routes, statuses, sizes and timings only (see the request serializer in
 * `app.ts`), and {@link LOG_REDACT_PATHS} censors what must never appear should it be logged by mistake.
 * `Vouch-Key-Id` is a public key id and is logged.
 */
import { LOG_REDACT_PATHS } from '@vouch/protocol'
import { pino, type DestinationStream, type Logger } from 'pino'

/** Field paths censored wherever they appear (one or two levels deep). */
export const REDACT_PATHS = LOG_REDACT_PATHS

/** A pino logger named `vouch-host` at `level`, writing to `destination` (stdout when unset). */
export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  const options = { name: 'vouch-host', level, redact: { paths: [...REDACT_PATHS], censor: '[redacted]' } }
  return destination === undefined ? pino(options) : pino(options, destination)
}
