import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  CERT_TABLE_ENTRY_SIZE,
  CERT_TABLE_GUID,
  composeCertTable,
  guidFromBytes,
  guidToBytes,
  parseCertTable,
  ProtocolError,
  toHex,
  type CertTableEntry,
} from '@vouch/protocol'

const malformed = (e: unknown): boolean => e instanceof ProtocolError && e.code === 'ERR_PROTOCOL_MALFORMED'
const fill = (n: number, byte: number): Uint8Array => new Uint8Array(n).fill(byte)
const OTHER = 'fbb6ed74-e73e-44ab-8893-4252792d737a'

describe('certificate table GUIDs', () => {
  test('the binary form is the hex digits in written order (go-sev-guest, virtee/sev, AMD sev-guest)', () => {
    assert.equal(toHex(guidToBytes(CERT_TABLE_GUID.ARK)), 'c0b406a4a803495297433fb6014cd0ae')
    assert.equal(toHex(guidToBytes(CERT_TABLE_GUID.VCEK)), '63da758de6644564adc5f4b93be8accd')
    for (const guid of Object.values(CERT_TABLE_GUID)) assert.equal(guidFromBytes(guidToBytes(guid)), guid)
    assert.equal(guidFromBytes(guidToBytes(CERT_TABLE_GUID.ASK.toUpperCase())), CERT_TABLE_GUID.ASK)
  })

  test('text that is not a GUID, and a binary GUID of another size, are malformed', () => {
    for (const text of ['', 'c0b406a4a803495297433fb6014cd0ae', 'c0b406a4-a803-4952-9743-3fb6014cd0a', 'g0b406a4-a803-4952-9743-3fb6014cd0ae']) {
      assert.throws(() => guidToBytes(text), malformed, text)
    }
    assert.throws(() => guidFromBytes(new Uint8Array(15)), malformed)
  })
})

describe('composeCertTable and parseCertTable', () => {
  const entries: CertTableEntry[] = [
    { guid: CERT_TABLE_GUID.ARK, data: fill(25, 1) },
    { guid: CERT_TABLE_GUID.ASK, data: fill(25, 2) },
    { guid: CERT_TABLE_GUID.VCEK, data: fill(15, 5) },
    { guid: OTHER, data: fill(6, 7) },
  ]

  test('writes the byte layout virtee/sev pins in its tests (uapi_to_vec_bytes)', () => {
    const table = composeCertTable(entries)
    // Entries with offsets from the table start (120 = 5 × 24), the zero terminator, then the data.
    const header =
      'c0b406a4a803495297433fb6014cd0ae7800000019000000' +
      '4ab7b379bbac4fe4a02f05aef327c7829100000019000000' +
      '63da758de6644564adc5f4b93be8accdaa0000000f000000' +
      'fbb6ed74e73e44ab88934252792d737ab900000006000000' +
      '00'.repeat(CERT_TABLE_ENTRY_SIZE)
    assert.equal(toHex(table.subarray(0, 5 * CERT_TABLE_ENTRY_SIZE)), header)
    assert.equal(table.length, 5 * CERT_TABLE_ENTRY_SIZE + 25 + 25 + 15 + 6)
    assert.deepEqual(parseCertTable(table), entries)
  })

  test('empty input and a lone terminator are tables without certificates', () => {
    assert.deepEqual(composeCertTable([]), new Uint8Array(0))
    assert.deepEqual(parseCertTable(new Uint8Array(0)), [])
    assert.deepEqual(parseCertTable(new Uint8Array(CERT_TABLE_ENTRY_SIZE)), [])
  })

  test('page padding after the certificates is ignored, and the data are copies', () => {
    const table = composeCertTable(entries)
    const padded = new Uint8Array(4096)
    padded.set(table)
    const parsed = parseCertTable(padded)
    assert.deepEqual(parsed, entries)
    padded.fill(0xff, 5 * CERT_TABLE_ENTRY_SIZE)
    assert.deepEqual(parsed[0]!.data, fill(25, 1))
  })

  test('rejects a table without terminator, data inside the table or past the end, and a repeated GUID', () => {
    const table = composeCertTable(entries)
    const view = (bytes: Uint8Array): DataView => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const cases: Array<{ name: string; bytes: Uint8Array }> = [
      { name: 'cut inside the first entry', bytes: table.subarray(0, 10) },
      { name: 'no terminator', bytes: table.subarray(0, 4 * CERT_TABLE_ENTRY_SIZE) },
      {
        name: 'an offset inside the table',
        bytes: ((): Uint8Array => {
          const copy = table.slice()
          view(copy).setUint32(16, 24, true)
          return copy
        })(),
      },
      {
        name: 'a length past the end',
        bytes: ((): Uint8Array => {
          const copy = table.slice()
          view(copy).setUint32(20, 0x10000, true)
          return copy
        })(),
      },
      { name: 'a GUID listed twice', bytes: composeCertTable([entries[0]!, { guid: CERT_TABLE_GUID.ARK, data: fill(3, 9) }]) },
    ]
    for (const c of cases) assert.throws(() => parseCertTable(c.bytes), malformed, c.name)
  })
})
