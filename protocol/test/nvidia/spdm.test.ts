/**
 * The SPDM GPU report parser against NVIDIA's own parse (nvidia-parse.json) and every real report,
 * then composing and rejecting malformed reports.
 */
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { fileURLToPath } from 'node:url'
import {
  composeGpuAttestationReport,
  encodeAsciiField,
  encodeVbiosVersion,
  formatVbiosVersion,
  OPAQUE_FIELD,
  parseGpuAttestationReport,
  toHex,
  type ProtocolError,
} from '@vouch/protocol'

const fixtures = process.env['VOUCH_FIXTURES_DIR'] ?? resolve(fileURLToPath(new URL('../../..', import.meta.url)), '../shared/fixtures')
const cases = join(fixtures, 'nvidia-gpu/cases')
const skip = existsSync(cases) ? false : `real evidence not found at ${cases}; set VOUCH_FIXTURES_DIR to run these tests`
const read = (c: string, f: string): Buffer => readFileSync(join(cases, c, f))

describe('real reports', { skip }, () => {
  test("hopper-h100-580.159.03 agrees with NVIDIA's own parse, block for block and field for field", () => {
    const nvidia = JSON.parse(read('hopper-h100-580.159.03', 'nvidia-parse.json').toString()) as {
      SPDMVersion: string
      NumberOfBlocks: number
      MeasurementRecordLength: number
      Nonce: string
      OpaqueLength: number
      Signature: string
      MeasurementRecord: { MeasurementBlocks: Record<string, { DMTFSpecMeasurementValueType: number; DMTFSpecMeasurementValueSize: number; DMTFSpecMeasurementValue: string }> }
      OpaqueData: { OpaqueDataField: Record<string, string | number[]> }
    }
    const r = parseGpuAttestationReport(read('hopper-h100-580.159.03', 'report.bin'))
    assert.equal(`0x${r.response.version.toString(16)}`, nvidia.SPDMVersion)
    assert.equal(r.response.numberOfBlocks, nvidia.NumberOfBlocks)
    assert.equal(r.response.recordLength, nvidia.MeasurementRecordLength)
    assert.equal(`0x${toHex(r.response.responderNonce)}`, nvidia.Nonce)
    assert.equal(`0x${toHex(r.signature)}`, nvidia.Signature)
    const blocks = Object.entries(nvidia.MeasurementRecord.MeasurementBlocks)
    assert.equal(blocks.length, r.blocks.length)
    for (const [index, block] of blocks) {
      const ours = r.blocks.find((b) => b.index === Number(index))!
      assert.equal(ours.valueType, block.DMTFSpecMeasurementValueType, `block ${index}`)
      assert.equal(ours.value.length, block.DMTFSpecMeasurementValueSize, `block ${index}`)
      assert.equal(`0x${toHex(ours.value)}`, block.DMTFSpecMeasurementValue, `block ${index}`)
    }
    const opaqueLength = r.opaque.reduce((n, f) => n + 4 + f.value.length, 0)
    assert.equal(opaqueLength, nvidia.OpaqueLength)
    for (const [key, value] of Object.entries(nvidia.OpaqueData.OpaqueDataField)) {
      const field = r.opaque.find((f) => `OPAQUE_FIELD_ID_${f.name}` === key)!
      assert.ok(field, key)
      if (Array.isArray(value)) assert.deepEqual(r.opaqueData.msrsCount, value)
      else assert.equal(`0x${toHex(field.value)}`, value, key)
    }
    assert.equal(r.opaqueData.driverVersion, '580.159.03')
    assert.equal(r.opaqueData.vbiosVersion, '96.00.74.00.20')
  })

  for (const name of existsSync(cases) ? readdirSync(cases).sort() : []) {
    test(`${name}: nonce, versions, FWID and all 64 blocks as expected.json gives them`, () => {
      const expected = JSON.parse(read(name, 'expected.json').toString()) as {
        nonce: string
        driverVersion: string
        vbiosVersion: string
        fwid: string | null
        measurements: Record<string, string>
        trailingBytes: number
      }
      const r = parseGpuAttestationReport(read(name, 'report.bin'))
      assert.equal(toHex(r.request.nonce), expected.nonce)
      assert.equal(r.opaqueData.driverVersion, expected.driverVersion)
      assert.equal(r.opaqueData.vbiosVersion, expected.vbiosVersion)
      assert.equal(r.opaqueData.fwid ? toHex(r.opaqueData.fwid) : null, expected.fwid)
      assert.equal(r.trailing.length, expected.trailingBytes)
      assert.deepEqual(Object.fromEntries(r.blocks.map((b) => [String(b.index), toHex(b.value)])), expected.measurements)
      assert.equal(r.signed.length + r.signature.length + r.trailing.length, r.raw.length)
    })
  }
})

describe('compose and reject', () => {
  const compose = (): Uint8Array => {
    const signed = composeGpuAttestationReport({
      nonce: new Uint8Array(32).fill(1),
      responderNonce: new Uint8Array(32).fill(2),
      measurements: Array.from({ length: 64 }, (_, i) => new Uint8Array(48).fill(i)),
      opaque: [
        { type: OPAQUE_FIELD.VBIOS_VERSION, value: encodeVbiosVersion('96.00.9F.00.04') },
        { type: OPAQUE_FIELD.DRIVER_VERSION, value: encodeAsciiField('595.71.05') },
        { type: OPAQUE_FIELD.NVDEC0_STATUS, value: Uint8Array.of(0x55) },
        { type: OPAQUE_FIELD.SWITCH_PDI, value: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8) },
        { type: OPAQUE_FIELD.OPAQUE_DATA_VERSION, value: Uint8Array.of(1, 0) },
        { type: OPAQUE_FIELD.FEATURE_FLAG, value: Uint8Array.of(2, 0) },
      ],
    })
    return Uint8Array.from([...signed, ...new Uint8Array(96).fill(9)])
  }
  const code = (e: unknown): string => (e as ProtocolError).code

  test('a composed report parses back', () => {
    const r = parseGpuAttestationReport(compose())
    assert.equal(r.blocks.length, 64)
    assert.equal(r.opaqueData.vbiosVersion, '96.00.9F.00.04')
    assert.equal(r.opaqueData.driverVersion, '595.71.05')
    assert.equal(r.opaqueData.nvdec0Status, 0x55)
    assert.deepEqual(r.opaqueData.switchPdis, ['0807060504030201'])
    assert.equal(r.opaqueData.featureFlag, 2)
    assert.equal(r.trailing.length, 0)
  })
  test('trailing bytes are kept apart from the signature', () => {
    const r = parseGpuAttestationReport(Uint8Array.from([...compose(), 0]))
    assert.equal(r.trailing.length, 1)
    assert.deepEqual([...r.signature], new Array(96).fill(9))
  })
  test('VBIOS versions round-trip', () => {
    for (const v of ['96.00.9F.00.04', '97.00.88.00.0F', '96.00.74.00.20']) assert.equal(formatVbiosVersion(encodeVbiosVersion(v)), v)
  })
  const rows: Array<[string, (r: Uint8Array) => Uint8Array]> = [
    ['truncated header', (r) => r.subarray(0, 40)],
    ['truncated signature', (r) => r.subarray(0, r.length - 1)],
    ['SPDM 1.0 request', (r) => ((r[0] = 0x10), r)],
    ['SPDM 1.2 response', (r) => ((r[37] = 0x12), r)],
    ['wrong request code', (r) => ((r[1] = 0xe1), r)],
    ['wrong response code', (r) => ((r[38] = 0x61), r)],
    ['NumberOfBlocks disagrees', (r) => ((r[41] = 63), r)],
    ['record length too long', (r) => ((r[42] = r[42]! + 1), r)],
    ['non-DMTF block', (r) => ((r[45 + 1] = 2), r)],
    ['block value size disagrees', (r) => ((r[45 + 5] = 47), r)],
    ['duplicate block index', (r) => ((r[45 + 55] = 1), r)],
  ]
  for (const [name, mutate] of rows) {
    test(name, () => assert.throws(() => parseGpuAttestationReport(mutate(compose())), (e) => code(e) === 'ERR_SPDM_MALFORMED'))
  }
  test('opaque fields that overrun, repeat or are undefined', () => {
    const withOpaque = (opaque: Array<{ type: number; value: Uint8Array }>): Uint8Array =>
      Uint8Array.from([...composeGpuAttestationReport({ nonce: new Uint8Array(32), responderNonce: new Uint8Array(32), measurements: [], opaque }), ...new Uint8Array(96)])
    assert.throws(() => parseGpuAttestationReport(withOpaque([{ type: 37, value: new Uint8Array(1) }])), (e) => code(e) === 'ERR_SPDM_MALFORMED')
    assert.throws(() => parseGpuAttestationReport(withOpaque([{ type: 255, value: new Uint8Array(1) }])), (e) => code(e) === 'ERR_SPDM_MALFORMED')
    assert.throws(
      () => parseGpuAttestationReport(withOpaque([{ type: 3, value: encodeAsciiField('1') }, { type: 3, value: encodeAsciiField('2') }])),
      (e) => code(e) === 'ERR_SPDM_MALFORMED',
    )
    assert.throws(() => parseGpuAttestationReport(withOpaque([{ type: OPAQUE_FIELD.FWID, value: new Uint8Array(47) }])), (e) => code(e) === 'ERR_SPDM_MALFORMED')
    assert.throws(() => parseGpuAttestationReport(withOpaque([{ type: OPAQUE_FIELD.NVDEC0_STATUS, value: new Uint8Array(2) }])), (e) => code(e) === 'ERR_SPDM_MALFORMED')
    const overrun = withOpaque([{ type: 3, value: encodeAsciiField('1.0') }])
    const at = overrun.length - 96 - 4 - 2
    overrun[at] = 0x20 // claim a longer value than the opaque data holds
    assert.throws(() => parseGpuAttestationReport(overrun), (e) => code(e) === 'ERR_SPDM_MALFORMED')
  })
  test('FEATURE_FLAG is ignored before opaque data version 1', () => {
    const signed = composeGpuAttestationReport({ nonce: new Uint8Array(32), responderNonce: new Uint8Array(32), measurements: [], opaque: [{ type: OPAQUE_FIELD.FEATURE_FLAG, value: Uint8Array.of(1, 0) }] })
    const r = parseGpuAttestationReport(Uint8Array.from([...signed, ...new Uint8Array(96)]))
    assert.equal(r.opaqueData.featureFlag, undefined)
  })
})
