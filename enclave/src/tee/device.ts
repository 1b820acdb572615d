/**
 * TEE devices behind one interface (DESIGN.md §7, §8): a CPU TEE answers a REPORT_DATA with a signed
 * report and the certificates that verify it; a GPU set answers an SPDM nonce with one report per GPU.
 * The evidence service above them never knows whether the hardware is simulated or real.
 */
import { SPDM_NONCE_SIZE } from '@vouch/protocol'
import { TeeError } from '../errors.js'
import { createNvidiaNvmlTee, type NvidiaNvmlOptions } from './nvidia-nvml.js'
import { createSevSnpConfigfsTee, type SevSnpConfigfsOptions } from './sev-snp-configfs.js'
import { closable } from './closable.js'
import type { CpuTee, CpuTeeKind, GpuEvidence, GpuTee, GpuTeeKind } from './device.types.js'
import { requireLength } from './require-length.js'
import type { SimulatedGpuTeeOptions } from './simulated/devices.js'
import type { SimulatedPspOptions } from './simulated/psp.js'

export type { CpuEvidence, CpuTee, CpuTeeKind, GpuArch, GpuEvidence, GpuTee, GpuTeeKind } from './device.types.js'
export type { SimulatedGpuTeeOptions }

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
      // Loaded only when asked for, so a production enclave never loads the simulator or its dependencies.
      return (await import('./simulated/devices.js')).createSimulatedCpuTee(options as SimulatedPspOptions | undefined)
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
      return (await import('./simulated/devices.js')).createSimulatedGpuTee(options as SimulatedGpuTeeOptions | undefined)
    case 'nvidia':
      return createNvidiaNvmlTee(options as NvidiaNvmlOptions | undefined)
    default:
      throw new TeeError('ERR_TEE_UNSUPPORTED', `unknown GPU TEE ${JSON.stringify(kind)}: expected "none", "simulated" or "nvidia"`)
  }
}
