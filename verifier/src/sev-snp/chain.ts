/**
 * The AMD certificate chain rules, shared by verification and by `trust fetch` (which validates
 * collateral before caching it): ARK → ASK (VCEK path) or ASVK (VLEK path) → VCEK or VLEK.
 */
import { VerificationError } from '../errors.js'
import { commonName, requireCa, requireKey, requireLeaf, verifyIssuedBy, type Certificate, type SignatureAlgorithm } from '../x509/certificate.js'
import type { ArkAnchor } from './trust.js'
import { decodeVekExtensions, type VekExtensions } from './vek.js'

/** AMD signs every link of the chain, and its CRLs, with RSASSA-PSS SHA-384, salt 48 (AMD #57230). */
export const AMD_SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [{ kind: 'rsa-pss', hash: 'sha384', saltLength: 48 }]
const AMD_CA_KEY = { type: 'rsa', minBits: 4096 } as const
const VEK_KEY = { type: 'ec', curve: 'P-384' } as const

/**
 * Checks that `ark` is a pinned root (its SPKI is one of `anchors`), signs itself, and is an RSA-4096
 * CA. Returns the anchor it matched. Throws `ERR_CHAIN_UNTRUSTED` for an unpinned key.
 */
export async function verifyArkCertificate(ark: Certificate, anchors: readonly ArkAnchor[]): Promise<ArkAnchor> {
  const anchor = anchors.find((a) => a.spkiSha256 === ark.spkiSha256)
  if (anchor === undefined) {
    throw new VerificationError('ERR_CHAIN_UNTRUSTED', `ARK "${commonName(ark.subject)}" is not a pinned root (SPKI SHA-256 ${ark.spkiSha256})`)
  }
  await verifyIssuedBy(ark, ark, AMD_SIGNATURE_ALGORITHMS, 'ARK self-signature')
  requireKey(ark, AMD_CA_KEY, 'ARK')
  requireCa(ark, 'ARK')
  return anchor
}

/** Checks that the ARK issued `intermediate` (ASK or ASVK) and that it is an RSA-4096 CA. */
export async function verifyIntermediateCertificate(intermediate: Certificate, ark: Certificate, name = 'ASK/ASVK'): Promise<void> {
  await verifyIssuedBy(intermediate, ark, AMD_SIGNATURE_ALGORITHMS, name)
  requireKey(intermediate, AMD_CA_KEY, name)
  requireCa(intermediate, name)
}

/** Whether an intermediate is an ASVK (CN `SEV-VLEK-<product>`), which issues VLEKs, rather than an ASK. */
export function isAsvk(intermediate: Certificate): boolean {
  return commonName(intermediate.subject).startsWith('SEV-VLEK-')
}

/**
 * Checks that `intermediate` issued `vek`, that it is a P-384 leaf with well-formed AMD extensions,
 * and that a VCEK hangs off an ASK and a VLEK off an ASVK. Returns the decoded extensions.
 */
export async function verifyVekCertificate(vek: Certificate, intermediate: Certificate, name = 'VEK'): Promise<VekExtensions> {
  await verifyIssuedBy(vek, intermediate, AMD_SIGNATURE_ALGORITHMS, name)
  requireKey(vek, VEK_KEY, name)
  requireLeaf(vek, name)
  const extensions = decodeVekExtensions(vek)
  if ((extensions.kind === 'VLEK') !== isAsvk(intermediate)) {
    throw new VerificationError('ERR_CHAIN_BROKEN', `${extensions.kind} must be issued by ${extensions.kind === 'VLEK' ? 'an ASVK' : 'an ASK'}`)
  }
  return extensions
}
