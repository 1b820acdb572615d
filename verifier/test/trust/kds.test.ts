/**
 * fetchAmdCollateral against a fake KDS serving real AMD material: what gets fetched, cached and
 * validated, how requests are spaced and retried, and that nothing invalid reaches the store.
 */
import 'reflect-metadata'
import assert from 'node:assert/strict'
import { webcrypto } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import * as x509 from '@peculiar/x509'
import { decodeTcb, kdsHwId, parseAttestationReport, type Product } from '@vouch/protocol'
import { verifySevSnp } from '@vouch/verifier'
import { fetchAmdCollateral, TrustStore, type CollateralSummary, type FetchAmdCollateralOptions } from '@vouch/verifier/trust'
import { FakeKds } from '../helpers/fake-kds.js'
import { fixtureBytes, fixtureText, fixturesMissing } from '../helpers/fixtures.js'
import { fakeClock, files } from '../helpers/trust-testkit.js'

const skip = fixturesMissing('sev-snp')

/** Inside the validity window of the newest fixture CRLs (thisUpdate 2026-08-19, nextUpdate 2026-10-04). */
const CRL_FRESH = '2026-09-01T00:00:00Z'
/** Past those CRLs' nextUpdate. */
const CRL_STALE = '2026-10-05T00:00:00Z'

function statuses(summary: CollateralSummary): string[] {
  return summary.items.map((i) => `${i.kind}:${i.status}`)
}

/** A self-signed RSA-PSS "ARK-<product>" that is not AMD's. */
async function foreignArk(product: Product): Promise<string> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])
  const alg = { name: 'RSA-PSS', hash: 'SHA-384', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048, saltLength: 48 }
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '010000',
    name: `OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=ARK-${product}`,
    notBefore: new Date('2020-01-01T00:00:00Z'),
    notAfter: new Date('2045-01-01T00:00:00Z'),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)],
  })
  return cert.toString('pem') + '\n'
}

describe('fetchAmdCollateral against a fake KDS', { skip }, () => {
  let kds: FakeKds
  let dir: string
  let store: TrustStore
  const options = (extra: Partial<FetchAmdCollateralOptions>): FetchAmdCollateralOptions => ({ store, kdsUrl: kds.url, minIntervalMs: 0, ...extra })

  beforeEach(async () => {
    kds = await FakeKds.start()
    dir = mkdtempSync(join(tmpdir(), 'vouch-trust-'))
    store = new TrustStore(dir)
  })
  afterEach(async () => {
    await kds.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const reports: { name: string; product: Product; tcbKey: string }[] = [
    { name: 'oak-turin_oc', product: 'Turin', tcbKey: 'fmc0-bl1-tee0-snp2-ucode71' },
    { name: 'routex-genoa-v5', product: 'Genoa', tcbKey: 'bl10-tee0-snp27-ucode88' },
    { name: 'oak-milan_oc_release', product: 'Milan', tcbKey: 'bl4-tee0-snp24-ucode219' },
  ]
  for (const { name, product, tcbKey } of reports) {
    test(`${name}: fills the cache, then serves from it, and re-fetches the CRL only past its nextUpdate`, async () => {
      const served = kds.vcek(name)
      const clock = fakeClock(CRL_FRESH)
      const first = await fetchAmdCollateral(options({ report: served.report, now: clock.now }))
      assert.equal(first.ok, true, JSON.stringify(first.items))
      assert.deepEqual(statuses(first), ['cert_chain:fetched', 'crl:fetched', 'vcek:fetched'])
      assert.equal(first.requests, 3)
      const hwId = kdsHwId(served.report.chipId, product)
      assert.deepEqual(files(dir), [
        'amd/.last-request',
        `amd/${product}/vcek/${hwId}/${tcbKey}.der`,
        `amd/${product}/vcek/cert_chain.pem`,
        `amd/${product}/vcek/crl.der`,
      ].sort())
      assert.deepEqual(store.readVcek(product, hwId, decodeTcb(served.report.reportedTcb, product)), served.vek)
      assert.deepEqual(store.readCrl(product, 'vcek'), kds.crls.get(product))
      assert.equal(first.items[2]!.url, `${kds.url}${served.path}`)

      // What the cache holds verifies the report.
      const cached = store.collateralFor(served.report)
      assert.equal(cached.product, product)
      const result = await verifySevSnp({ report: served.reportBytes, vek: cached.vek!, chain: cached.chain! }, { at: new Date(served.verifyAt!) })
      assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))

      const before = kds.requests.length
      const second = await fetchAmdCollateral(options({ report: served.report, now: clock.now }))
      assert.deepEqual(statuses(second), ['cert_chain:cached', 'crl:cached', 'vcek:cached'])
      assert.equal(kds.requests.length, before, 'a second run makes no request while the CRL is fresh')

      const stale = await fetchAmdCollateral(options({ report: served.report, now: fakeClock(CRL_STALE).now }))
      assert.deepEqual(statuses(stale), ['cert_chain:cached', 'crl:fetched', 'vcek:cached'])
      assert.deepEqual(kds.requests.slice(before).map((r) => r.path), [`/vcek/v1/${product}/crl`])
      assert.match(stale.notes.join('\n'), /past its nextUpdate/)
    })
  }

  test('a version 2 report: the VCEK is looked up product by product, then found in the cache first', async () => {
    const served = kds.vcek('gosev-attestation')
    assert.equal(served.report.product, null)
    const clock = fakeClock(CRL_FRESH)
    const first = await fetchAmdCollateral(options({ report: served.report, reportProducts: ['Genoa', 'Milan'], now: clock.now }))
    assert.equal(first.ok, true, JSON.stringify(first.items))
    assert.deepEqual(
      first.items.map((i) => `${i.product} ${i.kind}:${i.status}`),
      ['Genoa cert_chain:fetched', 'Milan cert_chain:fetched', 'Milan vcek:fetched', 'Milan crl:fetched'],
    )
    assert.match(first.items[2]!.detail, /not found as Genoa/)
    const before = kds.requests.length
    const second = await fetchAmdCollateral(options({ report: served.report, reportProducts: ['Genoa', 'Milan'], now: clock.now }))
    assert.equal(second.ok, true)
    assert.equal(kds.requests.length, before, 'the cached Milan VCEK is found without asking KDS for a Genoa one')
    assert.equal(store.collateralFor(served.report).product, 'Milan')
  })

  test('a VLEK report: only its ASVK chain and CRL come from KDS', async () => {
    const report = parseAttestationReport(fixtureBytes('sev-snp/cases/trustee-test-vlek-report/report.bin'))
    const summary = await fetchAmdCollateral(options({ report, now: fakeClock(CRL_FRESH).now }))
    assert.equal(summary.ok, true, JSON.stringify(summary.items))
    assert.deepEqual(summary.items.map((i) => `${i.family} ${i.kind}:${i.status}`), ['vlek cert_chain:fetched', 'vlek crl:fetched'])
    assert.match(summary.notes.join('\n'), /does not publish VLEKs/)
    assert.deepEqual(files(dir), ['amd/.last-request', 'amd/Milan/vlek/cert_chain.pem', 'amd/Milan/vlek/crl.der'])
    const cached = store.collateralFor(report)
    assert.equal(cached.vek, undefined)
    assert.match(cached.chain!, /BEGIN CERTIFICATE/)
  })

  test('products: both families with their chains and CRLs', async () => {
    const summary = await fetchAmdCollateral(options({ products: ['Milan', 'Turin'], families: ['vcek', 'vlek'], now: fakeClock(CRL_FRESH).now }))
    assert.equal(summary.ok, true, JSON.stringify(summary.items))
    assert.equal(summary.requests, 8)
    assert.deepEqual(
      files(dir).filter((f) => !f.endsWith('.last-request')),
      ['Milan', 'Turin'].flatMap((p) => [`amd/${p}/vcek/cert_chain.pem`, `amd/${p}/vcek/crl.der`, `amd/${p}/vlek/cert_chain.pem`, `amd/${p}/vlek/crl.der`]),
    )
  })

  test('requests are spaced by minIntervalMs in real time, also across two stores on the same directory', async () => {
    const interval = 200
    const served = kds.vcek('oak-turin_oc')
    await kds.warmUp()
    // Client-side start times are what the limiter controls; arrival times at the server add network jitter.
    const starts: number[] = []
    const timed: typeof fetch = (url, init) => {
      starts.push(Date.now())
      return fetch(url, init)
    }
    await fetchAmdCollateral({ store, kdsUrl: kds.url, minIntervalMs: interval, report: served.report, fetch: timed })
    // A second process: a new store object on the same directory, started at once.
    await fetchAmdCollateral({ store: new TrustStore(dir), kdsUrl: kds.url, minIntervalMs: interval, products: ['Milan'], fetch: timed })
    // Every request the client started reached the server; their spacing is judged where the limiter acts, at the
    // start (arrivals add whatever the busy machine delays one request's connection by, tens of ms on 2 loaded cores).
    assert.equal(kds.requests.length, 5)
    assert.equal(starts.length, 5)
    for (let i = 1; i < starts.length; i++) {
      // A timer may fire up to a millisecond early.
      assert.ok(starts[i]! - starts[i - 1]! >= interval - 1, `requests ${i - 1} and ${i} started ${starts[i]! - starts[i - 1]!} ms apart`)
    }
  })

  test('by default, requests are 10 s apart, persisted in the store for the next run', async () => {
    const clock = fakeClock(CRL_FRESH)
    const served = kds.vcek('oak-turin_oc')
    await fetchAmdCollateral({ store, kdsUrl: kds.url, report: served.report, now: clock.now, sleep: clock.sleep })
    assert.deepEqual(clock.sleeps, [10_000, 10_000])
    assert.equal(store.readLastRequest()?.toISOString(), new Date(new Date(CRL_FRESH).getTime() + 20_000).toISOString())
    await fetchAmdCollateral({ store: new TrustStore(dir), kdsUrl: kds.url, products: ['Genoa'], now: clock.now, sleep: clock.sleep })
    assert.deepEqual(clock.sleeps, [10_000, 10_000, 10_000, 10_000])
    assert.equal(kds.requests.length, 5)
  })

  test('429 and 500 are retried, waiting for Retry-After or the interval, whichever is longer', async () => {
    kds.failNext(1, { status: 429, headers: { 'retry-after': '15' } })
    kds.failNext(1, { status: 500 })
    const clock = fakeClock(CRL_FRESH)
    const summary = await fetchAmdCollateral({ store, kdsUrl: kds.url, products: ['Turin'], now: clock.now, sleep: clock.sleep })
    assert.equal(summary.ok, true, JSON.stringify(summary.items))
    assert.deepEqual(statuses(summary), ['cert_chain:fetched', 'crl:fetched'])
    assert.equal(summary.requests, 4)
    assert.deepEqual(kds.requests.map((r) => r.path), ['/vcek/v1/Turin/cert_chain', '/vcek/v1/Turin/cert_chain', '/vcek/v1/Turin/cert_chain', '/vcek/v1/Turin/crl'])
    assert.deepEqual(clock.sleeps, [15_000, 10_000, 10_000])
  })

  test('a server that keeps failing: given up after `retries`, nothing cached, nothing that depends on it asked for', async () => {
    kds.failNext(10, { status: 503 })
    const clock = fakeClock(CRL_FRESH)
    const summary = await fetchAmdCollateral({ store, kdsUrl: kds.url, products: ['Turin'], retries: 2, now: clock.now, sleep: clock.sleep })
    assert.equal(summary.ok, false)
    assert.deepEqual(summary.items.map((i) => i.error?.code), ['ERR_COLLATERAL_FETCH', 'ERR_COLLATERAL_MISSING'])
    assert.match(summary.items[0]!.detail, /HTTP 503.*gave up after 3 attempts/)
    assert.equal(kds.requests.length, 3)
    assert.deepEqual(files(dir), ['amd/.last-request'])
  })

  test('network errors are retried like 5xx', async () => {
    let calls = 0
    const flaky: typeof fetch = async (url, init) => {
      if (++calls === 1) throw new TypeError('fetch failed', { cause: new Error('ECONNRESET') })
      return fetch(url, init)
    }
    const summary = await fetchAmdCollateral(options({ products: ['Genoa'], fetch: flaky, now: fakeClock(CRL_FRESH).now }))
    assert.equal(summary.ok, true, JSON.stringify(summary.items))
    assert.equal(summary.requests, 3)
  })

  const notRetried: { name: string; arrange: () => Partial<FetchAmdCollateralOptions>; detail: RegExp; code: string }[] = [
    ...[400, 401, 403, 404, 410, 451].map((status) => ({
      name: `HTTP ${status}`,
      arrange: () => (kds.failNext(1, { status }), {}),
      detail: new RegExp(`HTTP ${status}`),
      code: 'ERR_COLLATERAL_FETCH',
    })),
    {
      name: 'a TLS failure (https to a server that does not speak TLS)',
      arrange: () => ({ kdsUrl: kds.url.replace('http:', 'https:') }),
      detail: /ERR_SSL_|wrong version number.*not retried/s,
      code: 'ERR_COLLATERAL_FETCH',
    },
    {
      name: 'a name that does not resolve',
      arrange: () => ({ fetch: async () => Promise.reject(new TypeError('fetch failed', { cause: Object.assign(new Error('getaddrinfo ENOTFOUND kds.invalid'), { code: 'ENOTFOUND' }) })) }),
      detail: /ENOTFOUND.*not retried/,
      code: 'ERR_COLLATERAL_FETCH',
    },
    {
      name: 'an answer that fails validation (not a certificate chain)',
      arrange: () => (kds.routes.set('/vcek/v1/Turin/cert_chain', { status: 200, body: 'maintenance' }), {}),
      detail: /./,
      code: 'ERR_INPUT_INVALID',
    },
  ]
  for (const c of notRetried) {
    test(`what cannot succeed on a retry is not retried: ${c.name}`, async () => {
      const clock = fakeClock(CRL_FRESH)
      const summary = await fetchAmdCollateral(options({ products: ['Turin'], now: clock.now, sleep: clock.sleep, ...c.arrange() }))
      assert.equal(summary.ok, false)
      const chain = summary.items.find((i) => i.kind === 'cert_chain')!
      assert.equal(chain.status, 'failed')
      assert.equal(chain.error?.code, c.code, chain.detail)
      assert.match(chain.detail, c.detail)
      assert.equal(summary.requests, 1, 'one attempt, no retry')
      assert.deepEqual(clock.sleeps, [])
    })
  }

  test('HTTP 408 (the server timed the request out) is retried', async () => {
    kds.failNext(2, { status: 408 })
    const summary = await fetchAmdCollateral(options({ products: ['Turin'], now: fakeClock(CRL_FRESH).now }))
    assert.equal(summary.ok, true, JSON.stringify(summary.items))
    assert.deepEqual(kds.requests.map((r) => r.path), ['/vcek/v1/Turin/cert_chain', '/vcek/v1/Turin/cert_chain', '/vcek/v1/Turin/cert_chain', '/vcek/v1/Turin/crl'])
  })

  test('a VCEK that KDS does not have (404): not retried, the failure names the URL, nothing cached', async () => {
    const served = kds.vcek('oak-turin_oc')
    kds.routes.delete(served.path)
    const summary = await fetchAmdCollateral(options({ report: served.report, now: fakeClock(CRL_FRESH).now }))
    assert.equal(summary.ok, false)
    const vcek = summary.items.find((i) => i.kind === 'vcek')!
    assert.equal(vcek.status, 'failed')
    assert.equal(vcek.error?.code, 'ERR_COLLATERAL_FETCH')
    assert.ok(vcek.detail.includes(`${kds.url}${served.path}`), vcek.detail)
    assert.match(vcek.detail, /404/)
    assert.equal(kds.requestsTo('/vcek/v1/Turin/3b').length, 1)
    assert.equal(existsSync(vcek.path), false)
  })

  const untrusted: { name: string; product: Product; chain: () => Promise<string>; code: string }[] = [
    {
      name: 'an ARK that is not AMD\'s',
      product: 'Turin',
      chain: async () => fixtureText('sev-snp/roots/turin/ask.pem') + (await foreignArk('Turin')),
      code: 'ERR_CHAIN_UNTRUSTED',
    },
    {
      name: 'another product\'s chain',
      product: 'Genoa',
      chain: async () => fixtureText('sev-snp/roots/milan/ask.pem') + fixtureText('sev-snp/roots/milan/ark.pem'),
      code: 'ERR_CHAIN_PRODUCT_MISMATCH',
    },
    {
      name: 'the ASVK served as the VCEK chain',
      product: 'Milan',
      chain: async () => fixtureText('sev-snp/roots/milan/asvk.pem') + fixtureText('sev-snp/roots/milan/ark.pem'),
      code: 'ERR_CHAIN_PRODUCT_MISMATCH',
    },
    {
      name: 'the ARK alone',
      product: 'Milan',
      chain: async () => fixtureText('sev-snp/roots/milan/ark.pem'),
      code: 'ERR_INPUT_INVALID',
    },
  ]
  for (const c of untrusted) {
    test(`a chain with ${c.name} is rejected with ${c.code}, and nothing is cached`, async () => {
      kds.routes.set(`/vcek/v1/${c.product}/cert_chain`, { status: 200, body: await c.chain() })
      const summary = await fetchAmdCollateral(options({ products: [c.product], now: fakeClock(CRL_FRESH).now }))
      assert.equal(summary.ok, false)
      assert.deepEqual(summary.items.map((i) => `${i.kind}:${i.error?.code}`), [`cert_chain:${c.code}`, 'crl:ERR_COLLATERAL_MISSING'])
      assert.deepEqual(kds.requests.map((r) => r.path), [`/vcek/v1/${c.product}/cert_chain`], 'the CRL is not requested without a trusted ARK')
      assert.deepEqual(files(dir), ['amd/.last-request'])
    })
  }

  test('a VCEK for another chip at the requested URL is rejected, and not cached', async () => {
    const served = kds.vcek('routex-genoa-v5')
    kds.routes.set(served.path, { status: 200, body: kds.vcek('tinfoil-verifier-test').vek })
    const summary = await fetchAmdCollateral(options({ report: served.report, now: fakeClock(CRL_FRESH).now }))
    assert.equal(summary.ok, false)
    const vcek = summary.items.find((i) => i.kind === 'vcek')!
    assert.equal(vcek.error?.code, 'ERR_VCEK_CHIP_ID_MISMATCH')
    assert.equal(existsSync(vcek.path), false)
    assert.deepEqual(files(dir), ['amd/.last-request', 'amd/Genoa/vcek/cert_chain.pem', 'amd/Genoa/vcek/crl.der'])
  })

  test('a CRL not signed by the ARK is rejected, and not cached', async () => {
    kds.routes.set('/vcek/v1/Genoa/crl', { status: 200, body: kds.crls.get('Milan')! })
    const summary = await fetchAmdCollateral(options({ products: ['Genoa'], now: fakeClock(CRL_FRESH).now }))
    assert.deepEqual(summary.items.map((i) => `${i.kind}:${i.status}:${i.error?.code ?? ''}`), ['cert_chain:fetched:', 'crl:failed:ERR_CRL_SIGNATURE_INVALID'])
    assert.equal(existsSync(store.crlPath('Genoa', 'vcek')), false)
  })

  test('a damaged cached file is fetched again; an older CRL never replaces a newer one', async () => {
    await fetchAmdCollateral(options({ products: ['Genoa'], now: fakeClock(CRL_FRESH).now }))
    writeFileSync(store.chainPath('Genoa', 'vcek'), 'not a chain')
    kds.routes.set('/vcek/v1/Genoa/crl', { status: 200, body: fixtureBytes('sev-snp/roots/crl/genoa_vcek_crl_2024-10-23_n4.der') })
    const before = kds.requests.length
    const summary = await fetchAmdCollateral(options({ products: ['Genoa'], now: fakeClock(CRL_STALE).now }))
    assert.deepEqual(kds.requests.slice(before).map((r) => r.path), ['/vcek/v1/Genoa/cert_chain', '/vcek/v1/Genoa/crl'])
    assert.deepEqual(statuses(summary), ['cert_chain:fetched', 'crl:cached'])
    assert.match(summary.items[1]!.detail, /KDS served an older one/)
    assert.deepEqual(store.readCrl('Genoa', 'vcek'), kds.crls.get('Genoa'))
    assert.match(store.readChain('Genoa', 'vcek')!, /^-----BEGIN CERTIFICATE-----/)
  })
})
