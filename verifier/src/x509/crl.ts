/** Certificate revocation lists: parsing, signature under the issuing CA, freshness, lookups. */
import { bytesEqual } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import {
  commonName,
  decodeCached,
  decodeName,
  decodeSignatureAlgorithm,
  decodeSigned,
  describeAlgorithm,
  verifyWithAlgorithm,
  type Certificate,
  type SignatureAlgorithm,
} from './certificate.js'
import { contextTag, DerReader, integerHex, TAG, timeValue } from './der.js'

/** A parsed CRL. */
export interface Crl {
  der: Uint8Array
  sha256: string
  issuer: string
  /** The exact encoded issuer name, compared with the issuing certificate's subject. */
  issuerDer: Uint8Array
  thisUpdate: Date
  /** Absent nextUpdate means the issuer promises nothing about freshness; treated as stale. */
  nextUpdate: Date | null
  /** Revocation dates by serial number (lower-case hex without leading zero bytes). */
  revoked: ReadonlyMap<string, Date>
  signatureAlgorithm: SignatureAlgorithm
  tbs: Uint8Array
  signature: Uint8Array
}

const crlCache = new BoundedCache<Crl>(256)
const verifiedCache = new BoundedCache<boolean>(256)

/** Parses a DER CRL (RFC 5280 §5), cached by content. Throws `ERR_CRL_MALFORMED`. */
export function parseCrl(der: Uint8Array, what = 'CRL'): Crl {
  return decodeCached(crlCache, der, 'ERR_CRL_MALFORMED', what, decodeCrl)
}

const TIME_TAGS: readonly number[] = [TAG.utcTime, TAG.generalizedTime]

function decodeCrl(der: Uint8Array, sha256: string): Crl {
  const { tbs, algorithm, signature } = decodeSigned(der, 'ERR_CRL_MALFORMED')
  const fields = new DerReader(tbs.content, 'ERR_CRL_MALFORMED')
  fields.optional(TAG.integer, 'version')
  const innerAlgorithm = fields.next(TAG.sequence, 'signature algorithm')
  if (!bytesEqual(innerAlgorithm.raw, algorithm.raw)) throw fields.error('the signature algorithm inside and outside the signed part differ')
  const issuer = fields.next(TAG.sequence, 'issuer')
  const thisUpdate = timeValue(fields.next(undefined, 'thisUpdate'))
  const nextUpdate = TIME_TAGS.includes(fields.peekTag()) ? timeValue(fields.next(undefined, 'nextUpdate')) : null
  const revoked = new Map<string, Date>()
  const list = fields.optional(TAG.sequence, 'revokedCertificates')
  if (list) {
    const entries = new DerReader(list.content, 'ERR_CRL_MALFORMED')
    while (!entries.done) {
      const entry = entries.enter(TAG.sequence, 'revoked certificate')
      const serial = integerHex(entry.next(TAG.integer, 'serial number').content)
      revoked.set(serial, timeValue(entry.next(undefined, 'revocationDate')))
      entry.optional(TAG.sequence, 'entry extensions')
      entry.end('revoked certificate')
    }
  }
  fields.optional(contextTag(0), 'extensions')
  fields.end('TBSCertList')
  return {
    der,
    sha256,
    issuer: decodeName(issuer),
    issuerDer: issuer.raw,
    thisUpdate,
    nextUpdate,
    revoked,
    signatureAlgorithm: decodeSignatureAlgorithm(algorithm),
    tbs: tbs.raw,
    signature,
  }
}
/** Throws `ERR_CRL_SIGNATURE_INVALID` unless `issuer` signed the CRL with one of `allowed`. */
export async function verifyCrlSignature(crl: Crl, issuer: Certificate, allowed: readonly SignatureAlgorithm[], what = 'CRL'): Promise<void> {
  if (!bytesEqual(crl.issuerDer, issuer.subjectDer)) {
    throw new VerificationError('ERR_CRL_SIGNATURE_INVALID', `${what}: issued by "${commonName(crl.issuer)}", not by "${commonName(issuer.subject)}"`)
  }
  const alg = crl.signatureAlgorithm
  if (!allowed.some((a) => describeAlgorithm(a) === describeAlgorithm(alg))) {
    throw new VerificationError('ERR_CRL_SIGNATURE_INVALID', `${what}: signature algorithm ${describeAlgorithm(alg)} is not allowed`)
  }
  const key = `${crl.sha256}:${issuer.sha256}`
  let ok = verifiedCache.get(key)
  if (ok === undefined) {
    ok = await verifyWithAlgorithm(alg, issuer, crl.tbs, crl.signature)
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
