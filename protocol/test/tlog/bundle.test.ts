/** Entry bundles (C2SP tlog-tiles): round trips at the edges, the layout, and refusal of every truncation. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decodeEntryBundle, encodeEntryBundle, MAX_ENTRY_SIZE, readTileData, recordHash, toHex, type ProtocolError } from '@vouch/protocol'
import { entry, logOf } from './helpers/memory-log.js'

const code = (expected: string) => (e: ProtocolError) => e.code === expected
const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values)

describe('encodeEntryBundle and decodeEntryBundle', () => {
  test('each entry is a big-endian 16-bit length and its bytes, end to end', () => {
    assert.deepEqual(encodeEntryBundle([bytes(0x61), new Uint8Array(0), new Uint8Array(0x0102).fill(7)]).subarray(0, 8), bytes(0, 1, 0x61, 0, 0, 0x01, 0x02, 7))
  })

  test('round trips: 1 entry, 255 and 256 entries, an empty entry, a 65,535-byte entry', () => {
    const cases = [
      [entry(0)],
      Array.from({ length: 255 }, (_, i) => entry(i)),
      Array.from({ length: 256 }, (_, i) => entry(i)),
      [new Uint8Array(0), entry(1)],
      [new Uint8Array(MAX_ENTRY_SIZE).fill(0xab), entry(2)],
    ]
    for (const entries of cases) {
      const decoded = decodeEntryBundle(encodeEntryBundle(entries), entries.length)
      assert.deepEqual(decoded.map((e) => Buffer.from(e).toString('hex')), entries.map((e) => Buffer.from(e).toString('hex')))
    }
  })

  test('a full bundle’s entries hash to the level-0 tile of the same number', async () => {
    const log = await logOf(600)
    const bundle = encodeEntryBundle(log.entries.slice(256, 512))
    const tile = await readTileData({ level: 0, n: 1, width: 256 }, log)
    decodeEntryBundle(bundle, 256).forEach((e, i) => assert.equal(toHex(recordHash(e)), toHex(tile.subarray(32 * i, 32 * i + 32))))
  })

  test('every truncation is refused: ERR_TLOG_MALFORMED (inside an entry always; at an entry boundary by the width)', () => {
    const entries = [entry(10), new Uint8Array(0), entry(1234), new Uint8Array(300).fill(1)]
    const bundle = encodeEntryBundle(entries)
    for (let cut = 0; cut < bundle.length; cut++) {
      assert.throws(() => decodeEntryBundle(bundle.subarray(0, cut), entries.length), code('ERR_TLOG_MALFORMED'), `${cut} of ${bundle.length} bytes`)
    }
    let insideAnEntry = 0
    const boundaries = new Set([0, 4, 6, 12, bundle.length])
    for (let cut = 1; cut < bundle.length; cut++) {
      if (boundaries.has(cut)) continue
      assert.throws(() => decodeEntryBundle(bundle.subarray(0, cut)), code('ERR_TLOG_MALFORMED'), `${cut} bytes, no width`)
      insideAnEntry++
    }
    assert.equal(insideAnEntry, bundle.length - 4)
  })

  test('refused: no entries, a stray byte, more than 256 entries, a width other than the count, what is not bytes', () => {
    assert.throws(() => decodeEntryBundle(new Uint8Array(0)), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => decodeEntryBundle(bytes(0, 1, 0x61, 0)), code('ERR_TLOG_MALFORMED'))
    const many = new Uint8Array(2 * 257) // 257 empty entries
    assert.throws(() => decodeEntryBundle(many), code('ERR_TLOG_MALFORMED'))
    assert.equal(decodeEntryBundle(many.subarray(0, 512)).length, 256)
    assert.throws(() => decodeEntryBundle(encodeEntryBundle([entry(1), entry(2)]), 3), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => decodeEntryBundle('00' as unknown as Uint8Array), code('ERR_TLOG_MALFORMED'))
  })

  test('encodeEntryBundle refuses an entry over 65,535 bytes, no entries, more than 256, what is not bytes', () => {
    assert.throws(() => encodeEntryBundle([new Uint8Array(MAX_ENTRY_SIZE + 1)]), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => encodeEntryBundle([]), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => encodeEntryBundle(Array.from({ length: 257 }, () => entry(0))), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => encodeEntryBundle(['abc' as unknown as Uint8Array]), code('ERR_TLOG_MALFORMED'))
  })
})
