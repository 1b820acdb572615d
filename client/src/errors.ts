/**
 * The client's error class and codes. Every code is documented in `docs/errors.md` (section "Client");
 * `test/errors-doc.test.ts` keeps the two in sync. Codes are stable; messages are for people.
 */
import { CodedError } from '@vouch/protocol'
import type { Keyset } from '@vouch/protocol'
import type { BundleClaims, ReceiptClaims, Result } from '@vouch/verifier'

/** Every code a {@link ClientError} carries. */
export const CLIENT_ERROR_CODES = [
  'ERR_CLIENT_ATTESTATION_REJECTED',
  'ERR_CLIENT_FLEET_TOO_SMALL',
  'ERR_CLIENT_RECEIPT_REJECTED',
  'ERR_CLIENT_RESPONSE_INVALID',
  'ERR_CLIENT_RESPONSE_TOO_LARGE',
  'ERR_CLIENT_REQUEST_INVALID',
  'ERR_CLIENT_HTTP',
  'ERR_CLIENT_UNREACHABLE',
  'ERR_CLIENT_TLS',
  'ERR_CLIENT_TIMEOUT',
  'ERR_CLIENT_LOG_PROOF_REJECTED',
  'ERR_CLIENT_LOG_ENTRY_MISSING',
  'ERR_CLIENT_LOG_FORK',
  'ERR_CLIENT_LOG_NOT_SERVED',
  'ERR_CLIENT_LEDGER_MISMATCH',
] as const

export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number]

/** An RFC 9457 problem document, as the host answers errors (`application/problem+json`). */
export interface Problem {
  type?: string
  title?: string
  status?: number
  detail?: string
  instance?: string
  /** The stable code, such as `ERR_ENCLAVE_UNKNOWN_KID` or `ERR_HOST_ENCLAVE_UNAVAILABLE`. */
  code?: string
  requestId?: string
}

/** A bundle as received and what verifying it said. */
export interface CheckedBundle {
  /** The CBOR bundle bytes, exactly as received (from inside the archive, when the host sent one). */
  bytes: Uint8Array
  /** The evidence archive as received, when the host stapled collateral to the bundle; `result` verified it. */
  archive?: Uint8Array
  result: Result<BundleClaims | null>
}

/** Both bundles of an attestation: the one answering the client's challenge, and the one receipts name. */
export interface AttestationEvidence {
  /** The challenge, 64 lower-case hex. */
  nonce: string
  /** `GET /v1/attestation?nonce=…`: proves the keyset is live now. */
  challenged: CheckedBundle
  /** `GET /v1/attestation`: the bundle every receipt of this keyset names (`evidence`). */
  unchallenged: CheckedBundle
}

/** One enclave whose evidence is accepted: the keyset requests to it are sealed to, and both its bundles. */
export interface EnclaveAttestation extends AttestationEvidence {
  /** Its place in the host's answer (0 for a host that answers for one enclave): how `vouch attest` numbers it. */
  index: number
  /** The attested keyset (the same in both bundles). */
  keyset: Keyset
  /** What the challenged bundle proves: platform, keyset, models, CPU and GPU claims. */
  claims: BundleClaims
  /** Until when (ms since the epoch) requests are sealed to this keyset without attesting again. */
  validUntil: number
}

/** An enclave the host offered whose evidence is not accepted: nothing is ever sealed to it. */
export interface FleetRejection {
  /** Its place in the host's answer. */
  index: number
  /**
   * The Result that rejected it: its challenged bundle's, else its unchallenged one's. Unset when both were accepted
   * but name different keysets, or the keyset is one another enclave of the answer already showed: `error` says.
   */
  result?: Result<BundleClaims | null>
  /** Why, as a single enclave's attestation fails: `ERR_CLIENT_ATTESTATION_REJECTED` with both bundles as received. */
  error: ClientError
}

/** The enclaves of one attestation: accepted, rejected, and how many the policy requires (`fleet.minEnclaves`). */
export interface FleetOutcome {
  accepted: readonly EnclaveAttestation[]
  rejected: readonly FleetRejection[]
  required: number
}

/** What a {@link ClientError} may carry besides its code. Each field is set only for the codes it names. */
export interface ClientErrorDetails {
  cause?: unknown
  /** `ERR_CLIENT_HTTP`, `ERR_CLIENT_LOG_NOT_SERVED`: the response status. */
  status?: number
  /** `ERR_CLIENT_HTTP`: the problem document, when the host sent one. */
  problem?: Problem
  /** `ERR_CLIENT_ATTESTATION_REJECTED`, `ERR_CLIENT_RECEIPT_REJECTED`: the verification Result that rejected. */
  result?: Result<BundleClaims | ReceiptClaims | null>
  /** `ERR_CLIENT_ATTESTATION_REJECTED`: both bundles as received, when both arrived. */
  attestation?: AttestationEvidence
  /** `ERR_CLIENT_LOG_FORK`: the two signed checkpoints no single history holds, the one seen first first: the proof. */
  checkpoints?: readonly [string, string]
  /**
   * `ERR_CLIENT_FLEET_TOO_SMALL`, and `ERR_CLIENT_ATTESTATION_REJECTED` when the host offered several enclaves: every
   * enclave offered, accepted or not, and the number required.
   */
  fleet?: FleetOutcome
}

/**
 * A client failure with a stable {@link ClientErrorCode}. Rejections keep the verifier's Result, so the
 * caller can show every check; HTTP failures keep the status and the host's problem document.
 */
export class ClientError extends CodedError<ClientErrorCode> {
  readonly status: number | undefined
  readonly problem: Problem | undefined
  readonly result: Result<BundleClaims | ReceiptClaims | null> | undefined
  readonly attestation: AttestationEvidence | undefined
  readonly checkpoints: readonly [string, string] | undefined
  readonly fleet: FleetOutcome | undefined

  constructor(code: ClientErrorCode, message: string, details: ClientErrorDetails = {}) {
    super(code, message, details)
    this.status = details.status
    this.problem = details.problem
    this.result = details.result
    this.attestation = details.attestation
    this.checkpoints = details.checkpoints
    this.fleet = details.fleet
  }
}

/** The first errors of a Result, for a message: `CODE: message; ...`, three at most and how many more. */
export function summarizeErrors(result: Result<unknown>): string {
  const shown = result.errors.slice(0, 3).map((e) => `${e.code}: ${e.message}`)
  if (result.errors.length > 3) shown.push(`and ${result.errors.length - 3} more`)
  return shown.length > 0 ? shown.join('; ') : 'nothing passed'
}

/** Whether `error` is a {@link ClientError} with `code` (any code when unset). */
export function isClientError(error: unknown, code?: ClientErrorCode): error is ClientError {
  return error instanceof ClientError && (code === undefined || error.code === code)
}
