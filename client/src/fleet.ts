/**
 * The enclaves behind a host (issue 13): a host routing to several enclaves answers one challenge with the evidence of
 * each (`application/vnd.vouch.fleet+cbor`). Each enclave is judged on its own, exactly as a single enclave is: its
 * challenged bundle must answer the client's nonce, its unchallenged one (the bundle its receipts name) must be
 * accepted too, and both must attest one keyset. The host is untrusted: it can leave an enclave out or list one
 * twice, never make the client seal to an enclave whose evidence the policy does not accept.
 */
import { randomInt } from 'node:crypto'
import { decodeArchive, decodeBundle, decodeFleet, ProtocolError, toHex, type FleetAttestation } from '@vouch/protocol'
import { verifyArchive, verifyBundle, type BundleVerifyOptions } from '@vouch/verifier'
import { ClientError, summarizeErrors, type AttestationEvidence, type CheckedBundle, type EnclaveAttestation, type FleetOutcome, type FleetRejection } from './errors.js'

/** Verifies a bundle, or an evidence archive: the bundle inside with every stapled item, one that does not verify rejecting it. */
export async function checkEvidence(body: Uint8Array, archived: boolean, options: BundleVerifyOptions): Promise<CheckedBundle> {
  if (!archived) return { bytes: body, result: await verifyBundle(body, options) }
  let bytes: Uint8Array = new Uint8Array(0)
  try {
    bytes = decodeArchive(body).bundle
  } catch {
    // verifyArchive rejects it, naming why.
  }
  return { bytes, archive: body, result: await verifyArchive(body, options) }
}

/** A fleet attestation read from the host's answer to `nonce` (64 hex); anything else is `ERR_CLIENT_RESPONSE_INVALID`. */
export function parseFleetAnswer(body: Uint8Array, nonce: string): FleetAttestation {
  let fleet: FleetAttestation
  try {
    fleet = decodeFleet(body)
  } catch (cause) {
    const detail = cause instanceof ProtocolError && cause.issues.length > 0 ? cause.issues.join('; ') : String((cause as Error).message ?? cause)
    throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `GET /v1/attestation: the fleet attestation is malformed: ${detail}`, { cause })
  }
  // The document's nonce is the host's word (each bundle is checked against the client's own): a wrong one is not an answer.
  const answered = toHex(fleet.nonce)
  if (answered !== nonce) throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `GET /v1/attestation: the fleet attestation answers another challenge: expected nonce ${nonce}, got ${answered}`)
  return fleet
}

/** What judging one enclave gave: accepted, or rejected (`mismatch`: both bundles accepted, naming different keysets). */
export type EnclaveOutcome = { accepted: EnclaveAttestation } | { rejected: FleetRejection; mismatch: boolean }

/** Where the evidence came from and what it is judged under, for messages; and how early keysets are renewed. */
export interface JudgeContext {
  /** The host's origin. */
  where: string
  /** The policy's name. */
  policy: string
  renewMarginMs: number
}

/** Judges the enclave at `index`: both bundles accepted, attesting one keyset. */
export function judgeEnclave(index: number, evidence: AttestationEvidence, context: JudgeContext): EnclaveOutcome {
  for (const [which, checked] of [['challenged', evidence.challenged], ['unchallenged', evidence.unchallenged]] as const) {
    if (checked.result.verdict !== 'accepted' || checked.result.claims === null) {
      const message = `the ${which} evidence from ${context.where} is rejected under policy ${context.policy}: ${summarizeErrors(checked.result)}`
      return { rejected: { index, result: checked.result, error: new ClientError('ERR_CLIENT_ATTESTATION_REJECTED', message, { result: checked.result, attestation: evidence }) }, mismatch: false }
    }
  }
  const claims = evidence.challenged.result.claims!
  const named = evidence.unchallenged.result.claims!
  if (claims.keyset.digest !== named.keyset.digest) {
    const message = `the challenged and unchallenged bundles attest different keysets (${claims.keyset.kid}, ${named.keyset.kid})`
    return { rejected: { index, error: new ClientError('ERR_CLIENT_ATTESTATION_REJECTED', message, { attestation: evidence }) }, mismatch: true }
  }
  const keyset = decodeBundle(evidence.challenged.bytes).keyset
  return { accepted: { ...evidence, index, keyset, claims, validUntil: keyset.notAfter * 1000 - context.renewMarginMs } }
}

/**
 * The accepted and rejected enclaves of one attestation, each keyset counted once; or null when `retry` is set, fewer
 * than `required` are accepted and an enclave's two bundles named two keysets (it may have renewed its keyset between
 * them: another try sees one). Throws `ERR_CLIENT_ATTESTATION_REJECTED` when none is accepted (a single enclave's
 * refusal as it is; for several, the first one's Result and every enclave in `fleet`), `ERR_CLIENT_FLEET_TOO_SMALL`
 * when fewer than `required` are.
 */
export function assembleFleet(outcomes: readonly EnclaveOutcome[], required: number, retry: boolean, context: JudgeContext): FleetOutcome | null {
  const accepted: EnclaveAttestation[] = []
  const rejected: FleetRejection[] = []
  const holder = new Map<string, number>()
  for (const outcome of outcomes) {
    if ('rejected' in outcome) {
      rejected.push(outcome.rejected)
      continue
    }
    const member = outcome.accepted
    const first = holder.get(member.keyset.kid)
    if (first === undefined) {
      holder.set(member.keyset.kid, member.index)
      accepted.push(member)
      continue
    }
    // One keyset listed twice is one enclave: it must not count twice toward minEnclaves.
    const message = `enclave ${member.index} from ${context.where} shows the keyset of enclave ${first} (${member.keyset.kid}) again`
    rejected.push({ index: member.index, error: new ClientError('ERR_CLIENT_ATTESTATION_REJECTED', message, { attestation: member }) })
  }
  if (accepted.length >= required && accepted.length > 0) return { accepted, rejected, required }
  if (retry && outcomes.some((o) => 'rejected' in o && o.mismatch)) return null
  const fleet: FleetOutcome = { accepted, rejected, required }
  const offered = outcomes.length
  const first = rejected[0]
  if (accepted.length === 0 && first !== undefined) {
    if (offered === 1) throw first.error
    const message = `none of the ${offered} enclaves ${context.where} offers is accepted under policy ${context.policy}; enclave ${first.index}: ${first.error.message}`
    throw new ClientError('ERR_CLIENT_ATTESTATION_REJECTED', message, { ...(first.result !== undefined && { result: first.result }), ...(first.error.attestation !== undefined && { attestation: first.error.attestation }), fleet })
  }
  const message = `${accepted.length} of the ${offered} enclaves ${context.where} offers ${accepted.length === 1 ? 'is' : 'are'} accepted under policy ${context.policy}, which requires ${required} (fleet.minEnclaves)`
  throw new ClientError('ERR_CLIENT_FLEET_TOO_SMALL', message, { fleet })
}

/**
 * The accepted enclaves of one attestation, taken in turn, so requests spread over them. An enclave that refuses a
 * request (its key unknown, draining, gone) is dropped; below the number required, the client attests again.
 */
export class Rotation<A extends { readonly fleet: readonly EnclaveAttestation[] }> {
  readonly attestation: A
  /** Until when requests are sent under it: the soonest any enclave's keyset is due for renewal, so a new attestation finds its next one. */
  readonly validUntil: number
  readonly #live: EnclaveAttestation[]
  #turn: number

  constructor(attestation: A) {
    this.attestation = attestation
    this.#live = [...attestation.fleet]
    this.validUntil = Math.min(...this.#live.map((m) => m.validUntil))
    // A random first turn: clients that send one request each (the CLI) spread too.
    this.#turn = this.#live.length > 1 ? randomInt(this.#live.length) : 0
  }

  /** The enclaves not dropped. */
  get live(): number {
    return this.#live.length
  }

  /** The next enclave in turn; there must be one ({@link live} above 0). */
  next(): EnclaveAttestation {
    const member = this.#live[this.#turn % this.#live.length]!
    this.#turn = (this.#turn + 1) % this.#live.length
    return member
  }

  /** Sends nothing more to `member`. */
  drop(member: EnclaveAttestation): void {
    const at = this.#live.indexOf(member)
    if (at < 0) return
    this.#live.splice(at, 1)
    // The turn stays on the enclave that was next.
    if (this.#turn > at) this.#turn--
  }
}
