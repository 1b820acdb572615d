/**
 * The verifier's error classes and codes. Two classes answer two questions (as in sigstore-js):
 * {@link VerificationError} "is this evidence authentic and internally consistent?" and
 * {@link PolicyError} "is it what the relying party expects?". Every code is documented in
 * `docs/errors.md`; a test keeps the two in sync.
 */
import type { ProtocolErrorCode } from '@vouch/protocol'

/** Codes of authenticity failures. */
export const VERIFICATION_ERROR_CODES = [
  'ERR_INPUT_INVALID',
  'ERR_COLLATERAL_MISSING',
  'ERR_COLLATERAL_FETCH',
  'ERR_CERT_MALFORMED',
  'ERR_CHAIN_UNTRUSTED',
  'ERR_CHAIN_BROKEN',
  'ERR_CHAIN_SIGNATURE_INVALID',
  'ERR_CHAIN_ALGORITHM',
  'ERR_CHAIN_CONSTRAINTS',
  'ERR_CHAIN_EXPIRED',
  'ERR_CHAIN_NOT_YET_VALID',
  'ERR_CHAIN_PRODUCT_MISMATCH',
  'ERR_CERT_REVOKED',
  'ERR_CRL_MALFORMED',
  'ERR_CRL_SIGNATURE_INVALID',
  'ERR_CRL_STALE',
  'ERR_CRL_NOT_YET_VALID',
  'ERR_OCSP_MALFORMED',
  'ERR_OCSP_UNSUCCESSFUL',
  'ERR_OCSP_CERT_MISMATCH',
  'ERR_OCSP_SIGNATURE_INVALID',
  'ERR_OCSP_RESPONDER_UNTRUSTED',
  'ERR_OCSP_NONCE_MISMATCH',
  'ERR_OCSP_STALE',
  'ERR_OCSP_NOT_YET_VALID',
  'ERR_OCSP_UNKNOWN',
  'ERR_VEK_EXTENSION_INVALID',
  'ERR_SIGNING_KEY_MISMATCH',
  'ERR_VCEK_TCB_MISMATCH',
  'ERR_VCEK_CHIP_ID_MISMATCH',
  'ERR_REPORT_SIGNATURE_INVALID',
  'ERR_REPORT_BINDING_MISMATCH',
  'ERR_GPU_ARCH_UNKNOWN',
  'ERR_GPU_FWID_MISMATCH',
  'ERR_GPU_SIGNATURE_INVALID',
  'ERR_GPU_NONCE_MISMATCH',
  'ERR_GPU_MEASUREMENT_MISMATCH',
  'ERR_RIM_MALFORMED',
  'ERR_RIM_SIGNATURE_STRUCTURE',
  'ERR_RIM_SIGNATURE_ALGORITHM',
  'ERR_RIM_DIGEST_MISMATCH',
  'ERR_RIM_SIGNATURE_INVALID',
  'ERR_RIM_VERSION_MISMATCH',
  'ERR_RIM_INDEX_CONFLICT',
  'ERR_BUNDLE_INCONSISTENT',
  'ERR_BUNDLE_NONCE_MISMATCH',
  'ERR_KEYSET_EXPIRED',
  'ERR_RECEIPT_BINDING_MISMATCH',
  'ERR_RECEIPT_ATTRIBUTION_MISSING',
  'ERR_RECEIPT_ATTRIBUTION_MISMATCH',
  'ERR_RECEIPT_DIGEST_MISMATCH',
] as const

export type VerificationErrorCode = (typeof VERIFICATION_ERROR_CODES)[number]

/** Codes of policy failures, including an invalid policy file. */
export const POLICY_ERROR_CODES = [
  'ERR_POLICY_INVALID',
  'ERR_POLICY_MISSING_SECTION',
  'ERR_POLICY_SAMPLE_TEE',
  'ERR_POLICY_PRODUCT_NOT_ALLOWED',
  'ERR_POLICY_SIGNING_KEY_NOT_ALLOWED',
  'ERR_POLICY_DEBUG_NOT_ALLOWED',
  'ERR_POLICY_MIGRATION_AGENT_NOT_ALLOWED',
  'ERR_POLICY_SMT_NOT_ALLOWED',
  'ERR_POLICY_ABI_TOO_LOW',
  'ERR_POLICY_GUEST_POLICY_MISSING',
  'ERR_POLICY_VMPL_NOT_ALLOWED',
  'ERR_POLICY_GUEST_SVN_TOO_LOW',
  'ERR_POLICY_MEASUREMENT_MISMATCH',
  'ERR_POLICY_HOST_DATA_MISMATCH',
  'ERR_POLICY_REPORT_DATA_MISMATCH',
  'ERR_POLICY_ID_KEY_NOT_ALLOWED',
  'ERR_POLICY_AUTHOR_KEY_NOT_ALLOWED',
  'ERR_POLICY_CHIP_ID_NOT_ALLOWED',
  'ERR_POLICY_TCB_TOO_LOW',
  'ERR_POLICY_FIRMWARE_TOO_OLD',
  'ERR_POLICY_PROVISIONAL_FIRMWARE',
  'ERR_POLICY_CRL_REQUIRED',
  'ERR_POLICY_GPU_ARCH_NOT_ALLOWED',
  'ERR_POLICY_GPU_COUNT',
  'ERR_POLICY_DRIVER_VERSION',
  'ERR_POLICY_VBIOS_VERSION',
  'ERR_POLICY_RIM_REQUIRED',
  'ERR_POLICY_OCSP_REQUIRED',
  'ERR_POLICY_PROTECTED_PCIE',
  'ERR_POLICY_NVDEC0',
  'ERR_POLICY_EVIDENCE_STALE',
  'ERR_POLICY_MODEL_NOT_ALLOWED',
  'ERR_POLICY_PUBLISHER_NOT_ALLOWED',
  'ERR_POLICY_MANIFEST_NOT_ALLOWED',
  'ERR_POLICY_KNOWN_ANSWER_MISMATCH',
  'ERR_POLICY_FIELD_UNBOUND',
] as const

export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number]

/** Every code that can appear in a Result's `errors`. */
export type ErrorCode = VerificationErrorCode | PolicyErrorCode | ProtocolErrorCode

/** Base of the verifier's errors: a stable `code`, a short message, the `cause` kept. */
export abstract class VouchError<C extends string> extends Error {
  readonly code: C

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** Evidence is not authentic, or not consistent with itself. */
export class VerificationError extends VouchError<VerificationErrorCode> {}

/** Evidence is authentic but not what the policy allows, or the policy itself is invalid. */
export class PolicyError extends VouchError<PolicyErrorCode> {}
