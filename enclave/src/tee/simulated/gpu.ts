/**
 * The simulated NVIDIA confidential GPU (DESIGN.md §7): it writes real-layout SPDM 1.1 measurement
 * reports (the GET_MEASUREMENTS request with the caller's nonce, 64 SHA-384 blocks, the opaque data of a
 * Hopper on driver 580) signed ECDSA P-384/SHA-384 by a simulated `GSP FMC LF` key under a simulated
 * 5-certificate chain whose leaf carries the FWID, and the matching driver and VBIOS RIMs signed under a
 * simulated RIM root, all derived from a public seed. Everything above this boundary runs the code it
 * runs on hardware; only the roots differ, and no production policy trusts them.
 */
import { createHash, randomBytes, sign, type KeyObject } from 'node:crypto'
import {
  composeGpuAttestationReport,
  encodeAsciiField,
  encodeVbiosVersion,
  formatVbiosVersion,
  GPU_SIGNATURE_SIZE,
  OPAQUE_FIELD,
  SPDM_NONCE_SIZE,
  STATUS_DISABLED,
  STATUS_ENABLED,
} from '@vouch/protocol'
import { deriveBytes, SIMULATED_SEED } from './derive-keys.js'
import { GPU_CHIP, type GpuArch, type GpuChip } from './nvidia-ca.js'
import { issueGpuBrom, issueGpuFmcLeaf } from './nvidia-device-chain.js'
import { simulatedNvidiaRoots } from './nvidia-roots.js'
import { composeRim, signRim, type RimMeasurement } from './nvidia-rim.js'
import { requireLength } from '../require-length.js'

/** Number of SPDM measurement blocks of a GPU report, and of resources of a RIM. */
export const GPU_MEASUREMENT_COUNT = 64

/** RIM indices the driver RIM marks active (real driver RIMs: 7 and 21–41). */
export const DRIVER_RIM_INDICES: readonly number[] = [7, ...Array.from({ length: 21 }, (_, i) => 21 + i)]
/** RIM indices the VBIOS RIM marks active (real VBIOS RIMs: 0–6 and 8–12). */
export const VBIOS_RIM_INDICES: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]
/**
 * Driver indices whose RIM entry lists two golden values, the report's second: 35 (which verifiers skip
 * while NVDEC0 is disabled, as it is here) and 36, which exercises alternatives for real.
 */
export const DRIVER_RIM_ALTERNATIVES: readonly number[] = [35, 36]

/** What a simulated board reports about itself, per architecture. */
export interface SimulatedGpuBoard {
  driverVersion: string
  vbiosVersion: string
  project: string
  projectSku: string
  chipSku: string
}

/**
 * Defaults per architecture: an H100 PCIe board (project 1010, SKU 0205, chip SKU 862) on driver
 * 580.159.03 with VBIOS 96.00.74.00.20, the board of NVIDIA's own Hopper 580 sample; an HGX B200 board
 * (G525, 0220, 886) with the VBIOS of NVIDIA's Blackwell sample on the same driver.
 */
export const SIMULATED_GPU_BOARD: Readonly<Record<GpuArch, Readonly<SimulatedGpuBoard>>> = {
  HOPPER: { driverVersion: '580.159.03', vbiosVersion: '96.00.74.00.20', project: '1010', projectSku: '0205', chipSku: '862' },
  BLACKWELL: { driverVersion: '580.159.03', vbiosVersion: '97.00.88.00.0F', project: 'G525', projectSku: '0220', chipSku: '886' },
}

// Opaque values copied from real reports of each architecture (they mean nothing to verifiers).
const ARCH_OPAQUE: Readonly<Record<GpuArch, { boardId: string; gpuInfo: string; cprInfo: string; projectSkuMod: string }>> = {
  HOPPER: { boardId: 'a1040000', gpuInfo: '8001000000000000', cprInfo: '00c00100', projectSkuMod: '' },
  BLACKWELL: { boardId: '6f060000', gpuInfo: 'a001000000000000', cprInfo: '00000400', projectSkuMod: '0' },
}
/** An H100 has 18 NVLinks: protected-PCIe reports list the switch PDI behind each (4 switches on an HGX board). */
const NVLINKS = 18
const SWITCHES = 4

/** Options of {@link createSimulatedGpu}. Every unset field has a documented default. */
export interface SimulatedGpuOptions {
  /** `HOPPER` (H100) or `BLACKWELL` (B200); `HOPPER` when unset. */
  arch?: GpuArch
  /** Seed of every key, id and measurement; {@link SIMULATED_SEED} when unset. */
  seed?: string
  /** Which GPU of a multi-GPU machine (0–7): its own BROM and leaf keys and ids; 0 when unset. */
  deviceIndex?: number
  /** DRIVER_VERSION and the driver RIM's version; {@link SIMULATED_GPU_BOARD} when unset. */
  driverVersion?: string
  /** VBIOS_VERSION (`96.00.74.00.20`) and the VBIOS RIM's version; {@link SIMULATED_GPU_BOARD} when unset. */
  vbiosVersion?: string
  /** PROJECT, e.g. `1010` (PCIe), `G520` (HGX H100); {@link SIMULATED_GPU_BOARD} when unset. */
  project?: string
  /** PROJECT_SKU, e.g. `0200`; {@link SIMULATED_GPU_BOARD} when unset. */
  projectSku?: string
  /** CHIP_SKU, e.g. `886`; {@link SIMULATED_GPU_BOARD} when unset. */
  chipSku?: string
  /**
   * Protected PCIe (multi-GPU) mode: PROTECTED_PCIE_STATUS 0xAA, FEATURE_FLAG 2 (PPCIE) and the switch
   * PDIs (SWITCH_PDI) seen over the NVLinks. Off when unset (0x55, FEATURE_FLAG 0 = single GPU).
   */
  protectedPcie?: boolean
  /**
   * Runtime measurements replacing the simulated firmware's, by RIM index (0–63), 48 bytes each: a GPU
   * running other firmware than its RIMs describe. The RIMs keep the golden values. None when unset.
   */
  measurementOverrides?: Readonly<Record<number, Uint8Array>>
}

/** A report as the hardware path returns it, with the certificates that verify it. */
export interface GpuReport {
  /** SPDM GET_MEASUREMENTS request ‖ signed MEASUREMENTS response. */
  report: Uint8Array
  /** The 5 device certificates, DER, leaf first: FMC leaf, BROM, provisioner CA, Identity CA, root. */
  chain: Uint8Array[]
  arch: GpuArch
}

/** A RIM as NVIDIA's RIM service names and serves it. */
export interface SimulatedRim {
  /** RIM id: `NV_GPU_DRIVER_GH100_<ver>`, `NV_GPU_CC_DRIVER_GB100_<ver>`, `NV_GPU_VBIOS_<project>_<sku>_<chip sku>_<vbios>`. */
  id: string
  /** The signed XML. */
  xml: string
}

/** The driver and VBIOS RIMs of a simulated GPU. */
export interface SimulatedGpuRims {
  driver: SimulatedRim
  vbios: SimulatedRim
}

/** A simulated confidential GPU, which can be asked for any number of reports. */
export interface SimulatedGpu {
  readonly arch: GpuArch
  readonly deviceIndex: number
  readonly driverVersion: string
  /** VBIOS version as NVIDIA prints it (upper-case hex). */
  readonly vbiosVersion: string
  /** The FWID of the leaf certificate and the report; a copy. */
  readonly fwid: Uint8Array
  /** The 64 runtime measurements by RIM index (SPDM block index − 1), overrides applied; copies. */
  readonly measurements: Uint8Array[]
  /** Writes and signs a report answering `nonce` (exactly 32 bytes), with a fresh responder nonce. */
  getReport(nonce: Uint8Array): Promise<GpuReport>
  /** The signed driver and VBIOS RIMs whose active golden values match this GPU's firmware. */
  rims(): SimulatedGpuRims
}

/** SHA-384 of the seed and a label: a simulated firmware measurement. */
function sha384(seed: string, ...label: Array<string | number>): Uint8Array {
  return new Uint8Array(createHash('sha384').update(JSON.stringify(['vouch/simulated-gpu/v1', seed, ...label])).digest())
}

/** NVIDIA's resource names for the active indices (Hopper RIMs); `Measurement_<i>` for the rest. */
function resourceName(index: number, active: boolean): string {
  if (active && index >= 1 && index <= 6) return `HashedMeasurement_${index}_FSP`
  if (active && [21, 22, 23, 24, 25, 26, 27, 29, 30, 31, 39, 40].includes(index)) return `MixedMeasurement_${index}`
  if (active && [32, 33, 36, 37, 38].includes(index)) return `HashedMeasurement_${index}_GSP`
  if (active && index === 34) return 'MixedHashedMeasurement_34'
  return `Measurement_${index}`
}

const u16 = (n: number): Uint8Array => Uint8Array.of(n & 0xff, n >> 8)

/** A simulated GPU's options, resolved: every default applied and checked. */
interface GpuSetup {
  arch: GpuArch
  chip: GpuChip
  seed: string
  deviceIndex: number
  driverVersion: string
  /** VBIOS_VERSION as the opaque data carries it. */
  vbiosBytes: Uint8Array
  /** The same version as NVIDIA prints it. */
  vbiosVersion: string
  project: string
  projectSku: string
  chipSku: string
  protectedPcie: boolean
}

/** The options with their defaults; a RangeError for an architecture or device index out of range. */
function resolveSetup(options: SimulatedGpuOptions): GpuSetup {
  const arch = options.arch ?? 'HOPPER'
  if (arch !== 'HOPPER' && arch !== 'BLACKWELL') throw new RangeError(`arch must be HOPPER or BLACKWELL, got ${String(arch)}`)
  const deviceIndex = options.deviceIndex ?? 0
  if (!Number.isInteger(deviceIndex) || deviceIndex < 0 || deviceIndex > 7) {
    throw new RangeError(`device index must be 0 to 7, got ${deviceIndex}`)
  }
  const board = SIMULATED_GPU_BOARD[arch]
  // Round-trip through the opaque encoding so the version reads back as NVIDIA prints it.
  const vbiosBytes = encodeVbiosVersion(options.vbiosVersion ?? board.vbiosVersion)
  return {
    arch,
    chip: GPU_CHIP[arch],
    seed: options.seed ?? SIMULATED_SEED,
    deviceIndex,
    driverVersion: options.driverVersion ?? board.driverVersion,
    vbiosBytes,
    vbiosVersion: formatVbiosVersion(vbiosBytes),
    project: options.project ?? board.project,
    projectSku: options.projectSku ?? board.projectSku,
    chipSku: options.chipSku ?? board.chipSku,
    protectedPcie: options.protectedPcie ?? false,
  }
}

/**
 * The golden values by RIM index. They depend on the firmware (chip and version), not on the device: every GPU
 * of a machine shares its RIMs, as real ones do.
 */
function goldenValues({ seed, chip, vbiosVersion, driverVersion }: GpuSetup): Map<number, Uint8Array> {
  const golden = new Map<number, Uint8Array>()
  for (const i of VBIOS_RIM_INDICES) golden.set(i, sha384(seed, chip, 'vbios', vbiosVersion, i))
  for (const i of DRIVER_RIM_INDICES) golden.set(i, sha384(seed, chip, 'driver', driverVersion, i))
  return golden
}

/** The 64 runtime measurements: the golden values (zeros where there is none), then the overrides. */
function runtimeMeasurements(golden: ReadonlyMap<number, Uint8Array>, overrides: Readonly<Record<number, Uint8Array>> = {}): Uint8Array[] {
  const measurements = Array.from({ length: GPU_MEASUREMENT_COUNT }, (_, i) => golden.get(i) ?? new Uint8Array(48))
  for (const [key, value] of Object.entries(overrides)) {
    const index = Number(key)
    if (!Number.isInteger(index) || index < 0 || index >= GPU_MEASUREMENT_COUNT) {
      throw new RangeError(`measurement override index must be 0 to 63, got ${key}`)
    }
    measurements[index] = requireLength(value, 48, `measurement ${index}`)
  }
  return measurements
}

/** The opaque TLVs in the order a Hopper on driver 580 writes them, with the value sizes of real reports. */
function opaqueFields(setup: GpuSetup, measurements: readonly Uint8Array[], fwid: Uint8Array): Array<{ type: number; value: Uint8Array }> {
  const { arch, seed, protectedPcie } = setup
  const real = ARCH_OPAQUE[arch]
  const counts = new Uint8Array(4 * GPU_MEASUREMENT_COUNT)
  const view = new DataView(counts.buffer)
  measurements.forEach((m, i) => view.setUint32(4 * i, m.some((b) => b !== 0) ? 1 : 0, true))
  const fields: Array<{ type: number; value: Uint8Array }> = [
    { type: OPAQUE_FIELD.VBIOS_VERSION, value: setup.vbiosBytes },
    { type: OPAQUE_FIELD.BOARD_ID, value: Buffer.from(real.boardId, 'hex') },
    { type: OPAQUE_FIELD.CHIP_SKU, value: encodeAsciiField(setup.chipSku, 9) },
    { type: OPAQUE_FIELD.CHIP_SKU_MOD, value: encodeAsciiField('0', 5) },
    { type: OPAQUE_FIELD.PROJECT, value: encodeAsciiField(setup.project, 5) },
    { type: OPAQUE_FIELD.PROJECT_SKU, value: encodeAsciiField(setup.projectSku, 5) },
    { type: OPAQUE_FIELD.PROJECT_SKU_MOD, value: encodeAsciiField(real.projectSkuMod, 2) },
    { type: OPAQUE_FIELD.DRIVER_VERSION, value: encodeAsciiField(setup.driverVersion) },
    { type: OPAQUE_FIELD.GPU_INFO, value: Buffer.from(real.gpuInfo, 'hex') },
    { type: OPAQUE_FIELD.MSRSCNT, value: counts },
    { type: OPAQUE_FIELD.CPRINFO, value: Buffer.from(real.cprInfo, 'hex') },
    { type: OPAQUE_FIELD.NVDEC0_STATUS, value: Uint8Array.of(STATUS_DISABLED) },
    { type: OPAQUE_FIELD.FWID, value: fwid },
    { type: OPAQUE_FIELD.PROTECTED_PCIE_STATUS, value: Uint8Array.of(protectedPcie ? STATUS_ENABLED : STATUS_DISABLED) },
  ]
  if (protectedPcie) {
    // PDIs as the GPU writes them (NVIDIA prints each reversed); the same switches for every GPU of a seed.
    const pdis = Array.from({ length: SWITCHES }, (_, s) => deriveBytes(seed, `nvidia/nvswitch/${s}/pdi`, 8))
    const links = Array.from({ length: NVLINKS }, (_, l) => pdis[l % SWITCHES]!)
    fields.push({ type: OPAQUE_FIELD.SWITCH_PDI, value: Buffer.concat(links) })
  }
  if (arch === 'BLACKWELL') fields.push({ type: OPAQUE_FIELD.SYS_ENABLE_STATUS, value: Uint8Array.of(0x07, 0x07) })
  fields.push(
    { type: OPAQUE_FIELD.OPAQUE_DATA_VERSION, value: u16(1) },
    { type: OPAQUE_FIELD.FEATURE_FLAG, value: u16(protectedPcie ? 2 : 0) },
  )
  return fields.map((f) => ({ type: f.type, value: new Uint8Array(f.value) }))
}

/** The device's 5 certificates, leaf first, under the simulated provisioner CA, and the leaf's key. */
function deviceCertificates({ arch, seed, deviceIndex }: GpuSetup, fwid: Uint8Array): { key: KeyObject; chain: Uint8Array[] } {
  const roots = simulatedNvidiaRoots(arch, seed)
  const brom = issueGpuBrom({ arch, seed, deviceIndex, issuer: roots.provisioner })
  const leaf = issueGpuFmcLeaf({ arch, seed, deviceIndex, issuer: brom, fwid })
  return { key: leaf.key, chain: [leaf.der, brom.der, roots.provisioner.der, roots.identity.der, roots.deviceRoot.der] }
}

/** The driver and VBIOS RIMs of the firmware, signed by the simulated RIM signer. */
function simulatedRims(setup: GpuSetup, golden: ReadonlyMap<number, Uint8Array>): SimulatedGpuRims {
  const { arch, seed, chip, driverVersion, vbiosVersion } = setup
  const { rimSigner, rimL3, rimCa, rimRoot } = simulatedNvidiaRoots(arch, seed)
  const signer = { key: rimSigner.key, chain: [rimSigner.der, rimL3.der, rimCa.der, rimRoot.der] }
  const entries = (component: 'driver' | 'vbios', version: string, active: readonly number[]): RimMeasurement[] =>
    Array.from({ length: GPU_MEASUREMENT_COUNT }, (_, index) => {
      const isActive = active.includes(index)
      const value = isActive ? golden.get(index)! : new Uint8Array(48)
      const values =
        component === 'driver' && DRIVER_RIM_ALTERNATIVES.includes(index)
          ? [sha384(seed, chip, component, version, index, 'alternative'), value]
          : [value]
      return { index, active: isActive, values, name: resourceName(index, isActive) }
    })
  const tagId = (id: string): string => Buffer.from(sha384(seed, 'rim-tag-id', id)).toString('hex')
  const driverId = arch === 'HOPPER' ? `NV_GPU_DRIVER_GH100_${driverVersion}` : `NV_GPU_CC_DRIVER_GB100_${driverVersion}`
  const vbiosId = `NV_GPU_VBIOS_${setup.project}_${setup.projectSku}_${setup.chipSku}_${vbiosVersion.replaceAll('.', '')}`
  const rim = (id: string, component: 'driver' | 'vbios', version: string, active: readonly number[]): SimulatedRim => ({
    id,
    xml: signRim(composeRim({ chip, version, tagId: tagId(id), measurements: entries(component, version, active) }), signer),
  })
  return {
    driver: rim(driverId, 'driver', driverVersion, DRIVER_RIM_INDICES),
    vbios: rim(vbiosId, 'vbios', vbiosVersion, VBIOS_RIM_INDICES),
  }
}

/**
 * Creates a simulated GPU. Certificates and RIMs are made on first use (a few milliseconds; the CAs
 * are memoised per process) and cached by the instance; each report then costs one ECDSA signature.
 */
export function createSimulatedGpu(options: SimulatedGpuOptions = {}): SimulatedGpu {
  const setup = resolveSetup(options)
  const golden = goldenValues(setup)
  const measurements = runtimeMeasurements(golden, options.measurementOverrides)
  // The GSP-FMC ships with the driver; its hash is the FWID.
  const fwid = sha384(setup.seed, setup.chip, 'gsp-fmc', setup.driverVersion)
  const opaque = opaqueFields(setup, measurements, fwid)
  let device: { key: KeyObject; chain: Uint8Array[] } | undefined
  let rims: SimulatedGpuRims | undefined

  return {
    arch: setup.arch,
    deviceIndex: setup.deviceIndex,
    driverVersion: setup.driverVersion,
    vbiosVersion: setup.vbiosVersion,
    get fwid() {
      return new Uint8Array(fwid)
    },
    get measurements() {
      return measurements.map((m) => new Uint8Array(m))
    },
    async getReport(nonce: Uint8Array): Promise<GpuReport> {
      const requestNonce = requireLength(nonce, SPDM_NONCE_SIZE, 'the SPDM nonce')
      device ??= deviceCertificates(setup, fwid)
      const signed = composeGpuAttestationReport({
        nonce: requestNonce,
        responderNonce: new Uint8Array(randomBytes(SPDM_NONCE_SIZE)),
        measurements,
        opaque,
      })
      const signature = sign('sha384', signed, { key: device.key, dsaEncoding: 'ieee-p1363' })
      const report = new Uint8Array(signed.length + GPU_SIGNATURE_SIZE)
      report.set(signed)
      report.set(signature, signed.length)
      return { report, chain: device.chain.map((c) => new Uint8Array(c)), arch: setup.arch }
    },
    rims(): SimulatedGpuRims {
      rims ??= simulatedRims(setup, golden)
      return { driver: { ...rims.driver }, vbios: { ...rims.vbios } }
    },
  }
}
