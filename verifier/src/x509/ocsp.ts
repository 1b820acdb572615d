/**
 * OCSP (RFC 6960): decoding responses with the strict DER reader, checking that one answers for a
 * certificate and was signed by someone entitled to answer, and building requests.
 *
 * Trust model: `checkOcspStatus` takes the certificate and its issuer from a chain the caller has
 * already verified up to a pinned root. A response is accepted only if it is signed by that issuer
 * itself or by a responder certificate embedded in the response that the issuer issued for OCSP
 * signing (id-kp-OCSPSigning, RFC 6960 §4.2.2.2). No locally configured responders, no other roots:
 * whoever signs must be vouched for by the CA that issued the certificate in question. The
 * delegated responder's own revocation status is not checked (RFC 6960 §4.2.2.2.1 leaves that to the
 * CA; NVIDIA's verifiers do not check it either).
 *
 * Outcomes `revoked` and `unknown` are returned, not thrown: whether they fail verification is a
 * policy decision, made by {@link evaluateOcspOutcome}.
 */
import { createHash } from 'node:crypto'
import { bytesEqual, derBoolean, derExplicit, derIntegerContent, derNull, derOctetString, derOid, derSequence } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import {
  commonName,
  decodeName,
  decodeSignatureAlgorithm,
  describeAlgorithm,
  parseCertificate,
  sha256Hex,
  verifyWithAlgorithm,
  type Certificate,
  type SignatureAlgorithm,
} from './certificate.js'
import { booleanValue, contextTag, decodeOid, DerReader, integerHex, integerValue, readSingle, TAG, type Element } from './der.js'

/** id-pkix-ocsp-basic: the only response type RFC 6960 defines, and the only one accepted. */
export const OID_OCSP_BASIC = '1.3.6.1.5.5.7.48.1.1'
/** id-pkix-ocsp-nonce (RFC 8954). */
export const OID_OCSP_NONCE = '1.3.6.1.5.5.7.48.1.2'
/** id-kp-OCSPSigning: the extended key usage a delegated responder certificate must carry. */
export const OID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9'
const OID_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5'
const OID_EXT_KEY_USAGE = '2.5.29.37'
const OID_BASIC_CONSTRAINTS = '2.5.29.19'
const OID_KEY_USAGE = '2.5.29.15'
/** Extensions of a delegated responder certificate whose meaning is enforced here, so they may be critical. */
const RESPONDER_PROCESSED_CRITICAL: ReadonlySet<string> = new Set([OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_EXT_KEY_USAGE, OID_OCSP_NOCHECK])
const ENUMERATED = 0x0a

/**
 * How far the verification time may be before a response's thisUpdate (responder clocks run ahead),
 * and how long after thisUpdate a response without nextUpdate still counts as current.
 */
export const OCSP_CLOCK_SKEW_MS = 5 * 60_000

/** Hash algorithms a CertID may use here. NVIDIA's responder is asked with SHA-384. */
export type OcspHashAlgorithm = 'sha1' | 'sha256' | 'sha384'
const HASH_OIDS: Readonly<Record<OcspHashAlgorithm, string>> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
}
const HASH_BY_OID = new Map<string, OcspHashAlgorithm>(Object.entries(HASH_OIDS).map(([name, oid]) => [oid, name as OcspHashAlgorithm]))

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

/** Reasons after which the key must never be trusted again: no grace period applies. */
const COMPROMISE_REASONS: ReadonlySet<CrlReason> = new Set(['keyCompromise', 'cACompromise', 'aACompromise'])

/** A certificate's revocation status as a responder states it. */
export type OcspCertStatus = 'good' | 'revoked' | 'unknown'

/** An extension of an OCSP response: criticality and the extnValue contents. */
export interface OcspExtension {
  critical: boolean
  value: Uint8Array
}

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

function malformed(message: string, cause?: unknown): VerificationError {
  return new VerificationError('ERR_OCSP_MALFORMED', message, cause === undefined ? undefined : { cause })
}

/** GeneralizedTime, `Z` form, with optional fractional seconds (DER allows them in OCSP). */
function generalizedTime(element: Element, what: string): Date {
  if (element.tag !== TAG.generalizedTime) throw malformed(`${what} must be a GeneralizedTime`)
  const text = Buffer.from(element.content).toString('latin1')
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/.exec(text)
  if (match === null) throw malformed(`${what}: bad time "${text}"`)
  const [y, mo, d, h, mi, s] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const ms = match[7] === undefined ? 0 : Math.floor(Number(`0.${match[7]}`) * 1000)
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms))
  if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) throw malformed(`${what}: bad time "${text}"`)
  return date
}

function decodeExtensions(element: Element, what: string): Map<string, OcspExtension> {
  const list = new DerReader(readSingle(element.content, TAG.sequence, what).content)
  const out = new Map<string, OcspExtension>()
  while (!list.done) {
    const ext = list.enter(TAG.sequence, 'extension')
    const oid = decodeOid(ext.next(TAG.oid, 'extension id').content)
    const critical = ext.optional(TAG.boolean, 'critical')
    const value = ext.next(TAG.octetString, 'extension value').content
    ext.end('extension')
    if (out.has(oid)) throw malformed(`${what}: extension ${oid} appears twice`)
    out.set(oid, { critical: critical ? booleanValue(critical.content) : false, value })
  }
  return out
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
      if (statusElement.content.length !== 0) throw malformed('certStatus good/unknown must be empty')
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
        if (reason === null) throw malformed(`CRLReason ${value} is not defined`)
      }
      break
    }
    default:
      throw malformed(`certStatus has tag 0x${statusElement.tag.toString(16)}`)
  }
  const thisUpdate = generalizedTime(single.next(undefined, 'thisUpdate'), 'thisUpdate')
  const nextField = single.optional(contextTag(0), 'nextUpdate')
  const nextUpdate = nextField ? generalizedTime(readSingle(nextField.content, TAG.generalizedTime, 'nextUpdate'), 'nextUpdate') : null
  const extField = single.optional(contextTag(1), 'singleExtensions')
  single.end('SingleResponse')
  return { certId, status, revocationTime, reason, thisUpdate, nextUpdate, extensions: extField ? decodeExtensions(extField, 'singleExtensions') : new Map() }
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
  if (type !== OID_OCSP_BASIC) throw malformed(`response type ${type} is not id-pkix-ocsp-basic`)
  return response
}

function decodeOcspResponse(der: Uint8Array, sha256: string): OcspResponse {
  const basic = new DerReader(readSingle(unwrap(der), TAG.sequence, 'BasicOCSPResponse').content)
  const tbs = basic.next(TAG.sequence, 'tbsResponseData')
  const algorithm = basic.next(TAG.sequence, 'signatureAlgorithm')
  const bits = basic.next(TAG.bitString, 'signature')
  const certsField = basic.optional(contextTag(0), 'certs')
  basic.end('BasicOCSPResponse')
  if (bits.content.length < 1 || bits.content[0] !== 0) throw malformed('signature BIT STRING has unused bits')

  const data = new DerReader(tbs.content)
  const version = data.optional(contextTag(0), 'version')
  // v1 (0) is the DEFAULT and DER omits it; an explicit v1 is tolerated, any other version is not understood.
  if (version && integerValue(readSingle(version.content, TAG.integer, 'version').content) !== 0) throw malformed('only OCSP v1 responses are understood')
  const responderField = data.next(undefined, 'responderID')
  let responderId: OcspResponderId
  if (responderField.tag === contextTag(1)) {
    const name = readSingle(responderField.content, TAG.sequence, 'responderID byName')
    responderId = { kind: 'name', name: decodeName(name), der: name.raw }
  } else if (responderField.tag === contextTag(2)) {
    responderId = { kind: 'key', keyHash: readSingle(responderField.content, TAG.octetString, 'responderID byKey').content }
  } else throw malformed(`responderID has tag 0x${responderField.tag.toString(16)}`)
  const producedAt = generalizedTime(data.next(undefined, 'producedAt'), 'producedAt')
  const list = data.enter(TAG.sequence, 'responses')
  const responses: OcspSingleResponse[] = []
  while (!list.done) responses.push(decodeSingleResponse(list))
  const extField = data.optional(contextTag(1), 'responseExtensions')
  data.end('ResponseData')
  const extensions = extField ? decodeExtensions(extField, 'responseExtensions') : new Map<string, OcspExtension>()
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
    throw malformed(`${what}: ${reason}`, cause)
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

/** What a CertID is computed from: the certificate's serial INTEGER content and the issuer's public key bits. */
interface CertParts {
  serial: Uint8Array
  /** The subjectPublicKey BIT STRING value without its unused-bits octet. */
  keyBits: Uint8Array
}
const partsCache = new BoundedCache<CertParts>()

function certParts(cert: Certificate): CertParts {
  const cached = partsCache.get(cert.sha256)
  if (cached) return cached
  // The certificate already parsed, so this walk over its TBSCertificate cannot fail on a valid one.
  const fields = new DerReader(readSingle(cert.tbs, TAG.sequence, 'TBSCertificate').content)
  fields.optional(contextTag(0))
  const serial = fields.next(TAG.integer, 'serial number').content
  for (const what of ['signature', 'issuer', 'validity', 'subject']) fields.next(TAG.sequence, what)
  const spki = fields.enter(TAG.sequence, 'subject public key info')
  spki.next(TAG.sequence, 'algorithm')
  const bits = spki.next(TAG.bitString, 'subjectPublicKey').content
  return partsCache.set(cert.sha256, { serial, keyBits: bits.subarray(1) })
}

function digest(hash: OcspHashAlgorithm, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(hash).update(data).digest())
}

/** The CertID fields for `certificate` as issued by `issuer`, with `hash`. */
export function ocspCertId(certificate: Certificate, issuer: Certificate, hash: OcspHashAlgorithm): OcspCertId {
  return {
    hash,
    hashOid: HASH_OIDS[hash],
    issuerNameHash: digest(hash, certificate.issuerDer),
    issuerKeyHash: digest(hash, certParts(issuer).keyBits),
    serialNumber: certificate.serialNumber,
  }
}

/** What {@link buildOcspRequest} puts in the request. */
export interface OcspRequestOptions {
  /** The CertID hash. Unset: SHA-384, what NVIDIA's responder is asked with. */
  hash?: OcspHashAlgorithm
  /** A nonce for the response to echo, 1 to 32 bytes (RFC 8954). Unset: no nonce extension. */
  nonce?: Uint8Array
  /** Whether the nonce extension is marked critical. Unset: true, as NVIDIA's verifiers send it. */
  nonceCritical?: boolean
}

/**
 * A DER OCSPRequest for one certificate: an unsigned request with one CertID (hash algorithm with
 * NULL parameters, as OpenSSL writes it; the serial number copied byte for byte from the
 * certificate) and, when given, a nonce extension.
 *
 * @example
 * ```ts
 * const nonce = randomBytes(32)
 * const body = buildOcspRequest(brom, provisionerIca, { hash: 'sha384', nonce })
 * const res = await fetch('https://ocsp.ndis.nvidia.com/', { method: 'POST', headers: { 'content-type': 'application/ocsp-request' }, body })
 * ```
 */
export function buildOcspRequest(certificate: Certificate, issuer: Certificate, options: OcspRequestOptions = {}): Uint8Array {
  const hash = options.hash ?? 'sha384'
  const id = ocspCertId(certificate, issuer, hash)
  const certId = derSequence(
    derSequence(derOid(id.hashOid), derNull()),
    derOctetString(id.issuerNameHash),
    derOctetString(id.issuerKeyHash),
    derIntegerContent(certParts(certificate).serial),
  )
  const fields = [derSequence(derSequence(certId))]
  if (options.nonce !== undefined) {
    if (options.nonce.length < 1 || options.nonce.length > 32) throw new RangeError(`an OCSP nonce must be 1 to 32 bytes, got ${options.nonce.length}`)
    const critical = options.nonceCritical ?? true
    const extension = derSequence(derOid(OID_OCSP_NONCE), ...(critical ? [derBoolean(true)] : []), derOctetString(derOctetString(options.nonce)))
    fields.push(derExplicit(2, derSequence(extension)))
  }
  return derSequence(derSequence(...fields))
}

/** What {@link checkOcspStatus} checks a response against. */
export interface CheckOcspOptions {
  /** The certificate whose status is asked for. */
  certificate: Certificate
  /** The certificate that issued it, from a chain already verified to a pinned root. */
  issuer: Certificate
  /** The verification time. */
  at: Date
  /** The nonce of the request this response answers. Unset: not checked (a cached response answers an old request). */
  nonce?: Uint8Array
  /** Tolerated clock difference, see {@link OCSP_CLOCK_SKEW_MS}. Unset: that value. */
  clockSkewMs?: number
  /** Names the certificate in messages. Unset: its CN. */
  what?: string
}

/** A verified answer about one certificate. */
export interface OcspStatus {
  status: OcspCertStatus
  /** When the certificate was revoked; set only when `status` is `revoked`. */
  revocationTime?: Date
  /** Why, when the responder says. */
  reason?: CrlReason
  thisUpdate: Date
  /** Null when the response has none (it was current only at thisUpdate). */
  nextUpdate: Date | null
  producedAt: Date
  /** Who signed: the issuer itself or a delegated responder, and its subject. */
  responder: { kind: 'issuer' | 'delegated'; subject: string }
}

const issuedCache = new BoundedCache<boolean>()
/** Response signature outcomes by `<response SHA-256>:<signer SHA-256>`. */
const signatureCache = new BoundedCache<boolean>(256)

/** Whether `issuer`'s key signed `child`, names linked; cached by the pair. */
function signedBy(child: Certificate, issuer: Certificate): boolean {
  const key = `${child.sha256}:${issuer.sha256}`
  let ok = issuedCache.get(key)
  if (ok === undefined) {
    ok = bytesEqual(child.issuerDer, issuer.subjectDer) && verifyWithAlgorithm(child.signatureAlgorithm, issuer.publicKey, child.tbs, child.signature)
    issuedCache.set(key, ok)
  }
  return ok
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

/** The SingleResponse about `certificate`; throws `ERR_OCSP_CERT_MISMATCH` unless exactly one matches. */
function findSingleResponse(response: OcspResponse, certificate: Certificate, issuer: Certificate, what: string): OcspSingleResponse {
  const ids = new Map<OcspHashAlgorithm, OcspCertId>()
  const idFor = (hash: OcspHashAlgorithm): OcspCertId => ids.get(hash) ?? ids.set(hash, ocspCertId(certificate, issuer, hash)).get(hash)!
  const matches: OcspSingleResponse[] = []
  const nearMisses: string[] = []
  for (const single of response.responses) {
    const got = single.certId
    if (got.serialNumber !== certificate.serialNumber) continue
    if (got.hash === null) {
      nearMisses.push(`a CertID with hash algorithm ${got.hashOid}, which the verifier does not compute`)
      continue
    }
    const want = idFor(got.hash)
    const nameOk = bytesEqual(got.issuerNameHash, want.issuerNameHash)
    const keyOk = bytesEqual(got.issuerKeyHash, want.issuerKeyHash)
    if (nameOk && keyOk) matches.push(single)
    else {
      const differ = nameOk ? 'issuerKeyHash differs' : keyOk ? 'issuerNameHash differs' : 'issuerNameHash and issuerKeyHash differ'
      nearMisses.push(`a ${got.hash.toUpperCase()} CertID whose ${differ}`)
    }
  }
  if (matches.length === 1) return matches[0]!
  if (matches.length > 1) {
    throw new VerificationError('ERR_OCSP_CERT_MISMATCH', `${what}: the OCSP response answers ${matches.length} times for serial ${certificate.serialNumber}`)
  }
  const serials = response.responses.map((s) => s.certId.serialNumber)
  const detail =
    nearMisses.length > 0
      ? `for serial ${certificate.serialNumber} it holds ${nearMisses.join('; ')}: another issuer`
      : `it answers for serial${serials.length === 1 ? '' : 's'} ${serials.join(', ') || '(none)'}, not ${certificate.serialNumber}`
  throw new VerificationError('ERR_OCSP_CERT_MISMATCH', `${what}: the OCSP response has no status for this certificate: ${detail}`)
}

function responderKeyHash(cert: Certificate): Uint8Array {
  return digest('sha1', certParts(cert).keyBits)
}

/** Whether the responder ID names `cert`: its subject (exact bytes, or the same rendered name) or its key's SHA-1. */
function namesCertificate(id: OcspResponderId, cert: Certificate): boolean {
  if (id.kind === 'key') return bytesEqual(id.keyHash, responderKeyHash(cert))
  return bytesEqual(id.der, cert.subjectDer) || id.name === cert.subject
}

function untrusted(message: string): VerificationError {
  return new VerificationError('ERR_OCSP_RESPONDER_UNTRUSTED', message)
}

/** The extended key usages of a certificate (OIDs), or null when it has no such extension. */
function extendedKeyUsages(cert: Certificate): string[] | null {
  const ext = cert.extensions.get(OID_EXT_KEY_USAGE)
  if (ext === undefined) return null
  const code = 'ERR_OCSP_RESPONDER_UNTRUSTED'
  const reader = new DerReader(readSingle(ext.value, TAG.sequence, 'extended key usage', code).content, code)
  const out: string[] = []
  while (!reader.done) out.push(decodeOid(reader.next(TAG.oid, 'key purpose').content))
  return out
}

/** RFC 6960 §4.2.2.2: a delegated responder is issued by the CA itself, for OCSP signing, and valid at `at`. */
function authorizeDelegate(responder: Certificate, issuer: Certificate, at: Date, what: string): void {
  const name = commonName(responder.subject) || responder.subject
  const issuerName = commonName(issuer.subject) || issuer.subject
  if (!signedBy(responder, issuer)) throw untrusted(`${what}: responder certificate "${name}" was not issued by "${issuerName}", the certificate's issuer`)
  let usages: string[] | null
  try {
    usages = extendedKeyUsages(responder)
  } catch (cause) {
    throw untrusted(`${what}: responder certificate "${name}": its extended key usage does not parse (${(cause as Error).message})`)
  }
  if (usages === null || !usages.includes(OID_KP_OCSP_SIGNING)) {
    throw untrusted(`${what}: responder certificate "${name}" lacks the OCSPSigning extended key usage (${OID_KP_OCSP_SIGNING}), so "${issuerName}" did not delegate OCSP to it`)
  }
  if (responder.keyUsage !== null && !responder.keyUsage.digitalSignature) {
    throw untrusted(`${what}: responder certificate "${name}": key usage does not allow signatures`)
  }
  for (const [oid, ext] of responder.extensions) {
    if (ext.critical && !RESPONDER_PROCESSED_CRITICAL.has(oid)) {
      throw untrusted(`${what}: responder certificate "${name}": critical extension ${oid} is not one the verifier processes`)
    }
  }
  if (at < responder.notBefore || at > responder.notAfter) {
    throw untrusted(
      `${what}: responder certificate "${name}" is valid ${responder.notBefore.toISOString()} to ${responder.notAfter.toISOString()}, not at ${at.toISOString()}`,
    )
  }
}

/**
 * Checks that `response` answers for `options.certificate` and may be believed, and returns what it
 * says. Checks, in order: no unprocessed critical extension (`ERR_OCSP_MALFORMED`); the issuer
 * issued the certificate and exactly one SingleResponse's CertID (SHA-1, SHA-256 or SHA-384) names
 * its serial, issuer name and issuer key (`ERR_OCSP_CERT_MISMATCH`); the signer is the issuer, or a
 * certificate in the response that the issuer issued with the OCSPSigning EKU, valid at `at`, and
 * the responder ID names it (`ERR_OCSP_RESPONDER_UNTRUSTED`); the signature verifies with ECDSA or
 * RSASSA-PSS (`ERR_OCSP_SIGNATURE_INVALID`); the nonce is echoed when one is expected
 * (`ERR_OCSP_NONCE_MISMATCH`); `thisUpdate - skew <= at` (`ERR_OCSP_NOT_YET_VALID`) and
 * `at < nextUpdate`, or without nextUpdate `at <= thisUpdate + skew` (`ERR_OCSP_STALE`).
 * A `revoked` or `unknown` status is returned, not thrown: see {@link evaluateOcspOutcome}.
 *
 * @example
 * ```ts
 * const status = checkOcspStatus(parseOcspResponse(der), { certificate: brom, issuer: ica, at: new Date(), nonce })
 * const outcome = evaluateOcspOutcome(status, { at, allowUnknown: false, revokedGracePeriodMs: 0 })
 * ```
 */
export function checkOcspStatus(response: OcspResponse, options: CheckOcspOptions): OcspStatus {
  const { certificate, issuer, at } = options
  const what = options.what ?? (commonName(certificate.subject) || certificate.subject)
  const skew = Math.max(0, options.clockSkewMs ?? OCSP_CLOCK_SKEW_MS)

  for (const [oid, ext] of response.extensions) {
    if (ext.critical && oid !== OID_OCSP_NONCE) throw malformed(`${what}: the OCSP response has critical extension ${oid}, which the verifier does not process`)
  }
  if (!signedBy(certificate, issuer)) {
    throw new VerificationError('ERR_OCSP_CERT_MISMATCH', `${what}: "${commonName(issuer.subject) || issuer.subject}" did not issue this certificate, so no OCSP answer about it can be checked`)
  }
  const single = findSingleResponse(response, certificate, issuer, what)
  for (const [oid, ext] of single.extensions) {
    if (ext.critical) throw malformed(`${what}: the OCSP SingleResponse has critical extension ${oid}, which the verifier does not process`)
  }

  // The signer: the issuer if the responder ID names it, else an embedded certificate it names.
  let signer: Certificate
  let kind: 'issuer' | 'delegated'
  if (namesCertificate(response.responderId, issuer)) {
    signer = issuer
    kind = 'issuer'
  } else {
    const named = response.certs.filter((c) => namesCertificate(response.responderId, c))
    const described = response.responderId.kind === 'name' ? `"${response.responderId.name}"` : `the key with SHA-1 ${hex(response.responderId.keyHash)}`
    if (named.length === 0) {
      throw untrusted(`${what}: the OCSP responder ${described} is neither the certificate's issuer nor a certificate included in the response`)
    }
    // Several certificates may share a name: among those the issuer authorized, the one whose key verifies.
    const authorized: Certificate[] = []
    let firstError: unknown = null
    for (const candidate of named) {
      try {
        authorizeDelegate(candidate, issuer, at, what)
        authorized.push(candidate)
      } catch (error) {
        firstError ??= error
      }
    }
    if (authorized.length === 0) throw firstError
    signer = authorized.find((c) => verifyWithAlgorithm(response.signatureAlgorithm, c.publicKey, response.tbs, response.signature)) ?? authorized[0]!
    kind = 'delegated'
  }

  const alg = response.signatureAlgorithm
  if (alg.kind === 'other') {
    throw new VerificationError('ERR_OCSP_SIGNATURE_INVALID', `${what}: OCSP signature algorithm ${describeAlgorithm(alg)} is not accepted (ECDSA or RSASSA-PSS)`)
  }
  const signerName = commonName(signer.subject) || signer.subject
  const key = `${response.sha256}:${signer.sha256}`
  let verified = signatureCache.get(key)
  if (verified === undefined) verified = signatureCache.set(key, verifyWithAlgorithm(alg, signer.publicKey, response.tbs, response.signature))
  if (!verified) {
    throw new VerificationError('ERR_OCSP_SIGNATURE_INVALID', `${what}: the OCSP response's ${describeAlgorithm(alg)} signature does not verify under "${signerName}"`)
  }

  if (options.nonce !== undefined) {
    if (response.nonce === null) {
      throw new VerificationError('ERR_OCSP_NONCE_MISMATCH', `${what}: the OCSP response carries no nonce; the request sent ${hex(options.nonce)}`)
    }
    if (!bytesEqual(response.nonce, options.nonce)) {
      throw new VerificationError('ERR_OCSP_NONCE_MISMATCH', `${what}: OCSP nonce mismatch: expected ${hex(options.nonce)}, got ${hex(response.nonce)}`)
    }
  }

  const t = at.getTime()
  if (t < single.thisUpdate.getTime() - skew) {
    const when = `thisUpdate ${single.thisUpdate.toISOString()} is after the verification time ${at.toISOString()}`
    throw new VerificationError('ERR_OCSP_NOT_YET_VALID', `${what}: the OCSP response's ${when}`)
  }
  if (single.nextUpdate === null) {
    if (t > single.thisUpdate.getTime() + skew) {
      throw new VerificationError(
        'ERR_OCSP_STALE',
        `${what}: the OCSP response has no nextUpdate, so it speaks only for its thisUpdate ${single.thisUpdate.toISOString()} (± ${skew / 1000} s), not for ${at.toISOString()}`,
      )
    }
  } else if (t >= single.nextUpdate.getTime()) {
    const when = `stale at ${at.toISOString()}: its nextUpdate ${single.nextUpdate.toISOString()} has passed`
    throw new VerificationError('ERR_OCSP_STALE', `${what}: the OCSP response is ${when}`)
  }

  const out: OcspStatus = {
    status: single.status,
    thisUpdate: single.thisUpdate,
    nextUpdate: single.nextUpdate,
    producedAt: response.producedAt,
    responder: { kind, subject: signer.subject },
  }
  if (single.revocationTime !== null) out.revocationTime = single.revocationTime
  if (single.reason !== null) out.reason = single.reason
  return out
}

/** How a verified OCSP status is judged. */
export interface OcspOutcomePolicy {
  /** The verification time. */
  at: Date
  /** Whether `unknown` passes (with a warning). */
  allowUnknown: boolean
  /**
   * How long after its revocationTime a revoked certificate still passes (with a warning), in ms; 0:
   * never. Never applies to the compromise reasons (keyCompromise, cACompromise, aACompromise).
   */
  revokedGracePeriodMs: number
  /** Whether `revoked` with reason certificateHold passes (with a warning). Unset: false. */
  allowCertificateHold?: boolean
  /** Names the certificate in messages. Unset: "the certificate". */
  what?: string
}

/** The judgement: a pass (a `warning` when only the policy let it pass) or a failure with its code. */
export type OcspOutcome =
  | { pass: true; warning: boolean; detail: string }
  | { pass: false; code: 'ERR_CERT_REVOKED' | 'ERR_OCSP_UNKNOWN'; message: string }

/**
 * Judges a verified status under the policy: `good` passes; `unknown` fails with `ERR_OCSP_UNKNOWN`
 * unless allowed; `revoked` fails with `ERR_CERT_REVOKED` unless `at` is before revocationTime plus
 * the grace period (not for compromise reasons) or the reason is certificateHold and holds are allowed.
 * Without a grace period a revocation time after `at` does not help: revocation is permanent, and a
 * revocation time may be set back to when a key was compromised. Pure: no I/O, no clock.
 */
export function evaluateOcspOutcome(status: Pick<OcspStatus, 'status' | 'revocationTime' | 'reason'>, policy: OcspOutcomePolicy): OcspOutcome {
  const what = policy.what ?? 'the certificate'
  switch (status.status) {
    case 'good':
      return { pass: true, warning: false, detail: `OCSP: ${what} is good` }
    case 'unknown':
      if (policy.allowUnknown) return { pass: true, warning: true, detail: `OCSP: the responder does not know ${what}; the policy allows unknown` }
      return { pass: false, code: 'ERR_OCSP_UNKNOWN', message: `OCSP: the responder does not know ${what} (status unknown)` }
    case 'revoked': {
      const when = status.revocationTime
      const reason = status.reason ?? 'no reason given'
      const revoked = `${what} was revoked${when ? ` on ${when.toISOString()}` : ''} (${reason})`
      if (status.reason === 'certificateHold' && policy.allowCertificateHold === true) {
        return { pass: true, warning: true, detail: `OCSP: ${revoked}; the policy allows certificates on hold` }
      }
      const grace = Math.max(0, policy.revokedGracePeriodMs)
      const compromised = status.reason !== undefined && COMPROMISE_REASONS.has(status.reason)
      if (when && grace > 0 && !compromised) {
        const until = new Date(when.getTime() + grace)
        if (policy.at < until) {
          return { pass: true, warning: true, detail: `OCSP: ${revoked}; accepted within the policy's grace period, until ${until.toISOString()}` }
        }
        return { pass: false, code: 'ERR_CERT_REVOKED', message: `OCSP: ${revoked}; the grace period ended ${until.toISOString()}` }
      }
      const why = grace > 0 && compromised ? '; no grace period applies to a compromised key' : ''
      return { pass: false, code: 'ERR_CERT_REVOKED', message: `OCSP: ${revoked}${why}` }
    }
  }
}

/** Empties the OCSP caches (benchmarks measure cold runs). */
export function clearOcspCaches(): void {
  responseCache.clear()
  partsCache.clear()
  issuedCache.clear()
  signatureCache.clear()
}
