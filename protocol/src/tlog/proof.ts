/**
 * Inclusion proofs (RFC 9162 §2.1.3: record n is in the tree of size t) and consistency proofs (§2.1.4: the tree
 * of size t extends the tree of size n), built from stored hashes and checked against tree hashes. The proofs are
 * the RFC's, hash for hash, so any RFC 6962/9162 verifier accepts what {@link proveRecord} and {@link proveTree}
 * make, and these checks accept what any RFC log serves (tests run both ways against a literal transcription of
 * the RFC, and against real Certificate Transparency proofs).
 *
 * Both walk the RFC's recursion from the root down: a tree of size s splits into a left part of k leaves (the
 * largest power of two below s) and a right part of s − k; a proof lists, bottom-up, the hash of the part not
 * taken at each split.
 */
import { bytesEqual } from '../bytes.js'
import {
  assertCount,
  assertHash,
  EMPTY_TREE_HASH,
  malformed,
  nodeHash,
  popCount,
  proofInvalid,
  readHashesExactly,
  splitPoint,
  type Hash,
  type HashReader,
} from './hash.js'
import { subtreeHash, subtreeIndexes } from './stored.js'

/** An inclusion proof: the RFC 9162 audit path, bottom-up. */
export type RecordProof = readonly Hash[]
/** A consistency proof: the RFC 9162 consistency path. */
export type TreeProof = readonly Hash[]

/** Reads the hashes of the given subtrees ([lo, hi) pairs, flattened) and returns one hash per subtree. */
async function subtreeHashes(ranges: readonly number[], reader: HashReader): Promise<Hash[]> {
  const indexes: number[] = []
  for (let i = 0; i < ranges.length; i += 2) subtreeIndexes(ranges[i]!, ranges[i + 1]!, indexes)
  const hashes = await readHashesExactly(reader, indexes)
  const out: Hash[] = []
  let at = 0
  for (let i = 0; i < ranges.length; i += 2) {
    const lo = ranges[i]!
    const hi = ranges[i + 1]!
    out.push(subtreeHash(lo, hi, hashes, at))
    at += popCount(hi - lo)
  }
  return out
}

/**
 * The proof that record `n` is in the tree of size `t` (RFC 9162 §2.1.3.1), from the stored hashes read through
 * `reader` (one call). `ERR_TLOG_MALFORMED` unless 0 ≤ n < t.
 */
export async function proveRecord(t: number, n: number, reader: HashReader): Promise<Hash[]> {
  assertCount(t, 'tree size')
  assertCount(n, 'record index')
  if (n >= t) throw malformed(`record ${n} is not in a tree of ${t} records`)
  return subtreeHashes(bottomUp(walk(t, n + 1, true).siblings), reader)
}

/**
 * The walk of RFC 9162's recursion from the root of the tree of size `t` toward its first `m` records
 * (0 < m ≤ t): at each split, the part not taken, top-down, as flattened [lo, hi) pairs; a part that ends before m
 * is left of the path. It stops at the subtree [lo, hi) where the first m records end on a split (PROOF, §2.1.4.1),
 * or, `toLeaf`, goes on down to record m − 1 itself (PATH, §2.1.3.1: the inclusion of record m − 1).
 */
function walk(t: number, m: number, toLeaf: boolean): { siblings: number[]; lo: number; hi: number } {
  const siblings: number[] = []
  let lo = 0
  let hi = t
  while (toLeaf ? hi - lo > 1 : m !== hi) {
    const k = splitPoint(hi - lo)
    if (m <= lo + k) {
      siblings.push(lo + k, hi)
      hi = lo + k
    } else {
      siblings.push(lo, lo + k)
      lo += k
    }
  }
  return { siblings, lo, hi }
}

/** The [lo, hi) pairs of `ranges` in reverse order. */
function bottomUp(ranges: readonly number[]): number[] {
  const out: number[] = []
  for (let i = ranges.length - 2; i >= 0; i -= 2) out.push(ranges[i]!, ranges[i + 1]!)
  return out
}

function assertProof(proof: unknown, what: string): asserts proof is readonly Hash[] {
  if (!Array.isArray(proof)) throw malformed(`${what}: expected a list of hashes`)
  for (let i = 0; i < proof.length; i++) assertHash(proof[i], `${what} hash ${i}`)
}

/**
 * Checks that `proof` proves record `n`, of record hash `h`, is in the tree of size `t` and tree hash `th`
 * (RFC 9162 §2.1.3.2). Returns nothing; throws `ERR_TLOG_PROOF_INVALID` when it does not (another length than
 * the tree's shape needs, a hash that does not lead to `th`, or n not below t), and `ERR_TLOG_MALFORMED` when an
 * input is not a size or a 32-byte hash.
 */
export function checkRecord(proof: RecordProof, t: number, th: Hash, n: number, h: Hash): void {
  assertProof(proof, 'inclusion proof')
  assertCount(t, 'tree size')
  assertCount(n, 'record index')
  assertHash(th, 'tree hash')
  assertHash(h, 'record hash')
  if (n >= t) throw proofInvalid(`record ${n} cannot be in a tree of ${t} records`)
  const { siblings } = walk(t, n + 1, true)
  const levels = siblings.length / 2
  if (proof.length !== levels) {
    throw proofInvalid(`inclusion proof of record ${n} in a tree of ${t} records: expected ${levels} hashes, got ${proof.length}`)
  }
  // Fold up from the leaf: proof[i] is the sibling at level `levels - 1 - i` of the walk.
  let r = h
  for (let i = 0; i < levels; i++) r = siblings[2 * (levels - 1 - i) + 1]! <= n ? nodeHash(proof[i]!, r) : nodeHash(r, proof[i]!)
  if (!bytesEqual(r, th)) throw proofInvalid(`inclusion proof of record ${n} does not lead to the hash of the tree of ${t} records`)
}

/**
 * The proof that the tree of size `t` extends the tree of size `n` (RFC 9162 §2.1.4.1), from the stored hashes
 * read through `reader` (one call). Empty when n = t, and when n = 0 (every tree extends the empty one).
 * `ERR_TLOG_MALFORMED` unless 0 ≤ n ≤ t.
 */
export async function proveTree(t: number, n: number, reader: HashReader): Promise<Hash[]> {
  assertCount(t, 'tree size')
  assertCount(n, 'old tree size')
  if (n > t) throw malformed(`a tree of ${t} records cannot extend one of ${n}`)
  if (n === 0) return []
  const { siblings, lo, hi } = walk(t, n, false)
  // Where the old tree ends on a split, the verifier knows that subtree's hash (the old tree hash) unless it is
  // only the right part of a larger left subtree: then the proof starts with it.
  return subtreeHashes(lo === 0 ? bottomUp(siblings) : [lo, hi, ...bottomUp(siblings)], reader)
}

/**
 * Checks that `proof` proves the tree of size `t` and tree hash `th` extends the tree of size `n` and tree hash
 * `h` (RFC 9162 §2.1.4.2): every record of the old tree is in the new one, in the same place. Equal sizes need an
 * empty proof and equal hashes; size 0 needs an empty proof and the empty tree's hash. Returns nothing; throws
 * `ERR_TLOG_PROOF_INVALID` when the proof does not prove it (including n > t), `ERR_TLOG_MALFORMED` when an input
 * is not a size or a 32-byte hash.
 */
export function checkTree(proof: TreeProof, t: number, th: Hash, n: number, h: Hash): void {
  assertProof(proof, 'consistency proof')
  assertCount(t, 'tree size')
  assertCount(n, 'old tree size')
  assertHash(th, 'tree hash')
  assertHash(h, 'old tree hash')
  if (n > t) throw proofInvalid(`a tree of ${t} records cannot extend one of ${n}`)
  if (n === 0) {
    if (proof.length !== 0) throw proofInvalid(`consistency proof from the empty tree: expected no hashes, got ${proof.length}`)
    if (!bytesEqual(h, EMPTY_TREE_HASH)) throw proofInvalid('the old tree hash is not the empty tree’s hash')
    return
  }
  const { siblings, lo } = walk(t, n, false)
  const levels = siblings.length / 2
  const expected = levels + (lo === 0 ? 0 : 1)
  if (proof.length !== expected) {
    throw proofInvalid(`consistency proof from ${n} to ${t} records: expected ${expected} hashes, got ${proof.length}`)
  }
  // Fold up both trees at once: `old` is the old tree's hash over the nodes seen so far, `now` the new tree's. A
  // sibling left of the path is in both trees; one right of it only in the new.
  let i = lo === 0 ? 0 : 1
  let old = lo === 0 ? h : proof[0]!
  let now = old
  for (let level = levels - 1; level >= 0; level--, i++) {
    const c = proof[i]!
    if (siblings[2 * level + 1]! < n) {
      old = nodeHash(c, old)
      now = nodeHash(c, now)
    } else {
      now = nodeHash(now, c)
    }
  }
  if (!bytesEqual(old, h)) throw proofInvalid(`consistency proof does not lead to the hash of the old tree of ${n} records`)
  if (!bytesEqual(now, th)) throw proofInvalid(`consistency proof does not lead to the hash of the tree of ${t} records`)
}
