/**
 * Checkpoints (C2SP tlog-checkpoint): the text a log signs, as a signed note, to commit to its tree at a size.
 *
 * ```
 * example.com/behind-the-sofa
 * 20852163
 * CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
 * ```
 *
 * Line 1 the origin (the log's name), line 2 the tree size in decimal, line 3 the base64 tree hash, then optional
 * extension lines, each line ending in a newline. The parser is strict, so one checkpoint has one spelling: two
 * different texts for the same size and hash cannot both be accepted.
 */
import { fromBase64, toBase64 } from '../bytes.js'
import { assertCount, assertHash, HASH_SIZE, malformed, type Hash } from './hash.js'

/** A log's tree head as a checkpoint states it. */
export interface Checkpoint {
  /** The log's name (the first line); a schema-less URL by convention, never empty. */
  readonly origin: string
  /** Records in the tree. */
  readonly size: number
  /** The tree hash (RFC 9162 MTH) of the first `size` records. */
  readonly rootHash: Hash
  /** Opaque lines after the hash (C2SP does not recommend them, as monitors cannot audit them); none by default. */
  readonly extensions: readonly string[]
}

// Control characters are refused in a note (C2SP signed-note); a checkpoint line may hold nothing a note cannot.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/
const LONE_SURROGATE = /\p{Surrogate}/u
const SIZE = /^(?:0|[1-9][0-9]*)$/

function lineProblem(line: string): string | null {
  if (line === '') return 'is empty'
  if (CONTROL.test(line)) return 'holds a control character'
  if (LONE_SURROGATE.test(line)) return 'is not well-formed Unicode'
  return null
}

/**
 * The text of a checkpoint, ready for {@link signNote}: origin, size, base64 tree hash, and any extension lines,
 * each ending in a newline. `ERR_TLOG_MALFORMED` for an empty origin or extension line, a line that holds a newline
 * or another control character, a size that is not a safe integer, or a hash that is not 32 bytes.
 */
export function formatCheckpoint(checkpoint: { origin: string; size: number; rootHash: Hash; extensions?: readonly string[] }): string {
  const { origin, size, rootHash, extensions = [] } = checkpoint
  const problem = typeof origin === 'string' ? lineProblem(origin) : 'is not text'
  if (problem !== null) throw malformed(`checkpoint origin ${problem}`)
  assertCount(size, 'checkpoint size')
  assertHash(rootHash, 'checkpoint root hash')
  if (!Array.isArray(extensions)) throw malformed('checkpoint extensions: expected a list of lines')
  extensions.forEach((line, i) => {
    const bad = typeof line === 'string' ? lineProblem(line) : 'is not text'
    if (bad !== null) throw malformed(`checkpoint extension line ${i + 1} ${bad}`)
  })
  return [origin, String(size), toBase64(rootHash), ...extensions].map((line) => `${line}\n`).join('')
}

/**
 * The checkpoint a note text states (the `text` of {@link openNote}'s result). Strict: at least three lines, each
 * non-empty and ending in a newline; the size decimal without leading zeros and at most 2^53 − 1; the hash canonical
 * padded base64 of 32 bytes. `ERR_TLOG_MALFORMED` naming the line otherwise.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string') throw malformed('a checkpoint is text')
  if (!text.endsWith('\n')) throw malformed('checkpoint: the text does not end in a newline')
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) throw malformed(`checkpoint: expected at least 3 lines (origin, size, root hash), got ${lines.length}`)
  lines.forEach((line, i) => {
    const problem = lineProblem(line)
    if (problem !== null) throw malformed(`checkpoint line ${i + 1} ${problem}`)
  })
  const [origin, sizeText, hashText, ...extensions] = lines as [string, string, string, ...string[]]
  if (!SIZE.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw malformed(`checkpoint line 2: the size must be decimal without leading zeros, at most 2^53 - 1, got ${JSON.stringify(sizeText)}`)
  }
  let rootHash: Hash
  try {
    rootHash = fromBase64(hashText, 'root hash', HASH_SIZE)
  } catch (cause) {
    throw malformed(`checkpoint line 3: the root hash must be the padded base64 of ${HASH_SIZE} bytes (${(cause as Error).message})`)
  }
  return { origin, size: Number(sizeText), rootHash, extensions }
}
