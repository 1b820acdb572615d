/**
 * `@vouch/client`: the relying party's SDK. Attest a Vouch host under a policy, seal
 * requests to the attested key, and accept only answers whose receipts verify.
 */
export {
  createClient,
  DEFAULT_TIMEOUT_MS,
  type ClientOptions,
  type AttestOptions,
  type Attestation,
  type InferOptions,
  type InferResult,
  type ModelInfo,
  type TensorMetadata,
  type VouchClient,
} from './client.js'
export {
  ClientError,
  CLIENT_ERROR_CODES,
  isClientError,
  type ClientErrorCode,
  type ClientErrorDetails,
  type Problem,
  type CheckedBundle,
  type AttestationEvidence,
  type EnclaveAttestation,
  type FleetRejection,
  type FleetOutcome,
} from './errors.js'
export { type FetchLike, type FetchLikeResponse, type RetryOptions } from './http.js'
export { type LogProofResult, type LogProofOptions } from './log.js'
export { type CreditsOptions, type CreditsProblem, type CreditsReport } from './credits.js'
export { loadPolicy, loadInferenceRequest } from './load.js'
export {
  parseInferenceRequest,
  summarizeTensor,
  toOipJsonOutput,
  toTypedArray,
  type InferInput,
  type TensorValues,
  type InferenceRequest,
  type TensorSummary,
} from './tensors.js'
