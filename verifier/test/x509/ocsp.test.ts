/**
 * OCSP (RFC 6960) decoding, checking and request building, against responses and requests encoded by
 * an independent library (@peculiar/asn1-ocsp) with a synthetic PKI, and CertIDs of the real NVIDIA
 * device chain. Every rejection is checked by its code.
 */
import 'reflect-metadata'
import assert from 'node:assert/strict'
import { before, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import * as asnOcsp from '@peculiar/asn1-ocsp'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { VerificationError } from '@vouch/verifier'
import { parseCertificate, type Certificate } from '../../src/x509/certificate.js'
import { checkOcspStatus, evaluateOcspOutcome, type CheckOcspOptions, type OcspStatus } from '../../src/x509/ocsp-check.js'
import { ocspResponseStatusOf, parseOcspResponse } from '../../src/x509/ocsp-decode.js'
import { buildOcspRequest } from '../../src/x509/ocsp-request.js'
import { pemToDer } from '@vouch/protocol'
import { fixturesMissing, fixtureText } from '../helpers/fixtures.js'
import {
  buildTestOcspResponse,
  buildUnsuccessfulOcspResponse,
  createTestCa,
  issueTestCertificate,
  OCSP_SIGNING,
  parseTestOcspRequest,
  testCertId,
  type TestAnswer,
  type TestHash,
  type TestIdentity,
  type TestResponseOptions,
} from '../helpers/ocsp-testkit.js'

const THIS_UPDATE = new Date('2030-01-01T00:00:00Z')
const NEXT_UPDATE = new Date('2030-01-02T00:00:00Z')
const AT = new Date('2030-01-01T12:00:00Z')
const NONCE = new Uint8Array(32).map((_, i) => i + 1)

/** Runs `fn` and returns the code of the VerificationError it throws (or its promise rejects with). */
async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn()
  } catch (error) {
    if (error instanceof VerificationError) return error.code
    throw error
  }
  assert.fail('expected a VerificationError')
}

describe('OCSP responses from a synthetic PKI', () => {
  let ca: TestIdentity
  let otherCa: TestIdentity
  let leaf: TestIdentity
  let sibling: TestIdentity
  let delegate: TestIdentity
  let delegateNoEku: TestIdentity
  let delegateCriticalEku: TestIdentity
  let delegateOfOther: TestIdentity
  let delegateExpired: TestIdentity
  let rsaCa: TestIdentity
  let rsaLeaf: TestIdentity
  let p256Ca: TestIdentity
  let p256Leaf: TestIdentity
  let certificate: Certificate
  let issuer: Certificate

  before(async () => {
    ca = await createTestCa('CN=Test Provisioner ICA, O=Vouch Test')
    otherCa = await createTestCa('CN=Unrelated CA, O=Vouch Test')
    leaf = await issueTestCertificate(ca, { name: 'CN=Test GSP BROM, O=Vouch Test', ca: true, serialNumber: '00a1b2c3d4' })
    sibling = await issueTestCertificate(ca, { name: 'CN=Another BROM, O=Vouch Test', ca: true, serialNumber: '77' })
    delegate = await issueTestCertificate(ca, { name: 'CN=Test OCSP Responder, O=Vouch Test', extendedKeyUsages: [OCSP_SIGNING] })
    delegateNoEku = await issueTestCertificate(ca, { name: 'CN=Test Responder Without EKU, O=Vouch Test', extendedKeyUsages: ['1.3.6.1.5.5.7.3.1'] })
    delegateCriticalEku = await issueTestCertificate(ca, { name: 'CN=Test Responder Critical EKU, O=Vouch Test', extendedKeyUsages: [OCSP_SIGNING], ekuCritical: true })
    delegateOfOther = await issueTestCertificate(otherCa, { name: 'CN=Test OCSP Responder, O=Vouch Test', extendedKeyUsages: [OCSP_SIGNING] })
    delegateExpired = await issueTestCertificate(ca, {
      name: 'CN=Expired Responder, O=Vouch Test',
      extendedKeyUsages: [OCSP_SIGNING],
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2029-12-31T00:00:00Z'),
    })
    rsaCa = await createTestCa('CN=RSA-PSS CA', { keyType: 'rsa-pss' })
    rsaLeaf = await issueTestCertificate(rsaCa, { name: 'CN=RSA leaf' })
    p256Ca = await createTestCa('CN=P-256 CA', { keyType: 'ec-p256' })
    p256Leaf = await issueTestCertificate(p256Ca, { name: 'CN=P-256 leaf' })
    certificate = parseCertificate(leaf.der)
    issuer = parseCertificate(ca.der)
  })

  const answer = (extra: Partial<TestAnswer> = {}, hash: TestHash = 'sha384'): TestAnswer => ({
    certId: testCertId(leaf.der, ca.der, hash),
    status: 'good',
    thisUpdate: THIS_UPDATE,
    nextUpdate: NEXT_UPDATE,
    ...extra,
  })
  const respond = (extra: Partial<TestResponseOptions> = {}): Uint8Array => buildTestOcspResponse({ signer: ca, answers: [answer()], nonce: NONCE, ...extra })
  const check = (der: Uint8Array, extra: Partial<CheckOcspOptions> = {}): Promise<OcspStatus> =>
    checkOcspStatus(parseOcspResponse(der), { certificate, issuer, at: AT, nonce: NONCE, ...extra })

  describe('decoding', () => {
    test('every field of a BasicOCSPResponse', () => {
      const der = respond({ answers: [answer({ status: 'revoked', revocationTime: new Date('2029-06-01T10:00:00Z'), reason: 1 })], producedAt: new Date('2030-01-01T00:00:05Z') })
      const r = parseOcspResponse(der)
      assert.equal(r.responderId.kind, 'name')
      assert.equal(r.responderId.kind === 'name' && r.responderId.name, 'CN=Test Provisioner ICA, O=Vouch Test')
      assert.equal(r.producedAt.toISOString(), '2030-01-01T00:00:05.000Z')
      assert.deepEqual(r.nonce, NONCE)
      assert.deepEqual(r.signatureAlgorithm, { kind: 'ecdsa', hash: 'sha384' })
      assert.equal(r.certs.length, 0)
      assert.equal(r.responses.length, 1)
      const single = r.responses[0]!
      assert.equal(single.certId.hash, 'sha384')
      assert.equal(single.certId.serialNumber, 'a1b2c3d4')
      assert.equal(single.status, 'revoked')
      assert.equal(single.reason, 'keyCompromise')
      assert.equal(single.revocationTime?.toISOString(), '2029-06-01T10:00:00.000Z')
      assert.equal(single.thisUpdate.toISOString(), THIS_UPDATE.toISOString())
      assert.equal(single.nextUpdate?.toISOString(), NEXT_UPDATE.toISOString())
      assert.equal(parseOcspResponse(der), r, 'decoded once per content')
    })

    test('responder by key, embedded certificates, no nonce', () => {
      const r = parseOcspResponse(respond({ signer: delegate, responderId: 'key', certs: [delegate, ca], nonce: null }))
      assert.equal(r.responderId.kind, 'key')
      assert.equal(r.responderId.kind === 'key' && r.responderId.keyHash.length, 20)
      assert.deepEqual(r.certs.map((c) => c.subject), ['CN=Test OCSP Responder, O=Vouch Test', 'CN=Test Provisioner ICA, O=Vouch Test'])
      assert.equal(r.nonce, null)
    })

    const malformed: Array<{ name: string; der: () => Uint8Array }> = [
      { name: 'empty', der: () => new Uint8Array() },
      { name: 'not DER', der: () => new TextEncoder().encode('<html>Service Unavailable</html>') },
      { name: 'truncated', der: () => respond().subarray(0, 200) },
      { name: 'trailing bytes', der: () => Uint8Array.from([...respond(), 0]) },
      { name: 'a certificate instead', der: () => ca.der },
      {
        name: 'another response type',
        der: () => {
          const outer = AsnConvert.parse(respond(), asnOcsp.OCSPResponse)
          outer.responseBytes!.responseType = '1.3.6.1.5.5.7.48.1.99'
          return new Uint8Array(AsnConvert.serialize(outer))
        },
      },
      {
        name: 'a malformed embedded certificate',
        der: () => {
          const outer = AsnConvert.parse(respond({ certs: [delegate] }), asnOcsp.OCSPResponse)
          const basic = AsnConvert.parse(outer.responseBytes!.response.buffer, asnOcsp.BasicOCSPResponse)
          basic.certs![0]!.tbsCertificate.version = 1
          outer.responseBytes!.response = new OctetString(AsnConvert.serialize(basic))
          return new Uint8Array(AsnConvert.serialize(outer))
        },
      },
    ]
    for (const c of malformed) {
      test(`rejects ${c.name} with ERR_OCSP_MALFORMED`, async () => {
        assert.equal(await codeOf(() => parseOcspResponse(c.der())), 'ERR_OCSP_MALFORMED')
      })
    }

    const unsuccessful: Array<[asnOcsp.OCSPResponseStatus, string]> = [
      [asnOcsp.OCSPResponseStatus.malformedRequest, 'malformedRequest'],
      [asnOcsp.OCSPResponseStatus.internalError, 'internalError'],
      [asnOcsp.OCSPResponseStatus.tryLater, 'tryLater'],
      [asnOcsp.OCSPResponseStatus.sigRequired, 'sigRequired'],
      [asnOcsp.OCSPResponseStatus.unauthorized, 'unauthorized'],
    ]
    for (const [status, name] of unsuccessful) {
      test(`responseStatus ${name}: ERR_OCSP_UNSUCCESSFUL naming it`, () => {
        const der = buildUnsuccessfulOcspResponse(status)
        assert.throws(() => parseOcspResponse(der), (e: VerificationError) => e.code === 'ERR_OCSP_UNSUCCESSFUL' && e.message.includes(`"${name}"`))
        assert.equal(ocspResponseStatusOf(der), name)
      })
    }
    test('ocspResponseStatusOf a successful response and of garbage', () => {
      assert.equal(ocspResponseStatusOf(respond()), 'successful')
      assert.equal(ocspResponseStatusOf(new Uint8Array([1, 2, 3])), null)
    })
  })

  describe('status of a certificate', () => {
    test('good, signed by the issuer (responder by name)', async () => {
      const status = await check(respond())
      assert.deepEqual(status, {
        status: 'good',
        thisUpdate: THIS_UPDATE,
        nextUpdate: NEXT_UPDATE,
        producedAt: THIS_UPDATE,
        responder: { kind: 'issuer', subject: 'CN=Test Provisioner ICA, O=Vouch Test' },
      })
    })

    test('good, signed by the issuer (responder by key)', async () => {
      assert.equal((await check(respond({ responderId: 'key' }))).responder.kind, 'issuer')
    })

    test('revoked, with reason and time', async () => {
      const status = await check(respond({ answers: [answer({ status: 'revoked', revocationTime: new Date('2029-06-01T10:00:00Z'), reason: 1 })] }))
      assert.equal(status.status, 'revoked')
      assert.equal(status.reason, 'keyCompromise')
      assert.equal(status.revocationTime?.toISOString(), '2029-06-01T10:00:00.000Z')
    })

    test('revoked without a reason, certificateHold', async () => {
      const plain = await check(respond({ answers: [answer({ status: 'revoked', revocationTime: new Date('2029-06-01T10:00:00Z') })] }))
      assert.equal(plain.status, 'revoked')
      assert.equal(plain.reason, undefined)
      const hold = await check(respond({ answers: [answer({ status: 'revoked', revocationTime: new Date('2029-06-01T10:00:00Z'), reason: 6 })] }))
      assert.equal(hold.reason, 'certificateHold')
    })

    test('unknown', async () => {
      assert.equal((await check(respond({ answers: [answer({ status: 'unknown' })] }))).status, 'unknown')
    })

    for (const hash of ['sha1', 'sha256', 'sha384'] as const) {
      test(`a ${hash.toUpperCase()} CertID`, async () => {
        assert.equal((await check(respond({ answers: [answer({}, hash)] }))).status, 'good')
      })
    }

    test('the matching SingleResponse among several', async () => {
      const other: TestAnswer = { certId: testCertId(sibling.der, ca.der), status: 'revoked', revocationTime: THIS_UPDATE, thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE }
      assert.equal((await check(respond({ answers: [other, answer()] }))).status, 'good')
      assert.equal((await check(respond({ answers: [other, answer()] }), { certificate: parseCertificate(sibling.der) })).status, 'revoked')
    })

    test('a delegated responder the issuer certified for OCSP signing', async () => {
      const status = await check(respond({ signer: delegate, certs: [delegate] }))
      assert.deepEqual(status.responder, { kind: 'delegated', subject: 'CN=Test OCSP Responder, O=Vouch Test' })
      assert.equal((await check(respond({ signer: delegate, certs: [delegate], responderId: 'key' }))).responder.kind, 'delegated')
      assert.equal((await check(respond({ signer: delegateCriticalEku, certs: [delegateCriticalEku] }))).responder.kind, 'delegated', 'a critical EKU is processed')
    })

    test('the right delegate among same-named certificates', async () => {
      assert.equal((await check(respond({ signer: delegate, certs: [delegateOfOther, delegate] }))).responder.kind, 'delegated')
    })

    test('RSASSA-PSS and ECDSA P-256 / SHA-256 responses', async () => {
      const rsa = buildTestOcspResponse({ signer: rsaCa, answers: [{ certId: testCertId(rsaLeaf.der, rsaCa.der), status: 'good', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE }] })
      assert.equal((await checkOcspStatus(parseOcspResponse(rsa), { certificate: parseCertificate(rsaLeaf.der), issuer: parseCertificate(rsaCa.der), at: AT })).status, 'good')
      const p256 = buildTestOcspResponse({ signer: p256Ca, answers: [{ certId: testCertId(p256Leaf.der, p256Ca.der, 'sha256'), status: 'good', thisUpdate: THIS_UPDATE }] })
      const status = await checkOcspStatus(parseOcspResponse(p256), { certificate: parseCertificate(p256Leaf.der), issuer: parseCertificate(p256Ca.der), at: THIS_UPDATE })
      assert.equal(status.status, 'good')
      assert.equal(parseOcspResponse(p256).signatureAlgorithm.kind, 'ecdsa')
    })

    test('a nonce written without the inner OCTET STRING still matches', async () => {
      assert.equal((await check(respond({ bareNonce: true }))).status, 'good')
    })

    test('no nonce expected: a response without one is fine', async () => {
      const der = respond({ nonce: null })
      assert.equal((await checkOcspStatus(parseOcspResponse(der), { certificate, issuer, at: AT })).status, 'good')
    })

    test('freshness: thisUpdate within the clock skew, nextUpdate exclusive, no nextUpdate only around thisUpdate', async () => {
      assert.equal((await check(respond(), { at: new Date(THIS_UPDATE.getTime() - 60_000) })).status, 'good', 'one minute before thisUpdate is within the skew')
      assert.equal((await check(respond(), { at: new Date(NEXT_UPDATE.getTime() - 1000) })).status, 'good')
      const without = respond({ answers: [answer({ nextUpdate: null })] })
      assert.equal((await check(without, { at: new Date(THIS_UPDATE.getTime() + 4 * 60_000) })).nextUpdate, null)
      assert.equal(await codeOf(() => check(without, { at: new Date(THIS_UPDATE.getTime() + 6 * 60_000) })), 'ERR_OCSP_STALE')
      assert.equal(await codeOf(() => check(without, { at: new Date(THIS_UPDATE.getTime() + 30_000), clockSkewMs: 10_000 })), 'ERR_OCSP_STALE')
    })

    const rejections: Array<{ name: string; code: string; run: () => unknown }> = [
      { name: 'signed by an unrelated key under the issuer\'s name', code: 'ERR_OCSP_SIGNATURE_INVALID', run: () => check(respond({ signer: otherCa, responderId: { name: ca } })) },
      { name: 'a corrupted signature', code: 'ERR_OCSP_SIGNATURE_INVALID', run: () => check(respond({ corruptSignature: true })) },
      {
        name: 'a signature algorithm the verifier does not accept (sha384WithRSAEncryption)',
        code: 'ERR_OCSP_SIGNATURE_INVALID',
        run: () => check(respond({ signatureAlgorithmOid: '1.2.840.113549.1.1.12' })),
      },
      { name: 'ECDSA with SHA-256 declared over a SHA-384 signature', code: 'ERR_OCSP_SIGNATURE_INVALID', run: () => check(respond({ signatureHash: 'sha384', signatureAlgorithmOid: '1.2.840.10045.4.3.2' })) },
      { name: 'an unrelated responder that is not included', code: 'ERR_OCSP_RESPONDER_UNTRUSTED', run: () => check(respond({ signer: otherCa })) },
      { name: 'an unrelated self-signed responder that is included', code: 'ERR_OCSP_RESPONDER_UNTRUSTED', run: () => check(respond({ signer: otherCa, certs: [otherCa] })) },
      { name: 'a delegate without the OCSPSigning EKU', code: 'ERR_OCSP_RESPONDER_UNTRUSTED', run: () => check(respond({ signer: delegateNoEku, certs: [delegateNoEku] })) },
      { name: 'a delegate with the EKU, issued by another CA', code: 'ERR_OCSP_RESPONDER_UNTRUSTED', run: () => check(respond({ signer: delegateOfOther, certs: [delegateOfOther] })) },
      { name: 'a delegate expired at the verification time', code: 'ERR_OCSP_RESPONDER_UNTRUSTED', run: () => check(respond({ signer: delegateExpired, certs: [delegateExpired] })) },
      { name: 'a responder ID naming the delegate, signed by the issuer, delegate not included', code: 'ERR_OCSP_RESPONDER_UNTRUSTED', run: () => check(respond({ responderId: { keyOf: delegate } })) },
      { name: 'a delegate\'s signature under the issuer\'s name', code: 'ERR_OCSP_SIGNATURE_INVALID', run: () => check(respond({ signer: delegate, responderId: { name: ca }, certs: [delegate] })) },
      { name: 'the wrong serial number', code: 'ERR_OCSP_CERT_MISMATCH', run: () => check(respond({ answers: [{ ...answer(), certId: testCertId(sibling.der, ca.der) }] })) },
      {
        name: 'the wrong issuer key hash',
        code: 'ERR_OCSP_CERT_MISMATCH',
        run: () => {
          const certId = testCertId(leaf.der, ca.der)
          certId.issuerKeyHash = new OctetString(new Uint8Array(48))
          return check(respond({ answers: [{ ...answer(), certId }] }))
        },
      },
      {
        name: 'the wrong issuer name hash',
        code: 'ERR_OCSP_CERT_MISMATCH',
        run: () => {
          const certId = testCertId(leaf.der, ca.der)
          certId.issuerNameHash = new OctetString(new Uint8Array(48).fill(1))
          return check(respond({ answers: [{ ...answer(), certId }] }))
        },
      },
      { name: 'a CertID hashed with SHA-512', code: 'ERR_OCSP_CERT_MISMATCH', run: () => check(respond({ answers: [answer({}, 'sha512')] })) },
      { name: 'the certificate answered twice', code: 'ERR_OCSP_CERT_MISMATCH', run: () => check(respond({ answers: [answer(), answer({}, 'sha256')] })) },
      { name: 'an issuer that did not issue the certificate', code: 'ERR_OCSP_CERT_MISMATCH', run: () => check(respond(), { issuer: parseCertificate(otherCa.der) }) },
      { name: 'stale: at nextUpdate', code: 'ERR_OCSP_STALE', run: () => check(respond(), { at: NEXT_UPDATE }) },
      { name: 'stale: a day after nextUpdate', code: 'ERR_OCSP_STALE', run: () => check(respond(), { at: new Date('2030-01-03T00:00:00Z') }) },
      { name: 'not yet valid: thisUpdate after the verification time', code: 'ERR_OCSP_NOT_YET_VALID', run: () => check(respond(), { at: new Date('2029-12-31T23:00:00Z') }) },
      { name: 'a nonce expected, none echoed', code: 'ERR_OCSP_NONCE_MISMATCH', run: () => check(respond({ nonce: null })) },
      { name: 'another nonce echoed', code: 'ERR_OCSP_NONCE_MISMATCH', run: () => check(respond({ nonce: new Uint8Array(32).fill(9) })) },
      {
        name: 'a critical response extension the verifier does not process',
        code: 'ERR_OCSP_MALFORMED',
        run: () => check(respond({ extensions: [{ oid: '1.3.6.1.5.5.7.48.1.9', critical: true, value: Uint8Array.of(5, 0) }] })),
      },
      {
        name: 'a critical SingleResponse extension',
        code: 'ERR_OCSP_MALFORMED',
        run: () => check(respond({ answers: [answer({ extensions: [{ oid: '1.3.6.1.5.5.7.48.1.6', critical: true, value: Uint8Array.of(0x18, 0) }] })] })),
      },
    ]
    for (const r of rejections) {
      test(`rejects ${r.name}: ${r.code}`, async () => {
        assert.equal(await codeOf(r.run), r.code)
      })
    }

    test('non-critical unknown extensions are ignored', async () => {
      assert.equal((await check(respond({ extensions: [{ oid: '1.3.6.1.5.5.7.48.1.9', critical: false, value: Uint8Array.of(5, 0) }] }))).status, 'good')
    })

    test('messages say what was expected and what arrived', async () => {
      await assert.rejects(async () => check(respond({ nonce: new Uint8Array(32).fill(9) })), /expected 0102.*got 0909/)
      await assert.rejects(async () => check(respond({ answers: [{ ...answer(), certId: testCertId(sibling.der, ca.der) }] })), /answers for serial 77, not a1b2c3d4/)
      await assert.rejects(async () => check(respond(), { at: NEXT_UPDATE }), /nextUpdate 2030-01-02T00:00:00.000Z has passed/)
      await assert.rejects(async () => check(respond({ signer: delegateNoEku, certs: [delegateNoEku] })), /lacks the OCSPSigning extended key usage/)
    })
  })

  describe('buildOcspRequest, read back by @peculiar/asn1-ocsp', () => {
    for (const hash of ['sha1', 'sha256', 'sha384'] as const) {
      test(`a ${hash.toUpperCase()} CertID with a 32-byte critical nonce`, () => {
        const der = buildOcspRequest(certificate, issuer, { hash, nonce: NONCE })
        const parsed = parseTestOcspRequest(der)
        assert.equal(parsed.certIds.length, 1)
        assert.deepEqual(AsnConvert.serialize(parsed.certIds[0]!), AsnConvert.serialize(testCertId(leaf.der, ca.der, hash)))
        assert.deepEqual(parsed.nonce, NONCE)
        assert.equal(parsed.nonceCritical, true)
      })
    }

    test('defaults: SHA-384; without a nonce, no extensions; a non-critical nonce on request', () => {
      const parsed = parseTestOcspRequest(buildOcspRequest(certificate, issuer))
      assert.equal(parsed.certIds[0]!.hashAlgorithm.algorithm, '2.16.840.1.101.3.4.2.2')
      assert.equal(parsed.nonce, null)
      assert.equal(parseTestOcspRequest(buildOcspRequest(certificate, issuer, { nonce: NONCE, nonceCritical: false })).nonceCritical, false)
    })

    test('a nonce must be 1 to 32 bytes', () => {
      assert.throws(() => buildOcspRequest(certificate, issuer, { nonce: new Uint8Array(0) }), RangeError)
      assert.throws(() => buildOcspRequest(certificate, issuer, { nonce: new Uint8Array(33) }), RangeError)
    })

    test('the serial number is copied byte for byte (leading zero of a positive INTEGER kept)', () => {
      const highBit = parseTestOcspRequest(buildOcspRequest(parseCertificate(rsaLeaf.der), parseCertificate(rsaCa.der)))
      assert.deepEqual(new Uint8Array(highBit.certIds[0]!.serialNumber), new Uint8Array(testCertId(rsaLeaf.der, rsaCa.der).serialNumber))
    })
  })
})

describe('CertIDs of the real NVIDIA device chain', { skip: fixturesMissing('nvidia-gpu') }, () => {
  const chain = (): Certificate[] => pemToDer(fixtureText('nvidia-gpu/cases/hopper-h100-550.90.07/chain.pem')).map((d) => parseCertificate(d))

  test('requests for BROM, provisioner ICA and identity CA match an independent CertID', () => {
    const certs = chain()
    for (const i of [1, 2, 3]) {
      for (const hash of ['sha1', 'sha256', 'sha384'] as const) {
        const parsed = parseTestOcspRequest(buildOcspRequest(certs[i]!, certs[i + 1]!, { hash, nonce: NONCE }))
        assert.deepEqual(AsnConvert.serialize(parsed.certIds[0]!), AsnConvert.serialize(testCertId(certs[i]!.der, certs[i + 1]!.der, hash)), `chain[${i}] ${hash}`)
      }
    }
  })

  test('a response about the real BROM matches its CertID; a test CA cannot answer for NVIDIA', async () => {
    const [, brom, ica] = chain()
    const impostor = await createTestCa('CN=Impostor Responder')
    const der = buildTestOcspResponse({
      signer: impostor,
      certs: [impostor],
      answers: [{ certId: testCertId(brom!.der, ica!.der), status: 'good', thisUpdate: THIS_UPDATE, nextUpdate: NEXT_UPDATE }],
    })
    // The CertID matches (no ERR_OCSP_CERT_MISMATCH): the responder is what fails.
    assert.equal(await codeOf(() => checkOcspStatus(parseOcspResponse(der), { certificate: brom!, issuer: ica!, at: AT })), 'ERR_OCSP_RESPONDER_UNTRUSTED')
    // The ICA's own certificate does not answer for the BROM: wrong issuer.
    const [, , , identity] = chain()
    assert.equal(await codeOf(() => checkOcspStatus(parseOcspResponse(der), { certificate: brom!, issuer: identity!, at: AT })), 'ERR_OCSP_CERT_MISMATCH')
  })
})

describe('evaluateOcspOutcome', () => {
  const at = new Date('2030-01-10T00:00:00Z')
  const revokedAt = new Date('2030-01-09T00:00:00Z')
  const day = 86_400_000
  const cases: Array<{ name: string; status: Pick<OcspStatus, 'status' | 'revocationTime' | 'reason'>; policy?: Partial<Parameters<typeof evaluateOcspOutcome>[1]>; want: string }> = [
    { name: 'good', status: { status: 'good' }, want: 'pass' },
    { name: 'unknown', status: { status: 'unknown' }, want: 'ERR_OCSP_UNKNOWN' },
    { name: 'unknown, allowed', status: { status: 'unknown' }, policy: { allowUnknown: true }, want: 'warn' },
    { name: 'revoked', status: { status: 'revoked', revocationTime: revokedAt, reason: 'superseded' }, want: 'ERR_CERT_REVOKED' },
    { name: 'revoked, within the grace period', status: { status: 'revoked', revocationTime: revokedAt, reason: 'superseded' }, policy: { revokedGracePeriodMs: 2 * day }, want: 'warn' },
    { name: 'revoked, past the grace period', status: { status: 'revoked', revocationTime: revokedAt }, policy: { revokedGracePeriodMs: day }, want: 'ERR_CERT_REVOKED' },
    { name: 'revoked for key compromise: no grace', status: { status: 'revoked', revocationTime: revokedAt, reason: 'keyCompromise' }, policy: { revokedGracePeriodMs: 2 * day }, want: 'ERR_CERT_REVOKED' },
    { name: 'on hold', status: { status: 'revoked', revocationTime: revokedAt, reason: 'certificateHold' }, want: 'ERR_CERT_REVOKED' },
    { name: 'on hold, allowed', status: { status: 'revoked', revocationTime: revokedAt, reason: 'certificateHold' }, policy: { allowCertificateHold: true }, want: 'warn' },
  ]
  for (const c of cases) {
    test(`${c.name}: ${c.want}`, () => {
      const outcome = evaluateOcspOutcome(c.status, { at, allowUnknown: false, revokedGracePeriodMs: 0, what: 'GSP BROM', ...c.policy })
      const got = outcome.pass ? (outcome.warning ? 'warn' : 'pass') : outcome.code
      assert.equal(got, c.want, JSON.stringify(outcome))
      if (!outcome.pass) assert.match(outcome.message, /GSP BROM/)
    })
  }
})
