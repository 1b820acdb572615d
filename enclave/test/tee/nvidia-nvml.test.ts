/**
 * The NVML device against a fake libnvidia-ml.so compiled from C here (fake-nvml/fake_nvml.c): the
 * whole koffi path (init, CC state, count, handles, architecture, report with the nonce as input,
 * certificate chain, ready state, shutdown) on the header's struct layouts, answering with the
 * simulated GPU and replaying real reports, and every failure mapped to its code.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import koffi from 'koffi'
import { createGpuTee, createNvidiaNvmlTee, TeeError, type NvidiaNvmlOptions, type TeeErrorCode } from '@vouch/enclave'
import { createSimulatedGpu } from '@vouch/enclave/simulated'
import { fixtureBytes, fixturesMissing, fixtureText } from '../../../verifier/test/helpers/fixtures.js'
import { buildFakeNvml, gccMissing, type FakeNvml } from './helpers/fake-nvml.js'

const teeError = (code: TeeErrorCode, message?: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof TeeError, String(e))
  assert.equal(e.code, code, e.message)
  if (message) assert.match(e.message, message)
  return true
}
const nonce = (byte: number): Uint8Array => new Uint8Array(32).fill(byte)
const pemBlocks = (pem: string): Uint8Array[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map(
    (b) => new Uint8Array(Buffer.from(b.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, ''), 'base64')),
  )

const skip = gccMissing()

describe('NVML through the fake library', { skip }, () => {
  let fake: FakeNvml
  // The test's own handle keeps the library loaded between devices, so its counters persist.
  let initCount: () => number
  let reportCalls: () => number
  const open = (options: NvidiaNvmlOptions = {}) => createNvidiaNvmlTee({ library: fake.library, ...options })

  before(() => {
    fake = buildFakeNvml()
    const lib = koffi.load(fake.library)
    initCount = lib.func('int fake_nvml_init_count()') as () => number
    reportCalls = lib.func('int fake_nvml_report_calls()') as () => number
  })
  after(() => fake.dispose())

  test('a simulated H100 answers the nonce: report, chain and architecture come through, the nonce went in', async () => {
    const gpu = createSimulatedGpu()
    const asked = nonce(0x11)
    const { report, chain } = await gpu.getReport(asked)
    fake.writeGpu(0, report, chain)
    fake.configure()
    const tee = await open()
    assert.equal(tee.kind, 'nvidia')
    assert.equal(tee.count, 1)
    assert.deepEqual(tee.architectures, ['HOPPER'])
    assert.deepEqual(tee.state, { environment: 'production', ccFeature: true, devToolsMode: false })
    const [evidence, ...rest] = await tee.attest(asked)
    assert.deepEqual(rest, [])
    assert.deepEqual(evidence, { arch: 'HOPPER', report, chain })
    assert.deepEqual(new Uint8Array(readFileSync(join(fake.dir, 'nonce-0.bin'))), asked)
    assert.equal(await tee.ready(), true)
    await tee.close()
    assert.equal(initCount(), 0)
  })

  test('a report answering another nonce is ERR_TEE_REPORT_INVALID, unless expectNonce is false', async () => {
    const { report, chain } = await createSimulatedGpu().getReport(nonce(0x22))
    fake.writeGpu(0, report, chain)
    fake.configure()
    const strict = await open()
    await assert.rejects(strict.attest(nonce(0x33)), teeError('ERR_TEE_REPORT_INVALID'))
    await strict.close()
    const replay = await open({ expectNonce: false })
    assert.deepEqual((await replay.attest(nonce(0x33)))[0]!.report, report)
    await replay.close()
  })

  test('Blackwell is architecture 10; DevTools mode and the ready state are reported', async () => {
    const gpu = createSimulatedGpu({ arch: 'BLACKWELL' })
    const { report, chain } = await gpu.getReport(nonce(1))
    fake.writeGpu(0, report, chain)
    fake.configure({ arch: 10, devtools: 1, ready: 0 })
    const tee = await createGpuTee('nvidia', { library: fake.library })
    assert.deepEqual((await tee.attest(nonce(1)))[0]!.arch, 'BLACKWELL')
    assert.equal((tee as Awaited<ReturnType<typeof open>>).state.devToolsMode, true)
    assert.equal(await tee.ready(), false)
    await tee.close()
  })

  test('several GPUs: each is asked the same nonce and answers in index order', async () => {
    const asked = nonce(0x44)
    const gpus = await Promise.all([0, 1, 2].map((deviceIndex) => createSimulatedGpu({ deviceIndex }).getReport(asked)))
    gpus.forEach((g, i) => fake.writeGpu(i, g.report, g.chain))
    fake.configure({ count: 3 })
    const tee = await open()
    assert.equal(tee.count, 3)
    const evidence = await tee.attest(asked)
    assert.deepEqual(evidence.map((e) => e.report), gpus.map((g) => g.report))
    assert.deepEqual(evidence.map((e) => e.chain[0]), gpus.map((g) => g.chain[0]))
    for (const i of [0, 1, 2]) assert.deepEqual(new Uint8Array(readFileSync(join(fake.dir, `nonce-${i}.bin`))), asked)
    await tee.close()
  })

  test('close waits for a request in flight, calls nvmlShutdown once, and later calls are ERR_TEE_CLOSED', async () => {
    const { report, chain } = await createSimulatedGpu().getReport(nonce(5))
    fake.writeGpu(0, report, chain)
    fake.configure()
    const tee = await open()
    assert.equal(initCount(), 1)
    const calls = reportCalls()
    const inFlight = tee.attest(nonce(5))
    const closing = tee.close()
    assert.equal((await inFlight).length, 1)
    await closing
    await tee.close()
    assert.equal(reportCalls(), calls + 1)
    assert.equal(initCount(), 0)
    await assert.rejects(tee.attest(nonce(5)), teeError('ERR_TEE_CLOSED'))
    await assert.rejects(tee.ready(), teeError('ERR_TEE_CLOSED'))
  })

  test('a nonce of another size is a RangeError', async () => {
    fake.configure()
    const tee = await open()
    await assert.rejects(tee.attest(new Uint8Array(31)), RangeError)
    await tee.close()
  })

  describe('failures at creation, each shutting NVML down again', () => {
    const cases: Array<{ name: string; config: Parameters<FakeNvml['configure']>[0]; code: TeeErrorCode; message: RegExp }> = [
      { name: 'nvmlInit_v2 fails (driver not loaded)', config: { fail: 'nvmlInit_v2:9' }, code: 'ERR_TEE_UNAVAILABLE', message: /nvmlInit_v2 returned 9 \(NVML_ERROR_DRIVER_NOT_LOADED\)/ },
      { name: 'the CC state cannot be read', config: { fail: 'nvmlSystemGetConfComputeState:3' }, code: 'ERR_TEE_REQUEST_FAILED', message: /nvmlSystemGetConfComputeState returned 3 \(NVML_ERROR_NOT_SUPPORTED\)/ },
      { name: 'CC is off', config: { cc: 0 }, code: 'ERR_TEE_UNSUPPORTED', message: /ccFeature 0/ },
      { name: 'no GPU', config: { count: 0 }, code: 'ERR_TEE_UNAVAILABLE', message: /no GPU/ },
      { name: 'the count fails', config: { fail: 'nvmlDeviceGetCount_v2:999' }, code: 'ERR_TEE_REQUEST_FAILED', message: /nvmlDeviceGetCount_v2 returned 999 \(NVML_ERROR_UNKNOWN\)/ },
      { name: 'a handle fails', config: { fail: 'nvmlDeviceGetHandleByIndex_v2:15' }, code: 'ERR_TEE_REQUEST_FAILED', message: /nvmlDeviceGetHandleByIndex_v2\(0\) returned 15 \(NVML_ERROR_GPU_IS_LOST\)/ },
      { name: 'the architecture fails', config: { fail: 'nvmlDeviceGetArchitecture:4' }, code: 'ERR_TEE_REQUEST_FAILED', message: /nvmlDeviceGetArchitecture\(0\) returned 4/ },
      { name: 'an Ampere GPU (architecture 7)', config: { arch: 7 }, code: 'ERR_TEE_UNSUPPORTED', message: /architecture 7/ },
    ]
    for (const c of cases) {
      test(`${c.name}: ${c.code}`, async () => {
        fake.configure(c.config)
        await assert.rejects(open(), teeError(c.code, c.message))
        assert.equal(initCount(), 0)
      })
    }
  })

  describe('failures while attesting', () => {
    test('the report or certificate call fails: ERR_TEE_REQUEST_FAILED naming the function and code', async () => {
      const { report, chain } = await createSimulatedGpu().getReport(nonce(6))
      fake.writeGpu(0, report, chain)
      for (const [fn, rc] of [
        ['nvmlDeviceGetConfComputeGpuAttestationReport', 3],
        ['nvmlDeviceGetConfComputeGpuCertificate', 6],
        ['nvmlSystemGetConfComputeGpusReadyState', 27],
      ] as const) {
        fake.configure({ fail: `${fn}:${rc}` })
        const tee = await open()
        const call = fn === 'nvmlSystemGetConfComputeGpusReadyState' ? tee.ready() : tee.attest(nonce(6))
        await assert.rejects(call, teeError('ERR_TEE_REQUEST_FAILED', new RegExp(`${fn}(\\(0\\))? returned ${rc} `)))
        await tee.close()
      }
    })

    test('an attestationReportSize out of range is ERR_TEE_REPORT_INVALID', async () => {
      const { report, chain } = await createSimulatedGpu().getReport(nonce(7))
      fake.writeGpu(0, report, chain)
      for (const reportSize of [0x2001, 37, 0]) {
        fake.configure({ reportSize })
        const tee = await open({ expectNonce: false })
        await assert.rejects(tee.attest(nonce(7)), teeError('ERR_TEE_REPORT_INVALID'), String(reportSize))
        await tee.close()
      }
    })

    test('a certificate chain without a PEM certificate is ERR_TEE_CERTS_MISSING', async () => {
      const { report } = await createSimulatedGpu().getReport(nonce(8))
      fake.writeGpu(0, report, '')
      fake.configure()
      const tee = await open()
      await assert.rejects(tee.attest(nonce(8)), teeError('ERR_TEE_CERTS_MISSING'))
      await tee.close()
    })
  })

  test('a library that is missing, or lacks the NVML symbols, is ERR_TEE_UNAVAILABLE', async () => {
    await assert.rejects(createNvidiaNvmlTee({ library: join(fake.dir, 'absent.so') }), teeError('ERR_TEE_UNAVAILABLE', /cannot load/))
    await assert.rejects(createNvidiaNvmlTee({ library: 'libc.so.6' }), teeError('ERR_TEE_UNAVAILABLE', /lacks the confidential-computing API/))
  })

  describe('replaying real reports', { skip: fixturesMissing('nvidia-gpu') }, () => {
    test('the eight GPUs of the HGX H100 node: reports and chains flow through unchanged, in order', async () => {
      const cases = Array.from({ length: 8 }, (_, i) => `nvidia-gpu/cases/hgx-h100-ppcie-gpu${i}`)
      cases.forEach((dir, i) => fake.writeGpu(i, fixtureBytes(dir, 'report.bin'), fixtureText(dir, 'chain.pem')))
      fake.configure({ count: 8 })
      const strict = await open()
      // A captured report's nonce is fixed by its signature: the default check refuses it.
      await assert.rejects(strict.attest(nonce(9)), teeError('ERR_TEE_REPORT_INVALID'))
      await strict.close()
      const tee = await open({ expectNonce: false })
      const evidence = await tee.attest(nonce(9))
      assert.equal(evidence.length, 8)
      evidence.forEach((e, i) => {
        assert.equal(e.arch, 'HOPPER')
        assert.deepEqual(e.report, fixtureBytes(cases[i]!, 'report.bin'))
        assert.deepEqual(e.chain, pemBlocks(fixtureText(cases[i]!, 'chain.pem')))
        assert.equal(e.chain.length, 5)
      })
      await tee.close()
    })

    test('Blackwell B200: the largest real chain (4902 bytes of PEM) fits the 0x1400-byte buffer', async () => {
      const dir = 'nvidia-gpu/cases/blackwell-gb100-575.32'
      const pem = fixtureText(dir, 'chain.pem')
      assert.ok(Buffer.byteLength(pem) <= 0x1400)
      fake.writeGpu(0, fixtureBytes(dir, 'report.bin'), pem)
      fake.configure({ arch: 10 })
      const tee = await open({ expectNonce: false })
      const [evidence] = await tee.attest(nonce(1))
      assert.equal(evidence!.arch, 'BLACKWELL')
      assert.deepEqual(evidence!.chain, pemBlocks(pem))
      await tee.close()
    })
  })
})
