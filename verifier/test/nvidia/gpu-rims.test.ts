/**
 * A real H100 report with its real driver and VBIOS RIMs (hopper-h100-545.00-with-rims), through the
 * library and the CLI: every active golden value matches at rimVerifyAt; another version's RIM, a
 * changed measurement and the negative RIMs are each rejected for their own reason.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { promisify } from 'node:util'
import { parseGpuAttestationReport } from '@vouch/protocol'
import { verifyNvidiaGpu, type NvidiaGpuClaims, type Result } from '@vouch/verifier'
import { FIXTURES_DIR, fixturesMissing, fixtureText, REPO_ROOT } from '../helpers/fixtures.js'
import { loadGpuCases, type GpuCase } from '../helpers/nvidia-cases.js'

const skip = fixturesMissing('nvidia-gpu')
const dir = 'nvidia-gpu/cases/hopper-h100-545.00-with-rims'
const DRIVER = `${dir}/Driver_RIM_test_no_gpu.swidtag`
const VBIOS = `${dir}/1010_0200_882_96005E0001_test_no_gpu.swidtag`
const codes = (r: { errors: Array<{ code: string }> }): string[] => r.errors.map((e) => e.code)
const run = promisify(execFile)

async function cli(...args: string[]): Promise<{ code: number; result: Result<unknown> }> {
  const { code, stdout } = await run('npx', ['--no-install', 'vouch-verify', ...args, '--json'], { cwd: REPO_ROOT }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  )
  return { code, result: JSON.parse(stdout) as Result<unknown> }
}

describe('hopper-h100-545.00-with-rims with its RIMs', { skip }, () => {
  const c = (): GpuCase => loadGpuCases().find((k) => k.name === 'hopper-h100-545.00-with-rims')!
  const at = (): Date => new Date(c().expected.rimVerifyAt!)
  const rims = (): string[] => [fixtureText(DRIVER), fixtureText(VBIOS)]

  test('at rimVerifyAt every active golden value matches and the result is accepted', async () => {
    const result = await verifyNvidiaGpu({ ...c().input, nonce: c().expected.nonce, rims: rims() }, { at: at() })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    assert.deepEqual(result.claims?.rim?.mismatches, [])
    assert.equal(result.claims?.rim?.driver?.version, '545.00')
    assert.equal(result.claims?.rim?.vbios?.version, '96.00.5E.00.01')
    assert.match(result.checks.find((k) => k.id === 'measurements')!.detail, /all 32 active golden measurements .* match \(index 35 skipped: NVDEC0 disabled\)/)
  })

  test('the same through `npx vouch-verify nvidia-gpu --rim --rim --at`', async () => {
    const { code, result } = await cli('nvidia-gpu', '--report', join(FIXTURES_DIR, c().files.report), '--chain', join(FIXTURES_DIR, c().files.chain), '--rim', join(FIXTURES_DIR, DRIVER), '--rim', join(FIXTURES_DIR, VBIOS), '--at', c().expected.rimVerifyAt!)
    assert.equal(code, 0, JSON.stringify(result.errors))
    assert.deepEqual((result.claims as NvidiaGpuClaims).rim?.mismatches, [])
  })

  test('at the real clock the RIM signing certificates have expired', async () => {
    const result = await verifyNvidiaGpu({ ...c().input, rims: rims() })
    assert.deepEqual([...new Set(codes(result))], ['ERR_CHAIN_EXPIRED'])
    assert.ok(result.checks.some((k) => k.id === 'rim.driver.validity' && k.status === 'fail'))
  })

  test('a RIM for another driver version is rejected', async () => {
    const other = fixtureText('nvidia-gpu/rims/NV_GPU_DRIVER_GH100_550.144.03.xml')
    const result = await verifyNvidiaGpu({ ...c().input, rims: [other, fixtureText(VBIOS)] }, { at: new Date('2025-06-01T00:00:00Z') })
    assert.deepEqual(codes(result), ['ERR_RIM_VERSION_MISMATCH'])
    assert.match(result.errors[0]!.message, /550\.144\.03.*545\.00/)
  })

  test('a measurement changed in the report is rejected and its index named', async () => {
    const report = Uint8Array.from(c().input.report)
    const parsed = parseGpuAttestationReport(report)
    const block = parsed.blocks.find((b) => b.index === 23)! // RIM index 22, active in the driver RIM
    report[block.value.byteOffset - report.byteOffset]! ^= 0xff
    const result = await verifyNvidiaGpu({ ...c().input, report, rims: rims() }, { at: at() })
    assert.ok(codes(result).includes('ERR_GPU_MEASUREMENT_MISMATCH'), codes(result).join())
    assert.ok(codes(result).includes('ERR_GPU_SIGNATURE_INVALID'), 'the change also breaks the signature')
    assert.match(result.errors.find((e) => e.code === 'ERR_GPU_MEASUREMENT_MISMATCH')!.message, /index 22 \(driver\)/)
    assert.deepEqual(result.claims?.rim?.mismatches.map((m) => m.index), [22])
  })

  test('a RIM service id that names another project or SKU is rejected', async () => {
    const result = await verifyNvidiaGpu({ ...c().input, rims: [fixtureText(DRIVER), { id: 'NV_GPU_VBIOS_1010_0210_882_96005E0001', xml: fixtureText(VBIOS) }] }, { at: at() })
    assert.deepEqual(codes(result), ['ERR_RIM_VERSION_MISMATCH'])
  })
})

describe('the RIMs in nvidia-gpu/rims through `npx vouch-verify rim`', { skip }, () => {
  test('the genuine 550.144.03 driver RIM verifies while its certificates are valid', async () => {
    const { code } = await cli('rim', join(FIXTURES_DIR, 'nvidia-gpu/rims/NV_GPU_DRIVER_GH100_550.144.03.xml'), '--at', '2025-06-01T00:00:00Z')
    assert.equal(code, 0)
  })
  test('negative-bad-signature-driver-rim.xml is rejected for its signature', async () => {
    const { code, result } = await cli('rim', join(FIXTURES_DIR, 'nvidia-gpu/rims/negative-bad-signature-driver-rim.xml'), '--at', '2025-06-01T00:00:00Z')
    assert.equal(code, 1)
    assert.deepEqual(codes(result), ['ERR_RIM_SIGNATURE_INVALID'])
  })
  test('negative-bad-chain-vbios-rim.xml is rejected for its chain (a debug root, a missing link)', async () => {
    const { code, result } = await cli('rim', join(FIXTURES_DIR, 'nvidia-gpu/rims/negative-bad-chain-vbios-rim.xml'), '--at', '2025-06-01T00:00:00Z')
    assert.equal(code, 1)
    assert.deepEqual(codes(result), ['ERR_CHAIN_UNTRUSTED', 'ERR_CHAIN_BROKEN'])
  })
})
