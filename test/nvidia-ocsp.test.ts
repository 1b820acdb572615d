/**
 * OCSP for GPU evidence, end to end: responses about the simulated GPU's device chain and RIM chain,
 * signed by the simulated CAs' own keys, judged under the policy (requireOcsp, allowOcspUnknown, the
 * revocation grace period). A revoked certificate is rejected with its own code.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate as AsnCertificate } from '@peculiar/asn1-x509'
import { createSimulatedGpu, simulatedNvidiaRoots, type IssuedCertificate } from '@vouch/enclave/simulated'
import { toHex } from '@vouch/protocol'
import { parsePolicy, verifyNvidiaGpu, type Policy } from '@vouch/verifier'
import { buildTestOcspResponse, testCertId, type TestAnswer, type TestIdentity } from '../verifier/test/helpers/ocsp-testkit.js'

const devText = readFileSync(fileURLToPath(new URL('../policies/dev-simulated.yaml', import.meta.url)), 'utf8')
const dev = (extra = ''): Policy =>
  parsePolicy(devText.replace('requireOcsp: false', `requireOcsp: true${extra}`), 'dev-simulated-ocsp.yaml')
const codes = (r: { errors: Array<{ code: string }> }): string[] => r.errors.map((e) => e.code)
const HOUR = 3_600_000

/** The simulated CA certificate as the test kit's signer. */
function signer(issued: IssuedCertificate): TestIdentity {
  return { name: '', der: issued.der, pem: '', keyType: 'ec-p384', keys: undefined as never, privateKey: issued.key, asn: AsnConvert.parse(issued.der, AsnCertificate) }
}

/** One response per certificate of `chain` below its root, each signed by that certificate's issuer. */
function responsesFor(chain: readonly Uint8Array[], issuers: readonly IssuedCertificate[], status: (i: number) => Partial<TestAnswer> = () => ({})): Uint8Array[] {
  const now = Date.now()
  return chain.slice(0, -1).map((der, i) =>
    buildTestOcspResponse({
      signer: signer(issuers[i]!),
      answers: [{ certId: testCertId(der, chain[i + 1]!), status: 'good', thisUpdate: new Date(now - HOUR), nextUpdate: new Date(now + 24 * HOUR), ...status(i) }],
    }),
  )
}

async function evidence() {
  const gpu = createSimulatedGpu()
  const nonce = new Uint8Array(32).fill(5)
  const { report, chain } = await gpu.getReport(nonce)
  const roots = simulatedNvidiaRoots('HOPPER')
  const { driver, vbios } = gpu.rims()
  // Device chain from the BROM up: BROM ← provisioner ← identity ← root.
  const device = responsesFor(chain.slice(1), [roots.provisioner, roots.identity, roots.deviceRoot])
  // RIM chain: signer ← L3 ← CA ← root (the same chain signs both RIMs).
  const rimChain = [roots.rimSigner.der, roots.rimL3.der, roots.rimCa.der, roots.rimRoot.der]
  const rim = responsesFor(rimChain, [roots.rimL3, roots.rimCa, roots.rimRoot])
  return { report, chain, nonce: toHex(nonce), rims: [driver, vbios], device, rim, roots, rimChain }
}

describe('OCSP on the simulated GPU', () => {
  test('good responses for the device chain and both RIM chains satisfy requireOcsp', async () => {
    const e = await evidence()
    const result = await verifyNvidiaGpu({ report: e.report, chain: e.chain, nonce: e.nonce, rims: e.rims, ocsp: [...e.device, ...e.rim] }, { policy: dev() })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    for (const id of ['revocation.device', 'revocation.rim.driver', 'revocation.rim.vbios', 'policy.ocsp']) {
      assert.equal(result.checks.find((k) => k.id === id)?.status, 'pass', id)
    }
  })

  test('without responses, requireOcsp rejects', async () => {
    const e = await evidence()
    const result = await verifyNvidiaGpu({ report: e.report, chain: e.chain, rims: e.rims }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_POLICY_OCSP_REQUIRED'])
  })

  test('a missing response for one RIM chain certificate leaves requireOcsp unmet', async () => {
    const e = await evidence()
    const result = await verifyNvidiaGpu({ report: e.report, chain: e.chain, rims: e.rims, ocsp: [...e.device, ...e.rim.slice(1)] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_POLICY_OCSP_REQUIRED'])
  })

  test('a revoked BROM certificate is rejected as revoked', async () => {
    const e = await evidence()
    const device = responsesFor(e.chain.slice(1), [e.roots.provisioner, e.roots.identity, e.roots.deviceRoot], (i) =>
      i === 0 ? { status: 'revoked', revocationTime: new Date(Date.now() - 2 * HOUR), reason: 4 } : {},
    )
    const result = await verifyNvidiaGpu({ report: e.report, chain: e.chain, ocsp: device }, { policy: dev() })
    assert.equal(codes(result)[0], 'ERR_CERT_REVOKED')
    assert.match(result.errors[0]!.message, /revoked/)
  })

  test('a revocation inside the policy grace period passes with a warning; outside it does not', async () => {
    const e = await evidence()
    const device = responsesFor(e.chain.slice(1), [e.roots.provisioner, e.roots.identity, e.roots.deviceRoot], (i) =>
      i === 1 ? { status: 'revoked', revocationTime: new Date(Date.now() - 2 * HOUR), reason: 4 } : {},
    )
    const inside = await verifyNvidiaGpu({ report: e.report, chain: e.chain, ocsp: device }, { policy: dev('\n  ocspRevokedGracePeriod: 3h') })
    assert.equal(inside.verdict, 'accepted', JSON.stringify(inside.errors))
    assert.equal(inside.checks.find((k) => k.id === 'revocation.device')?.warning, true)
    const outside = await verifyNvidiaGpu({ report: e.report, chain: e.chain, ocsp: device }, { policy: dev('\n  ocspRevokedGracePeriod: 1h') })
    assert.equal(codes(outside)[0], 'ERR_CERT_REVOKED')
  })

  test('unknown is rejected unless the policy allows it', async () => {
    const e = await evidence()
    const device = responsesFor(e.chain.slice(1), [e.roots.provisioner, e.roots.identity, e.roots.deviceRoot], (i) => (i === 2 ? { status: 'unknown' } : {}))
    const strict = await verifyNvidiaGpu({ report: e.report, chain: e.chain, ocsp: device }, { policy: dev() })
    assert.equal(codes(strict)[0], 'ERR_OCSP_UNKNOWN')
    const lenient = await verifyNvidiaGpu({ report: e.report, chain: e.chain, ocsp: device }, { policy: dev('\n  allowOcspUnknown: true') })
    assert.equal(lenient.verdict, 'accepted', JSON.stringify(lenient.errors))
  })

  test('a response signed by a key that is not the issuer is rejected', async () => {
    const e = await evidence()
    const forged = responsesFor(e.chain.slice(1), [e.roots.identity, e.roots.identity, e.roots.deviceRoot])
    const result = await verifyNvidiaGpu({ report: e.report, chain: e.chain, ocsp: forged }, { policy: dev() })
    assert.equal(result.verdict, 'rejected')
    assert.ok(['ERR_OCSP_SIGNATURE_INVALID', 'ERR_OCSP_RESPONDER_UNTRUSTED'].includes(codes(result)[0]!), codes(result).join())
  })

  test('a stale response is rejected', async () => {
    const e = await evidence()
    const stale = responsesFor(e.chain.slice(1), [e.roots.provisioner, e.roots.identity, e.roots.deviceRoot], () => ({ thisUpdate: new Date(Date.now() - 48 * HOUR), nextUpdate: new Date(Date.now() - 24 * HOUR) }))
    const result = await verifyNvidiaGpu({ report: e.report, chain: e.chain, ocsp: stale }, { policy: dev() })
    assert.equal(codes(result)[0], 'ERR_OCSP_STALE')
  })

  test('garbage in place of a response', async () => {
    const e = await evidence()
    const result = await verifyNvidiaGpu({ report: e.report, chain: e.chain, ocsp: [new Uint8Array([0x30, 0x03, 0x0a, 0x01, 0x00])] }, { policy: dev() })
    assert.equal(codes(result)[0], 'ERR_OCSP_MALFORMED')
  })
})
