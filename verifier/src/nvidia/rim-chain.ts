/**
 * The certificate chain of a RIM's KeyInfo: the last certificate a pinned NVIDIA RIM root, each issued by the
 * next, CAs above a P-384 signing leaf, every one valid at the verification time. Only a signer whose chain
 * passes here has its key used for the XML signature (rim-signature.ts).
 */
import { bytesEqual } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { commonName, requireCa, requireKey, requireLeaf, requireValidAt, verifyIssuedBy, type Certificate, type SignatureAlgorithm } from '../x509/certificate.js'
import type { NvidiaAnchor } from './trust.js'

/** NVIDIA signs every link of a RIM chain with ECDSA P-384 SHA-384 (all real Hopper and Blackwell chains). */
export const RIM_SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [{ kind: 'ecdsa', hash: 'sha384' }]
const RIM_KEY = { type: 'ec', curve: 'P-384' } as const

function isSelfSigned(cert: Certificate): boolean {
  return bytesEqual(cert.subjectDer, cert.issuerDer)
}

/** The certificate's CN (else its subject), quoted, as messages name it. */
export function label(cert: Certificate): string {
  return `"${commonName(cert.subject) || cert.subject}"`
}

/** Checks that the last KeyInfo certificate is a pinned root, self-signed, a P-384 CA. Throws `ERR_CHAIN_UNTRUSTED` otherwise. */
export async function verifyRimRoot(certs: readonly Certificate[], anchors: readonly NvidiaAnchor[]): Promise<NvidiaAnchor> {
  const last = certs[certs.length - 1]!
  if (certs.length < 2 || !isSelfSigned(last)) {
    throw new VerificationError(
      'ERR_CHAIN_UNTRUSTED',
      `KeyInfo ends with ${label(last)}, issued by "${last.issuer}": no self-signed root certificate follows the signer`,
    )
  }
  const anchor = anchors.find((a) => a.spkiSha256 === last.spkiSha256)
  if (anchor === undefined) {
    throw new VerificationError('ERR_CHAIN_UNTRUSTED', `RIM root ${label(last)} is not a pinned NVIDIA RIM root (SPKI SHA-256 ${last.spkiSha256})`)
  }
  await verifyIssuedBy(last, last, RIM_SIGNATURE_ALGORITHMS, `RIM root ${label(last)} self-signature`)
  requireKey(last, RIM_KEY, `RIM root ${label(last)}`)
  requireCa(last, `RIM root ${label(last)}`)
  return anchor
}

/** Checks each KeyInfo certificate is issued by the next, CAs above a P-384 signing leaf. Returns the chain's names. */
export async function verifyRimChain(certs: readonly Certificate[]): Promise<string> {
  const leaf = certs[0]!
  requireKey(leaf, RIM_KEY, `RIM signer ${label(leaf)}`)
  requireLeaf(leaf, `RIM signer ${label(leaf)}`)
  if (leaf.keyUsage !== null && !leaf.keyUsage.digitalSignature) {
    throw new VerificationError('ERR_CHAIN_CONSTRAINTS', `RIM signer ${label(leaf)}: key usage does not allow digital signatures`)
  }
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i]!
    const issuer = certs[i + 1]!
    const what = i === 0 ? `RIM signer ${label(child)}` : `RIM CA ${label(child)}`
    await verifyIssuedBy(child, issuer, RIM_SIGNATURE_ALGORITHMS, what)
    requireKey(issuer, RIM_KEY, `RIM CA ${label(issuer)}`)
    requireCa(issuer, `RIM CA ${label(issuer)}`)
  }
  return certs.map((c) => commonName(c.subject) || c.subject).join(' ← ')
}

/** Checks every KeyInfo certificate is valid at `at`. Returns when the first of them expires. */
export function verifyRimValidity(certs: readonly Certificate[], at: Date): string {
  // An invalid Date compares false both ways, which would pass every validity check.
  if (Number.isNaN(at.getTime())) throw new VerificationError('ERR_INPUT_INVALID', 'the verification time is not a valid date')
  for (const cert of certs) requireValidAt(cert, at, `RIM certificate ${label(cert)}`)
  const first = earliestNotAfter(certs).toISOString()
  return `all ${certs.length} certificates are valid at ${at.toISOString()}; the first to expire does so ${first}`
}

/** The earliest notAfter of `certs`: when the RIM stops verifying. */
export function earliestNotAfter(certs: readonly Certificate[]): Date {
  return certs.reduce((min, c) => (c.notAfter < min ? c.notAfter : min), certs[0]!.notAfter)
}
