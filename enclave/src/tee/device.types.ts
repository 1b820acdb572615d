/**
 * The types of the TEE device interface (DESIGN.md §7, §8), in a module of their own: the devices (configfs-tsm,
 * NVML, simulated) implement them and `device.ts`, which opens the devices, hands them out; neither needs the other
 * for the types.
 */

/** GPU architectures with confidential computing, as NVML names them. */
export type GpuArch = 'HOPPER' | 'BLACKWELL'

/** Which CPU TEE implementation answers. */
export type CpuTeeKind = 'simulated' | 'sev-snp'
/** Which GPU implementation answers; `none` for a machine without confidential GPUs. */
export type GpuTeeKind = 'none' | 'simulated' | 'nvidia'

/** A CPU TEE's answer: the evidence bundle's `cpu` part (DESIGN.md §3). */
export interface CpuEvidence {
  /** The 1184-byte ATTESTATION_REPORT. */
  report: Uint8Array
  /** The VCEK or VLEK that signed it, DER. */
  vek: Uint8Array
  /** ASK (or ASVK for a VLEK) then ARK, DER. */
  chain: [Uint8Array, Uint8Array]
  /** CRLs signed by the ARK, DER, when the device has them. */
  crls?: Uint8Array[]
}

/** One GPU's answer: an entry of the evidence bundle's `gpus` (DESIGN.md §3). */
export interface GpuEvidence {
  arch: GpuArch
  /** SPDM GET_MEASUREMENTS request ‖ signed MEASUREMENTS response. */
  report: Uint8Array
  /** The device certificates, DER, leaf first. */
  chain: Uint8Array[]
}

/** A CPU TEE device. */
export interface CpuTee {
  readonly kind: CpuTeeKind
  /** The evidence bundle's `platform`. */
  readonly platform: 'simulated' | 'sev-snp'
  /** A report whose REPORT_DATA is `reportData` (exactly 64 bytes; a `RangeError` otherwise). */
  attest(reportData: Uint8Array): Promise<CpuEvidence>
  /** Releases the device; later `attest` calls throw `ERR_TEE_CLOSED`. Idempotent. */
  close(): Promise<void>
}

/** The GPUs of a machine, attested together. */
export interface GpuTee {
  readonly kind: GpuTeeKind
  /** Number of GPUs; 0 for `none`. */
  readonly count: number
  /** One report per GPU, in device order, each answering `nonce` (exactly 32 bytes; a `RangeError` otherwise). */
  attest(nonce: Uint8Array): Promise<GpuEvidence[]>
  /** Whether the GPUs accept work (NVML's CC ready state); always true without real GPUs. */
  ready(): Promise<boolean>
  /** Releases the GPUs (`nvmlShutdown`); later calls throw `ERR_TEE_CLOSED`. Idempotent. */
  close(): Promise<void>
}
