/**
 * TEE devices behind one interface (DESIGN.md §7, §8): a CPU TEE answers a REPORT_DATA with a signed
 * report and the certificates that verify it; a GPU set answers an SPDM nonce with one report per GPU.
 * The evidence service above them never knows whether the hardware is simulated or real.
 */
import { REPORT_DATA_SIZE, SPDM_NONCE_SIZE } from '@vouch/protocol'
import { TeeError } from '../errors.js'
import { createNvidiaNvmlTee, type NvidiaNvmlOptions } from './nvidia-nvml.js'
import { createSevSnpConfigfsTee, type SevSnpConfigfsOptions } from './sev-snp-configfs.js'
import { createSimulatedGpu, type SimulatedGpu, type SimulatedGpuOptions } from './simulated/gpu.js'
import { createSimulatedPsp, type SimulatedPspOptions } from './simulated/psp.js'
import type { CpuEvidence, CpuTee, CpuTeeKind, GpuEvidence, GpuTee, GpuTeeKind } from './device.types.js'

export type { CpuEvidence, CpuTee, CpuTeeKind, GpuArch, GpuEvidence, GpuTee, GpuTeeKind } from './device.types.js'

/** Options of the simulated GPU set: those of every simulated GPU, and how many there are. */
export interface SimulatedGpuTeeOptions extends Omit<SimulatedGpuOptions, 'deviceIndex'> {
  /** Number of GPUs, 1 to 8, each with its own keys (device index 0, 1, ...); 1 when unset. */
  count?: number
}

/** Options per CPU TEE kind. */
export interface CpuTeeOptions {
  simulated: SimulatedPspOptions
  'sev-snp': SevSnpConfigfsOptions
}

/** Options per GPU kind. */
export interface GpuTeeOptions {
  none: Record<string, never>
  simulated: SimulatedGpuTeeOptions
  nvidia: NvidiaNvmlOptions
}

function requireLength(value: Uint8Array, length: number, field: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    const got = value instanceof Uint8Array ? value.length : typeof value
    throw new RangeError(`${field} must be ${length} bytes, got ${got}`)
  }
  return value
}

/** Remembers `close` so every device refuses work afterwards the same way. */
function closable(name: string): { check(): void; close(): Promise<void> } {
  let closed = false
  return {
    check() {
      if (closed) throw new TeeError('ERR_TEE_CLOSED', `the ${name} device is closed`)
    },
    async close() {
      closed = true
    },
  }
}

/** The simulated CPU TEE: the simulated PSP (DESIGN.md §7) behind the device interface. */
export function createSimulatedCpuTee(options: SimulatedPspOptions = {}): CpuTee {
  const psp = createSimulatedPsp(options)
  const state = closable('simulated CPU TEE')
  return {
    kind: 'simulated',
    platform: 'simulated',
    async attest(reportData: Uint8Array): Promise<CpuEvidence> {
      requireLength(reportData, REPORT_DATA_SIZE, 'REPORT_DATA')
      state.check()
      const { report, vek, chain } = await psp.getReport(reportData)
      return { report, vek, chain }
    },
    close: state.close,
  }
}

/** The simulated GPUs: `count` simulated GPUs of one machine, each with its own keys. */
export function createSimulatedGpuTee(options: SimulatedGpuTeeOptions = {}): GpuTee {
  const { count = 1, ...gpuOptions } = options
  if (!Number.isInteger(count) || count < 1 || count > 8) {
    throw new RangeError(`simulated GPU count must be 1 to 8, got ${count}`)
  }
  const gpus: SimulatedGpu[] = Array.from({ length: count }, (_, deviceIndex) =>
    createSimulatedGpu({ ...gpuOptions, deviceIndex }),
  )
  const state = closable('simulated GPU')
  return {
    kind: 'simulated',
    count,
    async attest(nonce: Uint8Array): Promise<GpuEvidence[]> {
      requireLength(nonce, SPDM_NONCE_SIZE, 'the SPDM nonce')
      state.check()
      const reports = await Promise.all(gpus.map((gpu) => gpu.getReport(nonce)))
      return reports.map(({ arch, report, chain }) => ({ arch, report, chain }))
    },
    async ready(): Promise<boolean> {
      state.check()
      return true
    },
    close: state.close,
  }
}

/** No confidential GPU: attests to an empty list. */
export function createNoGpuTee(): GpuTee {
  const state = closable('GPU')
  return {
    kind: 'none',
    count: 0,
    async attest(nonce: Uint8Array): Promise<GpuEvidence[]> {
      requireLength(nonce, SPDM_NONCE_SIZE, 'the SPDM nonce')
      state.check()
      return []
    },
    async ready(): Promise<boolean> {
      state.check()
      return true
    },
    close: state.close,
  }
}

/**
 * Opens the CPU TEE of `kind` with that kind's options (`simulated`: {@link SimulatedPspOptions};
 * `sev-snp`: {@link SevSnpConfigfsOptions}). Throws `ERR_TEE_UNSUPPORTED` for another kind (a typo in a
 * configuration) and what the device throws when its hardware is missing (`ERR_TEE_UNAVAILABLE`).
 */
export async function createCpuTee<K extends CpuTeeKind>(kind: K, options?: CpuTeeOptions[K]): Promise<CpuTee> {
  switch (kind as CpuTeeKind) {
    case 'simulated':
      return createSimulatedCpuTee(options as SimulatedPspOptions | undefined)
    case 'sev-snp':
      return createSevSnpConfigfsTee(options as SevSnpConfigfsOptions | undefined)
    default:
      throw new TeeError('ERR_TEE_UNSUPPORTED', `unknown CPU TEE ${JSON.stringify(kind)}: expected "simulated" or "sev-snp"`)
  }
}

/**
 * Opens the GPUs of `kind` with that kind's options (`simulated`: {@link SimulatedGpuTeeOptions};
 * `nvidia`: {@link NvidiaNvmlOptions}). Throws `ERR_TEE_UNSUPPORTED` for another kind and what the
 * device throws when its hardware is missing or not in confidential-computing mode.
 */
export async function createGpuTee<K extends GpuTeeKind>(kind: K, options?: GpuTeeOptions[K]): Promise<GpuTee> {
  switch (kind as GpuTeeKind) {
    case 'none':
      return createNoGpuTee()
    case 'simulated':
      return createSimulatedGpuTee(options as SimulatedGpuTeeOptions | undefined)
    case 'nvidia':
      return createNvidiaNvmlTee(options as NvidiaNvmlOptions | undefined)
    default:
      throw new TeeError('ERR_TEE_UNSUPPORTED', `unknown GPU TEE ${JSON.stringify(kind)}: expected "none", "simulated" or "nvidia"`)
  }
}
