/**
 * The real-hardware TEE devices, run against fakes at the device boundary (DESIGN.md §8), hand the
 * verifier evidence it accepts: the SEV-SNP configfs-tsm device replaying real reports with the host's
 * certificate table, and the NVML device (through a fake libnvidia-ml.so built from C) replaying real
 * GPU reports and chains. Each replay asks for the REPORT_DATA or nonce the captured report carries, so
 * the devices' own binding checks stay on. Simulated hardware behind the same fakes verifies too.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { describe } from './helpers/suites.js'
import { fileURLToPath } from 'node:url'
import { createNvidiaNvmlTee, createSevSnpConfigfsTee } from '@vouch/enclave'
import { createSimulatedGpu, createSimulatedPsp, simulatedNvidiaDeviceRootSpkiSha256 } from '@vouch/enclave/simulated'
import { CERT_TABLE_GUID, composeCertTable, fromHex } from '@vouch/protocol'
import { parsePolicy, verifyNvidiaGpu, verifyNvidiaGpus, verifySevSnp, type NvidiaTrust, type Policy } from '@vouch/verifier'
import { buildFakeNvml, gccMissing, type FakeNvml } from '../enclave/test/tee/helpers/fake-nvml.js'
import { createFakeTsm, type FakeTsm } from '../enclave/test/tee/helpers/fake-tsm.js'
import { fixturesMissing, fixtureText } from '../verifier/test/helpers/fixtures.js'
import { loadGpuCases } from '../verifier/test/helpers/nvidia-cases.js'
import { chainFiles, loadSevSnpCases } from '../verifier/test/helpers/sev-snp-cases.js'

const devSimulated = (): Policy =>
  parsePolicy(readFileSync(fileURLToPath(new URL('../policies/dev-simulated.yaml', import.meta.url)), 'utf8'), 'policies/dev-simulated.yaml')
const der = (pem: string): Uint8Array => new Uint8Array(new X509Certificate(pem).raw)

/** The certificate table a host provisions: the VEK under its kind's GUID, ASK or ASVK, ARK. */
function certTable(signingKey: 'VCEK' | 'VLEK', vek: Uint8Array, chain: readonly [Uint8Array, Uint8Array]): Uint8Array {
  return composeCertTable([
    { guid: CERT_TABLE_GUID[signingKey], data: vek },
    { guid: CERT_TABLE_GUID.ASK, data: chain[0] },
    { guid: CERT_TABLE_GUID.ARK, data: chain[1] },
  ])
}

describe('SEV-SNP through configfs-tsm', () => {
  const fakes: FakeTsm[] = []
  after(() => fakes.forEach((f) => f.dispose()))

  describe('real reports replayed by the fake kernel verify', { skip: fixturesMissing('sev-snp') }, () => {
    const cases = fixturesMissing('sev-snp') ? [] : loadSevSnpCases().filter((c) => c.expected.authentic === true && c.input.vek !== undefined)
    for (const c of cases) {
      test(`${c.name} (${c.expected.product} ${c.expected.signingKey}, v${c.expected.reportVersion})`, async () => {
        const vek = c.input.vek as Uint8Array
        const [intermediate, ark] = chainFiles(c.expected.product!, c.expected.signingKey).map((f) => der(fixtureText(f)))
        const chain = [intermediate!, ark!] as const
        const tsm = createFakeTsm({ answer: () => ({ outblob: c.input.report, auxblob: certTable(c.expected.signingKey, vek, chain) }) })
        fakes.push(tsm)
        const tee = await createSevSnpConfigfsTee({ root: tsm.root, fs: tsm.fs })
        const evidence = await tee.attest(fromHex(c.expected.reportData, 'reportData', 64))
        assert.deepEqual(evidence.report, c.input.report)
        const result = await verifySevSnp({ report: evidence.report, vek: evidence.vek, chain: [...evidence.chain] }, { ...(c.at && { at: c.at }) })
        assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
        assert.deepEqual(result.errors, [])
        assert.equal(result.claims?.signingKey, c.expected.signingKey)
        assert.equal(result.claims?.simulated, false)
      })
    }
  })

  test('the simulated PSP behind the fake kernel: accepted by dev-simulated with the REPORT_DATA bound', async () => {
    const psp = createSimulatedPsp({ product: 'Turin' })
    const tsm = createFakeTsm({
      async answer(inblob) {
        const answer = await psp.getReport(inblob)
        return { outblob: answer.report, auxblob: certTable('VCEK', answer.vek, answer.chain) }
      },
    })
    fakes.push(tsm)
    const reportData = new Uint8Array(64).fill(0x3c)
    const evidence = await (await createSevSnpConfigfsTee({ root: tsm.root, fs: tsm.fs })).attest(reportData)
    const result = await verifySevSnp({ report: evidence.report, vek: evidence.vek, chain: [...evidence.chain] }, { policy: devSimulated(), reportData })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    assert.equal(result.claims?.product, 'Turin')
  })
})

describe('NVIDIA GPUs through NVML', { skip: gccMissing() }, () => {
  let fake: FakeNvml
  before(() => (fake = buildFakeNvml()))
  after(() => fake.dispose())

  describe('real reports replayed by the fake library verify', { skip: fixturesMissing('nvidia-gpu') }, () => {
    const cases = fixturesMissing('nvidia-gpu') ? [] : loadGpuCases().filter((c) => c.expected.authentic)
    for (const c of cases.filter((c) => !c.name.startsWith('hgx-'))) {
      test(`${c.name} (${c.expected.arch})`, async () => {
        fake.writeGpu(0, c.input.report, c.input.chain)
        fake.configure({ arch: c.expected.arch === 'BLACKWELL' ? 10 : 9 })
        const tee = await createNvidiaNvmlTee({ library: fake.library })
        try {
          const [evidence] = await tee.attest(fromHex(c.expected.nonce, 'nonce', 32))
          assert.equal(evidence!.arch, c.expected.arch)
          const result = await verifyNvidiaGpu({ report: evidence!.report, chain: evidence!.chain, nonce: c.expected.nonce })
          assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
          assert.deepEqual(result.errors, [])
          assert.equal(result.claims?.arch, c.expected.arch)
        } finally {
          await tee.close()
        }
      })
    }

    test('the eight GPUs of one HGX H100 node, attested together with their common nonce', async () => {
      const node = cases.filter((c) => c.name.startsWith('hgx-h100-ppcie-gpu')).sort((a, b) => a.name.localeCompare(b.name))
      assert.equal(node.length, 8)
      node.forEach((c, i) => fake.writeGpu(i, c.input.report, c.input.chain))
      fake.configure({ count: 8 })
      const tee = await createNvidiaNvmlTee({ library: fake.library })
      try {
        const nonce = node[0]!.expected.nonce
        const evidence = await tee.attest(fromHex(nonce, 'nonce', 32))
        const result = await verifyNvidiaGpus(evidence.map((e) => ({ report: e.report, chain: e.chain, nonce })))
        assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
        assert.equal(result.claims?.gpus.length, 8)
      } finally {
        await tee.close()
      }
    })
  })

  test('a simulated GPU behind the fake library: accepted under the simulated root with the nonce bound', async () => {
    const nonce = new Uint8Array(32).fill(0x6d)
    const { report, chain } = await createSimulatedGpu().getReport(nonce)
    fake.writeGpu(0, report, chain)
    fake.configure()
    const tee = await createNvidiaNvmlTee({ library: fake.library })
    try {
      const [evidence] = await tee.attest(nonce)
      const trust: NvidiaTrust = { deviceRoots: [{ name: 'NVIDIA Device Identity CA', spkiSha256: simulatedNvidiaDeviceRootSpkiSha256(), simulated: true }], rimRoots: [] }
      const result = await verifyNvidiaGpu({ report: evidence!.report, chain: evidence!.chain, nonce: Buffer.from(nonce).toString('hex') }, { trust, policy: devSimulated() })
      assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    } finally {
      await tee.close()
    }
  })
})
