/**
 * The simulated AMD SEV-SNP PSP (DESIGN.md §7): it writes real-format version 5 ATTESTATION_REPORTs,
 * signed (ECDSA P-384, SHA-384) by a VCEK or VLEK under a simulated ARK → ASK/ASVK chain, all derived
 * from a public seed. Everything above this boundary (evidence, binding, verification) runs the code
 * it runs on hardware; only the roots differ, and no production policy trusts them.
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto'
import {
  CHIP_ID_SIZE,
  composeAttestationReport,
  decodeTcb,
  encodeGuestPolicy,
  encodeTcb,
  HOST_DATA_SIZE,
  MEASUREMENT_SIZE,
  PRODUCT_CPUID,
  REPORT_DATA_SIZE,
  setReportSignature,
  SIGNATURE_OFFSET,
  TURIN_CHIP_ID_SIZE,
  usesTurinTcbLayout,
  type FirmwareVersion,
  type GuestPolicy,
  type Product,
  type SigningKey,
  type Tcb,
} from '@vouch/protocol'
import { issueVek, simulatedAmdRoots } from './amd-ca.js'
import { deriveBytes, SIMULATED_SEED } from './derive-keys.js'
import { requireLength } from '../require-length.js'

/** What the simulated launch measures: {@link SIMULATED_MEASUREMENT} is the SHA-384 of this text. */
export const SIMULATED_LAUNCH = 'vouch/simulated-tee/v1 SEV-SNP launch'

/** Default MEASUREMENT of simulated reports (lower-case hex): SHA-384 of {@link SIMULATED_LAUNCH}. */
export const SIMULATED_MEASUREMENT = createHash('sha384').update(SIMULATED_LAUNCH, 'utf8').digest('hex')

/** cspID of simulated VLEKs unless the caller names another CSP. */
export const SIMULATED_CSP_ID = 'CN=vouch-simulated'

/**
 * Default TCB per product: levels seen in real reports (Milan on GCP, Genoa, Turin), so the simulated
 * reports look like current hardware. REPORTED, COMMITTED, LAUNCH and CURRENT TCB all take it.
 */
export const SIMULATED_TCB: Readonly<Record<Product, Readonly<Tcb>>> = {
  Milan: { bootloader: 4, tee: 0, snp: 27, microcode: 222 },
  Genoa: { bootloader: 10, tee: 0, snp: 27, microcode: 88 },
  Turin: { fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 },
}

interface PlatformDefaults {
  firmware: FirmwareVersion
  platformInfo: bigint
  mitigationVector: bigint
}

// Firmware, PLATFORM_INFO and mitigation vectors of the real v5 reports the TCBs above come from
// (Turin sets PLATFORM_INFO bit 6, as real Turin parts do).
const PLATFORM_DEFAULTS: Readonly<Record<Product, PlatformDefaults>> = {
  Milan: { firmware: { major: 1, minor: 55, build: 35 }, platformInfo: 0x25n, mitigationVector: 0xbn },
  Genoa: { firmware: { major: 1, minor: 55, build: 49 }, platformInfo: 0x25n, mitigationVector: 0xbn },
  Turin: { firmware: { major: 1, minor: 55, build: 61 }, platformInfo: 0x67n, mitigationVector: 0n },
}

/** Default guest POLICY: SMT allowed, debug and migration agent off, minimum ABI 1.55. */
export const SIMULATED_GUEST_POLICY: Readonly<GuestPolicy> = {
  abiMajor: 1,
  abiMinor: 55,
  smt: true,
  migrateMa: false,
  debug: false,
  singleSocket: false,
  cxlAllowed: false,
  memAes256Xts: false,
  raplDis: false,
  ciphertextHiding: false,
  pageSwapDisable: false,
}

/** Options of {@link createSimulatedPsp}. Every unset field has a documented default. */
export interface SimulatedPspOptions {
  /** Product whose CPUID, TCB layout and chain the PSP uses; `Genoa` when unset. */
  product?: Product
  /** Seed of every key and of the CHIP_ID; {@link SIMULATED_SEED} when unset. */
  seed?: string
  /** `VCEK` (chip key under the ASK) or `VLEK` (CSP key under the ASVK); `VCEK` when unset. */
  signingKey?: SigningKey
  /**
   * TCB reported as REPORTED, COMMITTED, LAUNCH and CURRENT TCB and certified by the VCEK/VLEK;
   * {@link SIMULATED_TCB} of the product when unset.
   */
  tcb?: Tcb
  /** MEASUREMENT (48 bytes); {@link SIMULATED_MEASUREMENT} when unset. */
  measurement?: Uint8Array
  /** HOST_DATA (32 bytes); zeros when unset. */
  hostData?: Uint8Array
  /** Guest POLICY, as the raw u64 or as flags over {@link SIMULATED_GUEST_POLICY}; that policy when unset. */
  policy?: bigint | Partial<GuestPolicy>
  /** Default VMPL of the reports (0–3); 0 when unset. `getReport` may ask for another. */
  vmpl?: number
  /**
   * CHIP_ID (64 bytes; Turin parts fill the first 8 and report zeros after them, and their VCEK hwID is
   * those 8); derived from the seed when unset.
   */
  chipId?: Uint8Array
  /** Platform MASK_CHIP_ID set: CHIP_ID is reported as zeros (the VCEK still carries the real hwID); off when unset. */
  maskChipId?: boolean
  /** cspID of the VLEK; {@link SIMULATED_CSP_ID} when unset. Ignored for a VCEK. */
  cspId?: string
  /** GUEST_SVN; 0 when unset. */
  guestSvn?: number
  /** FAMILY_ID and IMAGE_ID (16 bytes each); zeros when unset (no ID block). */
  familyId?: Uint8Array
  imageId?: Uint8Array
  /** PLATFORM_INFO; the product's observed value when unset. */
  platformInfo?: bigint
  /** Firmware version reported as CURRENT and COMMITTED; the product's observed version when unset. */
  firmware?: FirmwareVersion
}

/** A report as the hardware path returns it: the raw report and the certificates that verify it. */
export interface PspReport {
  /** The 1184-byte ATTESTATION_REPORT. */
  report: Uint8Array
  /** The VCEK or VLEK, DER. */
  vek: Uint8Array
  /** ASK (or ASVK) then ARK, DER. */
  chain: [Uint8Array, Uint8Array]
}

/** Options of one report request. */
export interface GetReportOptions {
  /** VMPL to report at (the configfs `privlevel`), 0–3; the PSP's default when unset. */
  vmpl?: number
}

/** A simulated PSP: one simulated guest launch, which can be asked for any number of reports. */
export interface SimulatedPsp {
  readonly product: Product
  readonly signingKey: SigningKey
  /** The CHIP_ID as reported (zeros under MASK_CHIP_ID); a copy. */
  readonly chipId: Uint8Array
  readonly tcb: Readonly<Tcb>
  /** MEASUREMENT of the simulated launch; a copy. */
  readonly measurement: Uint8Array
  /** Writes and signs a report carrying `reportData` (exactly 64 bytes) in REPORT_DATA. */
  getReport(reportData: Uint8Array, options?: GetReportOptions): Promise<PspReport>
}

/**
 * The simulated CHIP_ID of a product: 64 bytes derived from the seed, or on Turin 8 bytes then zeros
 * (Turin parts report an 8-byte ID, and its KDS looks VCEKs up by those 8 bytes).
 */
export function simulatedChipId(product: Product, seed = SIMULATED_SEED): Uint8Array {
  const chipId = deriveBytes(seed, `amd/${product}/chip-id`, CHIP_ID_SIZE)
  if (usesTurinTcbLayout(product)) chipId.fill(0, TURIN_CHIP_ID_SIZE)
  return chipId
}

function requireVmpl(vmpl: number): number {
  if (!Number.isInteger(vmpl) || vmpl < 0 || vmpl > 3) throw new RangeError(`VMPL must be 0 to 3, got ${vmpl}`)
  return vmpl
}

/** A simulated PSP's options, resolved: every default applied and checked. */
interface PspSetup {
  product: Product
  seed: string
  signingKey: SigningKey
  /** TCB_VERSION as the report carries it, and decoded. */
  rawTcb: Uint8Array
  tcb: Tcb
  measurement: Uint8Array
  hostData: Uint8Array | undefined
  familyId: Uint8Array | undefined
  imageId: Uint8Array | undefined
  policy: bigint
  defaultVmpl: number
  /** The chip's CHIP_ID, which a VCEK certifies, and the one reports carry (zeros under MASK_CHIP_ID). */
  chipId: Uint8Array
  reportedChipId: Uint8Array
  platform: PlatformDefaults
  firmware: FirmwareVersion
  platformInfo: bigint
  guestSvn: number
  cspId: string
}

/** The options with their defaults; a RangeError for a field of the wrong length or a VMPL out of range. */
function resolveSetup(options: SimulatedPspOptions): PspSetup {
  const product = options.product ?? 'Genoa'
  const seed = options.seed ?? SIMULATED_SEED
  // Round-trip through TCB_VERSION so `tcb` holds exactly what the report says (no fmc before Turin).
  const rawTcb = encodeTcb(options.tcb ?? SIMULATED_TCB[product], product)
  const optional = (value: Uint8Array | undefined, length: number, field: string): Uint8Array | undefined =>
    value === undefined ? undefined : requireLength(value, length, field)
  const measurement = optional(options.measurement, MEASUREMENT_SIZE, 'MEASUREMENT') ?? new Uint8Array(Buffer.from(SIMULATED_MEASUREMENT, 'hex'))
  const hostData = optional(options.hostData, HOST_DATA_SIZE, 'HOST_DATA')
  const familyId = optional(options.familyId, 16, 'FAMILY_ID')
  const imageId = optional(options.imageId, 16, 'IMAGE_ID')
  const policy = typeof options.policy === 'bigint' ? options.policy : encodeGuestPolicy({ ...SIMULATED_GUEST_POLICY, ...options.policy })
  const defaultVmpl = requireVmpl(options.vmpl ?? 0)
  const chipId = optional(options.chipId, CHIP_ID_SIZE, 'CHIP_ID') ?? simulatedChipId(product, seed)
  const platform = PLATFORM_DEFAULTS[product]
  return {
    product,
    seed,
    signingKey: options.signingKey ?? 'VCEK',
    rawTcb,
    tcb: decodeTcb(rawTcb, product),
    measurement,
    hostData,
    familyId,
    imageId,
    policy,
    defaultVmpl,
    chipId,
    reportedChipId: options.maskChipId === true ? new Uint8Array(CHIP_ID_SIZE) : chipId,
    platform,
    firmware: { ...(options.firmware ?? platform.firmware) },
    platformInfo: options.platformInfo ?? platform.platformInfo,
    guestSvn: options.guestSvn ?? 0,
    cspId: options.cspId ?? SIMULATED_CSP_ID,
  }
}

/** The VCEK (certifying the chip's hwID) or VLEK (the CSP's) for the setup's TCB, its key, and the chain above it. */
function vekEvidence(setup: PspSetup): { key: KeyObject; evidence: Omit<PspReport, 'report'> } {
  const { product, signingKey, seed, tcb, chipId } = setup
  const roots = simulatedAmdRoots(product, signingKey, seed)
  const vek = issueVek({
    product,
    kind: signingKey,
    issuer: roots.intermediate,
    tcb,
    seed,
    ...(signingKey === 'VCEK'
      ? { hwId: usesTurinTcbLayout(product) ? chipId.subarray(0, TURIN_CHIP_ID_SIZE) : chipId }
      : { cspId: setup.cspId }),
  })
  return { key: vek.key, evidence: { vek: vek.der, chain: [roots.intermediate.der, roots.ark.der] } }
}

/** A version 5 report of the launch, unsigned, carrying `reportData` at `vmpl`. */
function composeReport(setup: PspSetup, reportData: Uint8Array, vmpl: number, reportId: Uint8Array): Uint8Array {
  const { rawTcb, firmware, platform, hostData, familyId, imageId } = setup
  return composeAttestationReport({
    guestSvn: setup.guestSvn,
    policy: setup.policy,
    ...(familyId === undefined ? {} : { familyId }),
    ...(imageId === undefined ? {} : { imageId }),
    vmpl,
    currentTcb: rawTcb,
    platformInfo: setup.platformInfo,
    signingKey: setup.signingKey,
    reportData,
    measurement: setup.measurement,
    ...(hostData === undefined ? {} : { hostData }),
    reportId,
    reportedTcb: rawTcb,
    cpuid: PRODUCT_CPUID[setup.product],
    chipId: setup.reportedChipId,
    committedTcb: rawTcb,
    currentVersion: firmware,
    committedVersion: firmware,
    launchTcb: rawTcb,
    launchMitVector: platform.mitigationVector,
    currentMitVector: platform.mitigationVector,
  })
}

/**
 * Creates a simulated PSP. Keys and certificates are made on the first report (about a second for the
 * two RSA-4096 CA keys, memoised per process) and reused; each later report costs one ECDSA signature.
 */
export function createSimulatedPsp(options: SimulatedPspOptions = {}): SimulatedPsp {
  const setup = resolveSetup(options)
  // REPORT_ID names the guest for its lifetime, so one simulated launch keeps one.
  const reportId = new Uint8Array(randomBytes(32))
  let signer: { key: KeyObject; evidence: Omit<PspReport, 'report'> } | undefined

  return {
    product: setup.product,
    signingKey: setup.signingKey,
    get chipId() {
      return new Uint8Array(setup.reportedChipId)
    },
    tcb: Object.freeze({ ...setup.tcb }),
    get measurement() {
      return new Uint8Array(setup.measurement)
    },
    async getReport(reportData: Uint8Array, request: GetReportOptions = {}): Promise<PspReport> {
      const data = requireLength(reportData, REPORT_DATA_SIZE, 'REPORT_DATA')
      const vmpl = requireVmpl(request.vmpl ?? setup.defaultVmpl)
      signer ??= vekEvidence(setup)
      const report = composeReport(setup, data, vmpl, reportId)
      const signature = sign('sha384', report.subarray(0, SIGNATURE_OFFSET), { key: signer.key, dsaEncoding: 'ieee-p1363' })
      setReportSignature(report, signature)
      const [intermediate, ark] = signer.evidence.chain
      return { report, vek: new Uint8Array(signer.evidence.vek), chain: [new Uint8Array(intermediate), new Uint8Array(ark)] }
    },
  }
}
