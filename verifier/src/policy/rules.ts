/**
 * Policy rules as data. Each section of a policy is a table of rules, built once, run by {@link runRules}:
 * a rule names the setting it reads, when it applies, what it tests, and what its check says on a pass
 * and on a failure. Every rule the policy sets leaves a check; a set rule that cannot be tested on the
 * facts fails (deny by default) unless it says why skipping is safe.
 */
import type { PolicyErrorCode } from '../errors.js'
import type { CheckCollector } from '../result.js'
import type { Policy } from './types.js'

/** Where a policy field is, for hints: `sevSnp.measurements (policies/p.yaml:12)`. */
export function policyField(policy: Policy, path: string): string {
  const at = policy.locate(path)
  return at === undefined ? `${path} in ${policy.source.file}` : `${path} (${policy.source.file}:${at.line})`
}

/** A set rule that cannot be tested on these facts: skipped with a reason, or failed (deny by default). */
export type Untestable = { skip: string } | { fail: string; hint: string; code?: PolicyErrorCode }

/** What a rule's texts may read besides the facts and the setting. */
export class RuleContext {
  /** The case being tested, for a rule with `each`; empty otherwise. */
  item = ''
  /** The field of the rule being run. */
  field = ''

  constructor(readonly policy: Policy) {}

  /** Where `path` (by default the rule's field) is written: {@link policyField}. */
  at(path: string = this.field): string {
    return policyField(this.policy, path)
  }
}

/**
 * One rule. `F` is what was verified, `V` the setting it reads. Texts are functions so that a passing rule
 * builds one string and locates nothing in the policy file.
 */
export interface PolicyRule<F, V> {
  /** The check id after `policy.`: `product` is `policy.product` (`cpu.policy.product` in a bundle). */
  id: string
  code: PolicyErrorCode
  /** The setting's dotted path in the policy file, which skip details and hints name. */
  field: string
  /** Whether the rule applies to these facts: true; a skip reason; false for no check (another check covers it). Asked first. */
  applies?(facts: F, policy: Policy): boolean | string
  /** The setting; undefined when the policy leaves the rule unset, which skips it. */
  read(policy: Policy): V | undefined
  /** The skip detail when the setting is unset. Unset: `<field> is not set`. */
  unset?: string
  /** Why the set rule cannot be tested on these facts; undefined when it can. */
  untestable?(facts: F, value: V, ctx: RuleContext): Untestable | undefined
  /** Cases tested one by one, each its own check `<id>.<case>` (the case in `ctx.item`). Unset: one check. */
  each?: readonly string[]
  test(facts: F, value: V, ctx: RuleContext): boolean
  pass(facts: F, value: V, ctx: RuleContext): string
  fail(facts: F, value: V, ctx: RuleContext): string
  hint(facts: F, value: V, ctx: RuleContext): string
}

/** A section the policy must have: when it is absent, the evidence is denied and the rules after it are not run. */
export interface SectionGate {
  /** The check id after `policy.`, recorded only when the section is absent. */
  id: string
  present(policy: Policy): boolean
  /** The failure's detail and hint. */
  denied(policy: Policy): string
  hint(policy: Policy): string
}

/** The gate of a section the evidence needs: `policy.<id>` fails when the policy has no `key` section (`article` as the key is read). */
export function requireSection(id: string, article: 'a' | 'an', key: 'sevSnp' | 'nvidiaGpu', evidence: string): SectionGate {
  return {
    id,
    present: (p) => p[key] !== undefined,
    denied: (p) => `policy "${p.name}" has no ${key} section, so ${evidence} is denied`,
    hint: (p) => `add ${article} ${key} section to ${p.source.file}`,
  }
}

/** How `policy.simulated` speaks of one kind of evidence. */
export interface SimulatedTexts {
  /** The evidence when simulated: `simulated evidence`. */
  simulated: string
  /** The simulator: `the simulated TEE`. */
  simulator: string
  /** The pass of genuine evidence: `the evidence chains to an AMD root, not the simulated TEE`. */
  genuine: string
}

/** The `policy.simulated` rule: simulated evidence passes only under `allowSimulated: true`; genuine evidence passes. */
export function simulatedRule<F extends { claims: { simulated: boolean } }>(texts: SimulatedTexts): PolicyRule<F, unknown> {
  return ruleOf<F>()({
    id: 'simulated',
    code: 'ERR_POLICY_SAMPLE_TEE',
    field: 'allowSimulated',
    read: (p) => p.allowSimulated,
    test: (f, allowed) => !f.claims.simulated || allowed,
    pass: (f, _, c) => (f.claims.simulated ? `${texts.simulated}, allowed by policy "${c.policy.name}"` : texts.genuine),
    fail: (_f, _v, c) => `the evidence comes from ${texts.simulator} and policy "${c.policy.name}" does not allow it`,
    hint: (_f, _v, c) => `only a development policy may set ${c.at()} to true`,
  })
}

/** An entry of a rule table. */
export type RuleEntry<F> = PolicyRule<F, unknown> | SectionGate

/** Types one rule of a table over `F`: `V` is inferred from `read`, so each text sees the setting's own type. */
export function ruleOf<F>(): <V>(rule: PolicyRule<F, V>) => PolicyRule<F, unknown> {
  return (rule) => rule as PolicyRule<F, unknown>
}

/** The one case of a rule without `each`. */
const ONE_CASE: readonly string[] = ['']

/** Runs a rule table on `facts`, recording a check per rule into `checks`, ids prefixed with `prefix`. */
export function runRules<F>(table: readonly RuleEntry<F>[], facts: F, policy: Policy, checks: CheckCollector, prefix: string): void {
  const ctx = new RuleContext(policy)
  for (const entry of table) {
    const id = `${prefix}policy.${entry.id}`
    if (!('read' in entry)) {
      if (entry.present(policy)) continue
      checks.fail(id, 'ERR_POLICY_MISSING_SECTION', entry.denied(policy), entry.hint(policy))
      return
    }
    const applies = entry.applies === undefined ? true : entry.applies(facts, policy)
    if (applies === false) continue
    if (applies !== true) {
      checks.skip(id, applies)
      continue
    }
    const value = entry.read(policy)
    if (value === undefined) {
      checks.skip(id, entry.unset ?? `${entry.field} is not set`)
      continue
    }
    ctx.field = entry.field
    const untestable = entry.untestable?.(facts, value, ctx)
    if (untestable !== undefined) {
      if ('skip' in untestable) checks.skip(id, untestable.skip)
      else checks.fail(id, untestable.code ?? entry.code, untestable.fail, untestable.hint)
      continue
    }
    for (const item of entry.each ?? ONE_CASE) {
      ctx.item = item
      const caseId = item === '' ? id : `${id}.${item}`
      if (entry.test(facts, value, ctx)) checks.pass(caseId, entry.pass(facts, value, ctx))
      else checks.fail(caseId, entry.code, entry.fail(facts, value, ctx), entry.hint(facts, value, ctx))
    }
  }
}
