/**
 * Receipts (DESIGN.md §4): a JWS signed by the attested Ed25519 key, naming the model that ran, the
 * request and response by digest, the keyset and the evidence bundle. A receipt is checked against the
 * bundle it names, verified as of the receipt's own time, so it can be re-checked offline long after.
 */
import { decodeBundle, decodeReceipt, keysetDigest, type EvidenceBundle, outputsDigest, sha256Digest, verifyReceiptSignature, type Attribution, type DecodedReceipt, type ModelRef, type ReceiptPayload, type TensorData } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
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
  /** The outputs the receipt should name. Unset: not compared. */
  outputs?: readonly TensorData[]
  /**
   * The Result of verifying `evidence` earlier (`verifyBundle` under the same policy), for
   * a client that checks a receipt on every answer against the bundle it verified at attestation. It must
   * be accepted and name these bytes' digest; the bundle is then not verified again. Unset: it is.
   */
  verifiedEvidence?: Result<BundleClaims | null>
}

/** The receipt's evidence as checked: its claims and bundle, and the facts the policy is evaluated on (null when an earlier verification was reused). */
interface CheckedEvidence {
  claims: BundleClaims
  bundle: EvidenceBundle
  facts: BundleFacts | null
}

/** Takes the caller's earlier verification of `bytes`, after checking it is an acceptance of these very bytes. */
function reuseEvidence(bytes: Uint8Array, earlier: Result<BundleClaims | null>, checks: CheckCollector): CheckedEvidence | null {
  const digest = sha256Digest(bytes)
  if (earlier.verdict !== 'accepted' || earlier.claims === null || earlier.claims.digest !== digest) {
    checks.fail('evidence', 'ERR_RECEIPT_BINDING_MISMATCH', `the earlier verification given is not an acceptance of this evidence (${digest})`)
    return null
  }
  checks.pass('evidence', `evidence ${digest} was verified earlier and accepted`)
  return { claims: earlier.claims, bundle: decodeBundle(bytes), facts: null }
}

/** Verifies the evidence the receipt names as of `at`, or takes the caller's earlier verification of it. */
function checkEvidence(options: ReceiptVerifyOptions, at: Date, checks: CheckCollector): CheckedEvidence | null {
  if (options.verifiedEvidence !== undefined) return reuseEvidence(options.evidence, options.verifiedEvidence, checks)
  const checked = checkBundle(options.evidence, toBundleCheckOptions(options, at), checks)
  return checked === null ? null : { claims: checked.facts.claims, bundle: checked.bundle, facts: checked.facts }
}

const sameModel = (a: ModelRef, b: ModelRef): boolean => a.digest === b.digest && a.name === b.name && a.version === b.version

/** Records `receipt.binding`: the receipt names this evidence, its keyset, platform and one of its models. */
function checkBinding(payload: ReceiptPayload, bundle: EvidenceBundle, evidence: Uint8Array, checks: CheckCollector): void {
  checks.run('receipt.binding', () => {
    if (payload.keyset !== keysetDigest(bundle.keyset)) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt names keyset ${payload.keyset}, the evidence attests ${keysetDigest(bundle.keyset)}`)
    const evidenceDigest = sha256Digest(evidence)
    if (payload.evidence !== evidenceDigest) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt names evidence ${payload.evidence}, the bundle given is ${evidenceDigest}`)
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

/** Records `receipt.request` and `receipt.response`: the digests the receipt names are of what was sent and received, when given. */
function checkDigests(payload: ReceiptPayload, options: ReceiptVerifyOptions, checks: CheckCollector): void {
  if (options.request !== undefined) {
    const request = options.request
    checks.run('receipt.request', () => {
      const digest = sha256Digest(request)
      if (digest !== payload.request) throw new VerificationError('ERR_RECEIPT_DIGEST_MISMATCH', `request digest mismatch: the receipt names ${payload.request}, the request sent is ${digest}`)
      return 'the receipt names the request that was sent'
    })
  } else checks.skip('receipt.request', 'no request given to compare')
  if (options.outputs !== undefined) {
    const outputs = options.outputs
    checks.run('receipt.response', () => {
      const digest = outputsDigest(outputs)
      if (digest !== payload.response) throw new VerificationError('ERR_RECEIPT_DIGEST_MISMATCH', `response digest mismatch: the receipt names ${payload.response}, the outputs received are ${digest}`)
      return 'the receipt names the outputs that were received'
    })
  } else checks.skip('receipt.response', 'no outputs given to compare')
}

/**
 * Verifies a receipt against the evidence bundle it names: the bundle (as of the receipt's time), the
 * EdDSA signature under the bundle's attested `sig` key, the keyset and evidence digests, the model among
 * the bundle's models, the attribution, and — when given — the request and outputs digests; then the
 * policy on the bundle and the receipt. Resolves to a Result; it does not throw for bad evidence.
 */
export async function verifyReceipt(jws: string, options: ReceiptVerifyOptions): Promise<Result<ReceiptClaims | null>> {
  const checks = new CheckCollector()
  let decoded: DecodedReceipt
  try {
    decoded = decodeReceipt(jws)
  } catch (error) {
    checks.failWith('receipt.decode', error)
    return checks.toResult(null)
  }
  const { header, payload } = decoded
  checks.pass('receipt.decode', `receipt ${payload.id} for ${payload.model.name} ${payload.model.version}, signed at ${new Date(payload.iat * 1000).toISOString()}`)

  const checked = checkEvidence(options, options.at ?? new Date(payload.iat * 1000), checks)
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
  checkBinding(payload, checked.bundle, options.evidence, checks)
  checkAttribution(payload, checked.claims, checks)
  checkDigests(payload, options, checks)

  checks.append(evaluatePolicy({ kind: 'receipt', receipt: { claims, evidence: checked.facts } }, options.policy))
  return checks.toResult(claims)
}
