/**
 * `@vouch/enclave`: the code that runs inside the TEE. So far, the simulated SEV-SNP PSP and the
 * AMD-style certificate authority behind it, and the simulated NVIDIA confidential GPU with its
 * NVIDIA-style device and RIM certificate authorities and RIMs (DESIGN.md §7); the TEE devices behind one
 * interface (simulated, SEV-SNP through configfs-tsm, NVIDIA GPUs through NVML; DESIGN.md §8).
 */
export {
  SIMULATED_SEED,
  deriveBytes,
  deriveEcPrivateKey,
  deriveRsaPrivateKey,
  type DerivedCurve,
} from './tee/simulated/derive-keys.js'
export {
  SIMULATED_CA_NOT_BEFORE,
  SIMULATED_VEK_NOT_BEFORE,
  amdCaKeyLabel,
  issueArk,
  issueCrl,
  issueIntermediate,
  issueVek,
  simulatedAmdRoots,
  simulatedArkSpkiSha256,
  vekKeyLabel,
  type AmdDistinguishedName,
  type CertificateOptions,
  type CertificateSignatureAlgorithm,
  type IntermediateKind,
  type IssueArkOptions,
  type IssueCrlOptions,
  type IssueIntermediateOptions,
  type IssueVekOptions,
  type SimulatedAmdRoots,
} from './tee/simulated/amd-ca.js'
export type { CertificateExtension, IssuedCertificate } from './tee/simulated/x509.js'
export {
  SIMULATED_CSP_ID,
  SIMULATED_GUEST_POLICY,
  SIMULATED_LAUNCH,
  SIMULATED_MEASUREMENT,
  SIMULATED_TCB,
  createSimulatedPsp,
  simulatedChipId,
  type GetReportOptions,
  type PspReport,
  type SimulatedPsp,
  type SimulatedPspOptions,
} from './tee/simulated/psp.js'
export {
  GPU_CHIP,
  nvidiaKeyLabel,
  type GpuArch,
  type GpuChip,
  type IssueNvidiaCertificateOptions,
  type NvidiaCertificateOptions,
  type NvidiaKeyRole,
} from './tee/simulated/nvidia-ca.js'
export { OID_DICE_TCB_INFO, OID_NVIDIA_FWID, OID_NVIDIA_SAN_NAME } from './tee/simulated/nvidia-extensions.js'
export {
  issueGpuBrom,
  issueGpuFmcLeaf,
  issueNvidiaDeviceRoot,
  issueNvidiaIdentityCa,
  issueNvidiaProvisionerCa,
  simulatedGpuDeviceId,
  simulatedGpuSanName,
  type IssueGpuBromOptions,
  type IssueGpuFmcLeafOptions,
} from './tee/simulated/nvidia-device-chain.js'
export { issueNvidiaRimCa, issueNvidiaRimL3, issueNvidiaRimRoot, issueNvidiaRimSigner } from './tee/simulated/nvidia-rim-chain.js'
export {
  simulatedNvidiaDeviceRootSpkiSha256,
  simulatedNvidiaRimRootSpkiSha256,
  simulatedNvidiaRoots,
  type SimulatedNvidiaRoots,
} from './tee/simulated/nvidia-roots.js'
export {
  RIM_ALGORITHM,
  composeRim,
  signRim,
  type ComposeRimOptions,
  type RimMeasurement,
  type RimSigner,
} from './tee/simulated/nvidia-rim.js'
export {
  DRIVER_RIM_ALTERNATIVES,
  DRIVER_RIM_INDICES,
  GPU_MEASUREMENT_COUNT,
  SIMULATED_GPU_BOARD,
  VBIOS_RIM_INDICES,
  createSimulatedGpu,
  type GpuReport,
  type SimulatedGpu,
  type SimulatedGpuBoard,
  type SimulatedGpuOptions,
  type SimulatedGpuRims,
  type SimulatedRim,
} from './tee/simulated/gpu.js'
export { TEE_ERROR_CODES, TeeError, type TeeErrorCode } from './errors.js'
export {
  createCpuTee,
  createGpuTee,
  createNoGpuTee,
  createSimulatedCpuTee,
  createSimulatedGpuTee,
  type CpuEvidence,
  type CpuTee,
  type CpuTeeKind,
  type CpuTeeOptions,
  type GpuEvidence,
  type GpuTee,
  type GpuTeeKind,
  type GpuTeeOptions,
  type SimulatedGpuTeeOptions,
} from './tee/device.js'
export {
  SEV_GUEST_PROVIDER,
  TSM_REPORT_ROOT,
  createSevSnpConfigfsTee,
  nodeTsmFileSystem,
  requestTsmReport,
  toSevSnpEvidence,
  type SevSnpCollateral,
  type SevSnpConfigfsOptions,
  type TsmFileSystem,
  type TsmReport,
} from './tee/sev-snp-configfs.js'
export {
  NVML_ARCHITECTURE,
  NVML_LIBRARY,
  createNvidiaNvmlTee,
  type ConfComputeState,
  type NvidiaGpuTee,
  type NvidiaNvmlOptions,
} from './tee/nvidia-nvml.js'
export {
  ENCLAVE_ERROR_CODES,
  ENCLAVE_ERRORS,
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
