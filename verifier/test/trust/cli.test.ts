/**
 * End to end through the CLI, in process: `vouch-verify trust fetch` fills a trust directory from a
 * fake KDS, and `vouch-verify sev-snp --trust-dir` verifies with it, without --vek or --chain.
 */
import 'reflect-metadata'
import assert from 'node:assert/strict'
import { webcrypto } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import * as x509 from '@peculiar/x509'
import type { Result, SevSnpClaims } from '@vouch/verifier'
import type { CollateralSummary } from '@vouch/verifier/trust'
import { main } from '../../src/cli/main.js'
import { FakeKds } from '../helpers/fake-kds.js'
import { FIXTURES_DIR, fixturesMissing } from '../helpers/fixtures.js'

const skip = fixturesMissing('sev-snp')

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, (t) => out.push(t), (t) => err.push(t))
  return { code, out: out.join('\n'), err: err.join('\n') }
}

function check(result: Result<SevSnpClaims | null>, id: string): { status: string; detail: string } | undefined {
  return result.checks.find((c) => c.id === id)
}

describe('vouch-verify trust fetch, then sev-snp --trust-dir', { skip }, () => {
  let kds: FakeKds
  let dir: string
  const turin = join(FIXTURES_DIR, 'sev-snp/cases/oak-turin_oc')
  const turinAt = '2025-07-18T17:04:46Z'
  before(async () => {
    kds = await FakeKds.start()
    await kds.warmUp()
    dir = mkdtempSync(join(tmpdir(), 'vouch-trust-cli-'))
  })
  after(async () => {
    await kds.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('trust fetch --report fills the directory and exits 0', async () => {
    const trust = join(dir, 'trust')
    const { code, out, err } = await run('trust', 'fetch', '--report', join(turin, 'report.bin'), '--trust-dir', trust, '--kds-url', kds.url, '--interval', '0.2')
    assert.equal(code, 0, out + err)
    assert.match(out, /^vouch-verify trust fetch: OK {2}\(3 fetched, 0 cached, 0 failed; 3 KDS requests\)/)
    assert.match(out, /fetched {2}amd\/Turin\/vcek\/cert_chain\.pem +SEV-Turin \(serial 030001\) signed by ARK-Turin/)
    assert.match(out, /fetched {2}amd\/Turin\/vcek\/3b42092f69c656d3\/fmc0-bl1-tee0-snp2-ucode71\.der/)
    assert.match(err, /GET http:\/\/127\.0\.0\.1:\d+\/vcek\/v1\/Turin\/cert_chain/)
    // --interval 0.2 reaches the fetcher: the requests span at least (n - 1) intervals. Arrival times at the fake
    // carry scheduling jitter on a busy machine, so only the whole span is checked here, with room for it at both
    // ends; the exact spacing of request starts is tested in kds.test.ts.
    const times = kds.requests.map((r) => r.time)
    const span = times[times.length - 1]! - times[0]!
    assert.ok(span >= (times.length - 1) * 200 - 100, `arrivals at +${times.map((t) => t - times[0]!).join(', +')} ms`)

    const again = await run('trust', 'fetch', '--report', join(turin, 'report.bin'), '--trust-dir', trust, '--kds-url', kds.url, '--interval', '0.2', '--json')
    const summary = JSON.parse(again.out) as CollateralSummary
    // Today is past the fixture CRL's nextUpdate, so only the CRL is asked for again.
    assert.deepEqual(summary.items.map((i) => `${i.kind}:${i.status}`), ['cert_chain:cached', 'crl:fetched', 'vcek:cached'])
    assert.equal(summary.requests, 1)
  })

  test('sev-snp --trust-dir at the report time: accepted; the CRL, issued later, is left out and the note says so', async () => {
    const trust = join(dir, 'trust')
    const { code, out, err } = await run('sev-snp', '--report', join(turin, 'report.bin'), '--trust-dir', trust, '--at', turinAt, '--json')
    const result = JSON.parse(out) as Result<SevSnpClaims | null>
    assert.equal(code, 0, JSON.stringify(result.errors))
    assert.equal(result.verdict, 'accepted')
    assert.equal(check(result, 'chain.collateral')?.status, 'pass')
    assert.equal(check(result, 'revocation.crl')?.status, 'skip')
    assert.match(err, /note: from trust directory .*: VEK amd\/Turin\/vcek\/3b42092f69c656d3\/fmc0-bl1-tee0-snp2-ucode71\.der, chain amd\/Turin\/vcek\/cert_chain\.pem/)
    assert.match(err, /cached CRL amd\/Turin\/vcek\/crl\.der not used, so revocation is not checked: it was issued 2026-08-19T14:22:45\.000Z, after the verification time 2025-07-18T17:04:46\.000Z/)
  })

  test('sev-snp --trust-dir inside the CRL window: the cached CRL is checked', async () => {
    const { code, out } = await run('sev-snp', '--report', join(turin, 'report.bin'), '--trust-dir', join(dir, 'trust'), '--at', '2026-09-01T00:00:00Z', '--verbose')
    assert.equal(code, 0, out)
    assert.match(out, /ACCEPTED/)
    assert.match(out, /revocation\.crl +pass +CRL of ARK-Turin from 2026-08-19/)
    assert.match(out, /note: from trust directory .*CRL amd\/Turin\/vcek\/crl\.der/)
  })

  test('sev-snp --trust-dir past the CRL nextUpdate: left out as stale; a policy that requires a CRL rejects', async () => {
    const policy = join(dir, 'crl-required.yaml')
    writeFileSync(
      policy,
      'version: 1\nname: crl-required\nallowSimulated: false\nsevSnp:\n  allowedProducts: [Turin]\n  allowedSigningKeys: [VCEK]\n  allowDebug: false\n  allowMigrationAgent: false\n  requireCrl: true\n',
    )
    const args = ['sev-snp', '--report', join(turin, 'report.bin'), '--trust-dir', join(dir, 'trust'), '--at', '2026-11-01T00:00:00Z', '--json']
    const plain = await run(...args)
    assert.equal(plain.code, 0)
    assert.match(plain.err, /not used, so revocation is not checked: it is stale at 2026-11-01T00:00:00\.000Z \(its nextUpdate 2026-10-04T00:00:00\.000Z has passed\)/)
    const strict = await run(...args, '--policy', policy)
    const result = JSON.parse(strict.out) as Result<SevSnpClaims | null>
    assert.equal(strict.code, 1)
    assert.deepEqual(result.errors.map((e) => e.code), ['ERR_POLICY_CRL_REQUIRED'])
  })

  test('a CRL passed with --crl is always checked, whatever the trust directory holds', async () => {
    const crl = join(dir, 'trust/amd/Turin/vcek/crl.der')
    const { code, out } = await run('sev-snp', '--report', join(turin, 'report.bin'), '--trust-dir', join(dir, 'trust'), '--crl', crl, '--at', turinAt, '--json')
    const result = JSON.parse(out) as Result<SevSnpClaims | null>
    assert.equal(code, 1)
    assert.deepEqual(result.errors.map((e) => e.code), ['ERR_CRL_NOT_YET_VALID'])
  })

  test('a cached CRL that revokes the ASK in use is used even where it does not cover --at', async () => {
    // AMD revoked Genoa ASK 020001 (the newest Genoa CRL lists it). Its certificate is not public, so a stand-in
    // with its issuer and serial is passed with --chain: only those two are compared before verification.
    const trust = join(dir, 'genoa-trust')
    assert.equal((await run('trust', 'fetch', '--product', 'Genoa', '--trust-dir', trust, '--kds-url', kds.url, '--interval', '0')).code, 0)
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])
    const alg = { name: 'RSA-PSS', hash: 'SHA-384', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048, saltLength: 48 }
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const amd = 'OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices'
    const revokedAsk = await x509.X509CertificateGenerator.create({
      serialNumber: '020001',
      subject: `${amd}, CN=SEV-Genoa`,
      issuer: `${amd}, CN=ARK-Genoa`,
      notBefore: new Date('2022-01-01T00:00:00Z'),
      notAfter: new Date('2047-01-01T00:00:00Z'),
      signingAlgorithm: alg,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
    })
    const chain = join(dir, 'revoked-ask-chain.pem')
    writeFileSync(chain, revokedAsk.toString('pem') + '\n' + readFileSync(join(FIXTURES_DIR, 'sev-snp/roots/genoa/ark.pem'), 'utf8'))
    const genoa = join(FIXTURES_DIR, 'sev-snp/cases/routex-genoa-v5')
    const { code, err } = await run('sev-snp', '--report', join(genoa, 'report.bin'), '--vek', join(genoa, 'vek.der'), '--chain', chain, '--trust-dir', trust, '--at', '2025-11-12T10:49:48Z', '--json')
    assert.equal(code, 1)
    assert.match(err, /cached CRL amd\/Genoa\/vcek\/crl\.der is used although it was issued 2026-08-19T14:09:01\.000Z, .*: it lists SEV-Genoa \(serial 020001\) as revoked/)
  })

  test('a VLEK report: --vek on the command line, its ASVK chain from the trust directory', async () => {
    const trust = join(dir, 'vlek-trust')
    const vlek = join(FIXTURES_DIR, 'sev-snp/cases/trustee-test-vlek-report')
    const fetched = await run('trust', 'fetch', '--report', join(vlek, 'report.bin'), '--trust-dir', trust, '--kds-url', kds.url, '--interval', '0')
    assert.equal(fetched.code, 0, fetched.out + fetched.err)
    assert.match(fetched.out, /KDS does not publish VLEKs/)
    const without = await run('sev-snp', '--report', join(vlek, 'report.bin'), '--trust-dir', trust, '--at', '2024-12-11T22:14:21Z', '--json')
    assert.equal(without.code, 1)
    assert.match(without.err, /holds no VEK for this report \(KDS does not publish VLEKs: pass --vek\)/)
    const verified = await run('sev-snp', '--report', join(vlek, 'report.bin'), '--vek', join(vlek, 'vek.der'), '--trust-dir', trust, '--at', '2024-12-11T22:14:21Z', '--json')
    assert.equal(verified.code, 0, verified.out)
    assert.match(verified.err, /chain amd\/Milan\/vlek\/cert_chain\.pem/)
  })

  test('sev-snp --no-trust-dir uses only the command line', async () => {
    const { code, out } = await run('sev-snp', '--report', join(turin, 'report.bin'), '--no-trust-dir', '--at', turinAt, '--json')
    assert.equal(code, 1)
    assert.deepEqual((JSON.parse(out) as Result<unknown>).errors.map((e) => e.code), ['ERR_COLLATERAL_MISSING'])
  })

  test('trust fetch exits 1 when something could not be fetched or validated', async () => {
    kds.routes.set('/vcek/v1/Genoa/crl', { status: 200, body: kds.crls.get('Milan')! })
    const { code, out } = await run('trust', 'fetch', '--product', 'genoa', '--trust-dir', join(dir, 'bad'), '--kds-url', kds.url, '--interval', '0')
    assert.equal(code, 1)
    assert.match(out, /INCOMPLETE/)
    assert.match(out, /FAILED {3}amd\/Genoa\/vcek\/crl\.der +Genoa vcek CRL: issued by "ARK-Milan", not by "ARK-Genoa"/)
    assert.match(out, /\[ERR_CRL_SIGNATURE_INVALID\] http:\/\/127\.0\.0\.1:\d+\/vcek\/v1\/Genoa\/crl/)
  })

  const usage: { name: string; args: string[] }[] = [
    { name: 'no subcommand', args: ['trust'] },
    { name: 'an unknown subcommand', args: ['trust', 'pull'] },
    { name: 'nothing to fetch', args: ['trust', 'fetch'] },
    { name: 'an unknown product', args: ['trust', 'fetch', '--product', 'Naples'] },
    { name: '--vlek without --product', args: ['trust', 'fetch', '--report', 'x', '--vlek'] },
    { name: 'a bad interval', args: ['trust', 'fetch', '--product', 'Milan', '--interval', '-1'] },
    { name: 'a non-HTTP KDS URL', args: ['trust', 'fetch', '--product', 'Milan', '--kds-url', 'file:///etc'] },
    { name: 'a missing --trust-dir for sev-snp', args: ['sev-snp', '--report', join(FIXTURES_DIR, 'sev-snp/cases/oak-turin_oc/report.bin'), '--trust-dir', '/nonexistent/vouch'] },
  ]
  for (const u of usage) {
    test(`usage error: ${u.name} → exit 2`, async () => {
      const { code, err } = await run(...u.args)
      assert.equal(code, 2, err)
    })
  }
})
