/** The claims an NVIDIA GPU Result carries (DESIGN.md §5), hex in lower case. */
import { STATUS_ENABLED, toHex, type GpuAttestationReport } from '@vouch/protocol'
import type { GpuArchitecture } from '../policy/types.js'

/** One RIM as the claims describe it. */
export interface RimSummary {
  /** The RIM service id when known (`NV_GPU_DRIVER_GH100_550.144.03`), else null. */
  id: string | null
  tagId: string
  version: string
  product: string
}

/** A golden value that did not match, by RIM index (SPDM block index − 1). */
export interface MeasurementMismatch {
  index: number
  source: 'driver' | 'vbios'
  expected: string[]
  got: string | null
}

/** Claims of one GPU. */
export interface NvidiaGpuClaims {
  arch: GpuArchitecture | null
  /** The request nonce the report answers, 64 hex. */
  nonce: string
  driverVersion: string | null
  vbiosVersion: string | null
  /** FWID from the report's opaque data (null on drivers that do not report one). */
  fwid: string | null
  /** The leaf certificate's serial number in decimal; null when the chain could not be read. */
  ueid: string | null
  hwmodel: string | null
  simulated: boolean
  /** Measurement blocks by 1-based SPDM index. */
  measurements: Record<string, string>
  /** With RIMs: what was compared and what did not match. */
  rim?: { driver: RimSummary | null; vbios: RimSummary | null; mismatches: MeasurementMismatch[] }
  project: string | null
  projectSku: string | null
  chipSku: string | null
  chipInfo: string | null
  /** PROTECTED_PCIE_STATUS: true in protected-PCIe mode, null when not reported. */
  protectedPcie: boolean | null
  /** NVDEC0_STATUS: true when enabled, null when not reported. */
  nvdec0Enabled: boolean | null
  /** From FEATURE_FLAG (opaque data version ≥ 1): single-GPU passthrough, multi-GPU, protected PCIe. */
  mode: 'spt' | 'mpt' | 'ppcie' | null
  switchPdis: string[]
  opaqueDataVersion: number | null
  /** Bytes after the signature: not covered by it and not trusted. */
  trailingBytes: number
}

const MODES = ['spt', 'mpt', 'ppcie'] as const

/** Claims of a parsed report; certificate-derived fields are filled in by the caller when the chain verified. */
export function toNvidiaGpuClaims(report: GpuAttestationReport): NvidiaGpuClaims {
  const o = report.opaqueData
  return {
    arch: null,
    nonce: toHex(report.request.nonce),
    driverVersion: o.driverVersion ?? null,
    vbiosVersion: o.vbiosVersion ?? null,
    fwid: o.fwid ? toHex(o.fwid) : null,
    ueid: null,
    hwmodel: null,
    simulated: false,
    measurements: Object.fromEntries(report.blocks.map((b) => [String(b.index), toHex(b.value)])),
    project: o.project ?? null,
    projectSku: o.projectSku ?? null,
    chipSku: o.chipSku ?? null,
    chipInfo: o.chipInfo ?? null,
    protectedPcie: o.protectedPcieStatus === undefined ? null : o.protectedPcieStatus === STATUS_ENABLED,
    nvdec0Enabled: o.nvdec0Status === undefined ? null : o.nvdec0Status === STATUS_ENABLED,
    mode: o.featureFlag === undefined ? null : (MODES[o.featureFlag] ?? null),
    switchPdis: o.switchPdis ?? [],
    opaqueDataVersion: o.opaqueDataVersion ?? null,
    trailingBytes: report.trailing.length,
  }
}
