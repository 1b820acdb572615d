/**
 * Consistency of two signed checkpoints of one receipt log: the later tree extends the earlier one (RFC 9162). A
 * log that shows two checkpoints of one size with different roots, or a checkpoint its earlier one is not proven
 * consistent with, has forked: it showed two histories, and the two signed checkpoints prove it to anyone holding
 * the log key. Pure.
 */
import { bytesEqual, checkTree, fromBase64, HASH_SIZE, type Hash } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import type { SignedCheckpoint } from './inclusion.js'

/** Two signed checkpoints of one log that no single history can hold: the proof of a fork. */
export class LogForkError extends VerificationError {
  /** Both signed notes, the earlier-seen one first: each verifies under the log key, together they prove the fork. */
  readonly checkpoints: readonly [string, string]

  constructor(message: string, older: SignedCheckpoint, newer: SignedCheckpoint, cause?: unknown) {
    super('ERR_LOG_FORK', message, cause === undefined ? undefined : { cause })
    this.checkpoints = [older.note, newer.note]
  }
}

/** Reads a consistency proof (`GET /v1/log/consistency`'s JSON `proof`): padded base64 hashes. `ERR_LOG_PROOF_MALFORMED`. */
export function parseTreeProof(value: unknown): Hash[] {
  if (!Array.isArray(value) || !value.every((h) => typeof h === 'string')) throw new VerificationError('ERR_LOG_PROOF_MALFORMED', 'a consistency proof is a list of base64 hashes')
  return value.map((h: string, i) => {
    try {
      return fromBase64(h, `proof[${i}]`, HASH_SIZE)
    } catch (cause) {
      throw new VerificationError('ERR_LOG_PROOF_MALFORMED', `consistency proof: ${(cause as Error).message}`, { cause })
    }
  })
}

/**
 * Checks that checkpoint `b` and checkpoint `a` (both already opened with the log key) can be one history: same
 * origin; at one size the same root; else `proof` proves the larger tree extends the smaller (RFC 9162 consistency,
 * from the smaller size to the larger). `a` is the one seen first. Throws {@link LogForkError} (`ERR_LOG_FORK`, both
 * signed notes) when they cannot; a TypeError for checkpoints of two logs (another origin is another log, not a fork).
 * Returns the later (larger) checkpoint.
 */
export function verifyLogConsistency(a: SignedCheckpoint, b: SignedCheckpoint, proof: readonly Hash[]): SignedCheckpoint {
  if (a.origin !== b.origin) throw new TypeError(`checkpoints of two logs (${a.origin}, ${b.origin}) are not compared`)
  if (a.size === b.size) {
    if (!bytesEqual(a.rootHash, b.rootHash)) throw new LogForkError(`the log ${a.origin} signed two checkpoints of ${a.size} entries with different roots`, a, b)
    return a
  }
  const [small, large] = a.size < b.size ? [a, b] : [b, a]
  try {
    checkTree(proof, large.size, large.rootHash, small.size, small.rootHash)
  } catch (error) {
    throw new LogForkError(`the log ${a.origin}'s checkpoint of ${large.size} entries is not proven to extend its checkpoint of ${small.size} (${(error as Error).message})`, a, b, error)
  }
  return large
}
