/** The RIM types the parser produces and the RIM checks return (rim.ts is the API that uses them). */
import type { NvidiaTrust } from './trust.js'

/** One `Resource type="Measurement"` of the Payload. */
export interface RimMeasurement {
  /** RIM index 0..63; the runtime value is SPDM measurement block `index + 1`. */
  readonly index: number
  /** Inactive entries are not compared. */
  readonly active: boolean
  readonly name: string
  /** Digest size in bytes (48 for SHA-384). */
  readonly size: number
  /** `Hash0`..`Hash(alternatives-1)`, lower-case hex: the runtime value may equal any one. */
  readonly alternatives: readonly string[]
}

/** A parsed RIM. Parsing checks structure only: `verifyRim` checks who signed it. */
export interface RimDocument {
  /** `SoftwareIdentity/@tagId`. */
  readonly tagId: string
  /** `SoftwareIdentity/@name`, such as "GH100". */
  readonly name: string
  /** `Meta/@product`, such as "GH100". */
  readonly product: string
  /** `Meta/@colloquialVersion`: the driver version ("550.144.03") or VBIOS version ("96.00.5E.00.01"). */
  readonly colloquialVersion: string
  /** `Meta/@rim:FirmwareManufacturerId` ("5703" for NVIDIA). */
  readonly firmwareManufacturerId: string
  /** `Meta/@rim:PlatformModel`, such as "GH100". */
  readonly platformModel: string
  /** Every measurement entry, in document order, indices unique. */
  readonly measurements: readonly RimMeasurement[]
  /** The KeyInfo `X509Certificate`s as DER, in document order: signer first, root last. */
  readonly certificates: readonly Uint8Array[]
}

/** What an authentic RIM says, as claims. Hex is lower case. */
export interface RimClaims {
  tagId: string
  product: string
  /** `colloquialVersion`: compared with the report's driver or VBIOS version. */
  version: string
  manufacturerId: string
  /** The CN of the certificate that signed the RIM. */
  signer: string
  /** RIM indices of the active measurements, ascending. */
  activeIndices: number[]
  /** The earliest notAfter of the KeyInfo certificates, ISO 8601: when the RIM stops verifying. */
  certificateNotAfter: string
  /** Whether the root is a simulated anchor (always false for NVIDIA's). */
  simulated: boolean
}

/** How to verify a RIM. Every field is optional and says what happens when it is unset. */
export interface RimVerifyOptions {
  /** The clock for certificate validity. Unset: now. RIM signing certificates live about two years. */
  at?: Date
  /** Pinned roots; only `rimRoots` is used here. Unset: `DEFAULT_NVIDIA_TRUST`. */
  trust?: NvidiaTrust
}

/** What `checkRim` established, for a caller that goes on to compare golden measurements. */
export interface RimCheck {
  /** The parsed RIM, or null when it did not parse. Its values are golden only if `authentic`. */
  document: RimDocument | null
  /** What the RIM says (null when it did not parse), whether or not it verified: read `authentic` first. */
  claims: RimClaims | null
  /** Whether every check this RIM recorded passed: structure, chain to a pinned root, validity, signature. */
  authentic: boolean
}

