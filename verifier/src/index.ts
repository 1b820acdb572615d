/**
 * `@vouch/verifier`: offline verification of confidential-computing evidence against policies.
 * Pure: trust material, clock and policy are inputs; nothing reachable from here reads files or the network.
 * `@vouch/verifier/trust` fetches and caches collateral (AMD KDS, NVIDIA RIM service and OCSP);
 * `@vouch/verifier/files` reads input files and policies from disk with a size bound.
 */
export { verifySevSnp, type SevSnpInput, type SevSnpVerifyOptions } from './sev-snp/verify.js'
export { type SevSnpClaims, type TcbClaim } from './sev-snp/claims.js'
export { AMD_ARK_ANCHORS, SIMULATED_ARK_ANCHORS, DEFAULT_SEV_SNP_TRUST, type ArkAnchor, type SevSnpTrust } from './sev-snp/trust.js'
export { parsePolicy, lintPolicy, PolicyInvalidError, MAX_POLICY_BYTES } from './policy/parse.js'
export type * from './policy/types.js'
export { CheckCollector, type Check, type CheckStatus, type Result, type ResultError } from './result.js'
export { VerificationError, PolicyError, VERIFICATION_ERROR_CODES, POLICY_ERROR_CODES, type ErrorCode, type VerificationErrorCode, type PolicyErrorCode } from './errors.js'
export { clearVerifierCaches } from './caches.js'
export { verifyNvidiaGpu, verifyNvidiaGpus, type NvidiaGpuInput, type NvidiaGpuVerifyOptions, type NvidiaGpusClaims, type RimInput } from './nvidia/verify.js'
export type { NvidiaGpuClaims, RimSummary, MeasurementMismatch } from './nvidia/claims.js'
export { DEFAULT_NVIDIA_TRUST, NVIDIA_DEVICE_IDENTITY_CA, NVIDIA_RIM_ROOT_CA, SIMULATED_NVIDIA_DEVICE_ROOT, SIMULATED_NVIDIA_RIM_ROOT, type NvidiaAnchor, type NvidiaTrust } from './nvidia/trust.js'
export { verifyRim, checkRim, parseRim, MAX_RIM_BYTES, type RimDocument, type RimMeasurement, type RimClaims, type RimVerifyOptions, type RimCheck } from './nvidia/rim.js'
export { compareGoldenMeasurements, NVDEC0_RIM_INDEX, type GoldenComparison, type GoldenMismatch, type GoldenSource } from './nvidia/golden.js'
export { parseOcspResponse, type OcspResponse, type OcspCertStatus, type OcspHashAlgorithm, type CrlReason } from './x509/ocsp-decode.js'
export { buildOcspRequest, type OcspRequestOptions } from './x509/ocsp-request.js'
export { checkOcspStatus, evaluateOcspOutcome, type OcspStatus, type OcspOutcome, type OcspOutcomePolicy, type CheckOcspOptions } from './x509/ocsp-check.js'
export { gpuRimIds, type GpuRimIds } from './nvidia/rim-ids.js'
export { verifyBundle, type BundleVerifyOptions } from './bundle/verify.js'
export { verifyReceipt, type ReceiptVerifyOptions } from './bundle/receipt.js'
export { verifyArchive, verifyArchivedReceipt, type ArchivedReceiptVerifyOptions } from './bundle/archive.js'
export { LogForkError } from './log/consistency.js'
export { verifyLogInclusion, type LogProof, type LogInclusion, type SignedCheckpoint } from './log/inclusion.js'
export type { BundleClaims, ReceiptClaims } from './bundle/claims.types.js'
export { renderResult, type RenderOptions } from './cli/render.js'
