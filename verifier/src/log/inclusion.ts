/**
 * A receipt's inclusion in a receipt log, checked offline (docs/protocol.md, "Receipt log"): the proof JSON as
 * `GET /v1/log/proof` returns it, a checkpoint signed by a log key the relying party pins, and the receipt's entry
 * hashed as the log hashes it. Pure: the proof and the keys are inputs.
 */
import {
  bytesEqual,
  checkRecord,
  CodedError,
  encodeLogEntry,
  fromBase64,
  HASH_SIZE,
  openNote,
  parseCheckpoint,
  recordHash,
  toBase64,
  type Checkpoint,
  type Hash,
} from '@vouch/protocol'
import { VerificationError } from '../errors.js'

/** An inclusion proof as `GET /v1/log/proof?receipt=sha256:<hex>` returns it. */
export interface LogProof {
  /** The receipt entry's index in the log. */
  index: number
  /** The tree size the proof is for: the checkpoint's. */
  size: number
  /** The tree hash at `size`, padded base64: the checkpoint's. */
  rootHash: string
  /** The RFC 9162 inclusion path, padded base64 hashes. */
  proof: string[]
  /** The signed checkpoint (a C2SP signed note) the proof leads to. */
  checkpoint: string
}

/** A signed checkpoint, opened with a pinned log key. */
export interface SignedCheckpoint extends Checkpoint {
  /** The signed note exactly as served: the evidence to keep (and to show, if the log forks). */
  readonly note: string
}

/** What an inclusion proof proved. */
export interface LogInclusion {
  /** The receipt entry's index. */
  index: number
  /** The checkpoint the receipt is included under. */
  checkpoint: SignedCheckpoint
}

const malformed = (message: string, cause?: unknown): VerificationError => new VerificationError('ERR_LOG_PROOF_MALFORMED', message, cause === undefined ? undefined : { cause })

/** Asserts `value` is a {@link LogProof} (as parsed from its JSON), listing each bad field. `ERR_LOG_PROOF_MALFORMED`. */
export function parseLogProof(value: unknown): LogProof {
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value)
    } catch (cause) {
      throw malformed('the log proof is not JSON', cause)
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed('the log proof is not a JSON object')
  const map = value as Record<string, unknown>
  const problems: string[] = []
  for (const field of ['index', 'size'] as const) {
    if (!Number.isSafeInteger(map[field]) || (map[field] as number) < 0) problems.push(`${field} must be a non-negative integer`)
  }
  if (typeof map['rootHash'] !== 'string') problems.push('rootHash must be base64 text')
  if (!Array.isArray(map['proof']) || !map['proof'].every((h) => typeof h === 'string')) problems.push('proof must be a list of base64 hashes')
  if (typeof map['checkpoint'] !== 'string') problems.push('checkpoint must be the signed note text')
  if (problems.length > 0) throw malformed(`the log proof is malformed: ${problems.join('; ')}`)
  return { index: map['index'] as number, size: map['size'] as number, rootHash: map['rootHash'] as string, proof: [...(map['proof'] as string[])], checkpoint: map['checkpoint'] as string }
}

/**
 * Opens a signed checkpoint with the pinned log keys (verifier key texts) and parses it. `ERR_LOG_CHECKPOINT_UNTRUSTED`
 * when no pinned key signed it or a signature by one does not verify; `ERR_LOG_PROOF_MALFORMED` when the note or the
 * checkpoint in it is out of form. A TypeError when no key is given (nothing could be trusted).
 */
export async function openCheckpoint(note: string, logKeys: readonly string[]): Promise<SignedCheckpoint> {
  if (!Array.isArray(logKeys) || logKeys.length === 0) throw new TypeError('openCheckpoint: give at least one log key (a note verifier key) to check the checkpoint with')
  let text: string
  try {
    text = (await openNote(note, logKeys)).text
  } catch (error) {
    if (error instanceof CodedError && (error.code === 'ERR_NOTE_UNKNOWN_KEY' || error.code === 'ERR_NOTE_SIGNATURE_INVALID')) {
      throw new VerificationError('ERR_LOG_CHECKPOINT_UNTRUSTED', `the checkpoint is not signed by the log key given: ${error.message}`, { cause: error })
    }
    throw malformed(`the checkpoint is not a signed note: ${(error as Error).message}`, error)
  }
  try {
    return { ...parseCheckpoint(text), note }
  } catch (error) {
    throw malformed(`the signed note is not a checkpoint: ${(error as Error).message}`, error)
  }
}

function toHash(text: string, what: string): Hash {
  try {
    return fromBase64(text, what, HASH_SIZE)
  } catch (cause) {
    throw malformed(`${what}: ${(cause as Error).message}`, cause)
  }
}

/** The hash the log gives the entry of receipt `jws`: RFC 9162's record hash of its CBOR entry. */
export function receiptEntryHash(jws: string): Hash {
  return recordHash(encodeLogEntry({ kind: 'receipt', receipt: jws }))
}

/**
 * Checks that receipt `jws` (the compact JWS, as the enclave signed it) is in the log: `proof` (a {@link LogProof} or
 * its JSON) leads from the receipt's entry, at the index it names, to the tree hash of a checkpoint signed by one of
 * `logKeys`. Throws, by code:
 * - `ERR_LOG_PROOF_MALFORMED`: the proof, its checkpoint note or a hash is out of form;
 * - `ERR_LOG_CHECKPOINT_UNTRUSTED`: no key in `logKeys` signed the checkpoint (or its signature does not verify);
 * - `ERR_LOG_INCLUSION_INVALID`: the proof's size or root hash differ from the signed checkpoint's, or the path does
 *   not lead from this receipt's entry to the root (a proof of another receipt, or a tampered one: the two look alike).
 */
export async function verifyLogInclusion(jws: string, proof: unknown, logKeys: readonly string[]): Promise<LogInclusion> {
  const parsed = parseLogProof(proof)
  const checkpoint = await openCheckpoint(parsed.checkpoint, logKeys)
  const rootHash = toHash(parsed.rootHash, 'rootHash')
  const path = parsed.proof.map((h, i) => toHash(h, `proof[${i}]`))
  if (parsed.size !== checkpoint.size || !bytesEqual(rootHash, checkpoint.rootHash)) {
    throw new VerificationError('ERR_LOG_INCLUSION_INVALID', `the proof is for a tree of ${parsed.size} entries with root ${parsed.rootHash}, the signed checkpoint states ${checkpoint.size} and ${toBase64(checkpoint.rootHash)}`)
  }
  let entry: Hash
  try {
    entry = receiptEntryHash(jws)
  } catch (error) {
    throw new VerificationError('ERR_LOG_INCLUSION_INVALID', `the receipt cannot be a log entry: ${(error as Error).message}`, { cause: error })
  }
  try {
    checkRecord(path, checkpoint.size, checkpoint.rootHash, parsed.index, entry)
  } catch (error) {
    throw new VerificationError('ERR_LOG_INCLUSION_INVALID', `the proof does not lead from this receipt's entry at index ${parsed.index} to the root of ${checkpoint.origin} at size ${checkpoint.size} (a proof of another receipt, or a tampered one): ${(error as Error).message}`, { cause: error })
  }
  return { index: parsed.index, checkpoint }
}
