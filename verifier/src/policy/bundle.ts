/** Evaluates the `evidence` and `models` sections of a policy on a bundle, and on a receipt. */
import type { ModelRef } from '@vouch/protocol'
import type { BundleClaims } from '../bundle/verify.js'
import type { ReceiptClaims } from '../bundle/receipt.js'
import type { CheckCollector } from '../result.js'
import { policyField } from './sev-snp.js'
import type { Policy } from './types.js'

function human(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`
}

/** A model as people read it in a check's detail. */
function named(m: ModelRef): string {
  return `${m.name} ${m.version} (${m.digest})`
}

/**
 * Records the `evidence` and `models` rules for a bundle: `policy.evidence-age`, `policy.models`, and for v2 bundles
 * `policy.model-publishers`, `policy.model-manifests` and `policy.known-answers`. `freshness` false skips the age rule
 * (receipts). A rule reading a field a v1 bundle does not bind fails with `ERR_POLICY_FIELD_UNBOUND`: the host could
 * have written it.
 */
export function evaluateBundlePolicy(claims: BundleClaims, policy: Policy, checks: CheckCollector, at: Date, freshness = true): void {
  const v1 = claims.v === 1
  const maximumAgeMs = policy.evidence?.maximumAgeMs
  if (!freshness) checks.skip('policy.evidence-age', 'a receipt is checked as of its own time: the age of its evidence does not apply')
  else if (maximumAgeMs === undefined) checks.skip('policy.evidence-age', 'evidence.maximumAge is not set')
  else if (v1) checks.fail('policy.evidence-age', 'ERR_POLICY_FIELD_UNBOUND', 'a v1 bundle does not bind issuedAt, so its age is the host\'s word', `attest an enclave that writes v2 bundles, or remove ${policyField(policy, 'evidence.maximumAge')}`)
  else {
    const age = at.getTime() - claims.issuedAt * 1000
    if (age > maximumAgeMs) {
      checks.fail('policy.evidence-age', 'ERR_POLICY_EVIDENCE_STALE', `the bundle was issued ${new Date(claims.issuedAt * 1000).toISOString()}, ${human(Math.round(age / 1000) * 1000)} before ${at.toISOString()}; the policy accepts ${human(maximumAgeMs)}`, `attest again with a fresh nonce, or raise ${policyField(policy, 'evidence.maximumAge')}`)
    } else checks.pass('policy.evidence-age', `issued ${human(Math.max(0, Math.round(age / 1000)) * 1000)} before the verification time, within ${human(maximumAgeMs)}`)
  }
  const allowed = policy.models?.allowedDigests
  if (allowed === undefined) checks.skip('policy.models', 'models.allowedDigests is not set: any attested model is accepted')
  else {
    const foreign = claims.models.filter((m) => !allowed.includes(m.digest))
    if (foreign.length > 0) {
      checks.fail('policy.models', 'ERR_POLICY_MODEL_NOT_ALLOWED', `the enclave runs model(s) the policy does not allow: ${foreign.map(named).join(', ')}`, `add the digest to ${policyField(policy, 'models.allowedDigests')}, or remove the model from the enclave`)
    } else checks.pass('policy.models', `all ${claims.models.length} attested model(s) are allowed`)
  }

  const publishers = policy.models?.allowedPublishers
  if (publishers === undefined) checks.skip('policy.model-publishers', 'models.allowedPublishers is not set')
  else if (v1) checks.skip('policy.model-publishers', 'a v1 bundle does not attest manifests: the publisher is checked on each receipt')
  else {
    const foreign = claims.models.filter((m) => !publishers.includes(m.manifest!.publisher))
    if (foreign.length > 0) {
      checks.fail('policy.model-publishers', 'ERR_POLICY_PUBLISHER_NOT_ALLOWED', `model(s) published by someone the policy does not allow: ${foreign.map((m) => `${named(m)} by ${m.manifest!.publisher}`).join(', ')}`, `add the id to ${policyField(policy, 'models.allowedPublishers')}`)
    } else checks.pass('policy.model-publishers', `every model is published by one the policy allows`)
  }

  const manifests = policy.models?.allowedManifests
  if (manifests === undefined) checks.skip('policy.model-manifests', 'models.allowedManifests is not set')
  else if (v1) checks.fail('policy.model-manifests', 'ERR_POLICY_FIELD_UNBOUND', 'a v1 bundle does not attest model manifests', `attest an enclave that writes v2 bundles, or remove ${policyField(policy, 'models.allowedManifests')}`)
  else {
    const foreign = claims.models.filter((m) => !manifests.includes(m.manifest!.digest))
    if (foreign.length > 0) {
      checks.fail('policy.model-manifests', 'ERR_POLICY_MANIFEST_NOT_ALLOWED', `model manifest(s) the policy does not list: ${foreign.map((m) => `${named(m)}: manifest ${m.manifest!.digest}`).join(', ')}`, `review the manifest, then add its digest to ${policyField(policy, 'models.allowedManifests')}`)
    } else checks.pass('policy.model-manifests', `every model's manifest is one the policy lists`)
  }

  const pins = policy.models?.knownAnswers
  if (pins === undefined) checks.skip('policy.known-answers', 'models.knownAnswers is not set')
  else if (v1) checks.fail('policy.known-answers', 'ERR_POLICY_FIELD_UNBOUND', 'a v1 bundle does not attest known answers', `attest an enclave that writes v2 bundles, or remove ${policyField(policy, 'models.knownAnswers')}`)
  else {
    const wrong = claims.models.filter((m) => m.knownAnswer === null || !pins.some((p) => p.model === m.digest && p.input === m.knownAnswer!.input && p.output === m.knownAnswer!.output))
    if (wrong.length > 0) {
      const what = wrong.map((m) => (m.knownAnswer === null ? `${named(m)} attests no known answer (no sample input)` : `${named(m)} answered ${m.knownAnswer.output} on input ${m.knownAnswer.input}`))
      checks.fail('policy.known-answers', 'ERR_POLICY_KNOWN_ANSWER_MISMATCH', `known answer(s) the policy does not accept: ${what.join('; ')}`, `check the model and the hardware it runs on; if the answer is right, add it to ${policyField(policy, 'models.knownAnswers')}`)
    } else checks.pass('policy.known-answers', `every model gave a known answer the policy accepts`)
  }
}

/** Records `policy.receipt-model` and `policy.publisher` for a receipt. */
export function evaluateReceiptPolicy(claims: ReceiptClaims, policy: Policy, checks: CheckCollector): void {
  const allowed = policy.models?.allowedDigests
  if (allowed === undefined) checks.skip('policy.receipt-model', 'models.allowedDigests is not set')
  else if (!allowed.includes(claims.model.digest)) {
    checks.fail('policy.receipt-model', 'ERR_POLICY_MODEL_NOT_ALLOWED', `the answer comes from ${claims.model.name} ${claims.model.version} (${claims.model.digest}), which the policy does not allow`, `add the digest to ${policyField(policy, 'models.allowedDigests')}`)
  } else checks.pass('policy.receipt-model', `${claims.model.name} ${claims.model.version} is allowed`)
  const publishers = policy.models?.allowedPublishers
  if (publishers === undefined) checks.skip('policy.publisher', 'models.allowedPublishers is not set')
  else {
    const named = claims.attribution.filter((a) => a.role === 'publisher')
    if (named.length === 0) {
      checks.fail('policy.publisher', 'ERR_POLICY_PUBLISHER_NOT_ALLOWED', 'the receipt names no publisher, and the policy allows only named ones', `check the model manifest's contributors, or remove ${policyField(policy, 'models.allowedPublishers')}`)
    } else {
      const foreign = named.filter((a) => !publishers.includes(a.id))
      if (foreign.length > 0) checks.fail('policy.publisher', 'ERR_POLICY_PUBLISHER_NOT_ALLOWED', `publisher ${foreign.map((a) => `${a.name} (${a.id})`).join(', ')} is not one the policy allows: ${publishers.join(', ')}`, `add the id to ${policyField(policy, 'models.allowedPublishers')}`)
      else checks.pass('policy.publisher', `published by ${named.map((a) => a.name).join(', ')}`)
    }
  }
}
