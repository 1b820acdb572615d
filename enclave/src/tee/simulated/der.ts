/**
 * DER and X.509 building blocks shared by the simulated AMD and NVIDIA certificate authorities: the few
 * encodings @peculiar/asn1-x509 does not write the way the vendors do (extension contents, serials,
 * the signed envelope), key identifiers, and what a CA reads back from the certificate of its issuer.
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
import type { CertificateExtension, IssuedCertificate } from './amd-ca.js'

/** The DER length octets of `length` content bytes: short form below 128, long form otherwise. */
export function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length)
  const bytes: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

/** A DER tag-length-value whose content is `content` concatenated. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(content)
  return new Uint8Array(Buffer.concat([Uint8Array.of(tag), derLength(body.length), body]))
}

/** A DER OBJECT IDENTIFIER from its dotted form. */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(BigInt)
  const out: number[] = []
  const push = (arc: bigint): void => {
    const bytes = [Number(arc & 0x7fn)]
    for (let n = arc >> 7n; n > 0n; n >>= 7n) bytes.unshift(Number(n & 0x7fn) | 0x80)
    out.push(...bytes)
  }
  push(arcs[0]! * 40n + arcs[1]!)
  for (const arc of arcs.slice(2)) push(arc)
  return tlv(0x06, Uint8Array.from(out))
}

/** Minimal two's-complement content octets of a non-negative INTEGER. */
export function integerContent(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError(`negative integers are not supported, got ${value}`)
  let hex = value.toString(16)
  if (hex.length % 2 === 1) hex = '0' + hex
  const bytes = Buffer.from(hex, 'hex')
  return new Uint8Array(bytes[0]! & 0x80 ? Buffer.concat([Uint8Array.of(0), bytes]) : bytes)
}

/** A DER INTEGER (non-negative). */
export function derInteger(value: bigint | number): Uint8Array {
  return tlv(0x02, integerContent(BigInt(value)))
}

/** A DER IA5String; throws a RangeError for text that is not ASCII. */
export function derIa5String(text: string): Uint8Array {
  if (![...text].every((c) => c.charCodeAt(0) < 0x80)) {
    throw new RangeError(`IA5String must be ASCII, got ${JSON.stringify(text)}`)
  }
  return tlv(0x16, Buffer.from(text, 'ascii'))
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
  return tlv(0x30, tbs, new Uint8Array(AsnConvert.serialize(algorithm)), tlv(0x03, Uint8Array.of(0), signature))
}
