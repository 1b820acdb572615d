/**
 * `@vouch/enclave`: the code that runs inside the TEE. So far, the simulated SEV-SNP PSP and the
 * AMD-style certificate authority behind it (DESIGN.md §7).
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
  type CertificateExtension,
  type CertificateOptions,
  type CertificateSignatureAlgorithm,
  type IntermediateKind,
  type IssueArkOptions,
  type IssueCrlOptions,
  type IssueIntermediateOptions,
  type IssueVekOptions,
  type IssuedCertificate,
  type SimulatedAmdRoots,
} from './tee/simulated/amd-ca.js'
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
