/**
 * fetchNvidiaCollateral against fake NVIDIA services: real RIMs from the fixtures (NVIDIA's own
 * signatures, checked under the pinned NVIDIA RIM root), and OCSP answers for a test PKI whose keys
 * the fake responder holds (NVIDIA's responder key cannot sign anything here). What gets fetched,
 * cached, re-fetched after nextUpdate and retried, and that nothing invalid reaches the store.
 */
import 'reflect-metadata'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, beforeEach, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { parseGpuAttestationReport, type GpuAttestationReport } from '@vouch/protocol'
import { verifyRim } from '@vouch/verifier'
import { nvidiaCollateralFromTrustDir } from '../../src/trust/nvidia-cache.js'
import { gpuRimIds } from '../../src/nvidia/rim-ids.js'
import { fetchNvidiaCollateral, type FetchNvidiaCollateralOptions, type NvidiaCollateralSummary } from '../../src/trust/nvidia.js'
import { TrustStore } from '../../src/trust/store.js'
import { parseCertificate } from '../../src/x509/certificate.js'
import { checkOcspStatus } from '../../src/x509/ocsp-check.js'
import { parseOcspResponse } from '../../src/x509/ocsp-decode.js'
import { FakeNvidia, FIXTURE_RIMS } from '../helpers/fake-nvidia.js'
import { fixtureBytes, fixturesMissing, fixtureText } from '../helpers/fixtures.js'
import { buildUnsuccessfulOcspResponse, issueTestCertificate, OCSP_SIGNING, parseTestOcspRequest } from '../helpers/ocsp-testkit.js'
import { createTestNvidiaPki, type TestNvidiaPki } from '../helpers/test-nvidia-pki.js'
import { fakeClock, files } from '../helpers/trust-testkit.js'

const skip = fixturesMissing('nvidia-gpu')
const CASE = 'nvidia-gpu/cases/hopper-h100-545.00-with-rims'
const DRIVER = 'NV_GPU_DRIVER_GH100_545.00'
const VBIOS = 'NV_GPU_VBIOS_1010_0200_882_96005E0001'
/** A time when the test PKI is valid (and the real RIM signers have expired). */
const T0 = '2030-01-01T00:00:00Z'
const HOUR = 3600_000

function statuses(summary: NvidiaCollateralSummary): string[] {
  return summary.items.map((i) => `${i.kind} ${i.name}:${i.status}${i.error ? `:${i.error.code}` : ''}`)
}

describe('gpuRimIds', { skip }, () => {
  const want: Record<string, [string, string]> = {
    'hopper-h100-545.00-with-rims': [DRIVER, VBIOS],
    'hopper-h100-550.90.07': ['NV_GPU_DRIVER_GH100_550.90.07', 'NV_GPU_VBIOS_1010_0200_882_96009F0001'],
    'hopper-h100-580.159.03': ['NV_GPU_DRIVER_GH100_580.159.03', 'NV_GPU_VBIOS_1010_0205_862_9600740020'],
    'hgx-h100-ppcie-gpu0': ['NV_GPU_DRIVER_GH100_590.12', 'NV_GPU_VBIOS_G520_0200_885_9600A50001'],
    'blackwell-gb100-575.32': ['NV_GPU_CC_DRIVER_GB100_575.32', 'NV_GPU_VBIOS_G525_0220_886_970088000F'],
  }
  for (const [name, [driver, vbios]] of Object.entries(want)) {
    test(name, () => {
      const report = parseGpuAttestationReport(fixtureBytes('nvidia-gpu/cases', name, 'report.bin'))
      const ids = gpuRimIds(report, name.startsWith('blackwell') ? 'BLACKWELL' : 'HOPPER')
      assert.deepEqual([ids.driver, ids.vbios], [driver, vbios])
    })
  }
  test('a Blackwell report with CHIP_INFO names its chip', () => {
    const report = parseGpuAttestationReport(fixtureBytes('nvidia-gpu/cases/blackwell-gb100-575.32/report.bin'))
    const withChip = { ...report, opaqueData: { ...report.opaqueData, chipInfo: 'GB202' } }
    assert.equal(gpuRimIds(withChip, 'BLACKWELL').driver, 'NV_GPU_CC_DRIVER_GB202_575.32')
  })
})

describe('fetchNvidiaCollateral against fake NVIDIA services', { skip }, () => {
  let fake: FakeNvidia
  let dir: string
  let store: TrustStore
  let pki: TestNvidiaPki
  let report: GpuAttestationReport
  const realChain = (): string => fixtureText(CASE, 'chain.pem')

  before(async () => {
    pki = await createTestNvidiaPki()
    report = parseGpuAttestationReport(fixtureBytes(CASE, 'report.bin'))
  })
  beforeEach(async () => {
    fake = await FakeNvidia.start()
    fake.know(pki.issued)
    dir = mkdtempSync(join(tmpdir(), 'vouch-nvidia-'))
    store = new TrustStore(dir)
  })
  afterEach(async () => {
    await fake.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const options = (extra: Partial<FetchNvidiaCollateralOptions>): FetchNvidiaCollateralOptions => ({
    store,
    gpus: [{ report, chain: realChain() }],
    rimUrl: fake.rimUrl,
    ocspUrl: fake.ocspUrl,
    minIntervalMs: 0,
    ...extra,
  })
  /** The test PKI's device chain, its re-signed RIMs served under the 545.00 ids, and the fake on `clock`. */
  const synthetic = (clock: ReturnType<typeof fakeClock>, extra: Partial<FetchNvidiaCollateralOptions> = {}): FetchNvidiaCollateralOptions => {
    for (const { id, file } of FIXTURE_RIMS) fake.setRim(id, pki.resign(fixtureText(...file)))
    fake.now = clock.now
    return options({ gpus: [{ report, chain: pki.chainPem }], trust: pki.trust, now: clock.now, sleep: clock.sleep, ...extra })
  }

  describe('RIMs (real, signed by NVIDIA)', () => {
    test('the 545.00 case: both RIMs stored with a note on their expired signer, then served from the cache', async () => {
      const first = await fetchNvidiaCollateral(options({ ocsp: false }))
      assert.equal(first.ok, true, JSON.stringify(first.items, null, 1))
      assert.deepEqual(statuses(first), [`rim ${DRIVER}:fetched`, `rim ${VBIOS}:fetched`])
      assert.equal(first.requests, 2)
      assert.deepEqual(files(dir), [`nvidia/rims/${DRIVER}.xml`, `nvidia/rims/${VBIOS}.xml`])
      assert.equal(readFileSync(store.rimPath(DRIVER), 'utf8'), fixtureText(CASE, 'Driver_RIM_test_no_gpu.swidtag'))
      assert.match(first.items[0]!.detail, /version 545\.00, signed by "HCC RIM L4 Signer" \(certificate expired 2025-/)
      assert.equal(first.notes.length, 2)
      assert.match(first.notes[0]!, /RIM NV_GPU_DRIVER_GH100_545\.00: a certificate of its signing chain expired 2025-.*accepts it only at a time before then/)
      // What the cache holds verifies at a time its signer was valid.
      const verified = await verifyRim(store.readRim(VBIOS)!, { at: new Date('2024-06-01T00:00:00Z') })
      assert.equal(verified.verdict, 'accepted', JSON.stringify(verified.errors))

      const before = fake.rimRequests.length
      const second = await fetchNvidiaCollateral(options({ ocsp: false }))
      assert.deepEqual(statuses(second), [`rim ${DRIVER}:cached`, `rim ${VBIOS}:cached`])
      assert.equal(fake.rimRequests.length, before, 'a second fetch makes no RIM request')
      assert.equal(second.requests, 0)
    })

    test('two GPUs with the same firmware: each RIM is fetched once', async () => {
      const summary = await fetchNvidiaCollateral(options({ ocsp: false, gpus: [{ report, chain: realChain() }, { report, chain: realChain() }] }))
      assert.equal(summary.ok, true)
      assert.equal(fake.rimRequests.length, 2)
      assert.equal(summary.items.length, 2)
    })

    const refused: Array<{ name: string; serve: () => void; code: string }> = [
      { name: 'a wrong sha256 field', serve: () => fake.setRim(DRIVER, fixtureText(CASE, 'Driver_RIM_test_no_gpu.swidtag'), { sha256: '00'.repeat(32) }), code: 'ERR_COLLATERAL_FETCH' },
      { name: 'another id in the answer', serve: () => fake.setRim(DRIVER, fixtureText(CASE, 'Driver_RIM_test_no_gpu.swidtag'), { id: 'NV_GPU_DRIVER_GH100_545.01' }), code: 'ERR_COLLATERAL_FETCH' },
      { name: 'an answer that is not JSON', serve: () => fake.rims.set(`/v1/rim/${DRIVER}`, { status: 200, body: '<html>maintenance</html>' }), code: 'ERR_COLLATERAL_FETCH' },
      {
        name: 'a signature that does not verify',
        serve: () => fake.setRim(DRIVER, fixtureText('nvidia-gpu/rims/negative-bad-signature-driver-rim.xml')),
        code: 'ERR_RIM_SIGNATURE_INVALID',
      },
      { name: 'a RIM signed under a root that is not pinned', serve: () => fake.setRim(DRIVER, pki.resign(fixtureText(CASE, 'Driver_RIM_test_no_gpu.swidtag'))), code: 'ERR_CHAIN_UNTRUSTED' },
      { name: 'an authentic RIM for another version', serve: () => fake.setRim(DRIVER, fixtureText('nvidia-gpu/rims/NV_GPU_DRIVER_GH100_550.144.03.xml')), code: 'ERR_RIM_VERSION_MISMATCH' },
      { name: 'no such RIM (404)', serve: () => fake.rims.delete(`/v1/rim/${DRIVER}`), code: 'ERR_COLLATERAL_FETCH' },
    ]
    for (const c of refused) {
      test(`${c.name}: ${c.code}, not stored`, async () => {
        c.serve()
        const summary = await fetchNvidiaCollateral(options({ ocsp: false }))
        assert.equal(summary.ok, false)
        assert.deepEqual(statuses(summary), [`rim ${DRIVER}:failed:${c.code}`, `rim ${VBIOS}:fetched`])
        assert.equal(existsSync(store.rimPath(DRIVER)), false)
        assert.equal(fake.rimRequests.filter((r) => r.path === `/v1/rim/${DRIVER}`).length, 1, 'not retried')
      })
    }

    test('a damaged cached RIM is fetched again', async () => {
      await fetchNvidiaCollateral(options({ ocsp: false }))
      writeFileSync(store.rimPath(DRIVER), '<SoftwareIdentity/>')
      const lines: string[] = []
      const summary = await fetchNvidiaCollateral(options({ ocsp: false, log: (l) => lines.push(l) }))
      assert.deepEqual(statuses(summary), [`rim ${DRIVER}:fetched`, `rim ${VBIOS}:cached`])
      assert.match(lines.join('\n'), /the cached RIM NV_GPU_DRIVER_GH100_545\.00 is not valid/)
      assert.equal(readFileSync(store.rimPath(DRIVER), 'utf8'), fixtureText(CASE, 'Driver_RIM_test_no_gpu.swidtag'))
    })

    test('503 then 429 with Retry-After: retried with back-off', async () => {
      fake.failNextRim(1, { status: 503 })
      fake.failNextRim(1, { status: 429, headers: { 'retry-after': '5' } })
      const clock = fakeClock(T0)
      const summary = await fetchNvidiaCollateral(options({ ocsp: false, now: clock.now, sleep: clock.sleep }))
      assert.equal(summary.ok, true, JSON.stringify(summary.items))
      assert.equal(summary.requests, 4)
      assert.deepEqual(clock.sleeps, [1000, 5000])
    })

    test('403 and a TLS failure are not retried; 408 is', async () => {
      fake.failNextRim(1, { status: 403, body: '{"error":"forbidden"}' })
      const clock = fakeClock(T0)
      const forbidden = await fetchNvidiaCollateral(options({ ocsp: false, now: clock.now, sleep: clock.sleep }))
      assert.deepEqual(statuses(forbidden), [`rim ${DRIVER}:failed:ERR_COLLATERAL_FETCH`, `rim ${VBIOS}:fetched`])
      assert.equal(fake.rimRequests.filter((r) => r.path === `/v1/rim/${DRIVER}`).length, 1, 'not retried')

      const tls = await fetchNvidiaCollateral(options({ ocsp: false, rimUrl: fake.rimUrl.replace('http:', 'https:'), now: clock.now, sleep: clock.sleep }))
      assert.deepEqual(statuses(tls), [`rim ${DRIVER}:failed:ERR_COLLATERAL_FETCH`, `rim ${VBIOS}:cached`])
      assert.match(tls.items[0]!.detail, /not retried/)
      assert.equal(tls.requests, 1)
      assert.deepEqual(clock.sleeps, [])

      fake.failNextRim(1, { status: 408 })
      const timedOut = await fetchNvidiaCollateral(options({ ocsp: false, now: clock.now, sleep: clock.sleep }))
      assert.deepEqual(statuses(timedOut), [`rim ${DRIVER}:fetched`, `rim ${VBIOS}:cached`])
      assert.equal(timedOut.requests, 2)
    })

    test('a service that keeps failing: given up after `retries`, nothing stored', async () => {
      fake.failNextRim(10, { status: 500 })
      const clock = fakeClock(T0)
      const summary = await fetchNvidiaCollateral(options({ ocsp: false, retries: 2, now: clock.now, sleep: clock.sleep }))
      assert.deepEqual(statuses(summary), [`rim ${DRIVER}:failed:ERR_COLLATERAL_FETCH`, `rim ${VBIOS}:failed:ERR_COLLATERAL_FETCH`])
      assert.match(summary.items[0]!.detail, /HTTP 500.*gave up after 3 attempts/)
      assert.equal(fake.rimRequests.length, 6)
      assert.deepEqual(files(dir), [])
    })

    test('requests to one service are spaced by minIntervalMs', async () => {
      const clock = fakeClock(T0)
      await fetchNvidiaCollateral(options({ ocsp: false, minIntervalMs: 700, now: clock.now, sleep: clock.sleep }))
      assert.deepEqual(clock.sleeps, [700])
    })
  })

  describe('OCSP (test PKI, answers signed by each issuer)', () => {
    test('device chain and RIM chain: 2 RIMs and 6 OCSP responses, then cached, then re-fetched after nextUpdate', async () => {
      const clock = fakeClock(T0)
      const first = await fetchNvidiaCollateral(synthetic(clock))
      assert.equal(first.ok, true, JSON.stringify(first.items, null, 1))
      assert.deepEqual(statuses(first), [
        `rim ${DRIVER}:fetched`,
        `rim ${VBIOS}:fetched`,
        'ocsp GH100 A01 GSP BROM:fetched',
        'ocsp Test GH100 Provisioner ICA 1:fetched',
        'ocsp Test GH100 Identity:fetched',
        'ocsp Test HCC RIM L4 Signer:fetched',
        'ocsp Test Reference Value L3 GH100 001:fetched',
        'ocsp Test Reference Value GH100 CA:fetched',
      ])
      assert.deepEqual(first.items.slice(2).map((i) => i.chain), [...Array(3).fill('GPU 0 device chain'), ...Array(3).fill(`RIM ${DRIVER}`)])
      assert.equal(first.requests, 8, 'both RIMs share one signing chain: its OCSP responses are fetched once')
      assert.deepEqual(first.notes, [])
      const stored = files(dir)
      assert.equal(stored.filter((f) => f.startsWith('nvidia/ocsp/')).length, 6)
      assert.equal(stored.filter((f) => f.startsWith('nvidia/rims/')).length, 2)
      // Each request: one SHA-384 CertID and a fresh 32-byte critical nonce, POSTed as application/ocsp-request.
      const nonces = new Set<string>()
      for (const r of fake.ocspRequests) {
        const parsed = parseTestOcspRequest(r.body)
        assert.equal(r.method, 'POST')
        assert.equal(parsed.certIds[0]!.hashAlgorithm.algorithm, '2.16.840.1.101.3.4.2.2')
        assert.equal(parsed.nonce?.length, 32)
        assert.equal(parsed.nonceCritical, true)
        nonces.add(Buffer.from(parsed.nonce!).toString('hex'))
      }
      assert.equal(nonces.size, 6)
      // The stored response verifies on its own.
      const brom = parseCertificate(pki.device.brom.der)
      const status = await checkOcspStatus(parseOcspResponse(store.readOcsp(brom.sha256)!), { certificate: brom, issuer: parseCertificate(pki.device.provisioner.der), at: clock.now() })
      assert.equal(status.status, 'good')

      clock.advance(HOUR)
      const second = await fetchNvidiaCollateral(synthetic(clock))
      assert.deepEqual(second.items.map((i) => i.status), Array(8).fill('cached'))
      assert.equal(second.requests, 0)

      clock.advance(24 * HOUR)
      const lines: string[] = []
      const third = await fetchNvidiaCollateral(synthetic(clock, { log: (l) => lines.push(l) }))
      assert.deepEqual(third.items.map((i) => i.status), ['cached', 'cached', ...Array(6).fill('fetched')])
      assert.equal(third.requests, 6, 'only the OCSP responses, past their nextUpdate, are fetched again')
      assert.match(lines.join('\n'), /the cached OCSP response about "GH100 A01 GSP BROM" is past its nextUpdate: fetching a newer one/)
      const renewed = parseOcspResponse(store.readOcsp(brom.sha256)!)
      assert.equal(renewed.responses[0]!.thisUpdate.toISOString(), clock.now().toISOString())
    })

    test('the cache as verification reads it: RIMs with their ids, OCSP responses that cover the time', async () => {
      const clock = fakeClock(T0)
      await fetchNvidiaCollateral(synthetic(clock))
      const now = nvidiaCollateralFromTrustDir(store, report, pki.chainPem, new Date(clock.now().getTime() + HOUR))
      assert.deepEqual(now.rims.map((r) => r.id), [DRIVER, VBIOS])
      assert.equal(now.ocsp.length, 6)
      assert.match(now.notes[0]!, /^from trust directory .*: nvidia\/rims\/NV_GPU_DRIVER_GH100_545\.00\.xml, nvidia\/rims\/NV_GPU_VBIOS_.*\.xml, nvidia\/ocsp\/[0-9a-f]{64}\.der/)
      const later = nvidiaCollateralFromTrustDir(store, report, pki.chainPem, new Date(clock.now().getTime() + 48 * HOUR))
      assert.equal(later.rims.length, 2)
      assert.equal(later.ocsp.length, 0)
      assert.equal(later.notes.filter((n) => /not used, so its revocation is not checked: it is stale/.test(n)).length, 6)
      const empty = nvidiaCollateralFromTrustDir(new TrustStore(join(dir, 'empty')), report, pki.chainPem, clock.now())
      assert.deepEqual([empty.rims, empty.ocsp], [[], []])
      assert.match(empty.notes.join('\n'), /holds no driver RIM NV_GPU_DRIVER_GH100_545\.00/)
    })

    test('a revoked certificate: the response is stored (it is valid), a note says so, and it is always used', async () => {
      const clock = fakeClock(T0)
      const brom = parseCertificate(pki.device.brom.der)
      fake.statuses.set(brom.serialNumber, { status: 'revoked', revocationTime: new Date('2029-06-01T00:00:00Z'), reason: 1 })
      const summary = await fetchNvidiaCollateral(synthetic(clock))
      assert.equal(summary.ok, true)
      assert.match(summary.items[2]!.detail, /^revoked since 2029-06-01T00:00:00\.000Z \(keyCompromise\) for "GH100 A01 GSP BROM"/)
      assert.match(summary.notes.join('\n'), /"GH100 A01 GSP BROM" \(serial [0-9a-f]+\) is REVOKED since 2029-06-01/)
      assert.ok(existsSync(store.ocspPath(brom.sha256)))
      const later = nvidiaCollateralFromTrustDir(store, report, pki.chainPem, new Date('2031-01-01T00:00:00Z'))
      assert.equal(later.ocsp.length, 1, 'the stale response that says revoked')
      assert.match(later.notes.join('\n'), /is used although it is stale .*: it says "GH100 A01 GSP BROM" is revoked/)
    })

    test('a delegated responder with the OCSPSigning EKU is accepted; one without is refused, nothing stored', async () => {
      const clock = fakeClock(T0)
      const good = await issueTestCertificate(pki.device.provisioner, { name: 'CN=Test OCSP Responder, O=Vouch Test', extendedKeyUsages: [OCSP_SIGNING] })
      fake.delegates.set(pki.device.provisioner.name, good)
      const accepted = await fetchNvidiaCollateral(synthetic(clock))
      assert.equal(accepted.ok, true)
      assert.match(accepted.items[2]!.detail, /signed by delegated responder "Test OCSP Responder"/)

      rmSync(dir, { recursive: true, force: true })
      const bad = await issueTestCertificate(pki.device.provisioner, { name: 'CN=Test TLS Server, O=Vouch Test', extendedKeyUsages: ['1.3.6.1.5.5.7.3.1'] })
      fake.delegates.set(pki.device.provisioner.name, bad)
      const refused = await fetchNvidiaCollateral(synthetic(clock))
      assert.equal(refused.ok, false)
      assert.equal(refused.items[2]!.error?.code, 'ERR_OCSP_RESPONDER_UNTRUSTED')
      assert.equal(existsSync(store.ocspPath(parseCertificate(pki.device.brom.der).sha256)), false)
    })

    const tampered: Array<{ name: string; setup: () => void; code: string }> = [
      { name: 'another nonce echoed', setup: () => (fake.nonceOverride = new Uint8Array(32).fill(7)), code: 'ERR_OCSP_NONCE_MISMATCH' },
      { name: 'no nonce echoed', setup: () => (fake.nonceOverride = null), code: 'ERR_OCSP_NONCE_MISMATCH' },
      { name: 'a responder that does not know the certificates', setup: () => fake.forgetAll(), code: 'ERR_OCSP_UNSUCCESSFUL' },
    ]
    for (const c of tampered) {
      test(`${c.name}: ${c.code}, nothing stored`, async () => {
        c.setup()
        const summary = await fetchNvidiaCollateral(synthetic(fakeClock(T0)))
        assert.equal(summary.ok, false)
        assert.deepEqual(
          summary.items.filter((i) => i.kind === 'ocsp').map((i) => i.error?.code),
          Array(6).fill(c.code),
        )
        assert.deepEqual(files(dir).filter((f) => f.startsWith('nvidia/ocsp')), [])
      })
    }

    test('the real NVIDIA chain: the fake responder cannot answer for it, nothing stored', async () => {
      const summary = await fetchNvidiaCollateral(options({ now: fakeClock('2024-06-01T00:00:00Z').now, retries: 0 }))
      assert.deepEqual(summary.items.map((i) => `${i.kind}:${i.status}:${i.error?.code ?? ''}`), [
        'rim:fetched:',
        'rim:fetched:',
        ...Array(3 + 4).fill('ocsp:failed:ERR_OCSP_UNSUCCESSFUL'),
      ])
      // Device chain BROM, ICA, identity CA; driver RIM signer, L3, CA; the VBIOS RIM's own signer (same L3 and CA).
      assert.deepEqual(
        summary.items.slice(2).map((i) => i.chain),
        [...Array(3).fill('GPU 0 device chain'), ...Array(3).fill(`RIM ${DRIVER}`), `RIM ${VBIOS}`],
      )
      assert.deepEqual(files(dir).filter((f) => f.startsWith('nvidia/ocsp')), [])
    })

    test('a device chain that does not reach a pinned root: no OCSP request for it', async () => {
      const summary = await fetchNvidiaCollateral(synthetic(fakeClock(T0), { trust: { deviceRoots: [], rimRoots: pki.trust.rimRoots } }))
      const device = summary.items.find((i) => i.kind === 'ocsp' && i.chain === 'GPU 0 device chain')!
      assert.equal(device.error?.code, 'ERR_CHAIN_UNTRUSTED')
      assert.match(device.detail, /^not fetched: the device chain does not verify/)
      assert.equal(fake.ocspRequests.length, 3, 'only the RIM chain')
    })

    test('OCSP tryLater (HTTP 200) and 503 are retried', async () => {
      fake.failNextOcsp(1, { status: 200, body: buildUnsuccessfulOcspResponse(3) })
      fake.failNextOcsp(1, { status: 503 })
      const clock = fakeClock(T0)
      const summary = await fetchNvidiaCollateral(synthetic(clock))
      assert.equal(summary.ok, true, JSON.stringify(summary.items))
      assert.equal(summary.requests, 2 + 6 + 2)
      assert.deepEqual(clock.sleeps, [1000, 2000])
    })

    test('a response without nextUpdate is current only around its thisUpdate: fetched again on every later run', async () => {
      fake.validityMs = null
      const clock = fakeClock(T0)
      const first = await fetchNvidiaCollateral(synthetic(clock))
      assert.equal(first.ok, true, JSON.stringify(first.items))
      assert.match(first.items[2]!.detail, /no nextUpdate$/)
      clock.advance(10 * 60_000)
      const second = await fetchNvidiaCollateral(synthetic(clock))
      assert.equal(second.requests, 6)
    })

    test('ocsp: false fetches no OCSP response', async () => {
      const summary = await fetchNvidiaCollateral(synthetic(fakeClock(T0), { ocsp: false }))
      assert.equal(summary.items.length, 2)
      assert.equal(fake.ocspRequests.length, 0)
    })
  })

  describe('inputs that name nothing', () => {
    test('a chain that is not PEM, a leaf of no known GPU', async () => {
      const garbage = await fetchNvidiaCollateral(options({ gpus: [{ report, chain: 'not a chain' }] }))
      assert.deepEqual(garbage.items.map((i) => `${i.kind}:${i.error?.code}`), ['rim:ERR_INPUT_INVALID', 'ocsp:ERR_INPUT_INVALID'])
      const ca = await fetchNvidiaCollateral(options({ gpus: [{ report, chain: pki.device.root.pem }] }))
      assert.deepEqual(ca.items.map((i) => `${i.kind}:${i.error?.code}`), ['rim:ERR_GPU_ARCH_UNKNOWN', 'ocsp:ERR_GPU_ARCH_UNKNOWN'])
      assert.equal(fake.rimRequests.length + fake.ocspRequests.length, 0)
    })
  })
})

describe('TrustStore NVIDIA layout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-store-nvidia-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  test('paths, round trips, and names that cannot escape the directory', () => {
    const store = new TrustStore(dir)
    assert.equal(store.rimPath('NV_GPU_DRIVER_GH100_550.144.03'), join(store.dir, 'nvidia/rims/NV_GPU_DRIVER_GH100_550.144.03.xml'))
    assert.equal(store.ocspPath('ab'.repeat(32)), join(store.dir, `nvidia/ocsp/${'ab'.repeat(32)}.der`))
    assert.equal(store.readRim('NV_GPU_X'), null)
    store.writeRim('NV_GPU_X', '<x/>')
    assert.equal(store.readRim('NV_GPU_X'), '<x/>')
    store.writeOcsp('cd'.repeat(32), Uint8Array.of(0x30, 0))
    assert.deepEqual(store.readOcsp('cd'.repeat(32)), Uint8Array.of(0x30, 0))
    for (const bad of ['../etc/passwd', '.hidden', 'a/b', '', 'x'.repeat(201)]) assert.throws(() => store.rimPath(bad), TypeError, bad)
    for (const bad of ['AB'.repeat(32), 'ab', '../x']) assert.throws(() => store.ocspPath(bad), TypeError, bad)
  })
})
