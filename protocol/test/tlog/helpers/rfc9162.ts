/**
 * An independent transparency-log implementation, written literally from RFC 9162 §2.1 and nothing else: the
 * recursive definitions MTH (§2.1.1), PATH (§2.1.3.1) and PROOF/SUBPROOF (§2.1.4.1) over the list of entries,
 * and the two verification algorithms (§2.1.3.2, §2.1.4.2) step by step, with their own SHA-256 from
 * node:crypto. It shares no code with protocol/src/tlog, whose stored-hash design is Go's sumdb; the tests
 * check that the two agree. Recursion is memoised on (lo, hi), so MTH of a subtree is computed once.
 */
import { createHash } from 'node:crypto'

type Bytes = Uint8Array

/** HASH of the RFC: SHA-256 of the concatenation. */
function HASH(...parts: Bytes[]): Bytes {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

const LEAF = Uint8Array.of(0x00)
const NODE = Uint8Array.of(0x01)

/** "k is the largest power of two smaller than n" (n > 1). */
function largestPowerOfTwoBelow(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * The entries D[0:n] of a log, with the RFC's definitions over any slice D[lo:hi]. `entryAt(i)` is d(i). A log
 * whose entries are all the same (`uniform`) has one MTH per slice length, so its memo is keyed by length: that
 * lets the tests reach trees of 2^52 entries without computing 2^52 hashes.
 */
export class Rfc9162Tree {
  readonly size: number
  readonly #entryAt: (i: number) => Bytes
  readonly #uniform: boolean
  readonly #mth = new Map<string, Bytes>()

  constructor(size: number, entryAt: (i: number) => Bytes, options: { uniform?: boolean } = {}) {
    this.size = size
    this.#entryAt = entryAt
    this.#uniform = options.uniform ?? false
  }

  /** MTH(D[lo:hi]) (§2.1.1). */
  mth(lo = 0, hi = this.size): Bytes {
    const n = hi - lo
    if (n === 0) return HASH()
    if (n === 1) return HASH(LEAF, this.#entryAt(lo))
    const key = this.#uniform ? `${n}` : `${lo},${hi}`
    const known = this.#mth.get(key)
    if (known !== undefined) return known
    const k = largestPowerOfTwoBelow(n)
    const value = HASH(NODE, this.mth(lo, lo + k), this.mth(lo + k, hi))
    this.#mth.set(key, value)
    return value
  }

  /** PATH(m, D[lo:hi]) (§2.1.3.1), m relative to lo. */
  path(m: number, lo = 0, hi = this.size): Bytes[] {
    const n = hi - lo
    if (n === 1) return []
    const k = largestPowerOfTwoBelow(n)
    if (m < k) return [...this.path(m, lo, lo + k), this.mth(lo + k, hi)]
    return [...this.path(m - k, lo + k, hi), this.mth(lo, lo + k)]
  }

  /** PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true) (§2.1.4.1), for 0 < m < n. */
  proof(m: number, n: number): Bytes[] {
    return this.subproof(m, 0, n, true)
  }

  /** SUBPROOF(m, D[lo:hi], b), m relative to lo. */
  subproof(m: number, lo: number, hi: number, b: boolean): Bytes[] {
    const n = hi - lo
    if (m === n) return b ? [] : [this.mth(lo, hi)]
    const k = largestPowerOfTwoBelow(n)
    if (m <= k) return [...this.subproof(m, lo, lo + k, b), this.mth(lo + k, hi)]
    return [...this.subproof(m - k, lo + k, hi, false), this.mth(lo, lo + k)]
  }
}

/** The RFC's leaf hash of an entry. */
export function rfcLeafHash(entry: Bytes): Bytes {
  return HASH(LEAF, entry)
}

function isPowerOfTwo(x: number): boolean {
  while (x > 0 && x % 2 === 0) x /= 2
  return x === 1
}

function equal(a: Bytes, b: Bytes): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** §2.1.3.2, step by step: true when `path` proves `hash` is leaf `leafIndex` of the tree of `treeSize` and `rootHash`. */
export function rfcVerifyInclusion(leafIndex: number, treeSize: number, path: readonly Bytes[], rootHash: Bytes, hash: Bytes): boolean {
  // 1.
  if (leafIndex >= treeSize) return false
  // 2.
  let fn = leafIndex
  let sn = treeSize - 1
  // 3.
  let r = hash
  // 4.
  for (const p of path) {
    // a.
    if (sn === 0) return false
    // b.
    if (fn % 2 === 1 || fn === sn) {
      r = HASH(NODE, p, r)
      if (fn % 2 !== 1) {
        while (!(fn % 2 === 1 || fn === 0)) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = HASH(NODE, r, p)
    }
    // c.
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  // 5.
  return sn === 0 && equal(r, rootHash)
}

/** §2.1.4.2, step by step: true when `consistencyPath` proves the tree (`second`, `secondHash`) extends (`first`, `firstHash`). */
export function rfcVerifyConsistency(first: number, second: number, firstHash: Bytes, secondHash: Bytes, consistencyPath: readonly Bytes[]): boolean {
  // 1.
  if (consistencyPath.length === 0) return false
  let path = [...consistencyPath]
  // 2.
  if (isPowerOfTwo(first)) path = [firstHash, ...path]
  // 3.
  let fn = first - 1
  let sn = second - 1
  // 4.
  if (fn % 2 === 1) {
    while (fn % 2 === 1) {
      fn = Math.floor(fn / 2)
      sn = Math.floor(sn / 2)
    }
  }
  // 5.
  let fr = path[0]!
  let sr = path[0]!
  // 6.
  for (const c of path.slice(1)) {
    // a.
    if (sn === 0) return false
    // b.
    if (fn % 2 === 1 || fn === sn) {
      fr = HASH(NODE, c, fr)
      sr = HASH(NODE, c, sr)
      if (fn % 2 !== 1) {
        while (!(fn % 2 === 1 || fn === 0)) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      sr = HASH(NODE, sr, c)
    }
    // c.
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  // 7.
  return equal(fr, firstHash) && equal(sr, secondHash) && sn === 0
}
