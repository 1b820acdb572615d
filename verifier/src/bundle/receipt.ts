/**
 * Receipts (DESIGN.md §4): a JWS signed by the attested Ed25519 key, naming the model that ran, the keyset and the
 * evidence bundle, and committing to the request and the response (v2: keyed with the request's opening; v1: plain
 * digests). A receipt is checked against the bundle it names, verified as of the receipt's own time, so it can be
 * re-checked offline long after; its request and response only by whoever holds them (and, for v2, the opening).
 */
import {
  decodeBundle,
  decodeReceipt,
  concatBytes,
  receiptCommitment,
  tensorPieces,
  RECEIPT_OPENING_SIZE,
  sha256Digest,
  verifyReceiptSignature,
  type Attribution,
  type DecodedReceipt,
  type EvidenceBundle,
  type ModelRef,
  type ReceiptPayload,
  type TensorData,
} from '@vouch/protocol'
import { PolicyError, VerificationError } from '../errors.js'
import { verifyLogInclusion } from '../log/inclusion.js'
import type { BundleFacts } from '../facts.types.js'
import { evaluatePolicy } from '../policy/evaluate.js'
import type { Policy } from '../policy/types.js'
import { CheckCollector, type Result } from '../result.js'
import type { BundleClaims, ReceiptClaims } from './claims.types.js'
import { checkBundle, toBundleCheckOptions, type BundleVerifyOptions } from './verify.js'

/** How to verify a receipt. */
export interface ReceiptVerifyOptions extends Omit<BundleVerifyOptions, 'nonce' | 'at' | 'freshness'> {
  /** The evidence bundle bytes the receipt names (as received from the enclave). Required. */
  evidence: Uint8Array
  /** Policy for the evidence and the receipt. Unset: authenticity only; simulated evidence is rejected. */
  policy?: Policy
  /** When to check certificates and the keyset. Unset: the receipt's own `iat`. */
  at?: Date
  /** The request plaintext bytes the receipt should name. Unset: not compared. */
  request?: Uint8Array
  /**
   * `receiptCommitment(opening, request)`, when the caller computed it already (a client does while the answer is
   * awaited): a v2 receipt's `request` is compared with it instead of HMAC-ing `request` again. Only with `request`
   * and `opening`, whose commitment it must be; a v1 receipt's digest is computed from `request` as ever.
   */
  requestCommitment?: string
  /** The outputs the receipt should name. Unset: not compared. */
  outputs?: readonly TensorData[]
  /**
   * The receipt's opening (32 bytes, `exportReceiptOpening` of the request's context; a client's
   * `InferResult.receiptOpening`): the key of a v2 receipt's commitments, needed to compare `request` and `outputs`
   * with them. Unset: a v2 receipt's `request` and `outputs` cannot be compared, and giving either fails with
   * `ERR_RECEIPT_OPENING_MISSING`. Not used for a v1 receipt, whose digests are plain SHA-256. A TypeError when not
   * 32 bytes.
   */
  opening?: Uint8Array
  /**
   * The Result of verifying `evidence` earlier (`verifyBundle` under the same policy), for
   * a client that checks a receipt on every answer against the bundle it verified at attestation. It must
   * be accepted and name these bytes' digest; the bundle is then not verified again. Unset: it is.
   */
  verifiedEvidence?: Result<BundleClaims | null>
  /**
   * The receipt's inclusion proof in a receipt log (`GET /v1/log/proof`'s JSON, parsed or as text) and the log keys
   * (note verifier keys) its checkpoint must be signed by, unset: the policy's `log.keys`. Checked as `receipt.log`
   * (see {@link verifyLogInclusion}). Unset: inclusion is not checked, and the Result says so, unless the policy's
   * `log.requireInclusion` makes that a failure (`ERR_POLICY_LOG_INCLUSION_REQUIRED`).
   */
  log?: { proof: unknown; keys?: readonly string[] | undefined }
}

/** The receipt's evidence as checked: its claims, bundle and digest, and the facts the policy is evaluated on (null when an earlier verification was reused). */
interface CheckedEvidence {
  claims: BundleClaims
  bundle: EvidenceBundle
  /** SHA-256 of the evidence bytes given (`sha256:` and hex). */
  digest: string
  facts: BundleFacts | null
}

/**
 * The bundle decoded for each earlier verification given, so a client checking every answer against the bundle it
 * verified at attestation decodes it once. Only bytes whose digest is the earlier acceptance's are decoded into it,
 * and the bundle never leaves this module.
 */
const decodedEarlier = new WeakMap<Result<BundleClaims | null>, EvidenceBundle>()

/** Takes the caller's earlier verification of `bytes`, after checking it is an acceptance of these very bytes. */
function reuseEvidence(bytes: Uint8Array, earlier: Result<BundleClaims | null>, checks: CheckCollector): CheckedEvidence | null {
  const digest = sha256Digest(bytes)
  if (earlier.verdict !== 'accepted' || earlier.claims === null || earlier.claims.digest !== digest) {
    checks.fail('evidence', 'ERR_RECEIPT_BINDING_MISMATCH', `the earlier verification given is not an acceptance of this evidence (${digest})`)
    return null
  }
  checks.pass('evidence', `evidence ${digest} was verified earlier and accepted`)
  let bundle = decodedEarlier.get(earlier)
  if (bundle === undefined) {
    bundle = decodeBundle(bytes)
    decodedEarlier.set(earlier, bundle)
  }
  return { claims: earlier.claims, bundle, digest, facts: null }
}

/** Verifies the evidence the receipt names as of `at`, or takes the caller's earlier verification of it. */
async function checkEvidence(options: ReceiptVerifyOptions, at: Date, checks: CheckCollector): Promise<CheckedEvidence | null> {
  if (options.verifiedEvidence !== undefined) return reuseEvidence(options.evidence, options.verifiedEvidence, checks)
  const checked = await checkBundle(options.evidence, toBundleCheckOptions(options, at), checks)
  return checked === null ? null : { claims: checked.facts.claims, bundle: checked.bundle, digest: sha256Digest(options.evidence), facts: checked.facts }
}

const sameModel = (a: ModelRef, b: ModelRef): boolean => a.digest === b.digest && a.name === b.name && a.version === b.version

/** Records `receipt.binding`: the receipt names this evidence, its keyset, platform and one of its models. */
function checkBinding(payload: ReceiptPayload, { bundle, claims, digest }: CheckedEvidence, checks: CheckCollector): void {
  checks.run('receipt.binding', () => {
    // The claims' keyset digest is the bundle's: both come from one verification of these bytes.
    if (payload.keyset !== claims.keyset.digest) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt names keyset ${payload.keyset}, the evidence attests ${claims.keyset.digest}`)
    if (payload.evidence !== digest) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt names evidence ${payload.evidence}, the bundle given is ${digest}`)
    if (payload.platform !== bundle.platform) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt says platform ${payload.platform}, the evidence ${bundle.platform}`)
    if (!bundle.models.some((m) => sameModel(m, payload.model))) {
      throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `model ${payload.model.name} ${payload.model.version} (${payload.model.digest}) is not among the models the evidence attests`)
    }
    if (payload.iat > bundle.keyset.notAfter) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt was signed after keyset ${bundle.keyset.kid} expired`)
    return 'the receipt names this evidence, its keyset, platform and one of its models'
  })
}

/** Records `receipt.attribution`: someone is credited, and for a v2 bundle exactly the attested manifest's contributors. */
function checkAttribution(payload: ReceiptPayload, evidence: BundleClaims, checks: CheckCollector): void {
  checks.run('receipt.attribution', () => {
    if (payload.attribution.length === 0) throw new VerificationError('ERR_RECEIPT_ATTRIBUTION_MISSING', 'the receipt credits nobody: attribution is empty')
    const blank = payload.attribution.find((a) => !a.role || !a.id || !a.name)
    if (blank !== undefined) throw new VerificationError('ERR_RECEIPT_ATTRIBUTION_MISSING', `an attribution entry lacks its role, id or name: ${JSON.stringify(blank)}`)
    const credited = payload.attribution.map((a) => `${a.role}: ${a.name}`).join('; ')
    // A v2 bundle attests each model's manifest: the receipt must credit exactly its contributors, in order.
    const attested = evidence.models.find((m) => sameModel(m, payload.model))?.manifest
    if (attested === undefined || attested === null) return credited
    const same = (a: Attribution, b: Attribution): boolean => a.role === b.role && a.id === b.id && a.name === b.name
    if (attested.contributors.length !== payload.attribution.length || !attested.contributors.every((c, i) => same(c, payload.attribution[i]!))) {
      throw new VerificationError('ERR_RECEIPT_ATTRIBUTION_MISMATCH', `the receipt credits ${credited || 'nobody'}, the attested manifest of ${payload.model.name} ${payload.model.version} (${attested.digest}) credits ${attested.contributors.map((a) => `${a.role}: ${a.name}`).join('; ')}`)
    }
    return `${credited}, as the attested manifest says`
  })
}

/** What `receipt.<field>` compares with the receipt's field: the bytes given, if any, and how its check speaks of them. */
interface DigestField {
  field: 'request' | 'response'
  /** The outputs come as pieces ({@link tensorPieces}): a detector's megabytes are not copied to be committed to. */
  bytes: Uint8Array | readonly Uint8Array[] | undefined
  /** Their v2 commitment, when the caller computed it already. */
  committed?: string | undefined
  /** The bytes in words: "the request that was sent". */
  what: string
  /** The skip detail when no bytes are given. */
  none: string
}

/**
 * Records `receipt.request` and `receipt.response`: the receipt names what was sent and received, when given. A v1
 * receipt holds their SHA-256 digests; a v2 receipt holds commitments keyed with the opening, so without it they
 * cannot be compared (a failure when asked to, a skip saying so when not).
 */
function checkDigests(payload: ReceiptPayload, options: ReceiptVerifyOptions, checks: CheckCollector): void {
  const fields: DigestField[] = [
    { field: 'request', bytes: options.request, committed: options.requestCommitment, what: 'the request that was sent', none: 'no request given to compare' },
    { field: 'response', bytes: options.outputs === undefined ? undefined : tensorPieces(options.outputs), what: 'the outputs that were received', none: 'no outputs given to compare' },
  ]
  const { opening } = options
  for (const { field, bytes, committed, what, none } of fields) {
    const id = `receipt.${field}`
    const named = payload[field]
    if (payload.v === 2 && opening === undefined) {
      const hidden = `the ${field} commitment of a v2 receipt is keyed with the request's opening, and none was given: not checked`
      if (bytes === undefined) checks.skip(id, hidden)
      else checks.fail(id, 'ERR_RECEIPT_OPENING_MISSING', hidden, 'give the opening the client holds for this request (InferResult.receiptOpening, vouch infer --opening-out)')
      continue
    }
    if (bytes === undefined) {
      checks.skip(id, none)
      continue
    }
    checks.run(id, () => {
      const got = payload.v === 1 ? sha256Digest(bytes instanceof Uint8Array ? bytes : concatBytes(...bytes)) : (committed ?? receiptCommitment(opening!, bytes))
      if (got !== named) {
        const detail = payload.v === 1 ? `${field} digest mismatch: the receipt names ${named}, ${what} is ${got}` : `${field} commitment mismatch: the receipt names ${named}, ${what} commits to ${got} under the opening given (or the opening is not this request's)`
        throw new VerificationError('ERR_RECEIPT_DIGEST_MISMATCH', detail)
      }
      return `the receipt names ${what}${payload.v === 2 ? ' (commitment checked with the opening)' : ''}`
    })
  }
}

/**
 * Records `receipt.log`: the receipt is in the log whose key signed the proof's checkpoint (the keys given, else the
 * policy's `log.keys`), when a proof is given; without one, a failure if the policy requires inclusion, else a skip.
 */
async function checkLog(jws: string, log: ReceiptVerifyOptions['log'], policy: Policy | undefined, checks: CheckCollector): Promise<void> {
  if (log === undefined) {
    if (policy?.log?.requireInclusion === true) {
      checks.fail('receipt.log', 'ERR_POLICY_LOG_INCLUSION_REQUIRED', `policy ${policy.name} requires a proof that the receipt is in the log, and none was given`, 'give the proof GET /v1/log/proof returns (vouch infer --log-proof-out, vouch-verify receipt --log-proof)')
    } else checks.skip('receipt.log', 'no log inclusion proof given: whether the receipt was logged is not checked')
    return
  }
  await checks.runAsync('receipt.log', async () => {
    const keys = log.keys ?? policy?.log?.keys
    if (keys === undefined || keys.length === 0) throw new PolicyError('ERR_POLICY_INVALID', 'a log inclusion proof was given, but no log key to check it with (the policy has no log.keys)')
    const { index, checkpoint } = await verifyLogInclusion(jws, log.proof, keys)
    return `the receipt is entry ${index} of ${checkpoint.origin}, under its checkpoint of ${checkpoint.size} entries signed by the log key`
  })
}

/**
 * Verifies a receipt against the evidence bundle it names: the bundle (as of the receipt's time), the
 * EdDSA signature under the bundle's attested `sig` key, the keyset and evidence digests, the model among
 * the bundle's models, the attribution, and — when given — the request and outputs digests (for a v2 receipt, with
 * its opening), and its inclusion in a receipt log when a proof is given; then the policy on the bundle and the receipt. Resolves to a Result; it does not throw for bad
 * evidence (a TypeError for an opening that is not 32 bytes).
 */
export async function verifyReceipt(jws: string, options: ReceiptVerifyOptions): Promise<Result<ReceiptClaims | null>> {
  if (options.opening !== undefined && (!(options.opening instanceof Uint8Array) || options.opening.length !== RECEIPT_OPENING_SIZE)) {
    throw new TypeError(`verifyReceipt: the opening must be ${RECEIPT_OPENING_SIZE} bytes`)
  }
  const checks = new CheckCollector()
  let decoded: DecodedReceipt
  try {
    decoded = decodeReceipt(jws)
  } catch (error) {
    checks.failWith('receipt.decode', error)
    return checks.toResult(null)
  }
  const { header, payload } = decoded
  checks.pass('receipt.decode', `receipt v${payload.v} ${payload.id} for ${payload.model.name} ${payload.model.version}, signed at ${new Date(payload.iat * 1000).toISOString()}`)
  // Whether the log holds these very bytes needs nothing else: it is reported even when the evidence fails.
  await checkLog(jws, options.log, options.policy, checks)

  const checked = await checkEvidence(options, options.at ?? new Date(payload.iat * 1000), checks)
  const claims: ReceiptClaims = { ...payload, attribution: payload.attribution.map((a) => ({ ...a })), evidence: checked?.claims ?? null }
  if (checked === null) return checks.toResult(claims)

  const signed = await verifyReceiptSignature(jws, checked.bundle.keyset.sig, { kid: checked.bundle.keyset.kid }).then(
    () => true,
    (error: unknown) => {
      checks.failWith('receipt.signature', error)
      return false
    },
  )
  if (signed) checks.pass('receipt.signature', `EdDSA signature verifies under the attested key of keyset ${header.kid}`)
  checkBinding(payload, checked, checks)
  checkAttribution(payload, checked.claims, checks)
  checkDigests(payload, options, checks)

  checks.append(evaluatePolicy({ kind: 'receipt', receipt: { claims, evidence: checked.facts } }, options.policy))
  return checks.toResult(claims)
}
