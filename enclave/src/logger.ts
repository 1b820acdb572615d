/**
 * The enclave's logger. Logs never hold plaintext, keys, ciphertext or request bodies: the code logs
 * ids, codes, sizes and timings only, and these redact paths catch the fields that must never appear
 * should an object carrying them ever be logged by mistake.
 */
import { pino, type DestinationStream, type Logger } from 'pino'

/** Field paths censored wherever they appear (one or two levels deep). */
export const REDACT_PATHS = [
  'body',
  'plaintext',
  'inputs',
  'outputs',
  'data',
  'privateKey',
  'encPrivateKey',
  'sigPrivateKey',
  'd',
  '*.body',
  '*.plaintext',
  '*.inputs',
  '*.outputs',
  '*.data',
  '*.privateKey',
  '*.d',
]

/** A pino logger named `vouch-enclave` at `level`, writing to `destination` (stdout when unset). */
export function createLogger(level = 'info', destination?: DestinationStream): Logger {
  const options = { name: 'vouch-enclave', level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }
  return destination === undefined ? pino(options) : pino(options, destination)
}
