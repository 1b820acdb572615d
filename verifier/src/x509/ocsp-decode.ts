/**
 * OCSP (RFC 6960) responses decoded with the strict DER reader: the wire format only. Nothing decoded
 * here is trusted yet; ocsp-check.ts decides whether a response answers for a certificate and may be
 * believed.
 */
import { latin1Text } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import { decodeName, decodeSignatureAlgorithm, parseCertificate, sha256Hex, type Certificate, type SignatureAlgorithm } from './certificate.js'
import { contextTag, decodeExtensions, decodeOid, DerReader, integerHex, integerValue, readSingle, TAG, type Element, type Extension } from './der.js'

/** id-pkix-ocsp-basic: the only response type RFC 6960 defines, and the only one accepted. */
export const OID_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1'
/** id-pkix-ocsp-nonce (RFC 8954). */
export const OID_OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2'
const ENUMERATED = 0x0a

/** Hash algorithms a CertID may use here. NVIDIA's responder is asked with SHA-384. */
export type OcspHashAlgorithm = 'sha1' | 'sha256' | 'sha384'
export const OCSP_HASH_OIDS: Readonly<Record<OcspHashAlgorithm, string>> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
}
const HASH_BY_OID = new Map<string, OcspHashAlgorithm>(Object.entries(OCSP_HASH_OIDS).map(([name, oid]) => [oid, name as OcspHashAlgorithm]))

/** OCSPResponseStatus values by number; 4 is not used. */
export const OCSP_RESPONSE_STATUSES: Readonly<Record<number, string>> = {
  0: 'successful',
  1: 'malformedRequest',
  2: 'internalError',
  3: 'tryLater',
  5: 'sigRequired',
  6: 'unauthorized',
}

/** CRLReason (RFC 5280 §5.3.1) names by value; 7 is not used. */
const CRL_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  null,
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const
/** Why a certificate was revoked. */
export type CrlReason = Exclude<(typeof CRL_REASONS)[number], null>

/** A certificate's revocation status as a responder states it. */
export type OcspCertStatus = 'good' | 'revoked' | 'unknown'

/** An extension of an OCSP response: criticality and the extnValue contents. */
export type OcspExtension = Extension

/** Which certificate a SingleResponse speaks about. */
export interface OcspCertId {
  /** The CertID's hash algorithm, or null for one not computed here (such a CertID matches nothing). */
  hash: OcspHashAlgorithm | null
  hashOid: string
  /** Hash of the DER issuer name of the certificate. */
  issuerNameHash: Uint8Array
  /** Hash of the issuer's subjectPublicKey BIT STRING value. */
  issuerKeyHash: Uint8Array
  /** Lower-case hex without leading zero bytes, as {@link Certificate.serialNumber}. */
  serialNumber: string
}

/** One SingleResponse. */
export interface OcspSingleResponse {
  certId: OcspCertId
  status: OcspCertStatus
  /** Set when `status` is `revoked`. */
  revocationTime: Date | null
  /** Set when revoked with a reason. */
  reason: CrlReason | null
  thisUpdate: Date
  /** Null when the responder promises nothing (then newer information is always available). */
  nextUpdate: Date | null
  extensions: ReadonlyMap<string, OcspExtension>
}

/** The responder as the response names it. */
export type OcspResponderId = { kind: 'name'; name: string; der: Uint8Array } | { kind: 'key'; keyHash: Uint8Array }

/** A decoded, successful OCSP response (a BasicOCSPResponse). Nothing in it is verified yet. */
export interface OcspResponse {
  der: Uint8Array
  /** SHA-256 of the DER, lower-case hex: the cache key. */
  sha256: string
  responderId: OcspResponderId
  producedAt: Date
  responses: OcspSingleResponse[]
  /** The nonce extension's value (the inner OCTET STRING's content), or null when absent. */
  nonce: Uint8Array | null
  extensions: ReadonlyMap<string, OcspExtension>
  signatureAlgorithm: SignatureAlgorithm
  /** The exact DER of tbsResponseData: what the signature covers. */
  tbs: Uint8Array
  signature: Uint8Array
  /** Certificates the responder included (a delegated responder's certificate, usually). */
  certs: Certificate[]
}

/** An `ERR_OCSP_MALFORMED` error. */
export function ocspMalformed(message: string, cause?: unknown): VerificationError {
  return new VerificationError('ERR_OCSP_MALFORMED', message, cause === undefined ? undefined : { cause })
}

/** GeneralizedTime, `Z` form, with optional fractional seconds (DER allows them in OCSP). */
function generalizedTime(element: Element, what: string): Date {
  if (element.tag !== TAG.generalizedTime) throw ocspMalformed(`${what} must be a GeneralizedTime`)
  const text = latin1Text(element.content)
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/.exec(text)
  if (match === null) throw ocspMalformed(`${what}: bad time "${text}"`)
  const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const ms = match[7] === undefined ? 0 : Math.floor(Number(`0.${match[7]}`) * 1000)
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms))
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) throw ocspMalformed(`${what}: bad time "${text}"`)
  return date
}

function decodeOcspExtensions(element: Element, what: string): Map<string, OcspExtension> {
  const list = new DerReader(readSingle(element.content, TAG.sequence, what).content)
  return decodeExtensions(list, (oid) => ocspMalformed(`${what}: extension ${oid} appears twice`))
}

function decodeCertId(reader: DerReader): OcspCertId {
  const certId = reader.enter(TAG.sequence, 'CertID')
  const algorithm = certId.enter(TAG.sequence, 'CertID hash algorithm')
  const hashOid = decodeOid(algorithm.next(TAG.oid, 'hash algorithm').content)
  algorithm.optional(TAG.null)
  algorithm.end('CertID hash algorithm')
  const issuerNameHash = certId.next(TAG.octetString, 'issuerNameHash').content
  const issuerKeyHash = certId.next(TAG.octetString, 'issuerKeyHash').content
  const serialNumber = integerHex(certId.next(TAG.integer, 'serialNumber').content)
  certId.end('CertID')
  return { hash: HASH_BY_OID.get(hashOid) ?? null, hashOid, issuerNameHash, issuerKeyHash, serialNumber }
}

function decodeSingleResponse(reader: DerReader): OcspSingleResponse {
  const single = reader.enter(TAG.sequence, 'SingleResponse')
  const certId = decodeCertId(single)
  const statusElement = single.next(undefined, 'certStatus')
  let status: OcspCertStatus
  let revocationTime: Date | null = null
  let reason: CrlReason | null = null
  switch (statusElement.tag) {
    case 0x80: // good [0] IMPLICIT NULL
    case 0x82: // unknown [2] IMPLICIT NULL
      if (statusElement.content.length !== 0) throw ocspMalformed('certStatus good/unknown must be empty')
      status = statusElement.tag === 0x80 ? 'good' : 'unknown'
      break
    case contextTag(1): {
      // revoked [1] IMPLICIT RevokedInfo { revocationTime, revocationReason [0] EXPLICIT CRLReason OPTIONAL }
      status = 'revoked'
      const info = new DerReader(statusElement.content, 'ERR_OCSP_MALFORMED')
      revocationTime = generalizedTime(info.next(undefined, 'revocationTime'), 'revocationTime')
      const reasonField = info.optional(contextTag(0), 'revocationReason')
      info.end('RevokedInfo')
      if (reasonField) {
        const value = integerValue(readSingle(reasonField.content, ENUMERATED, 'CRLReason').content)
        reason = CRL_REASONS[value] ?? null
        if (reason === null) throw ocspMalformed(`CRLReason ${value} is not defined`)
      }
      break
    }
    default:
      throw ocspMalformed(`certStatus has tag 0x${statusElement.tag.toString(16)}`)
  }
  const thisUpdate = generalizedTime(single.next(undefined, 'thisUpdate'), 'thisUpdate')
  const nextField = single.optional(contextTag(0), 'nextUpdate')
  const nextUpdate = nextField ? generalizedTime(readSingle(nextField.content, TAG.generalizedTime, 'nextUpdate'), 'nextUpdate') : null
  const extField = single.optional(contextTag(1), 'singleExtensions')
  single.end('SingleResponse')
  return { certId, status, revocationTime, reason, thisUpdate, nextUpdate, extensions: extField ? decodeOcspExtensions(extField, 'singleExtensions') : new Map() }
}

/** The nonce in an extnValue: RFC 8954 wraps it in an OCTET STRING; some responders put the bare bytes. */
function nonceValue(value: Uint8Array): Uint8Array {
  try {
    return readSingle(value, TAG.octetString, 'nonce').content
  } catch {
    return value
  }
}

/** Reads the outer responseStatus; throws ERR_OCSP_UNSUCCESSFUL unless successful; returns the BasicOCSPResponse bytes. */
function unwrap(der: Uint8Array): Uint8Array {
  const outer = new DerReader(readSingle(der, TAG.sequence, 'OCSPResponse').content)
  const statusValue = integerValue(outer.next(ENUMERATED, 'responseStatus').content)
  if (statusValue !== 0) {
    const name = OCSP_RESPONSE_STATUSES[statusValue] ?? `status ${statusValue}`
    throw new VerificationError('ERR_OCSP_UNSUCCESSFUL', `the OCSP responder answered "${name}" (responseStatus ${statusValue}), not a status`)
  }
  const bytesField = outer.next(contextTag(0), 'responseBytes')
  outer.end('OCSPResponse')
  const responseBytes = new DerReader(readSingle(bytesField.content, TAG.sequence, 'ResponseBytes').content)
  const type = decodeOid(responseBytes.next(TAG.oid, 'responseType').content)
  const response = responseBytes.next(TAG.octetString, 'response').content
  responseBytes.end('ResponseBytes')
  if (type !== OID_OCSP_BASIC) throw ocspMalformed(`response type ${type} is not id-pkix-ocsp-basic`)
  return response
}

function decodeOcspResponse(der: Uint8Array, sha256: string): OcspResponse {
  const basic = new DerReader(readSingle(unwrap(der), TAG.sequence, 'BasicOCSPResponse').content)
  const tbs = basic.next(TAG.sequence, 'tbsResponseData')
  const algorithm = basic.next(TAG.sequence, 'signatureAlgorithm')
  const bits = basic.next(TAG.bitString, 'signature')
  const certsField = basic.optional(contextTag(0), 'certs')
  basic.end('BasicOCSPResponse')
  if (bits.content.length < 1 || bits.content[0] !== 0) throw ocspMalformed('signature BIT STRING has unused bits')

  const data = new DerReader(tbs.content)
  const version = data.optional(contextTag(0), 'version')
  // v1 (0) is the DEFAULT and DER omits it; an explicit v1 is tolerated, any other version is not understood.
  if (version && integerValue(readSingle(version.content, TAG.integer, 'version').content) !== 0) throw ocspMalformed('only OCSP v1 responses are understood')
  const responderField = data.next(undefined, 'responderID')
  let responderId: OcspResponderId
  if (responderField.tag === contextTag(1)) {
    const name = readSingle(responderField.content, TAG.sequence, 'responderID byName')
    responderId = { kind: 'name', name: decodeName(name), der: name.raw }
  } else if (responderField.tag === contextTag(2)) {
    responderId = { kind: 'key', keyHash: readSingle(responderField.content, TAG.octetString, 'responderID byKey').content }
  } else throw ocspMalformed(`responderID has tag 0x${responderField.tag.toString(16)}`)
  const producedAt = generalizedTime(data.next(undefined, 'producedAt'), 'producedAt')
  const list = data.enter(TAG.sequence, 'responses')
  const responses: OcspSingleResponse[] = []
  while (!list.done) responses.push(decodeSingleResponse(list))
  const extField = data.optional(contextTag(1), 'responseExtensions')
  data.end('ResponseData')
  const extensions = extField ? decodeOcspExtensions(extField, 'responseExtensions') : new Map<string, OcspExtension>()
  const nonceExt = extensions.get(OID_OCSP_NONCE)

  const certs: Certificate[] = []
  if (certsField) {
    const seq = new DerReader(readSingle(certsField.content, TAG.sequence, 'certs').content)
    while (!seq.done) certs.push(parseCertificate(seq.next(TAG.sequence, 'certificate').raw, `responder certificate ${certs.length}`))
  }
  return {
    der,
    sha256,
    responderId,
    producedAt,
    responses,
    nonce: nonceExt ? nonceValue(nonceExt.value) : null,
    extensions,
    signatureAlgorithm: decodeSignatureAlgorithm(algorithm),
    tbs: tbs.raw,
    signature: bits.content.subarray(1),
    certs,
  }
}

const responseCache = new BoundedCache<OcspResponse>(256)

/**
 * Decodes a DER OCSPResponse, cached by content. Throws `ERR_OCSP_UNSUCCESSFUL` when the responder
 * answered with an error status instead of a response, `ERR_OCSP_MALFORMED` for anything that is not
 * a well-formed BasicOCSPResponse (including embedded certificates that do not parse).
 */
export function parseOcspResponse(der: Uint8Array, what = 'OCSP response'): OcspResponse {
  const sha256 = sha256Hex(der)
  const cached = responseCache.get(sha256)
  if (cached) return cached
  try {
    return responseCache.set(sha256, decodeOcspResponse(der, sha256))
  } catch (cause) {
    if (cause instanceof VerificationError && cause.code === 'ERR_OCSP_UNSUCCESSFUL') {
      throw new VerificationError(cause.code, `${what}: ${cause.message}`, { cause })
    }
    const reason = cause instanceof VerificationError ? cause.message : 'not valid DER'
    throw ocspMalformed(`${what}: ${reason}`, cause)
  }
}

/** The responseStatus name of a DER OCSPResponse ("successful", "tryLater", ...), or null when unreadable. */
export function ocspResponseStatusOf(der: Uint8Array): string | null {
  try {
    const outer = new DerReader(readSingle(der, TAG.sequence, 'OCSPResponse').content)
    const value = integerValue(outer.next(ENUMERATED, 'responseStatus').content)
    return OCSP_RESPONSE_STATUSES[value] ?? null
  } catch {
    return null
  }
}

/** Empties the cache of decoded responses. */
export function clearOcspResponseCache(): void {
  responseCache.clear()
}
