/**
 * `@vouch/enclave`: the code that runs inside the TEE: the TEE devices behind one interface (SEV-SNP through
 * configfs-tsm, NVIDIA GPUs through NVML, or the simulator, loaded only when asked for; DESIGN.md §8), the models
 * and their runs, and the errors the service answers with. The simulator itself (its PSP, GPUs and certificate
 * authorities) is `@vouch/enclave/simulated`, which production code never imports (lint-enforced).
 */
export { TEE_ERROR_CODES, TeeError, type TeeErrorCode } from './errors.js'
export {
  createCpuTee,
  createGpuTee,
  type CpuEvidence,
  type CpuTee,
  type CpuTeeKind,
  type CpuTeeOptions,
  type GpuEvidence,
  type GpuTee,
  type GpuTeeKind,
  type GpuArch,
  type GpuTeeOptions,
  type SimulatedGpuTeeOptions,
} from './tee/device.js'
export {
  createSevSnpConfigfsTee,
  nodeTsmFileSystem,
  requestTsmReport,
  type SevSnpCollateral,
  type SevSnpConfigfsOptions,
  type TsmFileSystem,
  type TsmReport,
} from './tee/sev-snp-configfs.js'
export {
  createNvidiaNvmlTee,
  type ConfComputeState,
  type NvidiaGpuTee,
  type NvidiaNvmlOptions,
} from './tee/nvidia-nvml.js'
export {
  ENCLAVE_ERROR_CODES,
  EnclaveError,
  INFERENCE_ERROR_CODES,
  InferenceError,
  MODEL_ERROR_CODES,
  ModelError,
  RELAYED_ERRORS,
  type EnclaveErrorCode,
  type InferenceErrorCode,
  type ModelErrorCode,
  type RelayedErrorCode,
} from './errors.js'
export * from './inference/index.js'
