/** The evidence archive: the bundle kept byte for byte, deterministic encoding, every bound, every bad field by path. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  ARCHIVE_LIMITS,
  ARCHIVE_MEDIA_TYPE,
  decodeArchive,
  decodeCbor,
  encodeArchive,
  encodeBundle,
  encodeCbor,
  ProtocolError,
  type EvidenceArchive,
} from '@vouch/protocol'
import { fakeDer, testBundleV2 } from './helpers/fixtures.js'

function archive(overrides: Partial<EvidenceArchive> = {}): EvidenceArchive {
  return {
    v: 1,
    bundle: encodeBundle(testBundleV2()),
    stapledAt: 1_764_086_400,
    crls: [fakeDer('crl')],
    rims: [{ id: 'NV_GPU_DRIVER_GH100_580.159.03', xml: new TextEncoder().encode('<SoftwareIdentity/>') }],
    ocsp: [fakeDer('ocsp 1'), fakeDer('ocsp 2')],
    ...overrides,
  }
}

/** The archive's decoded CBOR with `edit` applied, encoded again: what a hostile host could send. */
function edited(edit: (o: Record<string, unknown>) => void): Uint8Array {
  const o = decodeCbor(encodeArchive(archive())) as Record<string, unknown>
  edit(o)
  return encodeCbor(o)
}

/** The issues `decodeArchive` reports for `bytes`, asserting its code. */
function issues(bytes: Uint8Array, code = 'ERR_PROTOCOL_MALFORMED'): readonly string[] {
  try {
    decodeArchive(bytes)
  } catch (error) {
    assert.ok(error instanceof ProtocolError, String(error))
    assert.equal(error.code, code, error.message)
    return error.issues
  }
  assert.fail('decoded')
}

describe('evidence archive', () => {
  test('round trips, deterministically, with the bundle bytes unchanged', () => {
    const a = archive()
    const bytes = encodeArchive(a)
    const back = decodeArchive(bytes)
    assert.deepEqual(back, a)
    assert.deepEqual(Buffer.from(back.bundle), Buffer.from(a.bundle), 'the bundle travels byte for byte')
    assert.deepEqual(encodeArchive(back), bytes)
    assert.equal(ARCHIVE_MEDIA_TYPE, 'application/vnd.vouch.archive+cbor')
  })

  test('an archive with no collateral is well formed', () => {
    const empty = archive({ crls: [], rims: [], ocsp: [] })
    assert.deepEqual(decodeArchive(encodeArchive(empty)), empty)
  })

  test('every bad field is named by its path', () => {
    const bad = edited((o) => {
      o['bundle'] = new Uint8Array(0)
      o['stapledAt'] = -1
      o['crls'] = [new TextEncoder().encode('-----BEGIN X509 CRL-----')]
      o['rims'] = [{ id: '../etc/passwd', xml: 'not bytes' }, { id: 'NV_A', xml: new Uint8Array([1]) }, { id: 'NV_A', xml: new Uint8Array([1]), extra: 1 }]
      o['ocsp'] = 'none'
      o['unknown'] = true
    })
    assert.deepEqual([...issues(bad)].sort(), [
      'bundle: must not be empty',
      'crls[0]: must be DER (an ASN.1 SEQUENCE); PEM and other encodings are not accepted',
      'ocsp: must be an array',
      'rims[0].id: must be a RIM service id: 1 to 200 letters, digits, ".", "_" or "-", not starting with "."',
      'rims[0].xml: must be a byte string',
      'rims[2].extra: is not a known field',
      'rims[2].id: repeats an earlier RIM',
      'stapledAt: must be a non-negative integer',
      'unknown: is not a known field',
    ].sort())
  })

  test('a missing field is named', () => {
    assert.deepEqual(issues(edited((o) => delete o['ocsp'])), ['ocsp: is missing'])
  })

  test('another version is ERR_PROTOCOL_UNSUPPORTED_VERSION', () => {
    issues(edited((o) => (o['v'] = 2)), 'ERR_PROTOCOL_UNSUPPORTED_VERSION')
  })

  test('bounds: items per list and bytes per item', () => {
    const tooMany = edited((o) => (o['crls'] = Array.from({ length: ARCHIVE_LIMITS.crls + 1 }, () => fakeDer('crl'))))
    assert.deepEqual(issues(tooMany), [`crls: must hold at most ${ARCHIVE_LIMITS.crls} items, got ${ARCHIVE_LIMITS.crls + 1}`])
    const big = new Uint8Array(ARCHIVE_LIMITS.ocspBytes + 1).fill(0x30)
    assert.deepEqual(issues(edited((o) => (o['ocsp'] = [big]))), [`ocsp[0]: must be at most ${ARCHIVE_LIMITS.ocspBytes} bytes, got ${big.length}`])
  })

  test('an archive over the size limit is refused before it is decoded: ERR_PROTOCOL_TOO_LARGE', () => {
    const bytes = encodeArchive(archive())
    assert.throws(() => decodeArchive(bytes, { maxBytes: bytes.length - 1 }), (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_PROTOCOL_TOO_LARGE')
  })

  test('encoding refuses a malformed archive, so none is ever written', () => {
    assert.throws(() => encodeArchive(archive({ rims: [{ id: '.hidden', xml: new Uint8Array([1]) }] })), (e: unknown) => e instanceof ProtocolError && e.code === 'ERR_PROTOCOL_MALFORMED')
  })
})
