/**
 * The host's logger. The host never holds plaintext, but it does hold ciphertext bodies and whatever headers
 * clients send: the code logs ids, routes, statuses, sizes and timings only (see the request serializer in
 * `app.ts`), and these redact paths catch the fields that must never appear should an object carrying them
 * ever be logged by mistake. `Vouch-Key-Id` is a public key id and is logged.
 */
import { pino, type DestinationStream, type Logger } from 'pino'

/** Field paths censored wherever they appear (one or two levels deep). */
export const REDACT_PATHS = [
  'body',
  'plaintext',
  'inputs',
  'outputs',
  'data',
  'bundle',
  'privateKey',
  'd',
  '*.body',
  '*.plaintext',
  '*.inputs',
  '*.outputs',
  '*.data',
  '*.privateKey',
  '*.d',
  'headers',
  '*.headers',
]

/** A pino logger named `vouch-host` at `level`, writing to `destination` (stdout when unset). */
export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  const options = { name: 'vouch-host', level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }
  return destination === undefined ? pino(options) : pino(options, destination)
}
