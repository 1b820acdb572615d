/**
 * A test PKI for OCSP: CAs, leaves and responder certificates made with @peculiar/x509, and OCSP
 * responses and requests encoded with @peculiar/asn1-ocsp, so the verifier's own DER code is checked
 * against an independent encoder. Keys come from node:crypto's WebCrypto; responses are signed with
 * node:crypto. Everything is synthetic: no real NVIDIA key signs anything here.
 */
import 'reflect-metadata'
import { constants, createHash, KeyObject, sign, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import * as asnOcsp from '@peculiar/asn1-ocsp'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, Certificate as AsnCertificate, CRLReason, Extension } from '@peculiar/asn1-x509'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

/** Key types the test PKI can issue. */
export type TestKeyType = 'ec-p384' | 'ec-p256' | 'rsa-pss'

/** A certificate with its private key. */
export interface TestIdentity {
  /** Subject DN as @peculiar/x509 takes it, e.g. `CN=Test CA`. */
  name: string
  der: Uint8Array
  pem: string
  keyType: TestKeyType
  keys: webcrypto.CryptoKeyPair
  privateKey: KeyObject
  asn: AsnCertificate
}

const KEY_ALGORITHMS: Record<TestKeyType, { gen: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams; sign: Record<string, unknown> }> = {
  'ec-p384': { gen: { name: 'ECDSA', namedCurve: 'P-384' }, sign: { name: 'ECDSA', hash: 'SHA-384' } },
  'ec-p256': { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } },
  'rsa-pss': {
    gen: { name: 'RSA-PSS', hash: 'SHA-384', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: 2048 },
    sign: { name: 'RSA-PSS', hash: 'SHA-384', saltLength: 48 },
  },
}

/** What a test certificate should be. Every option says what happens when it is unset. */
export interface TestCertificateOptions {
  /** Subject DN. */
  name: string
  /** Key type. Unset: EC P-384. */
  keyType?: TestKeyType
  /** Whether it is a CA (basic constraints cA, keyCertSign). Unset: false. */
  ca?: boolean
  /** Extended key usages (OIDs). Unset: none (no extension). */
  extendedKeyUsages?: string[]
  /** Whether the EKU extension is critical. Unset: false. */
  ekuCritical?: boolean
  /** Serial number, hex. Unset: random. */
  serialNumber?: string
  /** Unset: 2020-01-01. */
  notBefore?: Date
  /** Unset: 2099-01-01. */
  notAfter?: Date
  /** Extra extensions. */
  extensions?: x509.Extension[]
}

async function identity(options: TestCertificateOptions, issuer: TestIdentity | null): Promise<TestIdentity> {
  const keyType = options.keyType ?? 'ec-p384'
  const alg = KEY_ALGORITHMS[keyType]
  const keys = (await webcrypto.subtle.generateKey(alg.gen, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const extensions: x509.Extension[] = [...(options.extensions ?? [])]
  if (options.ca) {
    extensions.push(new x509.BasicConstraintsExtension(true, undefined, true))
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true))
  }
  if (options.extendedKeyUsages) extensions.push(new x509.ExtendedKeyUsageExtension(options.extendedKeyUsages, options.ekuCritical ?? false))
  const common = {
    serialNumber: options.serialNumber ?? Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex').replace(/^[89a-f]/, '1'),
    subject: options.name,
    notBefore: options.notBefore ?? new Date('2020-01-01T00:00:00Z'),
    notAfter: options.notAfter ?? new Date('2099-01-01T00:00:00Z'),
    extensions,
  }
  const cert =
    issuer === null
      ? await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: options.name, keys, signingAlgorithm: alg.sign as unknown as webcrypto.Algorithm })
      : await x509.X509CertificateGenerator.create({
          ...common,
          issuer: issuer.name,
          publicKey: keys.publicKey,
          signingKey: issuer.keys.privateKey,
          signingAlgorithm: KEY_ALGORITHMS[issuer.keyType].sign as unknown as webcrypto.Algorithm,
        })
  const der = new Uint8Array(cert.rawData)
  return { name: options.name, der, pem: cert.toString('pem'), keyType, keys, privateKey: KeyObject.from(keys.privateKey), asn: AsnConvert.parse(der, AsnCertificate) }
}

/** A self-signed CA. */
export function createTestCa(name: string, options: Omit<TestCertificateOptions, 'name' | 'ca'> = {}): Promise<TestIdentity> {
  return identity({ ...options, name, ca: true }, null)
}

/** A certificate issued by `issuer`. */
export function issueTestCertificate(issuer: TestIdentity, options: TestCertificateOptions): Promise<TestIdentity> {
  return identity(options, issuer)
}

/** id-kp-OCSPSigning. */
export const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9'
const NONCE_OID = '1.3.6.1.5.5.7.48.1.2'
const HASH_OIDS = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3' } as const
/** CertID hash algorithms the testkit can write (SHA-512 is one the verifier does not compute). */
export type TestHash = keyof typeof HASH_OIDS

function hash(alg: TestHash, data: ArrayBuffer | Uint8Array): ArrayBuffer {
  const out = createHash(alg).update(new Uint8Array(data)).digest()
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength)
}

/** The CertID of `certDer` issued by `issuerDer`, computed with @peculiar/asn1-x509's view of both certificates. */
export function testCertId(certDer: Uint8Array, issuerDer: Uint8Array, alg: TestHash = 'sha384'): asnOcsp.CertID {
  const cert = AsnConvert.parse(certDer, AsnCertificate)
  const issuer = AsnConvert.parse(issuerDer, AsnCertificate)
  return new asnOcsp.CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: HASH_OIDS[alg], parameters: null }),
    issuerNameHash: new OctetString(hash(alg, AsnConvert.serialize(cert.tbsCertificate.issuer))),
    issuerKeyHash: new OctetString(hash(alg, issuer.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)),
    serialNumber: cert.tbsCertificate.serialNumber,
  })
}

/** One SingleResponse to write. */
export interface TestAnswer {
  certId: asnOcsp.CertID
  status: 'good' | 'revoked' | 'unknown'
  revocationTime?: Date
  /** CRLReason value (1 keyCompromise, 6 certificateHold, ...). Unset: none written. */
  reason?: number
  thisUpdate: Date
  /** Unset or null: none written. */
  nextUpdate?: Date | null
  /** Extensions of the SingleResponse. */
  extensions?: Array<{ oid: string; critical: boolean; value: Uint8Array }>
}

/** What to put in a response. Every option says what happens when it is unset. */
export interface TestResponseOptions {
  /** Who signs. */
  signer: TestIdentity
  answers: TestAnswer[]
  /** Responder ID. Unset: the signer's subject name. `key`: the SHA-1 of the signer's key. */
  responderId?: 'name' | 'key' | { name: TestIdentity } | { keyOf: TestIdentity }
  /** Unset: the first answer's thisUpdate. */
  producedAt?: Date
  /** Nonce to echo. Unset or null: no nonce extension. */
  nonce?: Uint8Array | null
  /** Write the nonce without the inner OCTET STRING, as some old responders do. Unset: false. */
  bareNonce?: boolean
  /** More response extensions. */
  extensions?: Array<{ oid: string; critical: boolean; value: Uint8Array }>
  /** Certificates to embed. Unset: none. */
  certs?: Array<TestIdentity | Uint8Array>
  /** Signature hash for ECDSA. Unset: SHA-384 for P-384 and RSA-PSS signers, SHA-256 for P-256. */
  signatureHash?: 'sha256' | 'sha384'
  /** Declare this signature algorithm OID instead (the signature is still made as usual). */
  signatureAlgorithmOid?: string
  /** Flip a bit of the signature. Unset: false. */
  corruptSignature?: boolean
}

function seconds(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000)
}

function extension(e: { oid: string; critical: boolean; value: Uint8Array }): Extension {
  return new Extension({ extnID: e.oid, critical: e.critical, extnValue: new OctetString(e.value) })
}

/** A DER OCSPResponse (successful, id-pkix-ocsp-basic) built with @peculiar/asn1-ocsp. */
export function buildTestOcspResponse(options: TestResponseOptions): Uint8Array {
  const signer = options.signer
  const responderId = options.responderId ?? 'name'
  const idCert = typeof responderId === 'object' ? ('name' in responderId ? responderId.name : responderId.keyOf) : signer
  const byKey = responderId === 'key' || (typeof responderId === 'object' && 'keyOf' in responderId)
  const responderID = byKey
    ? new asnOcsp.ResponderID({ byKey: new asnOcsp.KeyHash(hash('sha1', idCert.asn.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)) })
    : new asnOcsp.ResponderID({ byName: idCert.asn.tbsCertificate.subject })
  const responses = options.answers.map((a) => {
    const certStatus =
      a.status === 'good'
        ? new asnOcsp.CertStatus({ good: null })
        : a.status === 'unknown'
          ? new asnOcsp.CertStatus({ unknown: null })
          : new asnOcsp.CertStatus({
              revoked: new asnOcsp.RevokedInfo({
                revocationTime: seconds(a.revocationTime ?? a.thisUpdate),
                ...(a.reason !== undefined && { revocationReason: new CRLReason(a.reason) }),
              }),
            })
    return new asnOcsp.SingleResponse({
      certID: a.certId,
      certStatus,
      thisUpdate: seconds(a.thisUpdate),
      ...(a.nextUpdate && { nextUpdate: seconds(a.nextUpdate) }),
      ...(a.extensions && { singleExtensions: a.extensions.map(extension) }),
    })
  })
  const extensions = [...(options.extensions ?? [])]
  if (options.nonce) {
    extensions.push({ oid: NONCE_OID, critical: false, value: options.bareNonce ? options.nonce : new Uint8Array(AsnConvert.serialize(new OctetString(options.nonce))) })
  }
  const tbs = new asnOcsp.ResponseData({
    responderID,
    producedAt: seconds(options.producedAt ?? options.answers[0]?.thisUpdate ?? new Date()),
    responses,
    ...(extensions.length > 0 && { responseExtensions: extensions.map(extension) }),
  })
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs))
  let signature: Buffer
  let algorithm: AlgorithmIdentifier
  if (signer.keyType === 'rsa-pss') {
    signature = sign('sha384', tbsDer, { key: signer.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 })
    // The signer's own certificate declares RSASSA-PSS SHA-384 salt 48 when it is self-signed: reuse that encoding.
    algorithm = signer.asn.signatureAlgorithm
  } else {
    const h = options.signatureHash ?? (signer.keyType === 'ec-p256' ? 'sha256' : 'sha384')
    signature = sign(h, tbsDer, { key: signer.privateKey, dsaEncoding: 'der' })
    algorithm = new AlgorithmIdentifier({ algorithm: h === 'sha256' ? '1.2.840.10045.4.3.2' : '1.2.840.10045.4.3.3' })
  }
  if (options.signatureAlgorithmOid) {
    // ECDSA identifiers have no parameters (RFC 5758); RSA PKCS#1 ones have NULL.
    const ecdsa = options.signatureAlgorithmOid.startsWith('1.2.840.10045.4.')
    algorithm = new AlgorithmIdentifier({ algorithm: options.signatureAlgorithmOid, ...(!ecdsa && { parameters: null }) })
  }
  if (options.corruptSignature) signature[signature.length - 3]! ^= 0x01
  const basic = new asnOcsp.BasicOCSPResponse({
    tbsResponseData: tbs,
    signatureAlgorithm: algorithm,
    signature: new Uint8Array(signature).buffer,
    ...(options.certs && { certs: options.certs.map((c) => AsnConvert.parse(c instanceof Uint8Array ? c : c.der, AsnCertificate)) }),
  })
  const response = new asnOcsp.OCSPResponse({
    responseStatus: asnOcsp.OCSPResponseStatus.successful,
    responseBytes: new asnOcsp.ResponseBytes({ responseType: asnOcsp.id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
  })
  return new Uint8Array(AsnConvert.serialize(response))
}

/** A DER OCSPResponse carrying only an error status (1 malformedRequest, 2 internalError, 3 tryLater, 5 sigRequired, 6 unauthorized). */
export function buildUnsuccessfulOcspResponse(status: asnOcsp.OCSPResponseStatus): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(new asnOcsp.OCSPResponse({ responseStatus: status })))
}

/** A request as @peculiar/asn1-ocsp reads it: its CertIDs and nonce (inner OCTET STRING content). */
export interface ParsedTestRequest {
  certIds: asnOcsp.CertID[]
  nonce: Uint8Array | null
  nonceCritical: boolean | null
}

/** Parses a DER OCSPRequest with @peculiar/asn1-ocsp. */
export function parseTestOcspRequest(der: Uint8Array): ParsedTestRequest {
  const request = AsnConvert.parse(der, asnOcsp.OCSPRequest)
  const ext = request.tbsRequest.requestExtensions?.find((e) => e.extnID === NONCE_OID)
  const nonce = ext ? new Uint8Array(AsnConvert.parse(ext.extnValue.buffer, OctetString).buffer) : null
  return { certIds: request.tbsRequest.requestList.map((r) => r.reqCert), nonce, nonceCritical: ext ? ext.critical : null }
}

/** Lower-case hex of a CertID's serial number without leading zero bytes, as the verifier prints serials. */
export function serialHex(certId: asnOcsp.CertID): string {
  return Buffer.from(certId.serialNumber).toString('hex').replace(/^(00)+(?=.)/, '')
}
