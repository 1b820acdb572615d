/**
 * OCSP (RFC 6960) checking: whether a decoded response answers for a certificate and was signed by
 * someone entitled to answer, and how its status is judged.
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
import { bytesEqual, toHex } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import { commonName, describeAlgorithm, verifyWithAlgorithm, type Certificate } from './certificate.js'
import { decodeOid, DerReader, readSingle, TAG } from './der.js'
import { ocspMalformed, OID_OCSP_NONCE, type CrlReason, type OcspCertId, type OcspCertStatus, type OcspHashAlgorithm, type OcspResponderId, type OcspResponse, type OcspSingleResponse } from './ocsp-decode.js'
import { ocspCertId, ocspKeyHash } from './ocsp-request.js'

/** id-kp-OCSPSigning: the extended key usage a delegated responder certificate must carry. */
export const OID_KP_OCSP_SIGNING = '1.3.6.1.5.5.7.3.9'
const OID_OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5'
const OID_EXT_KEY_USAGE = '2.5.29.37'
const OID_BASIC_CONSTRAINTS = '2.5.29.19'
const OID_KEY_USAGE = '2.5.29.15'
/** Extensions of a delegated responder certificate whose meaning is enforced here, so they may be critical. */
const RESPONDER_PROCESSED_CRITICAL: ReadonlySet<string> = new Set([OID_BASIC_CONSTRAINTS, OID_KEY_USAGE, OID_EXT_KEY_USAGE, OID_OCSP_NOCHECK])

/**
 * How far the verification time may be before a response's thisUpdate (responder clocks run ahead),
 * and how long after thisUpdate a response without nextUpdate still counts as current.
 */
export const OCSP_CLOCK_SKEW_MS = 5 * 60_000

/** Reasons after which the key must never be trusted again: no grace period applies. */
const COMPROMISE_REASONS: ReadonlySet<CrlReason> = new Set(['keyCompromise', 'cACompromise', 'aACompromise'])

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
async function signedBy(child: Certificate, issuer: Certificate): Promise<boolean> {
  const key = `${child.sha256}:${issuer.sha256}`
  let ok = issuedCache.get(key)
  if (ok === undefined) {
    ok = bytesEqual(child.issuerDer, issuer.subjectDer) && (await verifyWithAlgorithm(child.signatureAlgorithm, issuer, child.tbs, child.signature))
    issuedCache.set(key, ok)
  }
  return ok
}

function hex(bytes: Uint8Array): string {
  return toHex(bytes)
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

/**
 * Whether `response` holds a status for `certificate` as issued by `issuer`: exactly one SingleResponse with its
 * serial number and its issuer's name and key hashes. Nothing is verified: this only sorts responses to the
 * certificates they are about.
 */
export function answersFor(response: OcspResponse, certificate: Certificate, issuer: Certificate): boolean {
  try {
    findSingleResponse(response, certificate, issuer, '')
    return true
  } catch (error) {
    if (error instanceof VerificationError && error.code === 'ERR_OCSP_CERT_MISMATCH') return false
    throw error
  }
}

/** Whether the responder ID names `cert`: its subject (exact bytes, or the same rendered name) or its key's SHA-1. */
function namesCertificate(id: OcspResponderId, cert: Certificate): boolean {
  if (id.kind === 'key') return bytesEqual(id.keyHash, ocspKeyHash(cert, 'sha1'))
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
async function authorizeDelegate(responder: Certificate, issuer: Certificate, at: Date, what: string): Promise<void> {
  const name = commonName(responder.subject) || responder.subject
  const issuerName = commonName(issuer.subject) || issuer.subject
  if (!(await signedBy(responder, issuer))) throw untrusted(`${what}: responder certificate "${name}" was not issued by "${issuerName}", the certificate's issuer`)
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

/** The signer: the issuer if the responder ID names it, else a certificate in the response it names and the issuer authorized. */
async function findSigner(response: OcspResponse, issuer: Certificate, at: Date, what: string): Promise<{ certificate: Certificate; kind: 'issuer' | 'delegated' }> {
  if (namesCertificate(response.responderId, issuer)) return { certificate: issuer, kind: 'issuer' }
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
      await authorizeDelegate(candidate, issuer, at, what)
      authorized.push(candidate)
    } catch (error) {
      firstError ??= error
    }
  }
  if (authorized.length === 0) throw firstError
  for (const certificate of authorized) {
    if (await verifyWithAlgorithm(response.signatureAlgorithm, certificate, response.tbs, response.signature)) return { certificate, kind: 'delegated' }
  }
  return { certificate: authorized[0]!, kind: 'delegated' }
}

/** The response's signature, ECDSA or RSASSA-PSS, verifies under `signer` (`ERR_OCSP_SIGNATURE_INVALID`); cached by the pair. */
async function verifyResponseSignature(response: OcspResponse, signer: Certificate, what: string): Promise<void> {
  const alg = response.signatureAlgorithm
  if (alg.kind === 'other') {
    throw new VerificationError('ERR_OCSP_SIGNATURE_INVALID', `${what}: OCSP signature algorithm ${describeAlgorithm(alg)} is not accepted (ECDSA or RSASSA-PSS)`)
  }
  const key = `${response.sha256}:${signer.sha256}`
  let verified = signatureCache.get(key)
  if (verified === undefined) verified = signatureCache.set(key, await verifyWithAlgorithm(alg, signer, response.tbs, response.signature))
  if (!verified) {
    throw new VerificationError('ERR_OCSP_SIGNATURE_INVALID', `${what}: the OCSP response's ${describeAlgorithm(alg)} signature does not verify under "${commonName(signer.subject) || signer.subject}"`)
  }
}

/** The response echoes the request's nonce (`ERR_OCSP_NONCE_MISMATCH`). */
function verifyNonce(response: OcspResponse, nonce: Uint8Array, what: string): void {
  if (response.nonce === null) {
    throw new VerificationError('ERR_OCSP_NONCE_MISMATCH', `${what}: the OCSP response carries no nonce; the request sent ${hex(nonce)}`)
  }
  if (!bytesEqual(response.nonce, nonce)) {
    throw new VerificationError('ERR_OCSP_NONCE_MISMATCH', `${what}: OCSP nonce mismatch: expected ${hex(nonce)}, got ${hex(response.nonce)}`)
  }
}

/** `thisUpdate - skew <= at` (`ERR_OCSP_NOT_YET_VALID`), and `at < nextUpdate`, or without one `at <= thisUpdate + skew` (`ERR_OCSP_STALE`). */
function requireCurrent(single: OcspSingleResponse, at: Date, skew: number, what: string): void {
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
 * const status = await checkOcspStatus(parseOcspResponse(der), { certificate: brom, issuer: ica, at: new Date(), nonce })
 * const outcome = evaluateOcspOutcome(status, { at, allowUnknown: false, revokedGracePeriodMs: 0 })
 * ```
 */
export async function checkOcspStatus(response: OcspResponse, options: CheckOcspOptions): Promise<OcspStatus> {
  const { certificate, issuer, at } = options
  const what = options.what ?? (commonName(certificate.subject) || certificate.subject)

  for (const [oid, ext] of response.extensions) {
    if (ext.critical && oid !== OID_OCSP_NONCE) throw ocspMalformed(`${what}: the OCSP response has critical extension ${oid}, which the verifier does not process`)
  }
  if (!(await signedBy(certificate, issuer))) {
    throw new VerificationError('ERR_OCSP_CERT_MISMATCH', `${what}: "${commonName(issuer.subject) || issuer.subject}" did not issue this certificate, so no OCSP answer about it can be checked`)
  }
  const single = findSingleResponse(response, certificate, issuer, what)
  for (const [oid, ext] of single.extensions) {
    if (ext.critical) throw ocspMalformed(`${what}: the OCSP SingleResponse has critical extension ${oid}, which the verifier does not process`)
  }
  const signer = await findSigner(response, issuer, at, what)
  await verifyResponseSignature(response, signer.certificate, what)
  if (options.nonce !== undefined) verifyNonce(response, options.nonce, what)
  requireCurrent(single, at, Math.max(0, options.clockSkewMs ?? OCSP_CLOCK_SKEW_MS), what)

  const out: OcspStatus = {
    status: single.status,
    thisUpdate: single.thisUpdate,
    nextUpdate: single.nextUpdate,
    producedAt: response.producedAt,
    responder: { kind: signer.kind, subject: signer.certificate.subject },
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

/** Empties the caches of issuance and signature outcomes. */
export function clearOcspCheckCaches(): void {
  issuedCache.clear()
  signatureCache.clear()
}
