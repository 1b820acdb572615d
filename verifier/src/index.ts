/**
 * `@vouch/verifier`: offline verification of confidential-computing evidence against policies.
 * Pure: trust material, clock and policy are inputs; nothing here reads files or the network, except
 * the `trust` module that fills the on-disk collateral cache for the CLI.
 */
export { verifySevSnp, checkSevSnp, type SevSnpInput, type SevSnpVerifyOptions } from './sev-snp/verify.js'
export { AMD_SIGNATURE_ALGORITHMS } from './sev-snp/chain.js'
export { formatTcb, type SevSnpClaims, type TcbClaim } from './sev-snp/claims.js'
export { AMD_ARK_ANCHORS, SIMULATED_ARK_ANCHORS, DEFAULT_SEV_SNP_TRUST, type ArkAnchor, type SevSnpTrust } from './sev-snp/trust.js'
export { TrustStore, defaultTrustDir, tcbKey, type CachedCollateral } from './trust/store.js'
export {
  fetchAmdCollateral,
  AMD_KDS_MIN_INTERVAL_MS,
  AMD_KDS_RETRIES,
  type FetchAmdCollateralOptions,
  type CollateralItem,
  type CollateralKind,
  type CollateralStatus,
  type CollateralSummary,
} from './trust/kds.js'
export { parsePolicy, lintPolicy, PolicyInvalidError, formatPolicyIssues } from './policy/parse.js'
export type * from './policy/types.js'
export { evaluateSevSnpPolicy } from './policy/sev-snp.js'
export { CheckCollector, type Check, type CheckStatus, type Result, type ResultError } from './result.js'
export { VerificationError, PolicyError, VouchError, VERIFICATION_ERROR_CODES, POLICY_ERROR_CODES, type ErrorCode, type VerificationErrorCode, type PolicyErrorCode } from './errors.js'
export { clearVerifierCaches } from './caches.js'
