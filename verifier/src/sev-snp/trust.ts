/**
 * SEV-SNP trust anchors: each product's AMD Root Key, pinned by the SHA-256 of its
 * SubjectPublicKeyInfo. A root that arrives with evidence or from KDS is trusted only if its SPKI
 * matches a pin here (or one the caller passes in `options.trust`).
 */
import type { Product } from '@vouch/protocol'

/** A pinned ARK. `simulated` anchors are the simulated PSP's roots: only `allowSimulated` policies accept them. */
export interface ArkAnchor {
  product: Product
  /** SHA-256 of the ARK's DER SubjectPublicKeyInfo, lower-case hex. */
  spkiSha256: string
  simulated: boolean
}

/** Trust material for SEV-SNP verification. */
export interface SevSnpTrust {
  arks: readonly ArkAnchor[]
}

/**
 * AMD's ARKs (serials 010000, 020000, 030000), as published at KDS `/vcek/v1/{product}/cert_chain`
 * and embedded by go-sev-guest, virtee/sev and trustee.
 */
export const AMD_ARK_ANCHORS: readonly ArkAnchor[] = [
  { product: 'Milan', spkiSha256: '9f056bee44377e29308cb5ffa895bdfb62d18881fa6bed8d6f075b0204089cb9', simulated: false },
  { product: 'Genoa', spkiSha256: '429a69c9422aa258ee4d8db5fcda9c6470ef15f8cd5a9cebd6cbc7d90b863831', simulated: false },
  { product: 'Turin', spkiSha256: '4f125410563a2ab9a50356f9243f6fe0b6f73de98603f53f90339c70e9d7ad08', simulated: false },
]

/**
 * The simulated PSP's ARKs, derived from the public seed `vouch/simulated-tee/v1` (DESIGN.md §7).
 * Anyone can sign with them: evidence under these roots proves nothing about hardware.
 */
export const SIMULATED_ARK_ANCHORS: readonly ArkAnchor[] = [
  { product: 'Milan', spkiSha256: '1fdbe9c6e6f8d312c5fd1dddb9a47e7ebd4170633a00bafc07f0d516f1f32326', simulated: true },
  { product: 'Genoa', spkiSha256: '4e96f83ad9ad004e5a98624e429fa541f8e90194904cda83c61193ba435134ce', simulated: true },
  { product: 'Turin', spkiSha256: '0f76d2d66b493fcd3bc4fc2e6a3f4be2d59593600d206c5d517b0568880a9d89', simulated: true },
]

/** What `verifySevSnp` trusts when `options.trust` is unset: AMD's roots and the simulated ones. */
export const DEFAULT_SEV_SNP_TRUST: SevSnpTrust = { arks: [...AMD_ARK_ANCHORS, ...SIMULATED_ARK_ANCHORS] }
