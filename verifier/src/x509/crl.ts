/** Certificate revocation lists: parsing, signature under the issuing CA, freshness, lookups. */
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import { VerificationError } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import {
  commonName,
  describeAlgorithm,
  normaliseSerial,
  sha256Hex,
  toSignatureAlgorithm,
  verifyWithAlgorithm,
  type Certificate,
  type SignatureAlgorithm,
} from './certificate.js'
import { signedPart } from './der.js'

/** A parsed CRL. */
export interface Crl {
  der: Uint8Array
  sha256: string
  issuer: string
  thisUpdate: Date
  /** Absent nextUpdate means the issuer promises nothing about freshness; treated as stale. */
  nextUpdate: Date | null
  /** Revoked serial numbers, normalised as {@link normaliseSerial} does. */
  revoked: ReadonlyMap<string, Date>
  signatureAlgorithm: SignatureAlgorithm
  tbs: Uint8Array
  signature: Uint8Array
}

const crlCache = new BoundedCache<Crl>(256)
const verifiedCache = new BoundedCache<boolean>(256)

/** Parses a DER CRL (cached by content). Throws `ERR_CRL_MALFORMED`. */
export function parseCrl(der: Uint8Array, what = 'CRL'): Crl {
  const sha256 = sha256Hex(der)
  const cached = crlCache.get(sha256)
  if (cached) return cached
  let crl: x509.X509Crl
  let tbs: Uint8Array
  try {
    tbs = signedPart(der)
    crl = new x509.X509Crl(der)
  } catch (cause) {
    throw new VerificationError('ERR_CRL_MALFORMED', `${what}: not a valid X.509 CRL`, { cause })
  }
  const revoked = new Map<string, Date>()
  for (const entry of crl.entries) revoked.set(normaliseSerial(entry.serialNumber), entry.revocationDate)
  const parsed: Crl = {
    der,
    sha256,
    issuer: crl.issuer,
    thisUpdate: crl.thisUpdate,
    nextUpdate: crl.nextUpdate ?? null,
    revoked,
    signatureAlgorithm: toSignatureAlgorithm(crl.signatureAlgorithm),
    tbs,
    signature: new Uint8Array(crl.signature),
  }
  return crlCache.set(sha256, parsed)
}

/** Throws `ERR_CRL_SIGNATURE_INVALID` unless `issuer` signed the CRL with one of `allowed`. */
export function verifyCrlSignature(crl: Crl, issuer: Certificate, allowed: readonly SignatureAlgorithm[], what = 'CRL'): void {
  if (crl.issuer !== issuer.subject) {
    throw new VerificationError('ERR_CRL_SIGNATURE_INVALID', `${what}: issued by "${commonName(crl.issuer)}", not by "${commonName(issuer.subject)}"`)
  }
  const alg = crl.signatureAlgorithm
  if (!allowed.some((a) => describeAlgorithm(a) === describeAlgorithm(alg))) {
    throw new VerificationError('ERR_CRL_SIGNATURE_INVALID', `${what}: signature algorithm ${describeAlgorithm(alg)} is not allowed`)
  }
  const key = `${crl.sha256}:${issuer.sha256}`
  let ok = verifiedCache.get(key)
  if (ok === undefined) {
    ok = verifyWithAlgorithm(alg, issuer.publicKey, crl.tbs, crl.signature)
    verifiedCache.set(key, ok)
  }
  if (!ok) throw new VerificationError('ERR_CRL_SIGNATURE_INVALID', `${what}: signature does not verify under ${commonName(issuer.subject)}`)
}

/**
 * Throws `ERR_CRL_NOT_YET_VALID` if the CRL was issued after `at`, or `ERR_CRL_STALE` if `at` is at
 * or past its nextUpdate (or it has none), unless `allowStale`.
 */
export function requireCrlCurrent(crl: Crl, at: Date, allowStale: boolean, what = 'CRL'): void {
  if (at < crl.thisUpdate) {
    throw new VerificationError('ERR_CRL_NOT_YET_VALID', `${what}: issued ${crl.thisUpdate.toISOString()}, after the verification time ${at.toISOString()}`)
  }
  if (!allowStale && (crl.nextUpdate === null || at >= crl.nextUpdate)) {
    const when = crl.nextUpdate ? `its nextUpdate ${crl.nextUpdate.toISOString()} has passed` : 'it has no nextUpdate'
    throw new VerificationError('ERR_CRL_STALE', `${what}: stale at ${at.toISOString()}: ${when}`)
  }
}

/** Throws `ERR_CERT_REVOKED` if the CRL lists the certificate's serial number. */
export function requireNotRevoked(crl: Crl, cert: Certificate, what: string): void {
  const when = crl.revoked.get(cert.serialNumber)
  if (when) throw new VerificationError('ERR_CERT_REVOKED', `${what} (serial ${cert.serialNumber}) was revoked on ${when.toISOString()}`)
}

/** Empties the CRL caches (benchmarks measure cold runs). */
export function clearCrlCaches(): void {
  crlCache.clear()
  verifiedCache.clear()
}
