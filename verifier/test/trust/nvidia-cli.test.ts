/**
 * `vouch-verify trust fetch --gpu-report --gpu-chain` in process, against the fake NVIDIA services
 * serving the real RIMs of the 545.00 case.
 */
import 'reflect-metadata'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { main } from '../../src/cli/main.js'
import type { NvidiaCollateralSummary } from '../../src/trust/nvidia.js'
import { FakeNvidia } from '../helpers/fake-nvidia.js'
import { FIXTURES_DIR, fixturesMissing } from '../helpers/fixtures.js'

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, (t) => out.push(t), (t) => err.push(t))
  return { code, out: out.join('\n'), err: err.join('\n') }
}

describe('vouch-verify trust fetch --gpu-report', { skip: fixturesMissing('nvidia-gpu') }, () => {
  let fake: FakeNvidia
  let dir: string
  const gpu = join(FIXTURES_DIR, 'nvidia-gpu/cases/hopper-h100-545.00-with-rims')
  const args = (): string[] => [
    'trust',
    'fetch',
    '--gpu-report',
    join(gpu, 'report.bin'),
    '--gpu-chain',
    join(gpu, 'chain.pem'),
    '--rim-url',
    fake.rimUrl,
    '--ocsp-url',
    fake.ocspUrl,
    '--trust-dir',
    join(dir, 'trust'),
    '--interval',
    '0',
  ]
  before(async () => {
    fake = await FakeNvidia.start()
    dir = mkdtempSync(join(tmpdir(), 'vouch-nvidia-cli-'))
  })
  after(async () => {
    await fake.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('--no-ocsp: both RIMs fetched, exit 0, the expired signers noted', async () => {
    const { code, out, err } = await run(...args(), '--no-ocsp')
    assert.equal(code, 0, out + err)
    assert.match(out, /^vouch-verify trust fetch \(NVIDIA\): OK {2}\(2 fetched, 0 cached, 0 failed; 2 requests\)/)
    assert.match(out, /fetched {2}nvidia\/rims\/NV_GPU_DRIVER_GH100_545\.00\.xml +version 545\.00, signed by "HCC RIM L4 Signer" \(certificate expired 2025-/)
    assert.match(out, /fetched {2}nvidia\/rims\/NV_GPU_VBIOS_1010_0200_882_96005E0001\.xml +version 96\.00\.5E\.00\.01/)
    assert.match(out, /notes:\n {2}RIM NV_GPU_DRIVER_GH100_545\.00: a certificate of its signing chain expired/)
    assert.match(err, /GET http:\/\/127\.0\.0\.1:\d+\/v1\/rim\/NV_GPU_DRIVER_GH100_545\.00/)
  })

  test('--json on a second run: served from the cache', async () => {
    const { code, out } = await run(...args(), '--no-ocsp', '--json')
    assert.equal(code, 0)
    const summary = JSON.parse(out) as NvidiaCollateralSummary
    assert.deepEqual(summary.items.map((i) => `${i.kind}:${i.status}`), ['rim:cached', 'rim:cached'])
    assert.equal(summary.requests, 0)
  })

  test('with OCSP: a responder that cannot answer for NVIDIA\'s certificates makes the run incomplete (exit 1)', async () => {
    const { code, out } = await run(...args())
    assert.equal(code, 1)
    assert.match(out, /^vouch-verify trust fetch \(NVIDIA\): INCOMPLETE {2}\(0 fetched, 2 cached, 7 failed; 7 requests\)/)
    assert.match(out, /FAILED +nvidia\/ocsp\/[0-9a-f]{64}\.der +\[OCSP GPU 0 device chain\] OCSP response about "GH100 A01 GSP BROM": the OCSP responder answered "unauthorized"/)
    assert.match(out, /\[ERR_OCSP_UNSUCCESSFUL\] http:\/\/127\.0\.0\.1:\d+\//)
  })

  test('then `nvidia-gpu --trust-dir` takes the cached RIMs and matches every golden value', async () => {
    const { code, out, err } = await run('nvidia-gpu', '--report', join(gpu, 'report.bin'), '--chain', join(gpu, 'chain.pem'), '--trust-dir', join(dir, 'trust'), '--at', '2024-06-01T00:00:00Z', '--json')
    assert.equal(code, 0, out + err)
    const result = JSON.parse(out) as { claims: { rim?: { driver: { id: string }; vbios: { id: string }; mismatches: unknown[] } } }
    assert.equal(result.claims.rim?.driver.id, 'NV_GPU_DRIVER_GH100_545.00')
    assert.equal(result.claims.rim?.vbios.id, 'NV_GPU_VBIOS_1010_0200_882_96005E0001')
    assert.deepEqual(result.claims.rim?.mismatches, [])
    const without = await run('nvidia-gpu', '--report', join(gpu, 'report.bin'), '--chain', join(gpu, 'chain.pem'), '--no-trust-dir', '--json')
    assert.equal((JSON.parse(without.out) as { claims: { rim?: unknown } }).claims.rim, undefined)
  })

  const usage: Array<{ name: string; argv: string[]; message: RegExp }> = [
    { name: 'a report without its chain', argv: ['trust', 'fetch', '--gpu-report', 'r.bin'], message: /give one --gpu-chain per --gpu-report \(got 1 reports and 0 chains\)/ },
    { name: 'nothing to fetch', argv: ['trust', 'fetch'], message: /nothing to fetch: give --report FILE, --product NAME or --gpu-report FILE --gpu-chain FILE/ },
    { name: 'a bad --rim-url', argv: ['trust', 'fetch', '--gpu-report', 'r', '--gpu-chain', 'c', '--rim-url', 'ftp://x'], message: /--rim-url ftp:\/\/x: must be an http\(s\) URL/ },
    { name: 'an unreadable report', argv: ['trust', 'fetch', '--gpu-report', '/nonexistent/r.bin', '--gpu-chain', 'c'], message: /--gpu-report \/nonexistent\/r\.bin: cannot read \(no such file\)/ },
  ]
  for (const u of usage) {
    test(`usage error: ${u.name} (exit 2)`, async () => {
      const { code, err } = await run(...u.argv)
      assert.equal(code, 2)
      assert.match(err, u.message)
    })
  }

  test('--help documents the NVIDIA options', async () => {
    const { code, out } = await run('trust', '--help')
    assert.equal(code, 0)
    for (const flag of ['--gpu-report FILE', '--gpu-chain FILE', '--rim-url URL', '--ocsp-url URL', '--no-ocsp']) assert.ok(out.includes(flag), flag)
  })
})
