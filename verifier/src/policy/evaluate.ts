/**
 * Policy evaluation, after verification (go-sev-guest's `validate` after `verify`): reads the facts a
 * verification established and records the policy's checks, section by section. Authenticity was
 * decided before; a section whose evidence is not authentic is skipped, not evaluated.
 */
import type { BundleFacts, EvaluateOptions, GpuFacts, PolicyFacts, SevSnpFacts } from '../facts.types.js'
import { CheckCollector, type Check } from '../result.js'
import { BUNDLE_RULES, RECEIPT_RULES } from './bundle.js'
import { GPU_COUNT_RULES, isEvaluableGpu, NVIDIA_GPU_RULES } from './nvidia-gpu.js'
import { runRules } from './rules.js'
import { isEvaluableSevSnp, SEV_SNP_RULES } from './sev-snp.js'
import type { Policy } from './types.js'

const NO_POLICY = 'no policy given: only authenticity was checked'
const NOT_AUTHENTIC = 'authenticity checks failed, so the claims are not trusted and the policy was not evaluated'
const USE_DEV_POLICY = 'verify with --policy policies/dev-simulated.yaml'

function evaluateSevSnp(facts: SevSnpFacts, policy: Policy | undefined, checks: CheckCollector, prefix: string): void {
  if (policy === undefined) {
    // Without a policy nothing allows simulated evidence.
    if (facts.claims.simulated) {
      checks.fail(`${prefix}policy.simulated`, 'ERR_POLICY_SAMPLE_TEE', 'the evidence comes from the simulated TEE; only a policy with allowSimulated: true accepts it', USE_DEV_POLICY)
    }
    checks.skip(`${prefix}policy`, NO_POLICY)
  } else if (!isEvaluableSevSnp(facts)) checks.skip(`${prefix}policy`, NOT_AUTHENTIC)
  else runRules(SEV_SNP_RULES, facts, policy, checks, prefix)
}

function evaluateGpu(facts: GpuFacts, policy: Policy | undefined, checks: CheckCollector, prefix: string): void {
  if (facts.claims === null) return // the report did not parse: nothing to evaluate
  if (policy === undefined) {
    if (facts.claims.simulated) {
      checks.fail(`${prefix}policy.simulated`, 'ERR_POLICY_SAMPLE_TEE', 'the evidence comes from the simulated GPU; only a policy with allowSimulated: true accepts it', USE_DEV_POLICY)
    }
  } else if (!isEvaluableGpu(facts)) checks.skip(`${prefix}policy`, NOT_AUTHENTIC)
  else runRules(NVIDIA_GPU_RULES, facts, policy, checks, prefix)
}

/** Each GPU's policy (ids `gpu[i].policy.*`), then the policy's GPU count. */
function evaluateGpus(gpus: readonly GpuFacts[], policy: Policy | undefined, checks: CheckCollector): void {
  for (const [i, gpu] of gpus.entries()) evaluateGpu(gpu, policy, checks, `gpu[${i}].`)
  if (policy !== undefined) runRules(GPU_COUNT_RULES, { count: gpus.length }, policy, checks, '')
}

/** The CPU's policy (ids `cpu.policy.*`), the GPUs', then the bundle's `evidence` and `models` rules. */
function evaluateBundle(facts: BundleFacts, policy: Policy | undefined, checks: CheckCollector, freshness: boolean): void {
  if (facts.cpu !== null) evaluateSevSnp(facts.cpu, policy, checks, 'cpu.')
  evaluateGpus(facts.gpus, policy, checks)
  if (policy !== undefined) runRules(BUNDLE_RULES, { claims: facts.claims, at: facts.at, freshness }, policy, checks, '')
}

/**
 * Evaluates `policy` on what a verification established, and returns the policy checks (`policy.*`,
 * prefixed as the evidence's own checks are: `cpu.`, `gpu[i].`). Without a policy, simulated evidence
 * fails and the rest is skipped. Pure: the facts, the policy and the options decide everything.
 */
export function evaluatePolicy(facts: PolicyFacts, policy: Policy | undefined, options: EvaluateOptions = {}): Check[] {
  const checks = new CheckCollector()
  switch (facts.kind) {
    case 'sev-snp':
      evaluateSevSnp(facts.sevSnp, policy, checks, '')
      break
    case 'nvidia-gpu':
      evaluateGpu(facts.gpu, policy, checks, '')
      if (policy === undefined && facts.gpu.claims !== null) checks.skip('policy', NO_POLICY)
      break
    case 'nvidia-gpus':
      evaluateGpus(facts.gpus, policy, checks)
      if (policy === undefined) checks.skip('policy', NO_POLICY)
      break
    case 'bundle':
      evaluateBundle(facts.bundle, policy, checks, options.freshness ?? true)
      if (policy === undefined) checks.skip('policy', NO_POLICY)
      break
    case 'receipt':
      // A receipt is checked as of its own time: the age of its evidence never applies.
      if (facts.receipt.evidence !== null) evaluateBundle(facts.receipt.evidence, policy, checks, false)
      if (policy !== undefined) runRules(RECEIPT_RULES, facts.receipt.claims, policy, checks, '')
      break
  }
  return checks.checks
}
