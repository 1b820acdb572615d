/**
 * The simulated TEE devices (DESIGN.md §7): the simulated PSP and the simulated GPUs behind the device interface.
 * Only `createCpuTee('simulated')` and `createGpuTee('simulated')` load this module, and only when asked for.
 */
import { REPORT_DATA_SIZE, SPDM_NONCE_SIZE } from '@vouch/protocol'
import { closable } from '../closable.js'
import type { CpuEvidence, CpuTee, GpuEvidence, GpuTee } from '../device.types.js'
import { requireLength } from '../require-length.js'
import { createSimulatedGpu, type SimulatedGpu, type SimulatedGpuOptions } from './gpu.js'
import { createSimulatedPsp, type SimulatedPspOptions } from './psp.js'

/** Options of the simulated GPU set: those of every simulated GPU, and how many there are. */
export interface SimulatedGpuTeeOptions extends Omit<SimulatedGpuOptions, 'deviceIndex'> {
  /** Number of GPUs, 1 to 8, each with its own keys (device index 0, 1, ...); 1 when unset. */
  count?: number
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
