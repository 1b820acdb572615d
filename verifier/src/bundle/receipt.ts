/**
 * Receipts (DESIGN.md §4): a JWS signed by the attested Ed25519 key, naming the model that ran, the
 * request and response by digest, the keyset and the evidence bundle. A receipt is checked against the
 * bundle it names, verified as of the receipt's own time, so it can be re-checked offline long after.
 */
import { decodeBundle, decodeReceipt, keysetDigest, type EvidenceBundle, outputsDigest, sha256Digest, verifyReceiptSignature, type Attribution, type DecodedReceipt, type ModelRef, type Platform, type TensorData } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { evaluateReceiptPolicy } from '../policy/bundle.js'
import type { Policy } from '../policy/types.js'
import { CheckCollector, type Result } from '../result.js'
import { checkBundle, type BundleClaims, type BundleVerifyOptions } from './verify.js'

/** How to verify a receipt. */
export interface ReceiptVerifyOptions extends Omit<BundleVerifyOptions, 'nonce' | 'at'> {
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
   * The Result of verifying `evidence` earlier (`verifyBundle` or `checkBundle` under the same policy), for
   * a client that checks a receipt on every answer against the bundle it verified at attestation. It must
   * be accepted and name these bytes' digest; the bundle is then not verified again. Unset: it is.
   */
  verifiedEvidence?: Result<BundleClaims | null>
}

/** What a verified receipt says. */
export interface ReceiptClaims {
  id: string
  iat: number
  model: ModelRef
  platform: Platform
  request: string
  response: string
  attribution: Attribution[]
  /** The evidence the receipt is bound to. */
  evidence: BundleClaims | null
}

/** Takes the caller's earlier verification of `bytes`, after checking it is an acceptance of these very bytes. */
function reuseEvidence(bytes: Uint8Array, earlier: Result<BundleClaims | null>, checks: CheckCollector): { claims: BundleClaims; bundle: EvidenceBundle } | null {
  const digest = sha256Digest(bytes)
  if (earlier.verdict !== 'accepted' || earlier.claims === null || earlier.claims.digest !== digest) {
    checks.fail('evidence', 'ERR_RECEIPT_BINDING_MISMATCH', `the earlier verification given is not an acceptance of this evidence (${digest})`)
    return null
  }
  checks.pass('evidence', `evidence ${digest} was verified earlier and accepted`)
  return { claims: earlier.claims, bundle: decodeBundle(bytes) }
}

/**
 * Verifies a receipt against the evidence bundle it names: the bundle under the policy (as of the
 * receipt's time), the EdDSA signature under the bundle's attested `sig` key, the keyset and evidence
 * digests, the model among the bundle's models, the attribution, and — when given — the request and
 * outputs digests. Resolves to a Result; it does not throw for bad evidence.
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

  const at = options.at ?? new Date(payload.iat * 1000)
  const checked = options.verifiedEvidence === undefined ? checkBundle(options.evidence, { ...options, at }, checks, false) : reuseEvidence(options.evidence, options.verifiedEvidence, checks)
  const claims: ReceiptClaims = { ...payload, attribution: payload.attribution.map((a) => ({ ...a })), evidence: checked?.claims ?? null }
  if (checked === null) return checks.toResult(claims)
  const { bundle } = checked

  const signed = await verifyReceiptSignature(jws, bundle.keyset.sig, { kid: bundle.keyset.kid }).then(
    () => true,
    (error: unknown) => {
      checks.failWith('receipt.signature', error)
      return false
    },
  )
  if (signed) checks.pass('receipt.signature', `EdDSA signature verifies under the attested key of keyset ${header.kid}`)

  checks.run('receipt.binding', () => {
    if (payload.keyset !== keysetDigest(bundle.keyset)) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt names keyset ${payload.keyset}, the evidence attests ${keysetDigest(bundle.keyset)}`)
    const evidenceDigest = sha256Digest(options.evidence)
    if (payload.evidence !== evidenceDigest) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt names evidence ${payload.evidence}, the bundle given is ${evidenceDigest}`)
    if (payload.platform !== bundle.platform) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt says platform ${payload.platform}, the evidence ${bundle.platform}`)
    if (!bundle.models.some((m) => m.digest === payload.model.digest && m.name === payload.model.name && m.version === payload.model.version)) {
      throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `model ${payload.model.name} ${payload.model.version} (${payload.model.digest}) is not among the models the evidence attests`)
    }
    if (payload.iat > bundle.keyset.notAfter) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the receipt was signed after keyset ${bundle.keyset.kid} expired`)
    return 'the receipt names this evidence, its keyset, platform and one of its models'
  })

  checks.run('receipt.attribution', () => {
    if (payload.attribution.length === 0) throw new VerificationError('ERR_RECEIPT_ATTRIBUTION_MISSING', 'the receipt credits nobody: attribution is empty')
    const blank = payload.attribution.find((a) => !a.role || !a.id || !a.name)
    if (blank !== undefined) throw new VerificationError('ERR_RECEIPT_ATTRIBUTION_MISSING', `an attribution entry lacks its role, id or name: ${JSON.stringify(blank)}`)
    const credited = payload.attribution.map((a) => `${a.role}: ${a.name}`).join('; ')
    // A v2 bundle attests each model's manifest: the receipt must credit exactly its contributors, in order.
    const attested = checked.claims.models.find((m) => m.digest === payload.model.digest && m.name === payload.model.name && m.version === payload.model.version)?.manifest
    if (attested === undefined || attested === null) return credited
    const same = (a: Attribution, b: Attribution): boolean => a.role === b.role && a.id === b.id && a.name === b.name
    if (attested.contributors.length !== payload.attribution.length || !attested.contributors.every((c, i) => same(c, payload.attribution[i]!))) {
      throw new VerificationError('ERR_RECEIPT_ATTRIBUTION_MISMATCH', `the receipt credits ${credited || 'nobody'}, the attested manifest of ${payload.model.name} ${payload.model.version} (${attested.digest}) credits ${attested.contributors.map((a) => `${a.role}: ${a.name}`).join('; ')}`)
    }
    return `${credited}, as the attested manifest says`
  })

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

  if (options.policy !== undefined) evaluateReceiptPolicy(claims, options.policy, checks)
  return checks.toResult(claims)
}
