/** The device factories and the simulated devices behind the TEE interface. */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  createCpuTee,
  createGpuTee,
  TeeError,
  type CpuTeeKind,
  type GpuTeeKind,
  type TeeErrorCode,
} from '@vouch/enclave'
import { parseAttestationReport, parseGpuAttestationReport } from '@vouch/protocol'

const teeError = (code: TeeErrorCode) => (e: unknown): boolean => {
  assert.ok(e instanceof TeeError, String(e))
  assert.equal(e.code, code, e.message)
  return true
}

describe('createCpuTee', () => {
  test('simulated: the simulated PSP answers with REPORT_DATA, VCEK and chain', async () => {
    const tee = await createCpuTee('simulated', { product: 'Milan' })
    assert.equal(tee.kind, 'simulated')
    assert.equal(tee.platform, 'simulated')
    const reportData = new Uint8Array(64).fill(0x5a)
    const evidence = await tee.attest(reportData)
    const report = parseAttestationReport(evidence.report)
    assert.deepEqual(report.reportData, reportData)
    assert.equal(report.product, 'Milan')
    assert.match(new X509Certificate(evidence.vek).subject, /CN=SEV-VCEK/)
    assert.equal(evidence.chain.length, 2)
    assert.equal('crls' in evidence, false)
    await assert.rejects(tee.attest(new Uint8Array(63)), RangeError)
    await tee.close()
    await assert.rejects(tee.attest(reportData), teeError('ERR_TEE_CLOSED'))
  })

  test('an unknown kind is ERR_TEE_UNSUPPORTED', async () => {
    await assert.rejects(createCpuTee('tdx' as CpuTeeKind), teeError('ERR_TEE_UNSUPPORTED'))
  })
})

describe('createGpuTee', () => {
  test('simulated, three GPUs: one report each, all answering the nonce, each under its own device key', async () => {
    const tee = await createGpuTee('simulated', { count: 3, arch: 'BLACKWELL' })
    assert.equal(tee.kind, 'simulated')
    assert.equal(tee.count, 3)
    const nonce = new Uint8Array(32).fill(7)
    const evidence = await tee.attest(nonce)
    assert.equal(evidence.length, 3)
    for (const e of evidence) {
      assert.equal(e.arch, 'BLACKWELL')
      assert.deepEqual(parseGpuAttestationReport(e.report).request.nonce, nonce)
      assert.equal(e.chain.length, 5)
    }
    assert.equal(new Set(evidence.map((e) => Buffer.from(e.chain[0]!).toString('hex'))).size, 3)
    assert.equal(await tee.ready(), true)
    await tee.close()
    await assert.rejects(tee.attest(nonce), teeError('ERR_TEE_CLOSED'))
  })

  test('simulated defaults to one Hopper GPU; counts outside 1 to 8 are RangeErrors', async () => {
    const tee = await createGpuTee('simulated')
    assert.equal(tee.count, 1)
    assert.equal((await tee.attest(new Uint8Array(32)))[0]!.arch, 'HOPPER')
    await assert.rejects(createGpuTee('simulated', { count: 0 }), RangeError)
    await assert.rejects(createGpuTee('simulated', { count: 9 }), RangeError)
  })

  test('none: no GPU, an empty list, still checking the nonce', async () => {
    const tee = await createGpuTee('none')
    assert.equal(tee.kind, 'none')
    assert.equal(tee.count, 0)
    assert.deepEqual(await tee.attest(new Uint8Array(32)), [])
    await assert.rejects(tee.attest(new Uint8Array(16)), RangeError)
    assert.equal(await tee.ready(), true)
    await tee.close()
    await assert.rejects(tee.ready(), teeError('ERR_TEE_CLOSED'))
  })

  test('nvidia without the library is ERR_TEE_UNAVAILABLE; an unknown kind is ERR_TEE_UNSUPPORTED', async () => {
    await assert.rejects(createGpuTee('nvidia', { library: '/nonexistent/libnvidia-ml.so.1' }), teeError('ERR_TEE_UNAVAILABLE'))
    await assert.rejects(createGpuTee('amd' as GpuTeeKind), teeError('ERR_TEE_UNSUPPORTED'))
  })
})
