import { test } from 'node:test'
import { describe } from '../../../../test/helpers/suites.js'
import assert from 'node:assert/strict'
import { verify, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { type GpuArch } from '@vouch/enclave'
import {
  DRIVER_RIM_ALTERNATIVES,
  DRIVER_RIM_INDICES,
  OID_DICE_TCB_INFO,
  OID_NVIDIA_FWID,
  SIMULATED_GPU_BOARD,
  VBIOS_RIM_INDICES,
  createSimulatedGpu,
  simulatedNvidiaRoots,
} from '@vouch/enclave/simulated'
import {
  GPU_SIGNATURE_SIZE,
  OPAQUE_FIELD,
  parseGpuAttestationReport,
  STATUS_DISABLED,
  STATUS_ENABLED,
  type GpuAttestationReport,
} from '@vouch/protocol'
import {
  blackwellFwid,
  extensionValue,
  fixturesMissing,
  hex,
  hopperFwid,
  NVIDIA_FIXTURES,
  rimCertificates,
  rimSignedParts,
} from './nvidia-helpers.js'

const ARCHS: GpuArch[] = ['HOPPER', 'BLACKWELL']
const nonce = (fill: number): Uint8Array => new Uint8Array(32).fill(fill)

interface RimEntry {
  index: number
  active: boolean
  values: string[]
}

/** The resources of a RIM, read back from its XML, and its colloquialVersion. */
function readRim(xml: string): { version: string; product: string; entries: RimEntry[] } {
  const entries = [...xml.matchAll(/<ns0:Resource ([^>]*)\/>/g)].map((m) => {
    const attrs = Object.fromEntries([...m[1]!.matchAll(/([\w:]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!]))
    const count = Number(attrs['alternatives'])
    return {
      index: Number(attrs['index']),
      active: attrs['active'] === 'True',
      values: Array.from({ length: count }, (_, i) => attrs[`ns2:Hash${i}`]!),
    }
  })
  return {
    version: /colloquialVersion="([^"]*)"/.exec(xml)![1]!,
    product: /product="([^"]*)"/.exec(xml)![1]!,
    entries,
  }
}

/**
 * The golden-value comparison of NVIDIA's verifiers (spec §4.4): active driver and VBIOS entries, no index
 * in both, index 35 skipped while NVDEC0 is disabled, a runtime value matching any alternative. Returns
 * the mismatching RIM indices.
 */
function mismatches(report: GpuAttestationReport, driverXml: string, vbiosXml: string): number[] {
  const golden = new Map<number, string[]>()
  for (const xml of [driverXml, vbiosXml]) {
    for (const e of readRim(xml).entries.filter((x) => x.active)) {
      assert.ok(!golden.has(e.index), `index ${e.index} is active in both RIMs`)
      golden.set(e.index, e.values)
    }
  }
  const out: number[] = []
  for (const [index, values] of golden) {
    if (index === 35 && report.opaqueData.nvdec0Status === STATUS_DISABLED) continue
    const runtime = report.blocks.find((b) => b.index === index + 1)
    if (runtime === undefined || !values.includes(hex(runtime.value))) out.push(index)
  }
  return out.sort((a, b) => a - b)
}

function leafFwid(arch: GpuArch, leaf: Uint8Array): Uint8Array {
  return arch === 'HOPPER'
    ? hopperFwid(extensionValue(leaf, OID_NVIDIA_FWID)!).fwid
    : blackwellFwid(extensionValue(leaf, OID_DICE_TCB_INFO)!).fwid
}

describe('simulated GPU reports', () => {
  for (const arch of ARCHS) {
    test(`${arch}: the report parses with the nonce, versions, FWID and 64 blocks, and its signature verifies`, async () => {
      const gpu = createSimulatedGpu({ arch })
      const { report, chain, arch: reportedArch } = await gpu.getReport(nonce(0xa5))
      assert.equal(reportedArch, arch)
      assert.equal(chain.length, 5)
      const parsed = parseGpuAttestationReport(report)
      assert.deepEqual(parsed.request.nonce, nonce(0xa5))
      assert.equal(parsed.request.param2, 0xff)
      assert.equal(parsed.response.numberOfBlocks, 64)
      assert.equal(parsed.blocks.length, 64)
      assert.equal(parsed.trailing.length, 0)
      assert.equal(parsed.signature.length, GPU_SIGNATURE_SIZE)
      assert.equal(parsed.opaqueData.driverVersion, SIMULATED_GPU_BOARD[arch].driverVersion)
      assert.equal(parsed.opaqueData.vbiosVersion, SIMULATED_GPU_BOARD[arch].vbiosVersion)
      assert.equal(parsed.opaqueData.project, SIMULATED_GPU_BOARD[arch].project)
      assert.equal(parsed.opaqueData.projectSku, SIMULATED_GPU_BOARD[arch].projectSku)
      assert.equal(parsed.opaqueData.chipSku, SIMULATED_GPU_BOARD[arch].chipSku)
      assert.equal(parsed.opaqueData.nvdec0Status, STATUS_DISABLED)
      assert.equal(parsed.opaqueData.protectedPcieStatus, STATUS_DISABLED)
      assert.equal(parsed.opaqueData.opaqueDataVersion, 1)
      assert.equal(parsed.opaqueData.featureFlag, 0)
      assert.deepEqual(parsed.opaqueData.fwid, gpu.fwid)
      assert.deepEqual(parsed.opaqueData.fwid, leafFwid(arch, chain[0]!))
      assert.deepEqual(
        parsed.blocks.map((b) => b.value),
        gpu.measurements,
      )

      const leaf = new X509Certificate(chain[0]!)
      assert.ok(verify('sha384', parsed.signed, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, parsed.signature))
      const flipped = Uint8Array.from(report)
      flipped[62] = flipped[62]! ^ 1 // inside the first measurement value
      const reparsed = parseGpuAttestationReport(flipped)
      assert.ok(!verify('sha384', reparsed.signed, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, reparsed.signature))

      // The chain is the simulated one: leaf → BROM → provisioner → Identity → root.
      const roots = simulatedNvidiaRoots(arch)
      assert.deepEqual(chain.slice(2), [roots.provisioner.der, roots.identity.der, roots.deviceRoot.der])
      for (let i = 0; i < 4; i++) {
        const [c, issuer] = [new X509Certificate(chain[i]!), new X509Certificate(chain[i + 1]!)]
        assert.ok(c.checkIssued(issuer) && c.verify(issuer.publicKey), `link ${i}`)
      }
    })
  }

  test('measurements: SHA-384 values where the RIMs are active, zeros elsewhere', () => {
    const gpu = createSimulatedGpu()
    const active = new Set([...DRIVER_RIM_INDICES, ...VBIOS_RIM_INDICES])
    assert.equal(active.size, DRIVER_RIM_INDICES.length + VBIOS_RIM_INDICES.length, 'no index in both RIMs')
    for (const [i, m] of gpu.measurements.entries()) {
      assert.equal(m.length, 48)
      assert.equal(m.some((b) => b !== 0), active.has(i), `index ${i}`)
    }
    assert.deepEqual(DRIVER_RIM_INDICES, [7, ...Array.from({ length: 21 }, (_, i) => 21 + i)])
    assert.deepEqual(VBIOS_RIM_INDICES, [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12])
  })

  test('deterministic: the same options give the same measurements, FWID, keys and opaque data', async () => {
    for (const arch of ARCHS) {
      const [a, b] = [createSimulatedGpu({ arch, deviceIndex: 3 }), createSimulatedGpu({ arch, deviceIndex: 3 })]
      assert.deepEqual(a.measurements, b.measurements)
      assert.deepEqual(a.fwid, b.fwid)
      const [ra, rb] = [await a.getReport(nonce(1)), await b.getReport(nonce(1))]
      const [pa, pb] = [parseGpuAttestationReport(ra.report), parseGpuAttestationReport(rb.report)]
      assert.deepEqual(pa.opaque, pb.opaque)
      assert.notDeepEqual(pa.response.responderNonce, pb.response.responderNonce, 'a fresh responder nonce')
      assert.ok(new X509Certificate(ra.chain[0]!).publicKey.equals(new X509Certificate(rb.chain[0]!).publicKey))
      const other = createSimulatedGpu({ arch, seed: 'another seed' })
      assert.notDeepEqual(other.measurements, a.measurements)
    }
  })

  test('certificates are made once per GPU; reports return copies', async () => {
    const gpu = createSimulatedGpu()
    const first = await gpu.getReport(nonce(1))
    first.chain[0]!.fill(0)
    const second = await gpu.getReport(nonce(2))
    assert.notDeepEqual(second.chain[0], first.chain[0])
    const third = await gpu.getReport(nonce(3))
    assert.deepEqual(third.chain, second.chain)
    assert.equal(gpu.rims().driver.xml, gpu.rims().driver.xml)
  })

  test('multi-GPU: each device index has its own BROM and leaf, all share the CAs and the RIMs', async () => {
    const gpus = Array.from({ length: 8 }, (_, deviceIndex) => createSimulatedGpu({ deviceIndex }))
    const chains = await Promise.all(gpus.map(async (g) => (await g.getReport(nonce(9))).chain))
    assert.equal(new Set(chains.map((c) => new X509Certificate(c[0]!).serialNumber)).size, 8)
    assert.equal(new Set(chains.map((c) => new X509Certificate(c[1]!).serialNumber)).size, 8)
    for (const c of chains) assert.deepEqual(c.slice(2), chains[0]!.slice(2))
    for (const g of gpus) assert.deepEqual(g.measurements, gpus[0]!.measurements)
    assert.deepEqual(readRim(gpus[7]!.rims().driver.xml).entries, readRim(gpus[0]!.rims().driver.xml).entries)
    assert.throws(() => createSimulatedGpu({ deviceIndex: 8 }), RangeError)
  })

  test('protected PCIe: status 0xAA, FEATURE_FLAG PPCIE and the switch PDIs', async () => {
    const { report } = await createSimulatedGpu({ protectedPcie: true }).getReport(nonce(4))
    const parsed = parseGpuAttestationReport(report)
    assert.equal(parsed.opaqueData.protectedPcieStatus, STATUS_ENABLED)
    assert.equal(parsed.opaqueData.featureFlag, 2)
    assert.equal(parsed.opaque.find((o) => o.type === OPAQUE_FIELD.SWITCH_PDI)!.value.length, 144)
    assert.equal(parsed.opaqueData.switchPdis!.length, 4)
  })

  test('options set the versions and the board; bad input is refused', async () => {
    const gpu = createSimulatedGpu({ driverVersion: '595.71.05', vbiosVersion: '96.00.9f.00.04', project: 'G520', projectSku: '0200', chipSku: '885' })
    assert.equal(gpu.vbiosVersion, '96.00.9F.00.04')
    const parsed = parseGpuAttestationReport((await gpu.getReport(nonce(5))).report)
    assert.equal(parsed.opaqueData.driverVersion, '595.71.05')
    assert.equal(parsed.opaqueData.vbiosVersion, '96.00.9F.00.04')
    assert.deepEqual(
      [gpu.rims().driver.id, gpu.rims().vbios.id],
      ['NV_GPU_DRIVER_GH100_595.71.05', 'NV_GPU_VBIOS_G520_0200_885_96009F0004'],
    )
    await assert.rejects(gpu.getReport(new Uint8Array(31)), RangeError)
    assert.throws(() => createSimulatedGpu({ vbiosVersion: '96.00' }))
    assert.throws(() => createSimulatedGpu({ measurementOverrides: { 64: new Uint8Array(48) } }), RangeError)
    assert.throws(() => createSimulatedGpu({ measurementOverrides: { 3: new Uint8Array(32) } }), RangeError)
  })
})

describe('simulated GPU RIMs', () => {
  for (const arch of ARCHS) {
    test(`${arch}: ids, versions and golden values match the report; the signatures verify`, async () => {
      const gpu = createSimulatedGpu({ arch })
      const { report } = await gpu.getReport(nonce(6))
      const parsed = parseGpuAttestationReport(report)
      const { driver, vbios } = gpu.rims()
      const chip = arch === 'HOPPER' ? 'GH100' : 'GB100'
      const board = SIMULATED_GPU_BOARD[arch]
      assert.equal(driver.id, arch === 'HOPPER' ? `NV_GPU_DRIVER_GH100_${board.driverVersion}` : `NV_GPU_CC_DRIVER_GB100_${board.driverVersion}`)
      assert.equal(vbios.id, `NV_GPU_VBIOS_${board.project}_${board.projectSku}_${board.chipSku}_${board.vbiosVersion.replaceAll('.', '')}`)
      const [d, v] = [readRim(driver.xml), readRim(vbios.xml)]
      assert.equal(d.version, parsed.opaqueData.driverVersion)
      assert.equal(v.version.toLowerCase(), parsed.opaqueData.vbiosVersion!.toLowerCase())
      assert.equal(d.product, chip)
      assert.deepEqual(d.entries.filter((e) => e.active).map((e) => e.index), DRIVER_RIM_INDICES)
      assert.deepEqual(v.entries.filter((e) => e.active).map((e) => e.index), VBIOS_RIM_INDICES)
      for (const e of [...d.entries, ...v.entries].filter((x) => !x.active)) assert.deepEqual(e.values, ['0'.repeat(96)])
      assert.deepEqual(mismatches(parsed, driver.xml, vbios.xml), [])

      // Indices 35 and 36 list two values; the report carries the second, so a Hash0-only check fails.
      for (const index of DRIVER_RIM_ALTERNATIVES) {
        const entry = d.entries.find((e) => e.index === index)!
        assert.equal(entry.values.length, 2)
        assert.equal(entry.values[1], hex(parsed.blocks[index]!.value))
        assert.notEqual(entry.values[0], entry.values[1])
      }

      for (const rim of [driver, vbios]) {
        const parts = rimSignedParts(rim.xml)
        const [signer] = rimCertificates(rim.xml)
        assert.ok(verify('sha384', Buffer.from(parts.signedInfo), { key: new X509Certificate(signer!).publicKey, dsaEncoding: 'ieee-p1363' }, parts.signatureValue))
        assert.deepEqual(rimCertificates(rim.xml).at(-1), simulatedNvidiaRoots(arch).rimRoot.der)
      }
    })
  }

  test('a measurement override is a runtime mismatch the RIMs catch; index 35 is skipped as NVIDIA skips it', async () => {
    const gpu = createSimulatedGpu({ measurementOverrides: { 9: new Uint8Array(48).fill(0xee), 35: new Uint8Array(48).fill(1) } })
    const parsed = parseGpuAttestationReport((await gpu.getReport(nonce(7))).report)
    const { driver, vbios } = gpu.rims()
    assert.deepEqual(mismatches(parsed, driver.xml, vbios.xml), [9])
    assert.deepEqual(readRim(vbios.xml).entries[9]!.values, [hex(createSimulatedGpu().measurements[9]!)])
  })
})

describe('simulated GPU reports against real ones', { skip: fixturesMissing }, () => {
  test('HOPPER: the report has the size and opaque layout of NVIDIA’s Hopper 580 sample', async () => {
    const real = parseGpuAttestationReport(
      new Uint8Array(readFileSync(join(NVIDIA_FIXTURES, 'cases', 'hopper-h100-580.159.03', 'report.bin'))),
    )
    const { report } = await createSimulatedGpu().getReport(nonce(8))
    const simulated = parseGpuAttestationReport(report)
    assert.equal(report.length, real.raw.length)
    assert.deepEqual(
      simulated.opaque.map((o) => [o.name, o.value.length]),
      real.opaque.map((o) => [o.name, o.value.length]),
    )
    assert.deepEqual(
      simulated.blocks.map((b) => [b.index, b.specification, b.valueType, b.value.length]),
      real.blocks.map((b) => [b.index, b.specification, b.valueType, b.value.length]),
    )
    assert.deepEqual(simulated.raw.subarray(0, 4), real.raw.subarray(0, 4))
    assert.deepEqual(simulated.raw.subarray(36, 45), real.raw.subarray(36, 45))
  })

  test('HOPPER protected PCIe: the opaque layout of NVIDIA’s HGX PPCIe sample', async () => {
    const real = parseGpuAttestationReport(new Uint8Array(readFileSync(join(NVIDIA_FIXTURES, 'cases', 'hgx-h100-ppcie-gpu0', 'report.bin'))))
    const { report } = await createSimulatedGpu({ protectedPcie: true, driverVersion: '590.12' }).getReport(nonce(9))
    const simulated = parseGpuAttestationReport(report)
    assert.equal(report.length, real.raw.length)
    assert.deepEqual(
      simulated.opaque.map((o) => [o.name, o.value.length]),
      real.opaque.map((o) => [o.name, o.value.length]),
    )
  })
})
