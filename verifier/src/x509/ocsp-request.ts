/**
 * OCSP (RFC 6960) requests and the CertID both sides compute: the hashes of a certificate's issuer name
 * and of its issuer's public key, with its serial number.
 */
import { derBoolean, derExplicit, derIntegerContent, derNull, derOctetString, derOid, derSequence, platform } from '@vouch/protocol'
import { BoundedCache } from '../lib/bounded-cache.js'
import type { Certificate } from './certificate.js'
import { contextTag, DerReader, readSingle, TAG } from './der.js'
import { OCSP_HASH_OIDS, OID_OCSP_NONCE, type OcspCertId, type OcspHashAlgorithm } from './ocsp-decode.js'

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
  return platform.digest(hash, data)
}

/** The hash of a certificate's subjectPublicKey BIT STRING value: a CertID's issuerKeyHash, and (SHA-1) a responder's byKey id. */
export function ocspKeyHash(cert: Certificate, hash: OcspHashAlgorithm): Uint8Array {
  return digest(hash, certParts(cert).keyBits)
}

/** The CertID fields for `certificate` as issued by `issuer`, with `hash`. */
export function ocspCertId(certificate: Certificate, issuer: Certificate, hash: OcspHashAlgorithm): OcspCertId {
  return {
    hash,
    hashOid: OCSP_HASH_OIDS[hash],
    issuerNameHash: digest(hash, certificate.issuerDer),
    issuerKeyHash: ocspKeyHash(issuer, hash),
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

/** Empties the cache of certificate parts. */
export function clearOcspRequestCache(): void {
  partsCache.clear()
}
