/**
 * The rules of a policy's `evidence` and `models` sections, as tables: one run on a bundle, one on a
 * receipt. A rule reading a field a v1 bundle does not bind fails with `ERR_POLICY_FIELD_UNBOUND`: the
 * host could have written it.
 */
import type { Attribution, ModelRef } from '@vouch/protocol'
import type { AttestedModel, BundleClaims, ReceiptClaims } from '../bundle/claims.types.js'
import { ruleOf, type RuleContext, type RuleEntry, type Untestable } from './rules.js'
import type { KnownAnswerPin } from './types.js'

function human(ms: number): string {
  return ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`
}

/** A model as people read it in a check's detail. */
function named(m: ModelRef): string {
  return `${m.name} ${m.version} (${m.digest})`
}

/** A bundle as its rules see it. */
export interface BundlePolicyFacts {
  claims: BundleClaims
  /** The verification time, up to which the bundle's age is measured. */
  at: Date
  /** Whether `evidence.maximumAge` applies (false: the bundle is checked as of a receipt's time). */
  freshness: boolean
}

const rule = ruleOf<BundlePolicyFacts>()

/** Fails a rule on a v1 bundle, which does not bind the field it reads. */
function unboundInV1(f: BundlePolicyFacts, c: RuleContext, what: string): Untestable | undefined {
  return f.claims.v === 1 ? { code: 'ERR_POLICY_FIELD_UNBOUND', fail: what, hint: `attest an enclave that writes v2 bundles, or remove ${c.at()}` } : undefined
}

const ageOf = (f: BundlePolicyFacts): number => f.at.getTime() - f.claims.issuedAt * 1000
const notIn = (models: readonly AttestedModel[], test: (m: AttestedModel) => boolean): AttestedModel[] => models.filter((m) => !test(m))
const answered = (m: AttestedModel, pins: readonly KnownAnswerPin[]): boolean =>
  m.knownAnswer !== null && pins.some((p) => p.model === m.digest && p.input === m.knownAnswer!.input && p.output === m.knownAnswer!.output)
const byPublisher = (m: AttestedModel): string => `${named(m)} by ${m.manifest!.publisher}`
const withManifest = (m: AttestedModel): string => `${named(m)}: manifest ${m.manifest!.digest}`

/** The rules of a bundle: `policy.evidence-age`, `policy.models`, and for v2 bundles the manifest and known-answer rules. */
export const BUNDLE_RULES: readonly RuleEntry<BundlePolicyFacts>[] = [
  rule({
    id: 'evidence-age',
    code: 'ERR_POLICY_EVIDENCE_STALE',
    field: 'evidence.maximumAge',
    applies: (f) => f.freshness || 'a receipt is checked as of its own time: the age of its evidence does not apply',
    read: (p) => p.evidence?.maximumAgeMs,
    untestable: (f, _v, c) => unboundInV1(f, c, "a v1 bundle does not bind issuedAt, so its age is the host's word"),
    test: (f, maximum) => ageOf(f) <= maximum,
    pass: (f, maximum) => `issued ${human(Math.max(0, Math.round(ageOf(f) / 1000)) * 1000)} before the verification time, within ${human(maximum)}`,
    fail: (f, maximum) =>
      `the bundle was issued ${new Date(f.claims.issuedAt * 1000).toISOString()}, ${human(Math.round(ageOf(f) / 1000) * 1000)} before ${f.at.toISOString()}; the policy accepts ${human(maximum)}`,
    hint: (_f, _v, c) => `attest again with a fresh nonce, or raise ${c.at()}`,
  }),
  rule({
    id: 'models',
    code: 'ERR_POLICY_MODEL_NOT_ALLOWED',
    field: 'models.allowedDigests',
    read: (p) => p.models?.allowedDigests,
    unset: 'models.allowedDigests is not set: any attested model is accepted',
    test: (f, allowed) => notIn(f.claims.models, (m) => allowed.includes(m.digest)).length === 0,
    pass: (f) => `all ${f.claims.models.length} attested model(s) are allowed`,
    fail: (f, allowed) => `the enclave runs model(s) the policy does not allow: ${notIn(f.claims.models, (m) => allowed.includes(m.digest)).map(named).join(', ')}`,
    hint: (_f, _v, c) => `add the digest to ${c.at()}, or remove the model from the enclave`,
  }),
  rule({
    id: 'model-publishers',
    code: 'ERR_POLICY_PUBLISHER_NOT_ALLOWED',
    field: 'models.allowedPublishers',
    read: (p) => p.models?.allowedPublishers,
    untestable: (f) => (f.claims.v === 1 ? { skip: 'a v1 bundle does not attest manifests: the publisher is checked on each receipt' } : undefined),
    test: (f, publishers) => notIn(f.claims.models, (m) => publishers.includes(m.manifest!.publisher)).length === 0,
    pass: () => `every model is published by one the policy allows`,
    fail: (f, publishers) => `model(s) published by someone the policy does not allow: ${notIn(f.claims.models, (m) => publishers.includes(m.manifest!.publisher)).map(byPublisher).join(', ')}`,
    hint: (_f, _v, c) => `add the id to ${c.at()}`,
  }),
  rule({
    id: 'model-manifests',
    code: 'ERR_POLICY_MANIFEST_NOT_ALLOWED',
    field: 'models.allowedManifests',
    read: (p) => p.models?.allowedManifests,
    untestable: (f, _v, c) => unboundInV1(f, c, 'a v1 bundle does not attest model manifests'),
    test: (f, manifests) => notIn(f.claims.models, (m) => manifests.includes(m.manifest!.digest)).length === 0,
    pass: () => `every model's manifest is one the policy lists`,
    fail: (f, manifests) => `model manifest(s) the policy does not list: ${notIn(f.claims.models, (m) => manifests.includes(m.manifest!.digest)).map(withManifest).join(', ')}`,
    hint: (_f, _v, c) => `review the manifest, then add its digest to ${c.at()}`,
  }),
  rule({
    id: 'known-answers',
    code: 'ERR_POLICY_KNOWN_ANSWER_MISMATCH',
    field: 'models.knownAnswers',
    read: (p) => p.models?.knownAnswers,
    untestable: (f, _v, c) => unboundInV1(f, c, 'a v1 bundle does not attest known answers'),
    test: (f, pins) => notIn(f.claims.models, (m) => answered(m, pins)).length === 0,
    pass: () => `every model gave a known answer the policy accepts`,
    fail: (f, pins) => {
      const wrong = notIn(f.claims.models, (m) => answered(m, pins))
      const what = wrong.map((m) => (m.knownAnswer === null ? `${named(m)} attests no known answer (no sample input)` : `${named(m)} answered ${m.knownAnswer.output} on input ${m.knownAnswer.input}`))
      return `known answer(s) the policy does not accept: ${what.join('; ')}`
    },
    hint: (_f, _v, c) => `check the model and the hardware it runs on; if the answer is right, add it to ${c.at()}`,
  }),
]

const receiptRule = ruleOf<ReceiptClaims>()
const publishersOf = (claims: ReceiptClaims): Attribution[] => claims.attribution.filter((a) => a.role === 'publisher')
const foreignPublishers = (claims: ReceiptClaims, allowed: readonly string[]): Attribution[] => publishersOf(claims).filter((a) => !allowed.includes(a.id))

/** The rules of a receipt: `policy.receipt-version`, `policy.receipt-model` and `policy.publisher`. */
export const RECEIPT_RULES: readonly RuleEntry<ReceiptClaims>[] = [
  receiptRule({
    id: 'receipt-version',
    code: 'ERR_POLICY_RECEIPT_VERSION_TOO_LOW',
    field: 'receipts.minimumVersion',
    read: (p) => p.receipts.minimumVersion,
    test: (r, minimum) => r.v >= minimum,
    pass: (r) => (r.v === 2 ? 'receipt v2: its request and response are commitments that confirm no guess without the opening' : 'receipt v1, which the policy accepts'),
    fail: (r, minimum) =>
      `the receipt is v${r.v}: its request and response are plain SHA-256 digests, which anyone holding it can test a guessed input or output against; the policy accepts v${minimum} and later`,
    hint: (_r, _v, c) => `serve an enclave that writes v2 receipts, or accept v1 with receipts.minimumVersion: 1 (${c.at()})`,
  }),
  receiptRule({
    id: 'receipt-model',
    code: 'ERR_POLICY_MODEL_NOT_ALLOWED',
    field: 'models.allowedDigests',
    read: (p) => p.models?.allowedDigests,
    test: (r, allowed) => allowed.includes(r.model.digest),
    pass: (r) => `${r.model.name} ${r.model.version} is allowed`,
    fail: (r) => `the answer comes from ${r.model.name} ${r.model.version} (${r.model.digest}), which the policy does not allow`,
    hint: (_r, _v, c) => `add the digest to ${c.at()}`,
  }),
  receiptRule({
    id: 'publisher',
    code: 'ERR_POLICY_PUBLISHER_NOT_ALLOWED',
    field: 'models.allowedPublishers',
    read: (p) => p.models?.allowedPublishers,
    untestable: (r, _v, c) =>
      publishersOf(r).length === 0
        ? { fail: 'the receipt names no publisher, and the policy allows only named ones', hint: `check the model manifest's contributors, or remove ${c.at()}` }
        : undefined,
    test: (r, allowed) => foreignPublishers(r, allowed).length === 0,
    pass: (r) => `published by ${publishersOf(r).map((a) => a.name).join(', ')}`,
    fail: (r, allowed) => `publisher ${foreignPublishers(r, allowed).map((a) => `${a.name} (${a.id})`).join(', ')} is not one the policy allows: ${allowed.join(', ')}`,
    hint: (_r, _v, c) => `add the id to ${c.at()}`,
  }),
]
