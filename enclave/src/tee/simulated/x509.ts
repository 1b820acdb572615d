/**
 * X.509 building blocks shared by the simulated AMD and NVIDIA certificate authorities: what a CA issues,
 * the parts @peculiar/asn1-x509 does not write the way the vendors do (extension contents, serials, the
 * signed envelope; the DER itself comes from `@vouch/protocol`'s writer), key identifiers, and what a CA
 * reads back from the certificate of its issuer.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import {
  Certificate,
  Extension as AsnExtension,
  Extensions,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Time,
  Validity,
  Version,
  id_ce_subjectKeyIdentifier,
  type AlgorithmIdentifier,
  type Name,
} from '@peculiar/asn1-x509'
import { derElement, integerContent } from '@vouch/protocol'

/** A DER certificate and the private key of its subject (the key that signs what it issues). */
export interface IssuedCertificate {
  der: Uint8Array
  key: KeyObject
}

/** One X.509 extension as written: `value` is the content of extnValue, without its OCTET STRING. */
export interface CertificateExtension {
  oid: string
  critical: boolean
  value: Uint8Array
}

/** The bytes as an ArrayBuffer of their own (asn1-schema takes ArrayBuffers; a view may share a larger one). */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}

/** The SubjectPublicKeyInfo of a key (the public half of a private one). */
export function spkiOf(key: KeyObject): SubjectPublicKeyInfo {
  return AsnConvert.parse(createPublicKey(key).export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo)
}

/** RFC 5280 §4.2.1.2 method 1, as AMD and NVIDIA compute it: SHA-1 of the subjectPublicKey bits. */
export function keyIdentifier(spki: SubjectPublicKeyInfo): Uint8Array {
  return new Uint8Array(createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest())
}

/** What a CA takes from its issuer's certificate for what it issues. */
export interface IssuerInfo {
  /** The issuer's subject, the issuer name of what it signs. */
  name: Name
  /** Its subjectKeyIdentifier (computed from its key when it has none), for authorityKeyIdentifier. */
  keyId: Uint8Array
  /** Its DER SubjectPublicKeyInfo. */
  spki: Uint8Array
}

/** Reads {@link IssuerInfo} from an issuer's certificate. */
export function issuerInfo(issuer: IssuedCertificate): IssuerInfo {
  const tbs = AsnConvert.parse(issuer.der, Certificate).tbsCertificate
  const ski = tbs.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier)
  const keyId =
    ski === undefined
      ? keyIdentifier(tbs.subjectPublicKeyInfo)
      : new Uint8Array(AsnConvert.parse(ski.extnValue.buffer, SubjectKeyIdentifier).buffer)
  return { name: tbs.subject, keyId, spki: new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo)) }
}

/** The extensions as asn1-x509 writes them, each value wrapped in its extnValue OCTET STRING. */
export function toAsnExtensions(list: readonly CertificateExtension[]): Extensions {
  return new Extensions(
    list.map(
      (e) =>
        new AsnExtension({ extnID: e.oid, critical: e.critical, extnValue: new OctetString(toArrayBuffer(e.value)) }),
    ),
  )
}

/** What a v3 certificate says, whichever CA writes it and however it is signed. */
export interface CertificateBody {
  serial: bigint
  issuerName: Name
  subjectName: Name
  notBefore: Date
  notAfter: Date
  /** GeneralizedTime for both dates even before 2050, as NVIDIA's RIM CA and L3 have it. Unset: UTCTime until 2049. */
  generalizedTime?: boolean
  spki: SubjectPublicKeyInfo
  /** In order; no extensions field at all when empty. */
  extensions: readonly CertificateExtension[]
}

/** A v3 certificate of `body`, its TBSCertificate signed under `algorithm` by `sign`. */
export function signCertificate(
  body: CertificateBody,
  algorithm: AlgorithmIdentifier,
  sign: (tbs: Uint8Array) => Uint8Array,
): Uint8Array {
  const validity = new Validity({ notBefore: body.notBefore, notAfter: body.notAfter })
  if (body.generalizedTime === true) {
    validity.notBefore = new Time({ generalTime: body.notBefore })
    validity.notAfter = new Time({ generalTime: body.notAfter })
  }
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: toArrayBuffer(integerContent(body.serial)),
    signature: algorithm,
    issuer: body.issuerName,
    validity,
    subject: body.subjectName,
    subjectPublicKeyInfo: body.spki,
  })
  if (body.extensions.length > 0) tbs.extensions = toAsnExtensions(body.extensions)
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs))
  return signed(tbsDer, algorithm, sign(tbsDer))
}

/** SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }: the shape of both Certificate and CertificateList. */
export function signed(tbs: Uint8Array, algorithm: AlgorithmIdentifier, signature: Uint8Array): Uint8Array {
  return derElement(0x30, tbs, new Uint8Array(AsnConvert.serialize(algorithm)), derElement(0x03, Uint8Array.of(0), signature))
}
