/**
 * Every real GPU report in ../shared/fixtures gets its expected verdict and claims through the library
 * and `npx vouch-verify nvidia-gpu --json`; then each tampering is rejected with its own code.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { promisify } from 'node:util'
import { parseGpuAttestationReport } from '@vouch/protocol'
import { parsePolicy, verifyNvidiaGpu, verifyNvidiaGpus, type NvidiaGpuClaims, type NvidiaGpusClaims, type Result } from '@vouch/verifier'
import { FIXTURES_DIR, fixturesMissing, REPO_ROOT } from '../helpers/fixtures.js'
import { gpuClaimMismatches, loadGpuCases, type GpuCase } from '../helpers/nvidia-cases.js'

const skip = fixturesMissing('nvidia-gpu')
const cases = skip ? [] : loadGpuCases()
const byName = new Map(cases.map((c) => [c.name, c]))
const get = (name: string): GpuCase => byName.get(name)!
const codes = (r: { errors: Array<{ code: string }> }): string[] => r.errors.map((e) => e.code)
const pemBlocks = (pem: string): string[] => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g)!

function assertOutcome(c: GpuCase, result: Result<NvidiaGpuClaims | null>): void {
  if (c.expected.authentic) assert.deepEqual(result.errors, [])
  else assert.deepEqual(codes(result), ['ERR_GPU_FWID_MISMATCH', 'ERR_GPU_SIGNATURE_INVALID'])
  assert.equal(result.verdict, c.expected.authentic ? 'accepted' : 'rejected')
  assert.deepEqual(gpuClaimMismatches(result.claims, c.expected), [])
}

describe('GPU fixtures through the library', { skip }, () => {
  for (const c of cases) {
    test(c.name, async () => {
      const result = await verifyNvidiaGpu({ ...c.input, nonce: c.expected.nonce })
      assertOutcome(c, result)
      assert.equal(result.checks.find((k) => k.id === 'nonce')?.status, 'pass')
    })
  }
})

describe('GPU fixtures through `npx vouch-verify nvidia-gpu --json`', { skip }, () => {
  const run = promisify(execFile)
  for (const c of cases) {
    test(c.name, async () => {
      const args = ['--no-install', 'vouch-verify', 'nvidia-gpu', '--report', join(FIXTURES_DIR, c.files.report), '--chain', join(FIXTURES_DIR, c.files.chain), '--nonce', c.expected.nonce, '--json']
      const { code, stdout } = await run('npx', args, { cwd: REPO_ROOT }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      )
      assertOutcome(c, JSON.parse(stdout) as Result<NvidiaGpuClaims | null>)
      assert.equal(code, c.expected.authentic ? 0 : 1)
    })
  }
})

describe('tampering is rejected, each with its own code', { skip }, () => {
  const base = (): GpuCase => get('hopper-h100-580.159.03')

  test('the invalid-signature case: another GPU chain, so FWID and signature fail', async () => {
    const c = get('negative-invalid-signature')
    const result = await verifyNvidiaGpu(c.input)
    assert.deepEqual(codes(result), ['ERR_GPU_FWID_MISMATCH', 'ERR_GPU_SIGNATURE_INVALID'])
  })

  test('a wrong nonce', async () => {
    const result = await verifyNvidiaGpu({ ...base().input, nonce: '00'.repeat(32) })
    assert.deepEqual(codes(result), ['ERR_GPU_NONCE_MISMATCH'])
  })

  test('a chain with a certificate removed', async () => {
    const blocks = pemBlocks(base().input.chain)
    for (const removed of [0, 1, 2, 3, 4]) {
      const chain = blocks.filter((_, i) => i !== removed).join('')
      const result = await verifyNvidiaGpu({ ...base().input, chain })
      assert.equal(result.verdict, 'rejected')
      assert.equal(codes(result)[0], 'ERR_CHAIN_BROKEN', `certificate ${removed} removed: ${codes(result).join()}`)
    }
  })

  test("a chain with a certificate replaced by another GPU's", async () => {
    const ours = pemBlocks(base().input.chain)
    const theirs = pemBlocks(get('hgx-h100-ppcie-gpu0').input.chain)
    for (const replaced of [0, 1]) {
      const chain = ours.map((b, i) => (i === replaced ? theirs[i]! : b)).join('')
      const result = await verifyNvidiaGpu({ ...base().input, chain })
      assert.equal(result.verdict, 'rejected')
      assert.ok(['ERR_CHAIN_BROKEN', 'ERR_CHAIN_SIGNATURE_INVALID'].includes(codes(result)[0]!), `certificate ${replaced}: ${codes(result).join()}`)
    }
  })

  test('a chain whose root is not the pinned NVIDIA Device Identity CA', async () => {
    const result = await verifyNvidiaGpu(base().input, { trust: { deviceRoots: [], rimRoots: [] } })
    assert.deepEqual(codes(result), ['ERR_CHAIN_UNTRUSTED'])
  })

  test('a flipped byte anywhere in the signed region', async () => {
    const c = base()
    const signedLength = parseGpuAttestationReport(c.input.report).signed.length
    const seen = new Set<string>()
    for (let i = 0; i < signedLength; i++) {
      const report = Uint8Array.from(c.input.report)
      report[i]! ^= 0x01
      const result = await verifyNvidiaGpu({ ...c.input, report, nonce: c.expected.nonce })
      assert.equal(result.verdict, 'rejected', `byte ${i} flipped was accepted`)
      seen.add(codes(result).at(-1)!)
    }
    // A flip in the structure fails parsing; in the nonce, the nonce check; elsewhere, the signature.
    assert.deepEqual([...seen].filter((code) => !['ERR_SPDM_MALFORMED', 'ERR_GPU_SIGNATURE_INVALID', 'ERR_GPU_NONCE_MISMATCH', 'ERR_GPU_FWID_MISMATCH'].includes(code)), [])
    assert.ok(seen.has('ERR_GPU_SIGNATURE_INVALID'))
  })

  test('a flipped signature byte', async () => {
    const c = base()
    const report = Uint8Array.from(c.input.report)
    report[report.length - 1]! ^= 0x01
    assert.deepEqual(codes(await verifyNvidiaGpu({ ...c.input, report })), ['ERR_GPU_SIGNATURE_INVALID'])
  })

  test('bytes after the signature are reported as a warning and not trusted', async () => {
    const c = base()
    const report = Uint8Array.from([...c.input.report, 0x00, 0xff])
    const result = await verifyNvidiaGpu({ ...c.input, report })
    assert.equal(result.verdict, 'accepted')
    const trailing = result.checks.find((k) => k.id === 'trailing')!
    assert.equal(trailing.warning, true)
    assert.match(trailing.detail, /2 byte\(s\) after the signature are not covered by it/)
    assert.equal(result.claims?.trailingBytes, 2)
  })

  test('a truncated report', async () => {
    const c = base()
    assert.deepEqual(codes(await verifyNvidiaGpu({ ...c.input, report: c.input.report.subarray(0, 100) })), ['ERR_SPDM_MALFORMED'])
  })
})

describe('an HGX node: 8 GPUs', { skip }, () => {
  const hgx = (): GpuCase[] => cases.filter((c) => c.name.startsWith('hgx-h100-ppcie-gpu'))
  const policy = (count: number) =>
    parsePolicy(
      JSON.stringify({ version: 1, name: 'hgx', allowSimulated: false, nvidiaGpu: { required: true, count, allowedArchitectures: ['HOPPER'], requireRimMatch: false, requireOcsp: false, requireProtectedPcie: true } }),
      'hgx.json',
    )
  test('all 8 verify, in protected-PCIe mode, under a policy requiring 8', async () => {
    const inputs = hgx().map((c) => ({ ...c.input, nonce: c.expected.nonce }))
    assert.equal(inputs.length, 8)
    const result: Result<NvidiaGpusClaims> = await verifyNvidiaGpus(inputs, { policy: policy(8) })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    assert.equal(result.claims.gpus.length, 8)
    assert.ok(result.claims.gpus.every((g) => g?.protectedPcie === true && g.mode === 'ppcie'))
    assert.equal(new Set(result.claims.gpus.map((g) => g?.ueid)).size, 8)
  })
  test('a policy requiring 8 GPUs rejects 7', async () => {
    const inputs = hgx().slice(0, 7).map((c) => c.input)
    const result = await verifyNvidiaGpus(inputs, { policy: policy(8) })
    assert.deepEqual(codes(result), ['ERR_POLICY_GPU_COUNT'])
    assert.match(result.errors[0]!.message, /7 GPU\(s\) attested; the policy requires exactly 8/)
  })
  test('the CLI takes --report/--chain pairs', async () => {
    const run = promisify(execFile)
    const args = ['--no-install', 'vouch-verify', 'nvidia-gpu', '--json']
    for (const c of hgx()) args.push('--report', join(FIXTURES_DIR, c.files.report), '--chain', join(FIXTURES_DIR, c.files.chain))
    const { stdout } = await run('npx', args, { cwd: REPO_ROOT })
    const result = JSON.parse(stdout) as Result<NvidiaGpusClaims>
    assert.equal(result.verdict, 'accepted')
    assert.equal(result.claims.gpus.length, 8)
  })
})
