/**
 * The simulated NVIDIA GPU against the verifier: its RIMs verify under a trust that pins the simulated
 * RIM root (and under NVIDIA's roots alone they do not), its reports verify under the pinned simulated
 * device root with the FWID binding, the signature and the nonce, and the report's measurements match
 * the RIMs' golden values as the verifier compares them.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type GpuArch } from '@vouch/enclave'
import {
  createSimulatedGpu,
  simulatedNvidiaDeviceRootSpkiSha256,
  simulatedNvidiaRimRootSpkiSha256,
} from '@vouch/enclave/simulated'
import { parseGpuAttestationReport, STATUS_DISABLED, toHex } from '@vouch/protocol'
import {
  compareGoldenMeasurements,
  NVIDIA_DEVICE_IDENTITY_CA,
  NVIDIA_RIM_ROOT_CA,
  parseRim,
  verifyNvidiaGpu,
  parsePolicy,
  verifyRim,
  type NvidiaTrust,
} from '@vouch/verifier'

/** The shipped development policy: the one that accepts simulated evidence. */
const DEV_SIMULATED = parsePolicy(readFileSync(fileURLToPath(new URL('../policies/dev-simulated.yaml', import.meta.url)), 'utf8'), 'policies/dev-simulated.yaml')

/** Trust pinning only the simulated roots, as `dev-simulated` does. */
const SIMULATED_TRUST: NvidiaTrust = {
  deviceRoots: [{ name: 'NVIDIA Device Identity CA', spkiSha256: simulatedNvidiaDeviceRootSpkiSha256(), simulated: true }],
  rimRoots: [{ name: 'NVIDIA CoRIM signing Root CA', spkiSha256: simulatedNvidiaRimRootSpkiSha256(), simulated: true }],
}
const ARCHS: GpuArch[] = ['HOPPER', 'BLACKWELL']
const codes = (r: { errors: Array<{ code: string }> }): string[] => r.errors.map((e) => e.code)

describe('simulated RIMs under the verifier', () => {
  for (const arch of ARCHS) {
    test(`${arch}: driver and VBIOS RIMs verify under the pinned simulated RIM root`, async () => {
      const gpu = createSimulatedGpu({ arch })
      const { driver, vbios } = gpu.rims()
      for (const [rim, version] of [
        [driver, gpu.driverVersion],
        [vbios, gpu.vbiosVersion],
      ] as const) {
        const result = await verifyRim(rim.xml, { trust: SIMULATED_TRUST, policy: DEV_SIMULATED })
        assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
        assert.equal(result.claims?.simulated, true)
        assert.equal(result.claims?.version, version)
        assert.equal(result.claims?.product, arch === 'HOPPER' ? 'GH100' : 'GB100')
        assert.equal(result.claims?.manufacturerId, '5703')
      }
    })
  }

  test('under NVIDIA’s roots alone, a simulated RIM is refused', async () => {
    const nvidiaOnly: NvidiaTrust = { deviceRoots: [NVIDIA_DEVICE_IDENTITY_CA], rimRoots: [NVIDIA_RIM_ROOT_CA] }
    const result = await verifyRim(createSimulatedGpu().rims().driver.xml, { trust: nvidiaOnly })
    assert.equal(result.verdict, 'rejected')
    assert.ok(result.checks.some((c) => c.id === 'rim.root' && c.status === 'fail'))
  })

  test('a tampered simulated RIM is refused', async () => {
    const xml = createSimulatedGpu().rims().driver.xml.replace('index="7" active="True"', 'index="7" active="False"')
    const result = await verifyRim(xml, { trust: SIMULATED_TRUST })
    assert.equal(result.verdict, 'rejected')
    assert.ok(result.checks.some((c) => c.id === 'rim.signature' && c.status === 'fail'), JSON.stringify(result.checks))
  })
})

describe('simulated GPU reports under the verifier', () => {
  for (const arch of ARCHS) {
    test(`${arch}: chain, FWID, signature and nonce verify; without a policy, simulated evidence is refused`, async () => {
      const nonce = new Uint8Array(32).fill(0x3c)
      const { report, chain } = await createSimulatedGpu({ arch, deviceIndex: 1 }).getReport(nonce)
      const result = await verifyNvidiaGpu({ report, chain, nonce: toHex(nonce) }, { trust: SIMULATED_TRUST })
      for (const id of ['report.parse', 'chain', 'fwid', 'signature', 'nonce', 'trailing']) {
        assert.equal(result.checks.find((c) => c.id === id)?.status, 'pass', `${id}: ${JSON.stringify(result.checks)}`)
      }
      assert.deepEqual(codes(result), ['ERR_POLICY_SAMPLE_TEE'])
      assert.equal(result.claims?.simulated, true)
      assert.equal(result.claims?.arch, arch)

      const wrongNonce = await verifyNvidiaGpu({ report, chain, nonce: toHex(new Uint8Array(32)) }, { trust: SIMULATED_TRUST })
      assert.ok(codes(wrongNonce).includes('ERR_GPU_NONCE_MISMATCH'))
      const untrusted = await verifyNvidiaGpu({ report, chain }, { trust: { deviceRoots: [NVIDIA_DEVICE_IDENTITY_CA], rimRoots: [NVIDIA_RIM_ROOT_CA] } })
      assert.equal(untrusted.checks.find((c) => c.id === 'chain')?.status, 'fail')
    })
  }

  for (const arch of ARCHS) {
    test(`${arch}: the report's measurements match the RIMs' golden values; an override is a mismatch`, async () => {
      const compare = async (gpu: ReturnType<typeof createSimulatedGpu>) => {
        const parsed = parseGpuAttestationReport((await gpu.getReport(new Uint8Array(32))).report)
        const runtime = new Map(parsed.blocks.map((b) => [b.index, b.value]))
        const { driver, vbios } = gpu.rims()
        return compareGoldenMeasurements(
          runtime,
          { driver: parseRim(driver.xml), vbios: parseRim(vbios.xml) },
          { nvdec0Disabled: parsed.opaqueData.nvdec0Status === STATUS_DISABLED },
        )
      }
      const clean = await compare(createSimulatedGpu({ arch }))
      assert.deepEqual(clean.mismatches, [])
      assert.deepEqual(clean.conflicts, [])
      assert.equal(clean.compared.length, 33, 'driver 7 and 21–41 less 35, VBIOS 0–6 and 8–12')
      assert.ok(!clean.compared.includes(35))

      const tampered = await compare(createSimulatedGpu({ arch, measurementOverrides: { 22: new Uint8Array(48).fill(0xab) } }))
      assert.deepEqual(
        tampered.mismatches.map((m) => [m.index, m.source]),
        [[22, 'driver']],
      )
    })
  }
})

describe('simulated GPU evidence under the shipped policies', () => {
  const shipped = (name: string) => parsePolicy(readFileSync(fileURLToPath(new URL(`../policies/${name}`, import.meta.url)), 'utf8'), `policies/${name}`)
  for (const arch of ARCHS) {
    test(`${arch}: dev-simulated accepts report and RIMs with every golden value matched; production rejects`, async () => {
      const gpu = createSimulatedGpu({ arch })
      const nonce = new Uint8Array(32).fill(7)
      const { report, chain } = await gpu.getReport(nonce)
      const { driver, vbios } = gpu.rims()
      const input = { report, chain, nonce: toHex(nonce), rims: [driver, vbios] }
      const dev = await verifyNvidiaGpu(input, { policy: shipped('dev-simulated.yaml') })
      assert.equal(dev.verdict, 'accepted', JSON.stringify(dev.errors))
      assert.deepEqual(dev.claims?.rim?.mismatches, [])
      assert.equal(dev.claims?.rim?.driver?.id, driver.id)
      assert.equal(dev.claims?.rim?.vbios?.id, vbios.id)
      assert.equal(dev.checks.find((c) => c.id === 'measurements')?.status, 'pass')
      const production = await verifyNvidiaGpu(input, { policy: shipped('production.yaml') })
      assert.ok(codes(production).includes('ERR_POLICY_SAMPLE_TEE'), codes(production).join())
    })
  }
  test('a simulated RIM under a RIM service id for another VBIOS is refused', async () => {
    const gpu = createSimulatedGpu()
    const { report, chain } = await gpu.getReport(new Uint8Array(32))
    const { driver, vbios } = gpu.rims()
    const result = await verifyNvidiaGpu({ report, chain, rims: [driver, { ...vbios, id: vbios.id.replace('_0205_', '_0200_') }] }, { policy: shipped('dev-simulated.yaml') })
    assert.deepEqual(codes(result), ['ERR_RIM_VERSION_MISMATCH'])
  })
  test('firmware that differs from the golden values is named by index', async () => {
    // Overrides are keyed by RIM index: 8 is a VBIOS measurement (SPDM block 9).
    const gpu = createSimulatedGpu({ measurementOverrides: { 8: new Uint8Array(48).fill(0xee) } })
    const { report, chain } = await gpu.getReport(new Uint8Array(32))
    const result = await verifyNvidiaGpu({ report, chain, rims: [gpu.rims().driver, gpu.rims().vbios] }, { policy: shipped('dev-simulated.yaml') })
    assert.deepEqual(codes(result), ['ERR_GPU_MEASUREMENT_MISMATCH'])
    assert.match(result.errors[0]!.message, /index 8 \(vbios\): got e{96}, expected [0-9a-f]{96}/)
    assert.deepEqual(result.claims?.rim?.mismatches.map((m) => m.index), [8])
  })
  test('verifyRim accepts a simulated RIM only under a policy that allows simulated evidence', async () => {
    const xml = createSimulatedGpu().rims().driver.xml
    assert.deepEqual(codes(await verifyRim(xml)), ['ERR_POLICY_SAMPLE_TEE'])
    assert.equal((await verifyRim(xml, { policy: shipped('dev-simulated.yaml') })).verdict, 'accepted')
  })
})
