/** Receipt log entries: the two kinds round trip, their keys, and every malformed entry by code. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  decodeLogEntry,
  encodeBundle,
  encodeCbor,
  encodeLogEntry,
  keysetDigest,
  logEntryKey,
  MAX_ENTRY_SIZE,
  receiptDigest,
  sha256Digest,
  type LogEntry,
  type ProtocolError,
} from '@vouch/protocol'
import { testBundle, testBundleV2 } from './helpers/fixtures.js'

const RECEIPT = 'eyJhbGciOiJFZERTQSJ9.eyJ2IjoxfQ.c2lnbmF0dXJl'
const code = (want: string) => (e: ProtocolError) => e.code === want

describe('log entries round trip', () => {
  test('a receipt entry is the map { v, kind, receipt } and reads back as it was', () => {
    const data = encodeLogEntry({ kind: 'receipt', receipt: RECEIPT })
    assert.deepEqual(data, encodeCbor({ v: 1, kind: 'receipt', receipt: RECEIPT }))
    assert.deepEqual(decodeLogEntry(data), { kind: 'receipt', receipt: RECEIPT })
  })
  for (const [name, bundle] of [
    ['v1', encodeBundle(testBundle())],
    ['v2', encodeBundle(testBundleV2())],
  ] as const) {
    test(`an evidence entry holds a ${name} bundle's bytes unchanged`, () => {
      const data = encodeLogEntry({ kind: 'evidence', bundle })
      assert.deepEqual(data, encodeCbor({ v: 1, kind: 'evidence', bundle }))
      const entry = decodeLogEntry(data)
      assert.equal(entry.kind, 'evidence')
      assert.deepEqual(entry.kind === 'evidence' && [...entry.bundle], [...bundle])
    })
  }
  test('extra properties of the object passed are not logged', () => {
    const entry = { kind: 'receipt', receipt: RECEIPT, body: 'plaintext' } as LogEntry
    assert.deepEqual(decodeLogEntry(encodeLogEntry(entry)), { kind: 'receipt', receipt: RECEIPT })
  })
})

describe('log entry keys', () => {
  test('a receipt is keyed by the SHA-256 of its text, evidence by its keyset digest', () => {
    assert.equal(receiptDigest(RECEIPT), sha256Digest(new TextEncoder().encode(RECEIPT)))
    assert.equal(logEntryKey({ kind: 'receipt', receipt: RECEIPT }), `receipt:${receiptDigest(RECEIPT)}`)
    const bundle = testBundleV2()
    assert.equal(logEntryKey({ kind: 'evidence', bundle: encodeBundle(bundle) }), `keyset:${keysetDigest(bundle.keyset)}`)
  })
  test('two bundles of one keyset share a key (the log holds one of them)', () => {
    const a = testBundle()
    const b = { ...testBundle(), issuedAt: a.issuedAt + 60 }
    assert.notDeepEqual(encodeBundle(a), encodeBundle(b))
    assert.equal(logEntryKey({ kind: 'evidence', bundle: encodeBundle(a) }), logEntryKey({ kind: 'evidence', bundle: encodeBundle(b) }))
  })
})

describe('malformed log entries', () => {
  const cases: Array<{ name: string; value: unknown; want: string; issue?: string }> = [
    { name: 'not a map', value: [1, 'receipt'], want: 'ERR_LOG_ENTRY_MALFORMED', issue: '(root): must be a map' },
    { name: 'an unknown kind', value: { v: 1, kind: 'request', receipt: RECEIPT }, want: 'ERR_LOG_ENTRY_MALFORMED', issue: 'kind: must be one of "receipt", "evidence"' },
    { name: 'no version', value: { kind: 'receipt', receipt: RECEIPT }, want: 'ERR_LOG_ENTRY_MALFORMED', issue: 'v: is missing' },
    { name: 'another version', value: { v: 2, kind: 'receipt', receipt: RECEIPT }, want: 'ERR_PROTOCOL_UNSUPPORTED_VERSION' },
    { name: 'an unknown field', value: { v: 1, kind: 'receipt', receipt: RECEIPT, client: '203.0.113.7' }, want: 'ERR_LOG_ENTRY_MALFORMED', issue: 'client: is not a known field' },
    { name: 'a receipt entry with a bundle', value: { v: 1, kind: 'receipt', receipt: RECEIPT, bundle: new Uint8Array([1]) }, want: 'ERR_LOG_ENTRY_MALFORMED', issue: 'bundle: is not a field of a receipt entry' },
    { name: 'a receipt that is not a compact JWS', value: { v: 1, kind: 'receipt', receipt: 'a.b' }, want: 'ERR_LOG_ENTRY_MALFORMED' },
    { name: 'a receipt given as bytes', value: { v: 1, kind: 'receipt', receipt: new TextEncoder().encode(RECEIPT) }, want: 'ERR_LOG_ENTRY_MALFORMED' },
    { name: 'evidence given as text', value: { v: 1, kind: 'evidence', bundle: 'AAAA' }, want: 'ERR_LOG_ENTRY_MALFORMED', issue: 'bundle: must be a byte string' },
    { name: 'evidence without a bundle', value: { v: 1, kind: 'evidence' }, want: 'ERR_LOG_ENTRY_MALFORMED' },
  ]
  for (const c of cases) {
    test(`decode refuses ${c.name}`, () => {
      assert.throws(
        () => decodeLogEntry(encodeCbor(c.value)),
        (e: ProtocolError) => e.code === c.want && (c.issue === undefined || e.issues.includes(c.issue)),
      )
    })
  }
  test('decode refuses bytes that are not Vouch CBOR, or trail', () => {
    const data = encodeLogEntry({ kind: 'receipt', receipt: RECEIPT })
    assert.throws(() => decodeLogEntry(Uint8Array.of(...data, 0)), code('ERR_PROTOCOL_MALFORMED'))
    assert.throws(() => decodeLogEntry(data.subarray(0, data.length - 1)), code('ERR_PROTOCOL_MALFORMED'))
  })
  test('decode refuses more than a tlog-tiles entry can hold, before reading it', () => {
    assert.throws(() => decodeLogEntry(new Uint8Array(MAX_ENTRY_SIZE + 1)), code('ERR_PROTOCOL_TOO_LARGE'))
  })
  test('encode refuses evidence that is not a bundle, and an entry too large to publish', () => {
    assert.throws(() => encodeLogEntry({ kind: 'evidence', bundle: encodeCbor({ v: 1 }) }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' || e.code === 'ERR_PROTOCOL_UNSUPPORTED_VERSION')
    assert.throws(() => encodeLogEntry({ kind: 'receipt', receipt: 'not a jws' }), code('ERR_LOG_ENTRY_MALFORMED'))
    const big = `${RECEIPT}${'A'.repeat(40_000)}`
    assert.throws(() => encodeLogEntry({ kind: 'receipt', receipt: big }), code('ERR_LOG_ENTRY_MALFORMED'))
    const bundle = testBundle()
    const padded = { ...bundle, cpu: { ...bundle.cpu, crls: [Uint8Array.of(0x30, 0x82, 0xff, 0xfc, ...new Uint8Array(0xfffc))] } }
    assert.throws(() => encodeLogEntry({ kind: 'evidence', bundle: encodeBundle(padded) }), code('ERR_PROTOCOL_TOO_LARGE'))
  })
})

test('the example entry in docs/protocol.md is what the code writes', () => {
  const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8')
  const receipt = /the receipt `([^`]+)`/.exec(doc)![1]!
  const entry = /is the entry\n`([0-9a-f]+)`/.exec(doc)![1]!
  const key = /key `(receipt:sha256:[0-9a-f]{64})`/.exec(doc)![1]!
  assert.equal(Buffer.from(encodeLogEntry({ kind: 'receipt', receipt })).toString('hex'), entry)
  assert.equal(logEntryKey({ kind: 'receipt', receipt }), key)
})
