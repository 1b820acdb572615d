/**
 * `@vouch/enclave/simulated`: the simulated TEE for development, tests and CI (DESIGN.md §7). The simulated SEV-SNP
 * PSP and the AMD-style certificate authority behind it; the simulated NVIDIA confidential GPUs with their
 * NVIDIA-style device and RIM certificate authorities and RIMs; both behind the device interface. Every key derives
 * from a public seed: nothing here is a secret, and the production policy rejects all of it.
 */
export {
  SIMULATED_SEED,
  deriveBytes,
  deriveEcPrivateKey,
  deriveRsaPrivateKey,
  type DerivedCurve,
} from './tee/simulated/derive-keys.js'
export {
  issueArk,
  issueCrl,
  issueIntermediate,
  issueVek,
  simulatedAmdRoots,
  simulatedArkSpkiSha256,
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
  simulatedGpuDeviceId,
  type IssueGpuBromOptions,
  type IssueGpuFmcLeafOptions,
} from './tee/simulated/nvidia-device-chain.js'
export { issueNvidiaRimSigner } from './tee/simulated/nvidia-rim-chain.js'
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
export { type SimulatedGpuTeeOptions } from './tee/simulated/devices.js'
