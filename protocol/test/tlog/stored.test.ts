/**
 * The stored-hash layout: where each node's hash sits (checked against the order a log appends them, and against
 * a BigInt transcription of Go's loop for indexes up to 2^53), what a batch of records appends (the same as one
 * record at a time, with one read of at most log₂ n earlier hashes), and tree hashes against RFC 9162's MTH.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  EMPTY_TREE_HASH,
  recordHash,
  splitStoredHashIndex,
  storedHashCount,
  storedHashesForRecord,
  storedHashesForRecordHashes,
  storedHashIndex,
  toHex,
  treeHash,
  type Hash,
  type ProtocolError,
} from '@vouch/protocol'
import { entry, logOf, MemoryLog, uniformLog } from './helpers/memory-log.js'
import { random } from './helpers/random.js'
import { Rfc9162Tree } from './helpers/rfc9162.js'

const code = (expected: string) => (e: ProtocolError) => e.code === expected
const hex = (hashes: readonly Hash[]): string[] => hashes.map(toHex)

/** Go's StoredHashIndex, transcribed with BigInt: level L's n-th hash follows level L+1's (2n+1)-th. */
function goStoredHashIndex(level: number, n: bigint): bigint {
  for (let l = level; l > 0; l--) n = 2n * n + 1n
  let i = 0n
  for (; n > 0n; n >>= 1n) i += n
  return i + BigInt(level)
}

describe('storedHashIndex and splitStoredHashIndex', () => {
  test('they follow the order a log appends hashes: each record, then every subtree it completes, lowest first', () => {
    const order: Array<[number, number]> = []
    for (let r = 0; r < 5000; r++) {
      order.push([0, r])
      for (let level = 1; r % 2 ** level === 2 ** level - 1; level++) order.push([level, Math.floor(r / 2 ** level)])
    }
    order.forEach(([level, n], index) => {
      assert.equal(storedHashIndex(level, n), index, `(${level}, ${n})`)
      assert.deepEqual(splitStoredHashIndex(index), { level, n })
    })
  })

  test('they agree with Go’s loop, in BigInt, on indexes up to 2^53 (JavaScript’s bitwise operators stop at 2^32)', () => {
    const next = random(1)
    for (let i = 0; i < 3000; i++) {
      const level = next(53)
      const limit = 2 ** (52 - level) // last record of the node below 2^52
      const n = [0, 1, limit - 1, next(limit), 2 ** 31 + next(1000), 2 ** 32 - 1][i % 6]! % limit
      const index = storedHashIndex(level, n)
      assert.equal(BigInt(index), goStoredHashIndex(level, BigInt(n)), `(${level}, ${n})`)
      assert.deepEqual(splitStoredHashIndex(index), { level, n })
    }
  })

  test('storedHashCount(size) is where record `size` would start: 2·size − popcount(size)', () => {
    assert.equal(storedHashCount(0), 0)
    for (let size = 1; size < 3000; size++) assert.equal(storedHashCount(size), storedHashIndex(0, size))
    assert.equal(storedHashCount(2 ** 52 - 1), 2 ** 53 - 2 - 52)
  })

  test('refuses what is not a node of a safe-integer tree, ERR_TLOG_MALFORMED', () => {
    for (const [level, n] of [[-1, 0], [0, -1], [0.5, 0], [0, 1.5], [Number.NaN, 0], [0, Number.POSITIVE_INFINITY], [54, 0], [0, 2 ** 52], [1, 2 ** 51]] as const) {
      assert.throws(() => storedHashIndex(level, n), code('ERR_TLOG_MALFORMED'), `(${level}, ${n})`)
    }
    for (const bad of [-1, 0.5, Number.NaN, 2 ** 53, '3' as unknown as number]) {
      assert.throws(() => splitStoredHashIndex(bad), code('ERR_TLOG_MALFORMED'), String(bad))
      assert.throws(() => storedHashCount(bad), code('ERR_TLOG_MALFORMED'), String(bad))
    }
  })
})

describe('storedHashesForRecord and storedHashesForRecordHashes', () => {
  test('a batch appends exactly what its records would one by one, whatever the batch sizes', async () => {
    const oneByOne = new MemoryLog()
    for (let i = 0; i < 1300; i++) {
      oneByOne.hashes.push(...(await storedHashesForRecord(i, entry(i), oneByOne)))
      oneByOne.entries.push(entry(i))
    }
    for (const batch of [1, 3, 64, 255, 256, 1000]) {
      const log = await logOf(1300, batch)
      assert.deepEqual(hex(log.hashes), hex(oneByOne.hashes), `batches of ${batch}`)
    }
    assert.equal(oneByOne.hashes.length, storedHashCount(1300))
  })

  test('a batch reads once, only hashes stored before it, at most log₂ n of them, in increasing order', async () => {
    const log = await logOf(1000, 100)
    log.recordReads = true
    for (const [n, count] of [[1000, 1], [1000, 24], [1000, 300]] as const) {
      log.reads.length = 0
      const copy = new MemoryLog()
      copy.hashes.push(...log.hashes.slice(0, storedHashCount(n)))
      const hashes = Array.from({ length: count }, (_, i) => recordHash(entry(n + i)))
      await storedHashesForRecordHashes(n, hashes, log)
      assert.ok(log.reads.length <= 1, 'one read')
      const read = log.reads[0] ?? []
      assert.ok(read.length <= Math.log2(n), `${read.length} hashes read`)
      assert.deepEqual(read, [...read].sort((a, b) => a - b))
      assert.ok(read.every((i) => i < storedHashCount(n)))
    }
    log.reads.length = 0
    await storedHashesForRecordHashes(1000, [], log)
    assert.equal(log.reads.length, 0, 'an empty batch reads nothing')
  })

  test('a storage that answers the wrong number of hashes, or not hashes, is refused, as are records that are not bytes and record hashes that are not hashes: ERR_TLOG_MALFORMED', async () => {
    const log = await logOf(7)
    const short = { readHashes: (indexes: readonly number[]) => log.readHashes(indexes).slice(1) }
    const truncated = { readHashes: (indexes: readonly number[]) => log.readHashes(indexes).map((h) => h.subarray(1)) }
    const notList = { readHashes: () => 'nope' as unknown as Hash[] }
    for (const reader of [short, truncated, notList]) {
      await assert.rejects(storedHashesForRecord(7, entry(7), reader), code('ERR_TLOG_MALFORMED'))
      await assert.rejects(treeHash(7, reader), code('ERR_TLOG_MALFORMED'))
    }
    await assert.rejects(storedHashesForRecordHashes(7, [recordHash(entry(7)).subarray(1)], log), code('ERR_TLOG_MALFORMED'))
    await assert.rejects(storedHashesForRecordHashes(7, 'x' as unknown as Hash[], log), code('ERR_TLOG_MALFORMED'))
    await assert.rejects(storedHashesForRecord(7, 'text' as unknown as Uint8Array, log), code('ERR_TLOG_MALFORMED'))
    const failing = { readHashes: () => Promise.reject(new Error('disk on fire')) }
    await assert.rejects(treeHash(7, failing), /disk on fire/)
  })
})

describe('treeHash', () => {
  test('equals RFC 9162 MTH for every size from 0 to 300 and sampled sizes to 10,000, in one read of ≤ log₂ n + 1 hashes', async () => {
    const log = await logOf(10_000, 500)
    const rfc = new Rfc9162Tree(10_000, entry)
    log.recordReads = true
    const next = random(2)
    const sizes = [...Array.from({ length: 301 }, (_, i) => i), 511, 512, 513, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193, 9999, 10_000]
    for (let i = 0; i < 50; i++) sizes.push(1 + next(10_000))
    for (const size of sizes) {
      log.reads.length = 0
      assert.equal(toHex(await treeHash(size, log)), toHex(rfc.mth(0, size)), `size ${size}`)
      assert.equal(log.reads.length, size === 0 ? 0 : 1, `size ${size}: one read`)
      if (size > 0) assert.ok(log.reads[0]!.length <= Math.log2(size) + 1, `size ${size}: ${log.reads[0]!.length} hashes read`)
    }
  })

  test('the empty tree’s hash is SHA-256 of no bytes (RFC 9162, not the zeros of Go’s sumdb)', async () => {
    const empty = createHash('sha256').digest('hex')
    assert.equal(toHex(await treeHash(0, new MemoryLog())), empty)
    assert.equal(toHex(EMPTY_TREE_HASH), empty)
  })

  test('trees of up to 2^52 identical records hash as RFC 9162 says (arithmetic past 2^32 and 2^48)', async () => {
    for (const size of [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 961_984_013, 2 ** 40 + 12_345, 2 ** 48 + 3, 2 ** 52 - 1, 2 ** 52]) {
      const rfc = new Rfc9162Tree(size, () => entry(0), { uniform: true })
      assert.equal(toHex(await treeHash(size, uniformLog(size))), toHex(rfc.mth()), `size ${size}`)
    }
  })

  test('refuses a size that is not a safe non-negative integer: ERR_TLOG_MALFORMED', async () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) await assert.rejects(treeHash(bad, new MemoryLog()), code('ERR_TLOG_MALFORMED'))
  })
})
