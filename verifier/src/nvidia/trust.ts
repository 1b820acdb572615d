/**
 * NVIDIA trust anchors, pinned by the SHA-256 of their SubjectPublicKeyInfo: the NVIDIA Device
 * Identity CA (root of every GPU's device certificate chain) and the NVIDIA CoRIM signing Root CA
 * (root of the RIM signing chains). A root that travels with evidence, or in a RIM's KeyInfo, is
 * trusted only if its SPKI matches a pin here (or one the caller passes in `options.trust`).
 */

/** A pinned NVIDIA root. `simulated` anchors are the simulated GPU's roots: only `allowSimulated` policies accept them. */
export interface NvidiaAnchor {
  /** The root's subject CN, for messages. */
  name: string
  /** SHA-256 of the root's DER SubjectPublicKeyInfo, lower-case hex. */
  spkiSha256: string
  simulated: boolean
}

/** Trust material for NVIDIA GPU and RIM verification. */
export interface NvidiaTrust {
  /** Roots of GPU device certificate chains (the 5th certificate of `attestationCertChain`). */
  deviceRoots: readonly NvidiaAnchor[]
  /** Roots of RIM signing chains (the last certificate of a RIM's KeyInfo). */
  rimRoots: readonly NvidiaAnchor[]
}

/**
 * NVIDIA Device Identity CA (P-384, valid 2021-11-05 to 9999-12-31), the `verifier_device_root.pem`
 * that nvtrust's local verifier substitutes for the chain's own root.
 */
export const NVIDIA_DEVICE_IDENTITY_CA: NvidiaAnchor = {
  name: 'NVIDIA Device Identity CA',
  spkiSha256: 'a90c4eb5acfd3e3d03a25db6a26b84f720ad0503196c627c21ddd48dd85b06a4',
  simulated: false,
}

/**
 * NVIDIA CoRIM signing Root CA (P-384, valid 2023-03-16 to 2053-03-08), the `verifier_RIM_root.pem`
 * under which NVIDIA signs the driver and VBIOS RIMs of Hopper and Blackwell.
 */
export const NVIDIA_RIM_ROOT_CA: NvidiaAnchor = {
  name: 'NVIDIA CoRIM signing Root CA',
  spkiSha256: 'dec1dc316477aa851eebdf51327ae9f864bc8d89254657ed1e7eb9168af1e1a3',
  simulated: false,
}

/**
 * The simulated GPU's roots, derived from the public seed `vouch/simulated-tee/v1` (DESIGN.md §7). Anyone can
 * sign with them: evidence under these roots proves nothing about hardware.
 */
export const SIMULATED_NVIDIA_DEVICE_ROOT: NvidiaAnchor = {
  name: 'simulated NVIDIA Device Identity CA',
  spkiSha256: '991d4e1b3150fcbf09cf7f0c24ee0daade4eaeb8e4b13f68a5145975a64d1470',
  simulated: true,
}

/** The simulated GPU's RIM signing root, from the same public seed. */
export const SIMULATED_NVIDIA_RIM_ROOT: NvidiaAnchor = {
  name: 'simulated NVIDIA CoRIM signing Root CA',
  spkiSha256: 'aae2a2e2dcba265159b9e4768b60ce3ccda407ae2180b4d16ba9efa3eff04616',
  simulated: true,
}

/**
 * What NVIDIA verification trusts when `options.trust` is unset: NVIDIA's roots and the simulated GPU's
 * (whose evidence only a policy with `allowSimulated: true` accepts).
 */
export const DEFAULT_NVIDIA_TRUST: NvidiaTrust = {
  deviceRoots: [NVIDIA_DEVICE_IDENTITY_CA, SIMULATED_NVIDIA_DEVICE_ROOT],
  rimRoots: [NVIDIA_RIM_ROOT_CA, SIMULATED_NVIDIA_RIM_ROOT],
}
