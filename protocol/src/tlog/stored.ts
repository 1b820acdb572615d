/**
 * How a log keeps its Merkle tree: as one append-only sequence of "stored hashes", the design of Go's checksum
 * database (golang.org/x/mod/sumdb/tlog) and of Crosby and Wallach's history trees. When record n is added, the
 * log appends its record hash and then the hash of every complete subtree that record completes (one per trailing
 * one bit of n), so the hashes of a tree of n records are exactly the first {@link storedHashCount}(n) stored
 * hashes, nothing is ever rewritten, and every tree hash and proof reads at most a few dozen of them.
 *
 * A node is named by (level, n): the n-th subtree of 2^level records. {@link storedHashIndex} maps it to its
 * position in the sequence.
 */
import {
  assertCount,
  assertHash,
  EMPTY_TREE_HASH,
  floorLog2,
  malformed,
  nodeHash,
  popCount,
  readHashesExactly,
  recordHash,
  trailingOnes,
  type Hash,
  type HashReader,
} from './hash.js'

/** Levels a safe-integer tree can have (2^53 records). */
const MAX_LEVEL = 53

/**
 * The stored-hash index of node (level, n): where the hash of records [n·2^level, (n+1)·2^level) sits in the
 * sequence. The node is written with its last record, m = (n+1)·2^level − 1, right after that record's hash and
 * the `level − 1` nodes below it; records 0..m−1 wrote 2m − popcount(m) hashes before it.
 */
export function storedHashIndex(level: number, n: number): number {
  assertCount(level, 'level')
  assertCount(n, 'n')
  if (level > MAX_LEVEL) throw malformed(`level: at most ${MAX_LEVEL}, got ${level}`)
  const span = 2 ** level
  const last = n * span + span - 1
  if (!Number.isSafeInteger(2 * last)) throw malformed(`node (${level}, ${n}) is past the largest tree this code handles (2^52 records)`)
  return 2 * last - popCount(last) + level
}

/** The node (level, n) stored at `index`: the inverse of {@link storedHashIndex}. */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  assertCount(index, 'stored-hash index')
  // Record m's hash sits at 2m − popcount(m), which is at most index when m = ⌊index/2⌋; walk forward to the last
  // record whose hash is at or before index: the node is one of the hashes that record wrote.
  let m = Math.floor(index / 2)
  let at = 2 * m - popCount(m)
  for (;;) {
    const next = at + 1 + trailingOnes(m)
    if (next > index) break
    m++
    at = next
  }
  const level = index - at
  return { level, n: Math.floor(m / 2 ** level) }
}

/** How many hashes a log of `size` records has stored: 2·size − popcount(size). */
export function storedHashCount(size: number): number {
  assertCount(size, 'size')
  return 2 * size - popCount(size)
}

/**
 * The hashes to append when record `n` (0-based) with bytes `data` is added, starting at stored-hash index
 * {@link storedHashCount}(n): the record hash, then one hash per subtree it completes. Reads at most log₂ n
 * earlier hashes through `reader`.
 */
export async function storedHashesForRecord(n: number, data: Uint8Array, reader: HashReader): Promise<Hash[]> {
  return storedHashesForRecordHashes(n, [recordHash(data)], reader)
}

/**
 * The hashes to append when records n, n+1, … with the given record hashes ({@link recordHash}) are added in one
 * batch, in storage order from index {@link storedHashCount}(n). Reads the few earlier hashes the batch needs in
 * one call (at most log₂ n, the roots of the complete subtrees of the tree of n records), and takes the rest from
 * the batch itself, so integrating a batch costs one read and about two node hashes per record.
 */
export async function storedHashesForRecordHashes(n: number, hashes: readonly Hash[], reader: HashReader): Promise<Hash[]> {
  assertCount(n, 'n')
  if (!Array.isArray(hashes)) throw malformed('record hashes: expected a list')
  hashes.forEach((h, i) => assertHash(h, `record hash ${i}`))
  const end = n + hashes.length
  assertCount(end, 'n + records')
  const base = storedHashCount(n)
  // The left siblings that lie before the batch: for each record, every completed subtree whose left half ends
  // before record n. They are all roots of the tree of n records' complete subtrees, so few, and read at once.
  const earlier = new Set<number>()
  for (let r = n; r < end; r++) {
    for (let level = 0, ones = trailingOnes(r); level < ones; level++) {
      const left = storedHashIndex(level, Math.floor(r / 2 ** level) - 1)
      if (left < base) earlier.add(left)
    }
  }
  const wanted = [...earlier].sort((a, b) => a - b)
  const read = await readHashesExactly(reader, wanted)
  const old = new Map<number, Hash>()
  for (let i = 0; i < wanted.length; i++) old.set(wanted[i]!, read[i]!)

  const out: Hash[] = []
  for (let r = n; r < end; r++) {
    let h = hashes[r - n]!
    out.push(h)
    for (let level = 0, ones = trailingOnes(r); level < ones; level++) {
      const left = storedHashIndex(level, Math.floor(r / 2 ** level) - 1)
      h = nodeHash(left >= base ? out[left - base]! : old.get(left)!, h)
      out.push(h)
    }
  }
  return out
}

/**
 * Appends to `out` the stored-hash indexes of the complete subtrees that make up records [lo, hi), largest first
 * (RFC 9162's split of a tree into a left power of two and the rest, repeated). `lo` is aligned to each piece.
 */
export function subtreeIndexes(lo: number, hi: number, out: number[]): number[] {
  while (lo < hi) {
    const level = floorLog2(hi - lo)
    const span = 2 ** level
    if (lo % span !== 0) throw new Error(`tlog: subtree [${lo}, ${hi}) is not aligned`)
    out.push(storedHashIndex(level, lo / span))
    lo += span
  }
  return out
}

/**
 * The hash of records [lo, hi) from its complete subtrees' hashes, read in {@link subtreeIndexes} order starting
 * at `hashes[from]`: the last two are joined first, as RFC 9162's MTH joins a left power of two and the rest.
 */
export function subtreeHash(lo: number, hi: number, hashes: readonly Hash[], from: number): Hash {
  const pieces = popCount(hi - lo)
  let h = hashes[from + pieces - 1]!
  for (let i = pieces - 2; i >= 0; i--) h = nodeHash(hashes[from + i]!, h)
  return h
}

/**
 * The tree hash (RFC 9162 MTH) of the first `size` records, from the stored hashes read through `reader` (one
 * call, at most log₂ size + 1 hashes). The empty tree's hash is SHA-256 of no bytes, as RFC 9162 defines it
 * (Go's sumdb answers zeros there; checkpoints of empty C2SP logs carry the RFC's value).
 */
export async function treeHash(size: number, reader: HashReader): Promise<Hash> {
  assertCount(size, 'size')
  if (size === 0) return EMPTY_TREE_HASH
  const hashes = await readHashesExactly(reader, subtreeIndexes(0, size, []))
  return subtreeHash(0, size, hashes, 0)
}
