/**
 * The SEV-SNP ATTESTATION_REPORT byte layout (AMD SEV-SNP Firmware ABI, #56860, Table 23; versions 2
 * to 5): offsets, parsing, composing. No signature checks here; see `@vouch/verifier` for those.
 * Layout details follow google/go-sev-guest `abi/abi.go` and virtee/sev `snp.rs`.
 */
import { ProtocolError } from '../errors.js'
import { isAllZero, reversed } from '../bytes.js'

/** REPORT size in bytes (0x4A0). */
export const REPORT_SIZE = 0x4a0
/** Offset of SIGNATURE; everything before it is signed. */
export const SIGNATURE_OFFSET = 0x2a0
/** REPORT_DATA field size. */
export const REPORT_DATA_SIZE = 64
/** Offset of REPORT_DATA, the guest's 64 bytes (configfs `inblob`). */
export const REPORT_DATA_OFFSET = 0x50
/** Offset of the u32 holding AUTHOR_KEY_EN, MASK_CHIP_KEY and SIGNING_KEY (bits 4:2). */
export const KEY_INFO_OFFSET = 0x48
/** MEASUREMENT field size (SHA-384 launch digest). */
export const MEASUREMENT_SIZE = 48
/** HOST_DATA field size. */
export const HOST_DATA_SIZE = 32
/** CHIP_ID field size (Turin uses the first 8 bytes). */
export const CHIP_ID_SIZE = 64
/** Size of the CHIP_ID prefix that Turin and later fill; the rest is zero. */
export const TURIN_CHIP_ID_SIZE = 8
/** ID_KEY_DIGEST and AUTHOR_KEY_DIGEST size (SHA-384). */
export const KEY_DIGEST_SIZE = 48
/** Oldest and newest report VERSION this parser understands. */
export const MIN_REPORT_VERSION = 2
export const MAX_REPORT_VERSION = 5
/** SIGNATURE_ALGO value for ECDSA P-384 with SHA-384, the only one AMD defines. */
export const SIGNATURE_ALGO_ECDSA_P384_SHA384 = 1
/** Size of each of R and S of a P-384 signature; the report zero-extends them to 72 bytes, little-endian. */
const P384_COMPONENT_SIZE = 48

/** The AMD EPYC generations Vouch knows; each has its own ARK and KDS path. */
export type Product = 'Milan' | 'Genoa' | 'Turin'
/** Which key signed the report: versioned chip endorsement key or versioned loaded endorsement key. */
export type SigningKey = 'VCEK' | 'VLEK'

/** CPUID family/model/stepping as the report gives them (v3+). */
export interface Cpuid {
  family: number
  model: number
  stepping: number
}

/** A TCB_VERSION decoded into its security patch levels. `fmc` exists on Turin and later only. */
export interface Tcb {
  bootloader: number
  tee: number
  snp: number
  microcode: number
  fmc?: number
}

/** Firmware version MAJOR.MINOR.BUILD as reported. */
export interface FirmwareVersion {
  major: number
  minor: number
  build: number
}

/** A parsed ATTESTATION_REPORT. Byte fields are views into `raw`. */
export interface AttestationReport {
  raw: Uint8Array
  /** The bytes the signature covers: `raw[0, 0x2A0)`. */
  signed: Uint8Array
  version: number
  guestSvn: number
  policy: bigint
  familyId: Uint8Array
  imageId: Uint8Array
  vmpl: number
  signatureAlgo: number
  currentTcb: Uint8Array
  platformInfo: bigint
  authorKeyEn: boolean
  maskChipKey: boolean
  signingKey: SigningKey
  reportData: Uint8Array
  measurement: Uint8Array
  hostData: Uint8Array
  idKeyDigest: Uint8Array
  authorKeyDigest: Uint8Array
  reportId: Uint8Array
  reportIdMa: Uint8Array
  reportedTcb: Uint8Array
  /** CPUID fields; null on version 2 reports, which do not carry them. */
  cpuid: Cpuid | null
  chipId: Uint8Array
  committedTcb: Uint8Array
  currentVersion: FirmwareVersion
  committedVersion: FirmwareVersion
  launchTcb: Uint8Array
  /** Mitigation vectors (v5+); null before v5. */
  launchMitVector: bigint | null
  currentMitVector: bigint | null
  /** Big-endian R and S, 48 bytes each, ready for an IEEE P1363 ECDSA verify. */
  signature: { r: Uint8Array; s: Uint8Array }
  /** Product from CPUID (v3+); null on v2, where only the certificate chain can tell. */
  product: Product | null
}

/** POLICY bit positions (go-sev-guest `abi.ParseSnpPolicy`). */
export const POLICY_BITS = {
  smt: 16n,
  reservedMustBeOne: 17n,
  migrateMa: 18n,
  debug: 19n,
  singleSocket: 20n,
  cxlAllowed: 21n,
  memAes256Xts: 22n,
  raplDis: 23n,
  ciphertextHiding: 24n,
  pageSwapDisable: 25n,
} as const
const POLICY_MBZ_MASK = ~((1n << 26n) - 1n) & 0xffff_ffff_ffff_ffffn

/** Guest POLICY decoded into named flags. */
export interface GuestPolicy {
  abiMinor: number
  abiMajor: number
  smt: boolean
  migrateMa: boolean
  debug: boolean
  singleSocket: boolean
  cxlAllowed: boolean
  memAes256Xts: boolean
  raplDis: boolean
  ciphertextHiding: boolean
  pageSwapDisable: boolean
}

/** Decodes the 64-bit guest POLICY. */
export function decodeGuestPolicy(policy: bigint): GuestPolicy {
  const bit = (b: bigint): boolean => ((policy >> b) & 1n) === 1n
  return {
    abiMinor: Number(policy & 0xffn),
    abiMajor: Number((policy >> 8n) & 0xffn),
    smt: bit(POLICY_BITS.smt),
    migrateMa: bit(POLICY_BITS.migrateMa),
    debug: bit(POLICY_BITS.debug),
    singleSocket: bit(POLICY_BITS.singleSocket),
    cxlAllowed: bit(POLICY_BITS.cxlAllowed),
    memAes256Xts: bit(POLICY_BITS.memAes256Xts),
    raplDis: bit(POLICY_BITS.raplDis),
    ciphertextHiding: bit(POLICY_BITS.ciphertextHiding),
    pageSwapDisable: bit(POLICY_BITS.pageSwapDisable),
  }
}

/** Encodes named flags into a guest POLICY, setting the must-be-one bit 17. */
export function encodeGuestPolicy(p: GuestPolicy): bigint {
  let v = BigInt(p.abiMinor & 0xff) | (BigInt(p.abiMajor & 0xff) << 8n) | (1n << POLICY_BITS.reservedMustBeOne)
  const flags: Array<[boolean, bigint]> = [
    [p.smt, POLICY_BITS.smt],
    [p.migrateMa, POLICY_BITS.migrateMa],
    [p.debug, POLICY_BITS.debug],
    [p.singleSocket, POLICY_BITS.singleSocket],
    [p.cxlAllowed, POLICY_BITS.cxlAllowed],
    [p.memAes256Xts, POLICY_BITS.memAes256Xts],
    [p.raplDis, POLICY_BITS.raplDis],
    [p.ciphertextHiding, POLICY_BITS.ciphertextHiding],
    [p.pageSwapDisable, POLICY_BITS.pageSwapDisable],
  ]
  for (const [on, b] of flags) if (on) v |= 1n << b
  return v
}

/** PLATFORM_INFO decoded; unknown bits are kept in `raw` and never rejected (they are policy inputs). */
export interface PlatformInfo {
  smtEnabled: boolean
  tsmeEnabled: boolean
  eccEnabled: boolean
  raplDisabled: boolean
  ciphertextHidingEnabled: boolean
  aliasCheckComplete: boolean
}

/** Decodes PLATFORM_INFO. Bit 6 and above are left to `raw` (their meaning differs across sources). */
export function decodePlatformInfo(info: bigint): PlatformInfo {
  const bit = (b: bigint): boolean => ((info >> b) & 1n) === 1n
  return {
    smtEnabled: bit(0n),
    tsmeEnabled: bit(1n),
    eccEnabled: bit(2n),
    raplDisabled: bit(3n),
    ciphertextHidingEnabled: bit(4n),
    aliasCheckComplete: bit(5n),
  }
}

/**
 * Product for a CPUID family/model, using the ranges of virtee/snpguest `get_processor_model`
 * (Bergamo and Siena parts use Genoa's chain). Returns null for anything else: an unknown part is
 * never guessed.
 */
export function productFromCpuid(cpuid: Cpuid): Product | null {
  const { family, model } = cpuid
  if (family === 0x19) {
    if (model <= 0x0f) return 'Milan'
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return 'Genoa'
    return null
  }
  if (family === 0x1a && model <= 0x11) return 'Turin'
  return null
}

/** The CPUID values the simulated PSP writes for each product (first stepping of each). */
export const PRODUCT_CPUID: Readonly<Record<Product, Cpuid>> = {
  Milan: { family: 0x19, model: 0x01, stepping: 1 },
  Genoa: { family: 0x19, model: 0x11, stepping: 1 },
  Turin: { family: 0x1a, model: 0x02, stepping: 1 },
}

/** Whether `product` encodes TCB_VERSION with the Turin (Zen 5) layout that adds FMC. */
export function usesTurinTcbLayout(product: Product): boolean {
  return product === 'Turin'
}

/**
 * Decodes an 8-byte TCB_VERSION. The layout depends on the product, not on the report version:
 * Milan/Genoa `bl tee 0 0 0 0 snp ucode`, Turin `fmc bl tee snp 0 0 0 ucode`.
 */
export function decodeTcb(raw: Uint8Array, product: Product): Tcb {
  if (raw.length !== 8) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `TCB_VERSION must be 8 bytes, got ${raw.length}`)
  if (usesTurinTcbLayout(product)) {
    return { fmc: raw[0]!, bootloader: raw[1]!, tee: raw[2]!, snp: raw[3]!, microcode: raw[7]! }
  }
  return { bootloader: raw[0]!, tee: raw[1]!, snp: raw[6]!, microcode: raw[7]! }
}

/** Encodes a TCB in the product's TCB_VERSION layout (the inverse of {@link decodeTcb}). */
export function encodeTcb(tcb: Tcb, product: Product): Uint8Array {
  const raw = new Uint8Array(8)
  if (usesTurinTcbLayout(product)) {
    raw[0] = tcb.fmc ?? 0
    raw[1] = tcb.bootloader
    raw[2] = tcb.tee
    raw[3] = tcb.snp
  } else {
    raw[0] = tcb.bootloader
    raw[1] = tcb.tee
    raw[6] = tcb.snp
  }
  raw[7] = tcb.microcode
  return raw
}

/** Field offsets, named after the ABI specification. */
const OFFSET = {
  version: 0x000,
  guestSvn: 0x004,
  policy: 0x008,
  familyId: 0x010,
  imageId: 0x020,
  vmpl: 0x030,
  signatureAlgo: 0x034,
  currentTcb: 0x038,
  platformInfo: 0x040,
  keyInfo: KEY_INFO_OFFSET,
  reserved0: 0x04c,
  reportData: REPORT_DATA_OFFSET,
  measurement: 0x090,
  hostData: 0x0c0,
  idKeyDigest: 0x0e0,
  authorKeyDigest: 0x110,
  reportId: 0x140,
  reportIdMa: 0x160,
  reportedTcb: 0x180,
  cpuidFamily: 0x188,
  cpuidModel: 0x189,
  cpuidStepping: 0x18a,
  chipId: 0x1a0,
  committedTcb: 0x1e0,
  currentBuild: 0x1e8,
  currentMinor: 0x1e9,
  currentMajor: 0x1ea,
  reserved1: 0x1eb,
  committedBuild: 0x1ec,
  committedMinor: 0x1ed,
  committedMajor: 0x1ee,
  reserved2: 0x1ef,
  launchTcb: 0x1f0,
  launchMitVector: 0x1f8,
  currentMitVector: 0x200,
  signatureR: 0x2a0,
  signatureS: 0x2e8,
  signatureReserved: 0x330,
} as const

const SIGNING_KEY_VALUES: Readonly<Record<number, SigningKey>> = { 0: 'VCEK', 1: 'VLEK' }

function requireZero(raw: Uint8Array, from: number, to: number, field: string): void {
  if (!isAllZero(raw.subarray(from, to))) {
    throw new ProtocolError(
      'ERR_REPORT_RESERVED',
      `${field} (0x${from.toString(16)}..0x${to.toString(16)}) must be zero`,
    )
  }
}

/** SIGNING_KEY from KEY_INFO, whose bits 31:5 are reserved. */
function signingKeyOf(keyInfo: number): SigningKey {
  if (keyInfo >>> 5 !== 0) throw new ProtocolError('ERR_REPORT_RESERVED', 'key info bits 31:5 must be zero')
  const value = (keyInfo >>> 2) & 0x7
  const signingKey = SIGNING_KEY_VALUES[value]
  if (signingKey === undefined) {
    const what = value === 7 ? ' (none: the report is unsigned)' : ' (reserved)'
    throw new ProtocolError('ERR_REPORT_SIGNING_KEY_INVALID', `SIGNING_KEY must be 0 (VCEK) or 1 (VLEK), got ${value}${what}`)
  }
  return signingKey
}

/** Every reserved byte of a report of `version`: the fields a later version defines are reserved in an earlier one. */
function requireReservedZero(raw: Uint8Array, version: number): void {
  requireZero(raw, OFFSET.reserved0, OFFSET.reserved0 + 4, 'reserved')
  requireZero(raw, version >= 3 ? OFFSET.cpuidStepping + 1 : OFFSET.cpuidFamily, OFFSET.chipId, 'reserved')
  requireZero(raw, OFFSET.reserved1, OFFSET.reserved1 + 1, 'reserved')
  requireZero(raw, OFFSET.reserved2, OFFSET.reserved2 + 1, 'reserved')
  requireZero(raw, version >= 5 ? OFFSET.currentMitVector + 8 : OFFSET.launchMitVector, SIGNATURE_OFFSET, 'reserved')
  // R and S are 48-byte P-384 values zero-extended to 72 bytes; the rest of the 512-byte field is reserved.
  requireZero(raw, OFFSET.signatureR + P384_COMPONENT_SIZE, OFFSET.signatureS, 'SIGNATURE.R high bytes')
  requireZero(raw, OFFSET.signatureS + P384_COMPONENT_SIZE, OFFSET.signatureReserved, 'SIGNATURE.S high bytes')
  requireZero(raw, OFFSET.signatureReserved, REPORT_SIZE, 'SIGNATURE reserved')
}

/** CPUID and the product it names (v3 on; both null before), which must be a known SEV-SNP product. */
function cpuidOf(raw: Uint8Array, version: number): { cpuid: Cpuid | null; product: Product | null } {
  if (version < 3) return { cpuid: null, product: null }
  const cpuid = { family: raw[OFFSET.cpuidFamily]!, model: raw[OFFSET.cpuidModel]!, stepping: raw[OFFSET.cpuidStepping]! }
  const product = productFromCpuid(cpuid)
  if (product === null) {
    throw new ProtocolError(
      'ERR_REPORT_PRODUCT_UNKNOWN',
      `CPUID family 0x${cpuid.family.toString(16)} model 0x${cpuid.model.toString(16)} is not a known SEV-SNP product`,
    )
  }
  return { cpuid, product }
}

/**
 * Parses a raw 1184-byte ATTESTATION_REPORT (versions 2 to 5). Rejects, with a {@link ProtocolError},
 * a wrong length, an unsupported version, non-zero reserved fields, an unknown signature algorithm or
 * signing-key value, and (v3+) a CPUID family/model that is not a known product.
 */
export function parseAttestationReport(input: Uint8Array): AttestationReport {
  if (input.length !== REPORT_SIZE) {
    throw new ProtocolError('ERR_REPORT_LENGTH', `ATTESTATION_REPORT must be ${REPORT_SIZE} bytes, got ${input.length}`)
  }
  const raw = input
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  const u32 = (o: number): number => view.getUint32(o, true)
  const u64 = (o: number): bigint => view.getBigUint64(o, true)
  const field = (o: number, n: number): Uint8Array => raw.subarray(o, o + n)

  const version = u32(OFFSET.version)
  if (version < MIN_REPORT_VERSION || version > MAX_REPORT_VERSION) {
    throw new ProtocolError(
      'ERR_REPORT_VERSION_UNSUPPORTED',
      `VERSION must be ${MIN_REPORT_VERSION} to ${MAX_REPORT_VERSION}, got ${version}`,
    )
  }
  const signatureAlgo = u32(OFFSET.signatureAlgo)
  if (signatureAlgo !== SIGNATURE_ALGO_ECDSA_P384_SHA384) {
    throw new ProtocolError(
      'ERR_REPORT_SIGNATURE_ALGORITHM',
      `SIGNATURE_ALGO must be ${SIGNATURE_ALGO_ECDSA_P384_SHA384} (ECDSA P-384 with SHA-384), got ${signatureAlgo}`,
    )
  }
  const keyInfo = u32(OFFSET.keyInfo)
  const signingKey = signingKeyOf(keyInfo)
  const policy = u64(OFFSET.policy)
  if ((policy & POLICY_MBZ_MASK) !== 0n) throw new ProtocolError('ERR_REPORT_RESERVED', 'POLICY bits 63:26 must be zero')
  if (((policy >> POLICY_BITS.reservedMustBeOne) & 1n) !== 1n) {
    throw new ProtocolError('ERR_REPORT_RESERVED', 'POLICY bit 17 is reserved and must be one')
  }
  const vmpl = u32(OFFSET.vmpl)
  if (vmpl > 3) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `VMPL must be 0 to 3, got ${vmpl}`)
  requireReservedZero(raw, version)
  const { cpuid, product } = cpuidOf(raw, version)
  const hasMitVectors = version >= 5

  return {
    raw,
    signed: raw.subarray(0, SIGNATURE_OFFSET),
    version,
    guestSvn: u32(OFFSET.guestSvn),
    policy,
    familyId: field(OFFSET.familyId, 16),
    imageId: field(OFFSET.imageId, 16),
    vmpl,
    signatureAlgo,
    currentTcb: field(OFFSET.currentTcb, 8),
    platformInfo: u64(OFFSET.platformInfo),
    authorKeyEn: (keyInfo & 1) === 1,
    maskChipKey: (keyInfo & 2) === 2,
    signingKey,
    reportData: field(OFFSET.reportData, REPORT_DATA_SIZE),
    measurement: field(OFFSET.measurement, MEASUREMENT_SIZE),
    hostData: field(OFFSET.hostData, HOST_DATA_SIZE),
    idKeyDigest: field(OFFSET.idKeyDigest, KEY_DIGEST_SIZE),
    authorKeyDigest: field(OFFSET.authorKeyDigest, KEY_DIGEST_SIZE),
    reportId: field(OFFSET.reportId, 32),
    reportIdMa: field(OFFSET.reportIdMa, 32),
    reportedTcb: field(OFFSET.reportedTcb, 8),
    cpuid,
    chipId: field(OFFSET.chipId, CHIP_ID_SIZE),
    committedTcb: field(OFFSET.committedTcb, 8),
    currentVersion: { major: raw[OFFSET.currentMajor]!, minor: raw[OFFSET.currentMinor]!, build: raw[OFFSET.currentBuild]! },
    committedVersion: { major: raw[OFFSET.committedMajor]!, minor: raw[OFFSET.committedMinor]!, build: raw[OFFSET.committedBuild]! },
    launchTcb: field(OFFSET.launchTcb, 8),
    launchMitVector: hasMitVectors ? u64(OFFSET.launchMitVector) : null,
    currentMitVector: hasMitVectors ? u64(OFFSET.currentMitVector) : null,
    signature: {
      r: reversed(field(OFFSET.signatureR, P384_COMPONENT_SIZE)),
      s: reversed(field(OFFSET.signatureS, P384_COMPONENT_SIZE)),
    },
    product,
  }
}

/** The fields a producer (the simulated PSP) chooses when composing a version 5 report. */
export interface ReportFields {
  guestSvn?: number
  policy: bigint
  familyId?: Uint8Array
  imageId?: Uint8Array
  vmpl: number
  currentTcb: Uint8Array
  platformInfo?: bigint
  authorKeyEn?: boolean
  maskChipKey?: boolean
  signingKey: SigningKey
  reportData: Uint8Array
  measurement: Uint8Array
  hostData?: Uint8Array
  idKeyDigest?: Uint8Array
  authorKeyDigest?: Uint8Array
  reportId: Uint8Array
  reportIdMa?: Uint8Array
  reportedTcb: Uint8Array
  cpuid: Cpuid
  chipId: Uint8Array
  committedTcb: Uint8Array
  currentVersion: FirmwareVersion
  committedVersion: FirmwareVersion
  launchTcb: Uint8Array
  launchMitVector?: bigint
  currentMitVector?: bigint
}

function put(raw: Uint8Array, offset: number, bytes: Uint8Array | undefined, size: number, name: string): void {
  if (bytes === undefined) return
  if (bytes.length > size) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `${name} must be at most ${size} bytes, got ${bytes.length}`)
  raw.set(bytes, offset)
}

/**
 * Composes the signed part of a version 5 ATTESTATION_REPORT (the signature left zero). Used by the
 * simulated PSP, so simulated reports share the exact layout of real ones.
 */
export function composeAttestationReport(f: ReportFields): Uint8Array {
  const raw = new Uint8Array(REPORT_SIZE)
  const view = new DataView(raw.buffer)
  view.setUint32(OFFSET.version, 5, true)
  view.setUint32(OFFSET.guestSvn, f.guestSvn ?? 0, true)
  view.setBigUint64(OFFSET.policy, f.policy, true)
  put(raw, OFFSET.familyId, f.familyId, 16, 'FAMILY_ID')
  put(raw, OFFSET.imageId, f.imageId, 16, 'IMAGE_ID')
  view.setUint32(OFFSET.vmpl, f.vmpl, true)
  view.setUint32(OFFSET.signatureAlgo, SIGNATURE_ALGO_ECDSA_P384_SHA384, true)
  put(raw, OFFSET.currentTcb, f.currentTcb, 8, 'CURRENT_TCB')
  view.setBigUint64(OFFSET.platformInfo, f.platformInfo ?? 0n, true)
  const signingKeyValue = f.signingKey === 'VCEK' ? 0 : 1
  view.setUint32(OFFSET.keyInfo, (f.authorKeyEn ? 1 : 0) | (f.maskChipKey ? 2 : 0) | (signingKeyValue << 2), true)
  put(raw, OFFSET.reportData, f.reportData, REPORT_DATA_SIZE, 'REPORT_DATA')
  put(raw, OFFSET.measurement, f.measurement, MEASUREMENT_SIZE, 'MEASUREMENT')
  put(raw, OFFSET.hostData, f.hostData, HOST_DATA_SIZE, 'HOST_DATA')
  put(raw, OFFSET.idKeyDigest, f.idKeyDigest, KEY_DIGEST_SIZE, 'ID_KEY_DIGEST')
  put(raw, OFFSET.authorKeyDigest, f.authorKeyDigest, KEY_DIGEST_SIZE, 'AUTHOR_KEY_DIGEST')
  put(raw, OFFSET.reportId, f.reportId, 32, 'REPORT_ID')
  put(raw, OFFSET.reportIdMa, f.reportIdMa ?? new Uint8Array(32).fill(0xff), 32, 'REPORT_ID_MA')
  put(raw, OFFSET.reportedTcb, f.reportedTcb, 8, 'REPORTED_TCB')
  raw[OFFSET.cpuidFamily] = f.cpuid.family
  raw[OFFSET.cpuidModel] = f.cpuid.model
  raw[OFFSET.cpuidStepping] = f.cpuid.stepping
  put(raw, OFFSET.chipId, f.chipId, CHIP_ID_SIZE, 'CHIP_ID')
  put(raw, OFFSET.committedTcb, f.committedTcb, 8, 'COMMITTED_TCB')
  raw[OFFSET.currentBuild] = f.currentVersion.build
  raw[OFFSET.currentMinor] = f.currentVersion.minor
  raw[OFFSET.currentMajor] = f.currentVersion.major
  raw[OFFSET.committedBuild] = f.committedVersion.build
  raw[OFFSET.committedMinor] = f.committedVersion.minor
  raw[OFFSET.committedMajor] = f.committedVersion.major
  put(raw, OFFSET.launchTcb, f.launchTcb, 8, 'LAUNCH_TCB')
  view.setBigUint64(OFFSET.launchMitVector, f.launchMitVector ?? 0n, true)
  view.setBigUint64(OFFSET.currentMitVector, f.currentMitVector ?? 0n, true)
  return raw
}

/**
 * Writes a P-384 signature given as IEEE P1363 `r‖s` (big-endian, 48 bytes each) into the report's
 * little-endian SIGNATURE field, in place.
 */
export function setReportSignature(report: Uint8Array, p1363: Uint8Array): void {
  if (report.length !== REPORT_SIZE) throw new ProtocolError('ERR_REPORT_LENGTH', `ATTESTATION_REPORT must be ${REPORT_SIZE} bytes, got ${report.length}`)
  if (p1363.length !== 2 * P384_COMPONENT_SIZE) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `P-384 signature must be ${2 * P384_COMPONENT_SIZE} bytes, got ${p1363.length}`)
  }
  report.fill(0, SIGNATURE_OFFSET, REPORT_SIZE)
  report.set(reversed(p1363.subarray(0, P384_COMPONENT_SIZE)), OFFSET.signatureR)
  report.set(reversed(p1363.subarray(P384_COMPONENT_SIZE)), OFFSET.signatureS)
}
