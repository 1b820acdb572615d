/**
 * Inclusion and consistency proofs against an independent RFC 9162 implementation (helpers/rfc9162.ts: the RFC's
 * recursive definitions and verification algorithms, transcribed literally): equal hash for hash, each accepting the
 * other's, for every tree size 1..300 and every pair there, on samples up to 10,000 entries and on trees of up to
 * 2^52 identical entries. Then against @sigstore/verify's inclusion check and real Certificate Transparency proofs,
 * and every way checkRecord and checkTree refuse, by code.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { verifyMerkleInclusion } from '@sigstore/verify/dist/tlog/merkle.js'
import {
  checkRecord,
  checkTree,
  EMPTY_TREE_HASH,
  proveRecord,
  proveTree,
  recordHash,
  toHex,
  type Hash,
  type ProtocolError,
} from '@vouch/protocol'
import { entry, logOf, type MemoryLog, uniformLog } from './helpers/memory-log.js'
import { random } from './helpers/random.js'
import { Rfc9162Tree, rfcLeafHash, rfcVerifyConsistency, rfcVerifyInclusion } from './helpers/rfc9162.js'

const code = (expected: string) => (e: ProtocolError) => e.code === expected
const hex = (hashes: readonly Hash[]): string => hashes.map(toHex).join(',')
const flip = (h: Hash, bit = 0): Hash => {
  const out = h.slice()
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}

const LARGEST = 10_000
const log = await logOf(LARGEST, 777)
const rfc = new Rfc9162Tree(LARGEST, entry)
const leaf = (n: number): Hash => recordHash(entry(n))
const roots = new Map<number, Hash>()
const rootOf = (size: number): Hash => {
  if (!roots.has(size)) roots.set(size, rfc.mth(0, size))
  return roots.get(size)!
}

/** Checks one inclusion both ways: ours equals the RFC's PATH, and each side's verifier accepts it. */
async function agreeOnInclusion(source: MemoryLog | ReturnType<typeof uniformLog>, tree: Rfc9162Tree, t: number, n: number, h: Hash): Promise<void> {
  const proof = await proveRecord(t, n, source)
  const path = tree.path(n, 0, t)
  assert.equal(hex(proof), hex(path), `PATH(${n}, D[${t}])`)
  const th = tree.mth(0, t)
  checkRecord(path, t, th, n, h)
  assert.ok(rfcVerifyInclusion(n, t, proof, th, h), `RFC verification of record ${n} in ${t}`)
}

/** Checks one consistency proof both ways. */
async function agreeOnConsistency(source: MemoryLog | ReturnType<typeof uniformLog>, tree: Rfc9162Tree, t: number, m: number): Promise<void> {
  const proof = await proveTree(t, m, source)
  const rfcProof = tree.proof(m, t)
  assert.equal(hex(proof), hex(rfcProof), `PROOF(${m}, D[${t}])`)
  const [oh, th] = [tree.mth(0, m), tree.mth(0, t)]
  checkTree(rfcProof, t, th, m, oh)
  assert.ok(rfcVerifyConsistency(m, t, oh, th, proof), `RFC verification of ${m} → ${t}`)
}

describe('against RFC 9162, transcribed literally', () => {
  test('every inclusion proof in every tree of 1 to 300 entries', async () => {
    for (let t = 1; t <= 300; t++) for (let n = 0; n < t; n++) await agreeOnInclusion(log, rfc, t, n, leaf(n))
  })

  test('every consistency proof between two trees of 1 to 300 entries', async () => {
    for (let t = 2; t <= 300; t++) for (let m = 1; m < t; m++) await agreeOnConsistency(log, rfc, t, m)
  })

  test('sampled sizes and pairs up to 10,000 entries (powers of two, their neighbours, and random ones)', async () => {
    const next = random(3)
    const sizes = [511, 512, 513, 1000, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193, 9999, 10_000]
    for (let i = 0; i < 25; i++) sizes.push(301 + next(LARGEST - 300))
    for (const t of sizes) {
      const picks = [0, 1, t - 1, Math.floor(t / 2), 2 ** Math.floor(Math.log2(t - 1)), ...Array.from({ length: 20 }, () => next(t))]
      for (const n of picks) await agreeOnInclusion(log, rfc, t, n, leaf(n))
      for (const m of picks.map((p) => Math.max(1, p)).filter((m) => m < t)) await agreeOnConsistency(log, rfc, t, m)
    }
  })

  test('trees of up to 2^52 identical entries: the same proofs, the arithmetic exact past 2^32', async () => {
    const next = random(4)
    for (const t of [2 ** 31 + 1, 2 ** 32 + 7, 961_984_013, 2 ** 40 + 12_345, 2 ** 52 - 1, 2 ** 52]) {
      const tree = new Rfc9162Tree(t, () => entry(0), { uniform: true })
      const source = uniformLog(t)
      for (const n of [0, t - 1, Math.floor(t / 3), 2 ** 31, 2 ** 32 + 1, next(t)].filter((n) => n < t)) {
        await agreeOnInclusion(source, tree, t, n, leaf(0))
      }
      for (const m of [1, t - 1, Math.floor(t / 3), 2 ** 31 + 5, next(t - 1) + 1].filter((m) => m >= 1 && m < t)) {
        await agreeOnConsistency(source, tree, t, m)
      }
    }
  })

  test('each proof takes one read of the stored hashes', async () => {
    const reads = uniformLog(1_000_003)
    await proveRecord(1_000_003, 777_777, reads)
    await proveTree(1_000_003, 333_333, reads)
    assert.equal(reads.reads, 2)
  })
})

describe('equal sizes and the empty tree', () => {
  test('a tree is consistent with itself by an empty proof, and with the empty tree by an empty proof', async () => {
    for (const t of [1, 2, 7, 256, 10_000]) {
      assert.deepEqual(await proveTree(t, t, log), [])
      assert.deepEqual(await proveTree(t, 0, log), [])
      checkTree([], t, rootOf(t), t, rootOf(t))
      checkTree([], t, rootOf(t), 0, EMPTY_TREE_HASH)
    }
    checkTree([], 0, EMPTY_TREE_HASH, 0, EMPTY_TREE_HASH)
  })

  test('refused: equal sizes with different hashes, a non-empty proof, the empty tree under another hash', () => {
    assert.throws(() => checkTree([], 7, rootOf(7), 7, flip(rootOf(7))), code('ERR_TLOG_PROOF_INVALID'))
    assert.throws(() => checkTree([rootOf(7)], 7, rootOf(7), 7, rootOf(7)), code('ERR_TLOG_PROOF_INVALID'))
    assert.throws(() => checkTree([], 7, rootOf(7), 0, rootOf(1)), code('ERR_TLOG_PROOF_INVALID'))
    assert.throws(() => checkTree([rootOf(1)], 7, rootOf(7), 0, EMPTY_TREE_HASH), code('ERR_TLOG_PROOF_INVALID'))
  })
})

describe('against independent code and real logs', () => {
  test('@sigstore/verify’s inclusion check accepts every proof of trees of 1 to 300 entries, and refuses a changed one', async () => {
    const check = (t: number, n: number, proof: readonly Hash[]): void =>
      verifyMerkleInclusion(
        { canonicalizedBody: Buffer.from(entry(n)), inclusionProof: { logIndex: String(n), hashes: proof.map((h) => Buffer.from(h)) } } as never,
        { logSize: BigInt(t), logHash: Buffer.from(rootOf(t)) } as never,
      )
    for (let t = 1; t <= 300; t++) {
      for (let n = 0; n < t; n++) check(t, n, await proveRecord(t, n, log))
    }
    const proof = await proveRecord(300, 123, log)
    assert.throws(() => check(300, 123, [proof[0]!, flip(proof[1]!), ...proof.slice(2)]), /root hash does not match/)
  })

  test('real proofs from Google’s Argon 2020 CT log (961,984,013 entries) check, and fail once changed', () => {
    const ct = JSON.parse(readFileSync(new URL('../vectors/ct-argon2020.json', import.meta.url), 'utf8')) as {
      sth: { tree_size: number; sha256_root_hash: string }
      entry: { leaf_index: number; leaf_input: string }
      audit_path: string[]
      consistency: { first: number; first_root_hash: string; proof: string[] }
    }
    const b64 = (s: string): Hash => new Uint8Array(Buffer.from(s, 'base64'))
    const root = b64(ct.sth.sha256_root_hash)
    const h = recordHash(b64(ct.entry.leaf_input))
    const audit = ct.audit_path.map(b64)
    const consistency = ct.consistency.proof.map(b64)
    const oldRoot = b64(ct.consistency.first_root_hash)
    checkRecord(audit, ct.sth.tree_size, root, ct.entry.leaf_index, h)
    checkTree(consistency, ct.sth.tree_size, root, ct.consistency.first, oldRoot)
    // The RFC transcription agrees, so it is no weaker a reference than a real log.
    assert.equal(toHex(rfcLeafHash(b64(ct.entry.leaf_input))), toHex(h))
    assert.ok(rfcVerifyInclusion(ct.entry.leaf_index, ct.sth.tree_size, audit, root, h))
    assert.ok(rfcVerifyConsistency(ct.consistency.first, ct.sth.tree_size, oldRoot, root, consistency))
    assert.throws(() => checkRecord([...audit.slice(0, 29), flip(audit[29]!)], ct.sth.tree_size, root, ct.entry.leaf_index, h), code('ERR_TLOG_PROOF_INVALID'))
    assert.throws(() => checkTree(consistency, ct.sth.tree_size, root, ct.consistency.first, flip(oldRoot)), code('ERR_TLOG_PROOF_INVALID'))
  })
})

describe('checkRecord refuses, by code', () => {
  test('for every record of every tree up to 64: another index, any flipped hash, a shorter or longer proof', async () => {
    for (let t = 1; t <= 64; t++) {
      for (let n = 0; n < t; n++) {
        const proof = await proveRecord(t, n, log)
        const th = rootOf(t)
        const h = leaf(n)
        const invalid = (p: readonly Hash[], index: number, root: Hash, record: Hash, why: string): void => {
          assert.throws(() => checkRecord(p, t, root, index, record), code('ERR_TLOG_PROOF_INVALID'), `t=${t} n=${n}: ${why}`)
          assert.equal(rfcVerifyInclusion(index, t, p, root, record), false, `t=${t} n=${n}: the RFC refuses too (${why})`)
        }
        if (t > 1) invalid(proof, (n + 1) % t, th, h, 'another index')
        invalid(proof, t, th, h, 'index = size')
        invalid(proof, t + 5, th, h, 'index past the size')
        invalid(proof, n, flip(th, 255), h, 'flipped tree hash')
        invalid(proof, n, th, flip(h, 100), 'flipped record hash')
        invalid(proof, n, th, leaf(n + 1), 'another record')
        proof.forEach((_, i) => invalid(proof.map((p, j) => (j === i ? flip(p, i) : p)), n, th, h, `flipped proof hash ${i}`))
        if (proof.length > 0) invalid(proof.slice(1), n, th, h, 'first hash dropped')
        if (proof.length > 0) invalid(proof.slice(0, -1), n, th, h, 'last hash dropped')
        invalid([...proof, th], n, th, h, 'extended at the end')
        invalid([h, ...proof], n, th, h, 'extended at the start')
      }
    }
  })

  test('another tree size: refused wherever RFC 9162 refuses it, and always against that size’s own tree hash', async () => {
    // A proof binds the tree's shape, not its size: where two sizes give a record the same path, a proof for one
    // computes the other's stated hash (its last sibling standing for a larger subtree). The checkpoint binds size
    // and hash together, so what matters is that a proof never checks against another size's real tree hash.
    let refused = 0
    for (let t = 1; t <= 64; t++) {
      for (let n = 0; n < t; n++) {
        const proof = await proveRecord(t, n, log)
        for (const other of [t - 1, t + 1, 2 * t].filter((x) => x > n && x !== t)) {
          const rfcAccepts = rfcVerifyInclusion(n, other, proof, rootOf(t), leaf(n))
          if (rfcAccepts) checkRecord(proof, other, rootOf(t), n, leaf(n))
          else assert.throws(() => checkRecord(proof, other, rootOf(t), n, leaf(n)), code('ERR_TLOG_PROOF_INVALID'), `t=${t} n=${n} as ${other}`)
          if (!rfcAccepts) refused++
          assert.throws(() => checkRecord(proof, other, rootOf(other), n, leaf(n)), code('ERR_TLOG_PROOF_INVALID'), `t=${t} n=${n} against tree ${other}`)
        }
      }
    }
    assert.ok(refused > 1000, `${refused} refused for their length`)
  })

  test('inputs that are not sizes or hashes: ERR_TLOG_MALFORMED', async () => {
    const proof = await proveRecord(7, 3, log)
    const [th, h] = [rootOf(7), leaf(3)]
    for (const [p, t, root, n, record] of [
      [proof, -1, th, 3, h],
      [proof, 7.5, th, 3, h],
      [proof, 7, th, -1, h],
      [proof, 7, th, Number.NaN, h],
      [proof, 2 ** 53, th, 3, h],
      [proof, 7, th.subarray(1), 3, h],
      [proof, 7, th, 3, new Uint8Array(33)],
      [[proof[0], proof[1]!.subarray(0, 31), proof[2]], 7, th, 3, h],
      ['not a list', 7, th, 3, h],
      [[proof[0], 'x', proof[2]], 7, th, 3, h],
    ] as Array<[Hash[], number, Hash, number, Hash]>) {
      assert.throws(() => checkRecord(p, t, root, n, record), code('ERR_TLOG_MALFORMED'))
    }
  })

  test('proveRecord refuses a record outside the tree: ERR_TLOG_MALFORMED', async () => {
    for (const [t, n] of [[7, 7], [0, 0], [7, -1], [7, 1.5]]) await assert.rejects(proveRecord(t!, n!, log), code('ERR_TLOG_MALFORMED'))
  })
})

describe('checkTree refuses, by code', () => {
  test('for every pair of sizes up to 64: an old size past the new, any flipped hash, a shorter or longer proof', async () => {
    for (let t = 2; t <= 64; t++) {
      for (let m = 1; m < t; m++) {
        const proof = await proveTree(t, m, log)
        const [oh, th] = [rootOf(m), rootOf(t)]
        const invalid = (p: readonly Hash[], size: number, root: Hash, old: number, oldRoot: Hash, why: string): void => {
          assert.throws(() => checkTree(p, size, root, old, oldRoot), code('ERR_TLOG_PROOF_INVALID'), `${m} → ${t}: ${why}`)
          if (old < size) assert.equal(rfcVerifyConsistency(old, size, oldRoot, root, p), false, `${m} → ${t}: the RFC refuses too (${why})`)
        }
        invalid(proof, m, oh, t, th, 'sizes swapped')
        invalid(proof, t, flip(th, 7), m, oh, 'flipped new hash')
        invalid(proof, t, th, m, flip(oh, 9), 'flipped old hash')
        invalid(proof, t, th, m, rootOf(m + 1), 'the hash of another old tree')
        proof.forEach((_, i) => invalid(proof.map((p, j) => (j === i ? flip(p, 3 * i) : p)), t, th, m, oh, `flipped proof hash ${i}`))
        invalid(proof.slice(1), t, th, m, oh, 'first hash dropped')
        invalid(proof.slice(0, -1), t, th, m, oh, 'last hash dropped')
        invalid([...proof, th], t, th, m, oh, 'extended at the end')
        invalid([oh, ...proof], t, th, m, oh, 'extended at the start')
      }
    }
  })

  test('other sizes: refused wherever RFC 9162 refuses them, and always against those sizes’ own tree hashes', async () => {
    let refused = 0
    for (let t = 2; t <= 64; t++) {
      for (let m = 1; m < t; m++) {
        const proof = await proveTree(t, m, log)
        const [oh, th] = [rootOf(m), rootOf(t)]
        for (const [old, size] of [[m, t + 1], [m, t - 1], [m + 1, t], [m - 1, t]].filter(([o, n]) => o! >= 1 && o! < n! && (o !== m || n !== t))) {
          const rfcAccepts = rfcVerifyConsistency(old!, size!, oh, th, proof)
          if (rfcAccepts) checkTree(proof, size!, th, old!, oh)
          else assert.throws(() => checkTree(proof, size!, th, old!, oh), code('ERR_TLOG_PROOF_INVALID'), `${m} → ${t} as ${old} → ${size}`)
          if (!rfcAccepts) refused++
          assert.throws(() => checkTree(proof, size!, rootOf(size!), old!, rootOf(old!)), code('ERR_TLOG_PROOF_INVALID'), `${m} → ${t} against ${old} → ${size}`)
        }
      }
    }
    assert.ok(refused > 1000, `${refused} refused for their length`)
  })

  test('inputs that are not sizes or hashes: ERR_TLOG_MALFORMED; proveTree refuses an old size past the new', async () => {
    const proof = await proveTree(7, 3, log)
    const [oh, th] = [rootOf(3), rootOf(7)]
    for (const [t, m] of [[-1, 3], [7, -1], [7, 2.5], [Number.POSITIVE_INFINITY, 3]]) {
      assert.throws(() => checkTree(proof, t!, th, m!, oh), code('ERR_TLOG_MALFORMED'))
    }
    assert.throws(() => checkTree(proof, 7, th.subarray(2), 3, oh), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => checkTree(proof, 7, th, 3, new Uint8Array(0)), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => checkTree([proof[0]!.subarray(1)], 7, th, 3, oh), code('ERR_TLOG_MALFORMED'))
    for (const [t, m] of [[3, 7], [7, -1], [-1, 0]]) await assert.rejects(proveTree(t!, m!, log), code('ERR_TLOG_MALFORMED'))
  })
})
