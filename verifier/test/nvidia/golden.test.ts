/**
 * Golden-value comparison (spec §4.4) on the real 545.00 report with its driver and VBIOS RIMs, and
 * on small synthetic RIMs for the rules the real data does not exercise. The report's measurement
 * blocks are read here straight from the bytes (spec §2), independently of the protocol parser.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { compareGoldenMeasurements, NVDEC0_RIM_INDEX, parseRim, verifyRim, type RimDocument, type RimMeasurement } from '@vouch/verifier'
import { fixtureBytes, fixturesMissing, fixtureText } from '../helpers/fixtures.js'

const skip = fixturesMissing('nvidia-gpu')
const CASE = 'cases/hopper-h100-545.00-with-rims'

const REQUEST_SIZE = 37
const BLOCK_COUNT = 64
const BLOCK_SIZE = 55
const VALUE_SIZE = 48
const NVDEC0_STATUS = 11

/** SPDM block index (1-based) → value, and the opaque TLVs, read from a raw GPU attestation report. */
function readReport(report: Uint8Array): { blocks: Map<number, Uint8Array>; opaque: Map<number, Uint8Array> } {
  const view = new DataView(report.buffer, report.byteOffset, report.byteLength)
  const response = REQUEST_SIZE
  assert.equal(report[response], 0x11, 'SPDM 1.1')
  assert.equal(report[response + 1], 0x60, 'MEASUREMENTS')
  assert.equal(report[response + 4], BLOCK_COUNT)
  const recordLength = view.getUint16(response + 5, true) | (report[response + 7]! << 16)
  assert.equal(recordLength, BLOCK_COUNT * BLOCK_SIZE)
  const blocks = new Map<number, Uint8Array>()
  for (let k = 0; k < BLOCK_COUNT; k++) {
    const at = response + 8 + k * BLOCK_SIZE
    assert.equal(report[at], k + 1, 'block index')
    assert.equal(report[at + 1], 0x01, 'DMTF measurement specification')
    assert.equal(view.getUint16(at + 5, true), VALUE_SIZE)
    blocks.set(report[at]!, report.subarray(at + 7, at + 7 + VALUE_SIZE))
  }
  // Then the responder nonce (32), OpaqueLength (2) and the TLVs: u16 type, u16 length, value.
  let at = response + 8 + recordLength + 32
  const end = at + 2 + view.getUint16(at, true)
  at += 2
  const opaque = new Map<number, Uint8Array>()
  while (at < end) {
    const type = view.getUint16(at, true)
    const length = view.getUint16(at + 2, true)
    opaque.set(type, report.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  assert.equal(at, end)
  return { blocks, opaque }
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

describe('golden measurements of the real 545.00 report', { skip }, () => {
  const load = (): { blocks: Map<number, Uint8Array>; nvdec0Disabled: boolean; driver: RimDocument; vbios: RimDocument; driver550: RimDocument } => {
    const { blocks, opaque } = readReport(fixtureBytes('nvidia-gpu', CASE, 'report.bin'))
    const expected = JSON.parse(fixtureText('nvidia-gpu', CASE, 'expected.json')) as { measurements: Record<string, string> }
    // Our reading of the bytes agrees with the case's ground truth, block for block.
    assert.deepEqual(Object.fromEntries([...blocks].map(([k, v]) => [String(k), hex(v)])), expected.measurements)
    return {
      blocks,
      nvdec0Disabled: opaque.get(NVDEC0_STATUS)?.[0] === 0x55,
      driver: parseRim(fixtureText('nvidia-gpu', CASE, 'Driver_RIM_test_no_gpu.swidtag')),
      vbios: parseRim(fixtureText('nvidia-gpu', CASE, '1010_0200_882_96005E0001_test_no_gpu.swidtag')),
      driver550: parseRim(fixtureText('nvidia-gpu', 'rims/NV_GPU_DRIVER_GH100_550.144.03.xml')),
    }
  }
  const DRIVER_ACTIVE = [7, ...Array.from({ length: 20 }, (_, i) => 21 + i)]
  const VBIOS_ACTIVE = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]

  test('the RIMs are authentic at rimVerifyAt', async () => {
    const { rimVerifyAt } = JSON.parse(fixtureText('nvidia-gpu', CASE, 'expected.json')) as { rimVerifyAt: string }
    for (const file of ['Driver_RIM_test_no_gpu.swidtag', '1010_0200_882_96005E0001_test_no_gpu.swidtag']) {
      const result = await verifyRim(fixtureText('nvidia-gpu', CASE, file), { at: new Date(rimVerifyAt) })
      assert.equal(result.verdict, 'accepted', file)
    }
  })

  test('every active golden value matches; NVDEC0 is disabled, so index 35 is skipped', () => {
    const { blocks, nvdec0Disabled, driver, vbios } = load()
    assert.equal(nvdec0Disabled, true)
    const result = compareGoldenMeasurements(blocks, { driver, vbios }, { nvdec0Disabled })
    assert.deepEqual(result.mismatches, [])
    assert.deepEqual(result.conflicts, [])
    const compared = [...DRIVER_ACTIVE, ...VBIOS_ACTIVE].filter((i) => i !== NVDEC0_RIM_INDEX).sort((a, b) => a - b)
    assert.deepEqual(result.compared, compared)
    assert.equal(result.compared.length, 32)
  })

  test('with NVDEC0 enabled, index 35 is compared too (and matches on this report)', () => {
    const { blocks, driver, vbios } = load()
    const result = compareGoldenMeasurements(blocks, { driver, vbios }, { nvdec0Disabled: false })
    assert.equal(result.compared.length, 33)
    assert.ok(result.compared.includes(NVDEC0_RIM_INDEX))
    assert.deepEqual(result.mismatches, [])
  })

  const changes: Array<{ name: string; mutate: (blocks: Map<number, Uint8Array>) => void; index: number; source: 'driver' | 'vbios'; got: (old: Uint8Array) => string | null }> = [
    { name: 'a driver block changed (SPDM 23, RIM 22)', mutate: (b) => flip(b, 23), index: 22, source: 'driver', got: (old) => hex(flipped(old)) },
    { name: 'a VBIOS block changed (SPDM 1, RIM 0)', mutate: (b) => flip(b, 1), index: 0, source: 'vbios', got: (old) => hex(flipped(old)) },
    { name: 'a multi-alternative driver block changed (SPDM 37, RIM 36)', mutate: (b) => flip(b, 37), index: 36, source: 'driver', got: (old) => hex(flipped(old)) },
    { name: 'a block missing (SPDM 8, RIM 7)', mutate: (b) => b.delete(8), index: 7, source: 'driver', got: () => null },
    { name: 'a block of 47 bytes (SPDM 13, RIM 12)', mutate: (b) => b.set(13, b.get(13)!.subarray(0, 47)), index: 12, source: 'vbios', got: (old) => hex(old.subarray(0, 47)) },
  ]
  for (const c of changes) {
    test(`${c.name}: exactly that index is reported`, () => {
      const { blocks, nvdec0Disabled, driver, vbios } = load()
      const old = blocks.get(c.index + 1)!
      c.mutate(blocks)
      const result = compareGoldenMeasurements(blocks, { driver, vbios }, { nvdec0Disabled })
      const entry = (c.source === 'driver' ? driver : vbios).measurements.find((m) => m.index === c.index)!
      assert.deepEqual(result.mismatches, [{ index: c.index, source: c.source, expected: [...entry.alternatives], got: c.got(old) }])
      assert.equal(result.compared.length, 32)
    })
  }

  test('a change to an inactive block (SPDM 50) or to NVDEC0 (SPDM 36) is not reported', () => {
    const { blocks, nvdec0Disabled, driver, vbios } = load()
    flip(blocks, 50)
    flip(blocks, NVDEC0_RIM_INDEX + 1)
    assert.deepEqual(compareGoldenMeasurements(blocks, { driver, vbios }, { nvdec0Disabled }).mismatches, [])
  })

  test('with the 550.144.03 driver RIM instead, the driver indices that changed are listed', () => {
    const { blocks, nvdec0Disabled, driver550, vbios } = load()
    const result = compareGoldenMeasurements(blocks, { driver: driver550, vbios }, { nvdec0Disabled })
    assert.deepEqual(result.mismatches.map((m) => m.index), [7, 21, 22, 25, 26, 27, 29, 30, 31, 32, 34, 37, 39, 40])
    assert.ok(result.mismatches.every((m) => m.source === 'driver'))
    assert.deepEqual(result.conflicts, [])
    const first = result.mismatches[0]!
    assert.equal(first.got, hex(blocks.get(8)!))
    assert.deepEqual(first.expected, ['4a5e4b3d501fe31f91bd8b6f2921b58437704a504dbedba971440e840c938c805612689ae3ac04b1009515a179063d49'])
  })

  test('only the driver RIM: only the driver indices are compared', () => {
    const { blocks, nvdec0Disabled, driver } = load()
    const result = compareGoldenMeasurements(blocks, { driver }, { nvdec0Disabled })
    assert.deepEqual(result.compared, DRIVER_ACTIVE.filter((i) => i !== NVDEC0_RIM_INDEX))
    assert.deepEqual(result.mismatches, [])
  })

  test('the driver RIM given as VBIOS too: every driver index is a conflict and none is compared', () => {
    const { blocks, nvdec0Disabled, driver } = load()
    const result = compareGoldenMeasurements(blocks, { driver, vbios: driver }, { nvdec0Disabled })
    assert.deepEqual(result.conflicts, DRIVER_ACTIVE)
    assert.deepEqual(result.compared, [])
  })
})

function flipped(value: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(value)
  copy[0]! ^= 0x01
  return copy
}

function flip(blocks: Map<number, Uint8Array>, spdmIndex: number): void {
  blocks.set(spdmIndex, flipped(blocks.get(spdmIndex)!))
}

describe('golden comparison rules (synthetic RIMs)', () => {
  const value = (byte: number, size = 48): Uint8Array => new Uint8Array(size).fill(byte)
  const entry = (index: number, active: boolean, alternatives: number[], size = 48): RimMeasurement => ({
    index,
    active,
    name: `Measurement_${index}`,
    size,
    alternatives: alternatives.map((b) => hex(value(b, size))),
  })
  const rim = (measurements: RimMeasurement[]): RimDocument => ({
    tagId: 'test',
    name: 'GH100',
    product: 'GH100',
    colloquialVersion: '1',
    firmwareManufacturerId: '5703',
    platformModel: 'GH100',
    measurements,
    certificates: [],
  })
  const cases: Array<{
    name: string
    runtime: Array<[number, Uint8Array]>
    driver?: RimMeasurement[]
    vbios?: RimMeasurement[]
    nvdec0Disabled?: boolean
    compared: number[]
    mismatches: number[]
    conflicts?: number[]
  }> = [
    { name: 'RIM index i is SPDM block i+1', runtime: [[3, value(1)], [4, value(2)]], driver: [entry(3, true, [2])], compared: [3], mismatches: [] },
    { name: 'off by one is a mismatch', runtime: [[3, value(2)], [4, value(1)]], driver: [entry(3, true, [2])], compared: [3], mismatches: [3] },
    { name: 'any alternative matches', runtime: [[6, value(9)]], driver: [entry(5, true, [7, 8, 9])], compared: [5], mismatches: [] },
    { name: 'none of the alternatives', runtime: [[6, value(6)]], driver: [entry(5, true, [7, 8, 9])], compared: [5], mismatches: [5] },
    { name: 'inactive entries are ignored', runtime: [[1, value(0)]], driver: [entry(0, false, [5])], vbios: [entry(1, false, [5])], compared: [], mismatches: [] },
    { name: 'a missing runtime block is a mismatch', runtime: [], vbios: [entry(2, true, [1])], compared: [2], mismatches: [2] },
    { name: 'a 32-byte golden value never matches, even if equal', runtime: [[1, value(4, 32)]], driver: [entry(0, true, [4], 32)], compared: [0], mismatches: [0] },
    { name: 'index 35 is skipped when NVDEC0 is disabled', runtime: [[36, value(1)]], driver: [entry(35, true, [2])], nvdec0Disabled: true, compared: [], mismatches: [] },
    { name: 'index 35 is compared when NVDEC0 is enabled', runtime: [[36, value(1)]], driver: [entry(35, true, [2])], compared: [35], mismatches: [35] },
    {
      name: 'an index active in both RIMs is a conflict, not compared',
      runtime: [[8, value(1)], [9, value(1)]],
      driver: [entry(7, true, [1]), entry(8, true, [1])],
      vbios: [entry(7, true, [1]), entry(8, false, [2])],
      compared: [8],
      mismatches: [],
      conflicts: [7],
    },
    { name: 'no RIM: nothing compared', runtime: [[1, value(1)]], compared: [], mismatches: [] },
  ]
  for (const c of cases) {
    test(c.name, () => {
      const rims = { driver: c.driver && rim(c.driver), vbios: c.vbios && rim(c.vbios) }
      const result = compareGoldenMeasurements(new Map(c.runtime), rims, { nvdec0Disabled: c.nvdec0Disabled ?? false })
      assert.deepEqual(result.compared, c.compared)
      assert.deepEqual(result.mismatches.map((m) => m.index), c.mismatches)
      assert.deepEqual(result.conflicts, c.conflicts ?? [])
    })
  }
})
