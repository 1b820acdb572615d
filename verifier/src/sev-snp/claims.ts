/** The claims a SEV-SNP Result carries (DESIGN.md §5): the report's fields, decoded, hex in lower case. */
import {
  decodeGuestPolicy,
  decodePlatformInfo,
  decodeTcb,
  toHex,
  type AttestationReport,
  type Cpuid,
  type FirmwareVersion,
  type GuestPolicy,
  type PlatformInfo,
  type Product,
  type SigningKey,
  type Tcb,
} from '@vouch/protocol'

/** A TCB_VERSION decoded, with its raw 8 bytes in hex. */
export interface TcbClaim extends Tcb {
  raw: string
}

/** SEV-SNP claims. */
export interface SevSnpClaims {
  /** Null only for a version 2 report whose chain could not name the product. */
  product: Product | null
  reportVersion: number
  signingKey: SigningKey
  /** True when the chain ends at a simulated PSP root. */
  simulated: boolean
  measurement: string
  reportData: string
  hostData: string
  chipId: string
  vmpl: number
  guestSvn: number
  policy: GuestPolicy & { raw: string }
  platformInfo: PlatformInfo & { raw: string }
  reportedTcb: TcbClaim
  committedTcb: TcbClaim
  launchTcb: TcbClaim
  currentTcb: TcbClaim
  /** CURRENT firmware `MAJOR.MINOR.BUILD`. */
  currentFirmware: string
  committedFirmware: string
  cpuid: Cpuid | null
  familyId: string
  imageId: string
  idKeyDigest: string
  authorKeyDigest: string
  authorKeyEn: boolean
  maskChipKey: boolean
  reportId: string
  reportIdMa: string
  /** Mitigation vectors in hex (v5+), null before. */
  launchMitVector: string | null
  currentMitVector: string | null
}

function tcbClaim(raw: Uint8Array, product: Product): TcbClaim {
  return { ...decodeTcb(raw, product), raw: toHex(raw) }
}

function firmware(v: FirmwareVersion): string {
  return `${v.major}.${v.minor}.${v.build}`
}

const hex64 = (v: bigint): string => `0x${v.toString(16)}`

/**
 * Claims of a parsed report. `product` decides the TCB layout; a version 2 report of unknown product
 * is a Milan or Genoa part (Turin never writes v2), and both use the same layout.
 */
export function toSevSnpClaims(report: AttestationReport, product: Product | null, simulated: boolean): SevSnpClaims {
  const layout: Product = product ?? 'Milan'
  return {
    product,
    reportVersion: report.version,
    signingKey: report.signingKey,
    simulated,
    measurement: toHex(report.measurement),
    reportData: toHex(report.reportData),
    hostData: toHex(report.hostData),
    chipId: toHex(report.chipId),
    vmpl: report.vmpl,
    guestSvn: report.guestSvn,
    policy: { raw: hex64(report.policy), ...decodeGuestPolicy(report.policy) },
    platformInfo: { raw: hex64(report.platformInfo), ...decodePlatformInfo(report.platformInfo) },
    reportedTcb: tcbClaim(report.reportedTcb, layout),
    committedTcb: tcbClaim(report.committedTcb, layout),
    launchTcb: tcbClaim(report.launchTcb, layout),
    currentTcb: tcbClaim(report.currentTcb, layout),
    currentFirmware: firmware(report.currentVersion),
    committedFirmware: firmware(report.committedVersion),
    cpuid: report.cpuid,
    familyId: toHex(report.familyId),
    imageId: toHex(report.imageId),
    idKeyDigest: toHex(report.idKeyDigest),
    authorKeyDigest: toHex(report.authorKeyDigest),
    authorKeyEn: report.authorKeyEn,
    maskChipKey: report.maskChipKey,
    reportId: toHex(report.reportId),
    reportIdMa: toHex(report.reportIdMa),
    launchMitVector: report.launchMitVector === null ? null : hex64(report.launchMitVector),
    currentMitVector: report.currentMitVector === null ? null : hex64(report.currentMitVector),
  }
}

/** TCB components in TCB_VERSION order, with their specification names. */
export const TCB_COMPONENTS: ReadonlyArray<readonly [keyof Tcb, string]> = [
  ['fmc', 'FMC'],
  ['bootloader', 'BOOT_LOADER'],
  ['tee', 'TEE'],
  ['snp', 'SNP'],
  ['microcode', 'MICROCODE'],
]

/** `BOOT_LOADER=3 TEE=0 SNP=8 MICROCODE=115`, for messages. */
export function formatTcb(tcb: Tcb): string {
  return TCB_COMPONENTS.filter(([k]) => tcb[k] !== undefined)
    .map(([k, name]) => `${name}=${tcb[k]}`)
    .join(' ')
}

/** Component-wise equality (raw TCB_VERSIONs of different layouts must never be compared). */
export function tcbEqual(a: Tcb, b: Tcb): boolean {
  return TCB_COMPONENTS.every(([k]) => a[k] === b[k])
}
