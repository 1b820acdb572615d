/**
 * Evidence bundles built by the enclave's evidence service through the real-hardware devices, against
 * fakes at the device boundary that replay real evidence (DESIGN.md §8): configfs-tsm with a real
 * SEV-SNP report and its host certificate table, NVML (a fake libnvidia-ml.so built from C) with a real
 * H100 report and chain. A replay cannot answer this keyset's binding, so the whole bundle is rejected
 * for exactly that (ERR_REPORT_BINDING_MISMATCH, and the GPU nonce); its real parts verify on their own.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { after, before, test } from 'node:test'
import { describe } from './helpers/suites.js'
import { createNvidiaNvmlTee, createSevSnpConfigfsTee } from '@vouch/enclave'
import { CERT_TABLE_GUID, composeCertTable, decodeBundle } from '@vouch/protocol'
import { verifyBundle, verifyNvidiaGpu, verifySevSnp } from '@vouch/verifier'
import { EvidenceService } from '../enclave/src/service/evidence.js'
import { generateKeyset } from '../enclave/src/service/keys.js'
import { buildFakeNvml, gccMissing, type FakeNvml } from '../enclave/test/tee/helpers/fake-nvml.js'
import { createFakeTsm, type FakeTsm } from '../enclave/test/tee/helpers/fake-tsm.js'
import { fixturesMissing, fixtureText } from '../verifier/test/helpers/fixtures.js'
import { loadGpuCases } from '../verifier/test/helpers/nvidia-cases.js'
import { chainFiles, loadSevSnpCases } from '../verifier/test/helpers/sev-snp-cases.js'

const skip = fixturesMissing('sev-snp') || fixturesMissing('nvidia-gpu') || gccMissing()
const der = (pem: string): Uint8Array => new Uint8Array(new X509Certificate(pem).raw)
const MODELS = [
  {
    name: 'ppocr-cls',
    version: '2.0',
    digest: `sha256:${'ab'.repeat(32)}`,
    manifest: { name: 'ppocr-cls', version: '2.0', sha256: 'ab'.repeat(32), publisher: 'npm:test', license: 'Apache-2.0', contributors: [{ role: 'publisher', id: 'npm:test', name: 'Test' }] },
    knownAnswer: null,
  },
]

describe('bundles from the configfs-tsm and NVML devices replaying real evidence', { skip }, () => {
  let tsm: FakeTsm
  let nvml: FakeNvml
  before(() => {
    nvml = buildFakeNvml()
  })
  after(() => {
    tsm?.dispose()
    nvml?.dispose()
  })

  test('the bundle carries the real report and chain; its real parts verify, its binding cannot', async () => {
    const sev = loadSevSnpCases().find((c) => c.name === 'oak-turin_oc')!
    const gpu = loadGpuCases().find((c) => c.name === 'hopper-h100-580.159.03')!
    const [ask, ark] = chainFiles('turin', 'VCEK').map((f) => der(fixtureText(f)))
    tsm = createFakeTsm({
      answer: () => ({
        outblob: sev.input.report,
        auxblob: composeCertTable([
          { guid: CERT_TABLE_GUID.VCEK, data: sev.input.vek as Uint8Array },
          { guid: CERT_TABLE_GUID.ASK, data: ask! },
          { guid: CERT_TABLE_GUID.ARK, data: ark! },
        ]),
      }),
    })
    nvml.configure({ count: 1, arch: 9 })
    nvml.writeGpu(0, gpu.input.report, gpu.input.chain)
    // A replay cannot answer the REPORT_DATA and nonce this keyset asks for: the devices' own checks are
    // turned off for it, and the verifier must catch the mismatch instead.
    const cpu = await createSevSnpConfigfsTee({ root: tsm.root, fs: tsm.fs, expectReportData: false })
    const gpus = await createNvidiaNvmlTee({ library: nvml.library, expectNonce: false })
    try {
      const evidence = new EvidenceService(cpu, gpus, generateKeyset(), MODELS)
      const built = await evidence.challenged(new Uint8Array(32).fill(1))
      const bundle = decodeBundle(built.bytes)
      assert.equal(bundle.platform, 'sev-snp')
      assert.deepEqual(bundle.cpu.report, sev.input.report)
      assert.deepEqual(bundle.gpus[0]!.report, gpu.input.report)
      assert.equal(bundle.gpus[0]!.arch, 'HOPPER')

      const cpuResult = await verifySevSnp({ report: bundle.cpu.report, vek: bundle.cpu.vek, chain: [...bundle.cpu.chain] }, { at: sev.at! })
      assert.equal(cpuResult.verdict, 'accepted', JSON.stringify(cpuResult.errors))
      const gpuResult = await verifyNvidiaGpu({ report: bundle.gpus[0]!.report, chain: [...bundle.gpus[0]!.chain], nonce: gpu.expected.nonce })
      assert.equal(gpuResult.verdict, 'accepted', JSON.stringify(gpuResult.errors))

      const whole = await verifyBundle(built.bytes, { at: sev.at! })
      const codes = new Set(whole.errors.map((e) => e.code))
      assert.deepEqual([...codes].sort(), ['ERR_GPU_NONCE_MISMATCH', 'ERR_REPORT_BINDING_MISMATCH'])
    } finally {
      await gpus.close()
      await cpu.close()
    }
  })
})
