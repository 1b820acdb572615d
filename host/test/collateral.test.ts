/**
 * Stapling (issue 12 item 2): the host fetches a bundle's collateral into its trust directory through
 * `@vouch/verifier/trust` and staples what is cached and current to the bundle it serves as an evidence archive.
 * Against the local fakes of AMD KDS and NVIDIA's RIM service and OCSP responder (verifier/test/helpers), which serve
 * the real AMD chains and CRLs and NVIDIA's real RIMs of `../shared/fixtures`, on a bundle holding real evidence: the
 * archive carries AMD's real CRL and NVIDIA's real RIMs, byte for byte, next to the enclave's bundle, byte for byte.
 * The fakes cannot sign OCSP answers as NVIDIA, so no OCSP response about a real chain is stapled (none is forged).
 * Offline by default: nothing is requested with fetching off, nor for a simulated bundle.
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, afterEach, before, beforeEach, describe, test } from 'node:test'
import request from 'supertest'
import { ARCHIVE_LIMITS, ARCHIVE_MEDIA_TYPE, decodeArchive, encodeBundle, EVIDENCE_MEDIA_TYPE } from '@vouch/protocol'
import { verifyArchive } from '@vouch/verifier'
import { testBundleV2 } from '../../protocol/test/helpers/fixtures.js'
import { FakeKds } from '../../verifier/test/helpers/fake-kds.js'
import { FakeNvidia } from '../../verifier/test/helpers/fake-nvidia.js'
import { fixturesMissing } from '../../verifier/test/helpers/fixtures.js'
import { AMD_CASE, GPU_CASE, realCrl, realEvidenceBundle, realRims } from '../../verifier/test/helpers/real-evidence.js'
import { fakeClock, type FakeClock } from '../../verifier/test/helpers/trust-testkit.js'
import { createApp } from '../src/app.js'
import { CollateralStapler, type StaplerOptions } from '../src/collateral.js'
import { createMetrics } from '../src/metrics.js'
import { loadConfig } from '../src/config.js'
import { startHost } from '../src/server.js'
import { binaryBody, eventually, FakeEnclave, FakeLink, sink } from './helpers/testkit.js'

const skip = fixturesMissing('sev-snp') || fixturesMissing('nvidia-gpu')
/** Inside the newest fixture Milan CRL's validity (2026-08-19 to 2026-10-04). */
const NOW = '2026-09-01T00:00:00Z'

describe('the stapler against fake AMD and NVIDIA services serving real collateral', { skip }, () => {
  let kds: FakeKds
  let nvidia: FakeNvidia
  let dir: string
  let clock: FakeClock
  const staplers: CollateralStapler[] = []

  before(async () => {
    kds = await FakeKds.start()
    nvidia = await FakeNvidia.start()
  })
  after(async () => {
    await kds.close()
    await nvidia.close()
  })
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vouch-staple-'))
    clock = fakeClock(NOW)
    kds.requests.length = 0
    nvidia.rimRequests.length = 0
    nvidia.ocspRequests.length = 0
  })
  afterEach(() => {
    for (const s of staplers.splice(0)) s.close()
    rmSync(dir, { recursive: true, force: true })
  })

  function stapler(options: Partial<StaplerOptions> = {}): CollateralStapler {
    const s = new CollateralStapler({ dir, log: sink('silent').log, now: clock.now, http: { sleep: clock.sleep }, kdsUrl: kds.url, rimUrl: nvidia.rimUrl, ocspUrl: nvidia.ocspUrl, ...options })
    staplers.push(s)
    return s
  }

  test('fetches for the unchallenged bundle, then staples AMD’s real CRL and NVIDIA’s real RIMs beside the bundle, byte for byte', async () => {
    const { bytes } = realEvidenceBundle(AMD_CASE, true)
    const s = stapler()
    const first = decodeArchive(await s.archive(bytes, { unchallenged: true }))
    assert.deepEqual([first.crls.length, first.rims.length, first.ocsp.length], [0, 0, 0], 'nothing is cached yet: a request never waits for AMD or NVIDIA')
    await s.refresh()
    const archive = decodeArchive(await s.archive(bytes, { unchallenged: true }))
    assert.deepEqual(Buffer.from(archive.bundle), Buffer.from(bytes))
    assert.deepEqual(archive.crls.map((c) => Buffer.from(c)), [Buffer.from(kds.crls.get('Milan')!)])
    assert.deepEqual(
      archive.rims.map((r) => [r.id, Buffer.from(r.xml)]).sort(),
      realRims().map((r) => [r.id, Buffer.from(r.xml)]).sort(),
    )
    assert.deepEqual(archive.ocsp, [], 'the fake responder does not know the real chains: it answers "unauthorized", and nothing is stapled')
    assert.equal(archive.stapledAt, Math.floor(clock.now().getTime() / 1000))
    assert.deepEqual(kds.requests.map((r) => r.path).sort(), ['/vcek/v1/Milan/cert_chain', '/vcek/v1/Milan/crl'])
    assert.deepEqual(nvidia.rimRequests.map((r) => r.path).sort(), GPU_CASE.rims.map((r) => `/v1/rim/${r.id}`).sort())

    // What was stapled verifies as stapled: the CRL under the pinned Milan ARK, and every item is for this bundle.
    const result = await verifyArchive(await s.archive(bytes, { unchallenged: false }), { at: clock.now() })
    assert.equal(result.checks.find((c) => c.id === 'archive.collateral')?.status, 'pass')
    assert.equal(result.checks.find((c) => c.id === 'cpu.revocation.crl')?.status, 'pass')
  })

  test('a fetch that finds everything cached and current asks nothing', async () => {
    const { bytes } = realEvidenceBundle(AMD_CASE, true)
    const s = stapler()
    await s.archive(bytes, { unchallenged: true })
    await s.refresh()
    const before = kds.requests.length + nvidia.rimRequests.length
    await s.refresh()
    assert.equal(kds.requests.length + nvidia.rimRequests.length, before)
  })

  test('a CRL past its nextUpdate is not stapled', async () => {
    const { bytes } = realEvidenceBundle(AMD_CASE, false)
    const s = stapler()
    await s.archive(bytes, { unchallenged: true })
    await s.refresh()
    clock.advance(60 * 86_400_000)
    assert.deepEqual(decodeArchive(await s.archive(bytes, { unchallenged: false })).crls, [])
  })

  test('with fetching off nothing is requested, and what the directory holds is stapled', async () => {
    const { bytes } = realEvidenceBundle(AMD_CASE, false)
    const s = stapler({ fetch: false })
    s.store.writeCrl('Milan', 'vcek', kds.crls.get('Milan')!)
    const archive = decodeArchive(await s.archive(bytes, { unchallenged: true }))
    await s.refresh()
    assert.equal(archive.crls.length, 1)
    assert.equal(kds.requests.length + nvidia.rimRequests.length + nvidia.ocspRequests.length, 0)
  })

  test('a trust directory that cannot be read (a file over its limit) costs the collateral, not the evidence', async () => {
    const { bytes } = realEvidenceBundle(AMD_CASE, false)
    const s = stapler({ fetch: false })
    mkdirSync(dirname(s.store.crlPath('Milan', 'vcek')), { recursive: true })
    writeFileSync(s.store.crlPath('Milan', 'vcek'), new Uint8Array(2 * 1024 * 1024))
    const archive = decodeArchive(await s.archive(bytes, { unchallenged: false }))
    assert.deepEqual(Buffer.from(archive.bundle), Buffer.from(bytes))
    assert.deepEqual(archive.crls, [])
  })

  test('a simulated bundle is never fetched for', async () => {
    const s = stapler()
    await s.archive(encodeBundle(testBundleV2()), { unchallenged: true })
    await s.refresh()
    assert.equal(kds.requests.length + nvidia.rimRequests.length + nvidia.ocspRequests.length, 0)
  })
})

describe('vouch-host with its collateral settings', { skip }, () => {
  test('when the enclave comes up the host asks it for its unchallenged bundle and fetches that bundle’s collateral from --kds-url and --rim-url', { timeout: 60_000 }, async () => {
    const kds = await FakeKds.start()
    const nvidia = await FakeNvidia.start()
    const enclave = await FakeEnclave.start()
    const dir = mkdtempSync(join(tmpdir(), 'vouch-staple-host-'))
    const { bytes } = realEvidenceBundle(AMD_CASE, true)
    enclave.onRequest = (r) => {
      if (r.request.op !== 'attest') return false
      r.answer({ bundle: bytes })
      return true
    }
    const argv = ['--port', '0', '--enclave-socket', enclave.path, '--collateral-dir', join(dir, 'trust'), '--kds-url', kds.url, '--rim-url', nvidia.rimUrl, '--ocsp-url', nvidia.ocspUrl, '--log-level', 'silent']
    const { config } = loadConfig(argv, { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
    const host = await startHost(config, { log: sink('silent').log, env: { VOUCH_CACHE_DIR: join(dir, 'cache') } })
    try {
      await eventually(() => kds.requests.length > 0, 20_000, 'the first KDS request')
      // Joins the fetch under way (KDS asks for 10 s between requests, so it takes that long).
      await host.stapler.refresh()
      assert.deepEqual(kds.requests.map((r) => r.path).sort(), ['/vcek/v1/Milan/cert_chain', '/vcek/v1/Milan/crl'])
      assert.deepEqual(nvidia.rimRequests.map((r) => r.path).sort(), GPU_CASE.rims.map((r) => `/v1/rim/${r.id}`).sort())
      assert.equal(host.stapler.store.dir, join(dir, 'trust'))
      assert.ok(host.stapler.store.readCrl('Milan', 'vcek') !== null)
    } finally {
      await host.close()
      await enclave.close()
      await kds.close()
      await nvidia.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('vouch-host priming its stapler, whatever the enclave serves', () => {
  // No fixture needed: the bundle is never decoded. The stapler cannot archive a bundle over the archive's limit; the
  // host primes it from a ping handler, outside any request, so a rejection there must be handled, not float (an
  // unhandled rejection ends a Node process) and not pass unlogged.
  test('an unchallenged bundle too large to archive is logged as such, and the host keeps serving', { timeout: 30_000 }, async () => {
    const enclave = await FakeEnclave.start()
    const dir = mkdtempSync(join(tmpdir(), 'vouch-staple-prime-'))
    enclave.onRequest = (r) => {
      if (r.request.op !== 'attest') return false
      r.answer({ bundle: new Uint8Array(ARCHIVE_LIMITS.bundleBytes + 1).fill(1) })
      return true
    }
    const argv = ['--port', '0', '--enclave-socket', enclave.path, '--collateral-dir', join(dir, 'trust'), '--log-level', 'silent']
    const { config } = loadConfig(argv, { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
    const out = sink('warn')
    const host = await startHost(config, { log: out.log, env: { VOUCH_CACHE_DIR: join(dir, 'cache') } })
    try {
      await eventually(() => out.entries.some((e) => e['msg'] === 'collateral: the unchallenged bundle cannot be archived'), 20_000, 'the warning')
      const warning = out.entries.find((e) => e['msg'] === 'collateral: the unchallenged bundle cannot be archived')!
      assert.equal((warning['err'] as { code?: string }).code, 'ERR_PROTOCOL_MALFORMED')
      assert.equal(warning['enclave'], enclave.path)
      assert.equal((await request(host.url).get('/v2/health/live').ca(host.tls.cert)).status, 200)
    } finally {
      await host.close()
      await enclave.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('GET /v1/attestation with a stapler', { skip }, () => {
  const { bytes } = skip ? { bytes: new Uint8Array() } : realEvidenceBundle(AMD_CASE, false)
  const metrics = createMetrics({ processMetrics: false })
  let dir: string
  let stapler: CollateralStapler
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vouch-staple-route-'))
    stapler = new CollateralStapler({ dir, fetch: false, log: sink('silent').log, now: () => new Date(NOW) })
    stapler.store.writeCrl('Milan', 'vcek', realCrl('milan_vcek_crl_2026-08-19_n11.der'))
  })
  afterEach(() => {
    stapler.close()
    rmSync(dir, { recursive: true, force: true })
  })
  const app = (withStapler: boolean) =>
    createApp({ link: new FakeLink(() => ({ bundle: bytes })), log: sink('silent').log, metrics, ...(withStapler && { stapler }) })

  test('a client that accepts an archive gets one, holding the bundle byte for byte and the cached CRL', async () => {
    const res = await request(app(true)).get('/v1/attestation').set('Accept', `${ARCHIVE_MEDIA_TYPE}, ${EVIDENCE_MEDIA_TYPE};q=0.9`).buffer(true).parse(binaryBody).expect(200)
    assert.equal(res.headers['content-type'], ARCHIVE_MEDIA_TYPE)
    assert.equal(res.headers['vary'], 'Accept')
    const archive = decodeArchive(new Uint8Array(res.body as Buffer))
    assert.deepEqual(Buffer.from(archive.bundle), Buffer.from(bytes))
    assert.equal(archive.crls.length, 1)
    const plain = await request(app(true)).get('/v1/attestation').buffer(true).parse(binaryBody).expect(200)
    assert.equal(plain.headers['content-type'], EVIDENCE_MEDIA_TYPE)
    assert.equal(plain.headers['vary'], 'Accept')
    assert.deepEqual(Buffer.from(plain.body as Buffer), Buffer.from(bytes), 'a client that does not ask gets the bundle as before')
    assert.notEqual(res.headers['etag'], plain.headers['etag'])
  })

  test('challenged evidence is archived too', async () => {
    const res = await request(app(true)).get(`/v1/attestation?nonce=${'cd'.repeat(32)}`).set('Accept', ARCHIVE_MEDIA_TYPE).buffer(true).parse(binaryBody).expect(200)
    assert.equal(res.headers['content-type'], ARCHIVE_MEDIA_TYPE)
    assert.equal(res.headers['cache-control'], 'no-store')
  })

  test('without a stapler, an archive request gets the bundle', async () => {
    const res = await request(app(false)).get('/v1/attestation').set('Accept', `${ARCHIVE_MEDIA_TYPE}, ${EVIDENCE_MEDIA_TYPE};q=0.9`).buffer(true).parse(binaryBody).expect(200)
    assert.equal(res.headers['content-type'], EVIDENCE_MEDIA_TYPE)
  })
})
