/**
 * The rules of a policy's `nvidiaGpu` section, as tables: one run on each authentic GPU, one on the
 * number of GPUs. Every rule the policy sets leaves a check; a rule that cannot be evaluated fails
 * (deny by default).
 */
import type { PolicyErrorCode } from '../errors.js'
import type { GpuFacts } from '../facts.types.js'
import type { NvidiaGpuClaims } from '../nvidia/claims.js'
import { requireSection, ruleOf, simulatedRule, type PolicyRule, type RuleEntry } from './rules.js'
import type { NvidiaGpuPolicy } from './types.js'

/** Compares dotted versions part by part: numerically for drivers, as hex for VBIOS groups. */
export function compareVersions(a: string, b: string, radix: 10 | 16): number {
  const pa = a.split('.').map((p) => parseInt(p, radix))
  const pb = b.split('.').map((p) => parseInt(p, radix))
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

/** GPU facts the policy is evaluated on: the report parsed and every authenticity check passed. */
export type EvaluableGpu = GpuFacts & { claims: NvidiaGpuClaims }

/** Whether the policy may be evaluated on this GPU. */
export function isEvaluableGpu(facts: GpuFacts): facts is EvaluableGpu {
  return facts.authentic && facts.claims !== null
}

const rule = ruleOf<EvaluableGpu>()

/** The pair of version rules of one component: a floor and an allow-list, each optional. */
interface VersionRules {
  id: string
  code: PolicyErrorCode
  /** The component as messages name it. */
  what: string
  got: (claims: NvidiaGpuClaims) => string | null
  radix: 10 | 16
  minimum: 'minimumDriverVersion' | 'minimumVbiosVersion'
  allowed: 'allowedDriverVersions' | 'allowedVbiosVersions'
}

/** The driver or VBIOS version rule: the version must meet the floor and be on the list, whichever the policy sets. */
function versionRule(v: VersionRules): PolicyRule<EvaluableGpu, unknown> {
  const problems = (got: string, s: NvidiaGpuPolicy): string[] => {
    const out: string[] = []
    const minimum = s[v.minimum]
    const allowed = s[v.allowed]
    if (minimum !== undefined && compareVersions(got, minimum, v.radix) < 0) out.push(`${v.what} ${got} is older than the minimum ${minimum}`)
    if (allowed !== undefined && !allowed.some((a) => a.toUpperCase() === got.toUpperCase())) out.push(`${v.what} ${got} is not one of ${allowed.join(', ')}`)
    return out
  }
  return rule({
    id: v.id,
    code: v.code,
    field: `nvidiaGpu.${v.minimum}`,
    read: (p) => (p.nvidiaGpu?.[v.minimum] !== undefined || p.nvidiaGpu?.[v.allowed] !== undefined ? p.nvidiaGpu : undefined),
    unset: `nvidiaGpu.${v.minimum} and ${v.allowed} are not set`,
    untestable: (f, _, c) =>
      v.got(f.claims) === null
        ? { fail: `the report names no ${v.what} version, so the rule cannot be checked`, hint: `remove the ${v.what} version rules from ${c.policy.source.file}, or use a newer driver` }
        : undefined,
    test: (f, s) => problems(v.got(f.claims)!, s).length === 0,
    pass: (f) => `${v.what} ${v.got(f.claims)} is allowed`,
    fail: (f, s) => problems(v.got(f.claims)!, s).join('; '),
    hint: (_f, s, c) => `update the ${v.what}, or change ${c.at(`nvidiaGpu.${s[v.minimum] !== undefined ? v.minimum : v.allowed}`)}`,
  })
}

const onOff = (state: boolean | null, on: string, off: string): string => (state === null ? 'not reported' : state ? on : off)

/** The `nvidiaGpu` rules of one GPU, in the order their checks appear. */
export const NVIDIA_GPU_RULES: readonly RuleEntry<EvaluableGpu>[] = [
  simulatedRule({ simulated: 'simulated GPU', simulator: 'the simulated GPU', genuine: 'the device chain ends at an NVIDIA root, not the simulated GPU' }),
  requireSection('nvidia-gpu', 'an', 'nvidiaGpu', 'GPU evidence'),

  rule({
    id: 'gpu-arch',
    code: 'ERR_POLICY_GPU_ARCH_NOT_ALLOWED',
    field: 'nvidiaGpu.allowedArchitectures',
    read: (p) => p.nvidiaGpu?.allowedArchitectures,
    test: (f, allowed) => f.claims.arch !== null && allowed.includes(f.claims.arch),
    pass: (f) => `${f.claims.arch ?? 'unknown'} is allowed`,
    fail: (f, allowed) => `architecture ${f.claims.arch ?? 'unknown'} is not one of ${allowed.join(', ')}`,
    hint: (f, _, c) => `add ${f.claims.arch ?? 'unknown'} to ${c.at()}`,
  }),
  versionRule({ id: 'driver-version', code: 'ERR_POLICY_DRIVER_VERSION', what: 'driver', got: (c) => c.driverVersion, radix: 10, minimum: 'minimumDriverVersion', allowed: 'allowedDriverVersions' }),
  versionRule({ id: 'vbios-version', code: 'ERR_POLICY_VBIOS_VERSION', what: 'VBIOS', got: (c) => c.vbiosVersion, radix: 16, minimum: 'minimumVbiosVersion', allowed: 'allowedVbiosVersions' }),
  rule({
    id: 'rim',
    code: 'ERR_POLICY_RIM_REQUIRED',
    field: 'nvidiaGpu.requireRimMatch',
    // `false` reads as unset: the rule is skipped.
    read: (p): true | undefined => p.nvidiaGpu?.requireRimMatch || undefined,
    unset: 'nvidiaGpu.requireRimMatch is false',
    test: (f) => f.rimsMatched,
    pass: () => 'driver and VBIOS RIMs verified and every active golden measurement matched',
    fail: () => 'the policy requires matching driver and VBIOS RIMs, and they were not both given, verified and matched',
    hint: (_f, _v, c) => `pass --rim for the driver and the VBIOS (from \`vouch-verify trust fetch\`), or set ${c.at()} to false`,
  }),
  rule({
    id: 'ocsp',
    code: 'ERR_POLICY_OCSP_REQUIRED',
    field: 'nvidiaGpu.requireOcsp',
    read: (p): true | undefined => p.nvidiaGpu?.requireOcsp || undefined,
    unset: 'nvidiaGpu.requireOcsp is false',
    test: (f) => f.ocspChecked,
    pass: () => 'OCSP responses covered the device and RIM chains',
    fail: () => 'the policy requires OCSP responses for the device and RIM chains, and they were not all given and checked',
    hint: (_f, _v, c) => `pass --ocsp responses (from \`vouch-verify trust fetch\`), or set ${c.at()} to false`,
  }),
  rule({
    id: 'protected-pcie',
    code: 'ERR_POLICY_PROTECTED_PCIE',
    field: 'nvidiaGpu.requireProtectedPcie',
    read: (p) => p.nvidiaGpu?.requireProtectedPcie,
    test: (f, required) => f.claims.protectedPcie === required,
    pass: (f) => `protected-PCIe mode is ${onOff(f.claims.protectedPcie, 'on', 'off')}, as required`,
    fail: (f, required) => `protected-PCIe mode is ${onOff(f.claims.protectedPcie, 'on', 'off')}; the policy requires it ${required ? 'on' : 'off'}`,
    hint: (_f, _v, c) => `change the GPU mode, or ${c.at()}`,
  }),
  rule({
    id: 'nvdec0',
    code: 'ERR_POLICY_NVDEC0',
    field: 'nvidiaGpu.requireNvdec0Disabled',
    read: (p) => p.nvidiaGpu?.requireNvdec0Disabled,
    test: (f, disabled) => f.claims.nvdec0Enabled === !disabled,
    pass: (f) => `NVDEC0 is ${onOff(f.claims.nvdec0Enabled, 'enabled', 'disabled')}, as required`,
    fail: (f, disabled) => `NVDEC0 is ${onOff(f.claims.nvdec0Enabled, 'enabled', 'disabled')}; the policy requires it ${disabled ? 'disabled' : 'enabled'}`,
    hint: (_f, _v, c) => `change the GPU configuration, or ${c.at()}`,
  }),
]

/** How many GPUs the evidence attests. */
export interface GpuCount {
  count: number
}

const countRule = ruleOf<GpuCount>()

/** The `policy.gpu-count` rule: how many GPUs the evidence attests against `required` and `count`. */
export const GPU_COUNT_RULES: readonly RuleEntry<GpuCount>[] = [
  countRule({
    id: 'gpu-count',
    code: 'ERR_POLICY_GPU_COUNT',
    field: 'nvidiaGpu',
    // Without the section, each GPU already failed for it; only "no GPU, no section" is left to say.
    applies: (f, p) => p.nvidiaGpu !== undefined || (f.count > 0 ? false : 'no GPU evidence, and the policy has no nvidiaGpu section'),
    read: (p) => p.nvidiaGpu,
    test: (f, s) => !(s.required && f.count === 0) && (s.count === undefined || f.count === s.count),
    pass: (f, s) => `${f.count} GPU(s) attested${s.count === undefined ? '' : `, as the policy requires`}`,
    fail: (f, s) => (s.required && f.count === 0 ? 'the policy requires GPU evidence and there is none' : `${f.count} GPU(s) attested; the policy requires exactly ${s.count}`),
    hint: (f, s, c) => {
      const at = c.at(s.count === undefined ? 'nvidiaGpu.required' : 'nvidiaGpu.count')
      return s.required && f.count === 0 ? `attest the GPUs, or set ${at} to false` : `attest every GPU of the machine, or change ${at}`
    },
  }),
]
