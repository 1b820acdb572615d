/**
 * Evaluates the `nvidiaGpu` section of a policy against a verified GPU. Every rule the policy sets
 * leaves a check; a rule that cannot be evaluated fails (deny by default).
 */
import type { PolicyErrorCode } from '../errors.js'
import type { GpuFacts } from '../nvidia/verify.js'
import type { CheckCollector } from '../result.js'
import { policyField } from './sev-snp.js'
import type { NvidiaGpuPolicy, Policy } from './types.js'

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

/** Records the `policy.*` checks of one GPU, ids prefixed with `prefix`. */
export function evaluateNvidiaGpuPolicy(facts: GpuFacts, policy: Policy, checks: CheckCollector, prefix = ''): void {
  const claims = facts.claims!
  const at = (path: string): string => policyField(policy, path)
  const id = (name: string): string => `${prefix}policy.${name}`
  const rule = (name: string, code: PolicyErrorCode, ok: boolean, pass: string, fail: string, hint: string): void => {
    if (ok) checks.pass(id(name), pass)
    else checks.fail(id(name), code, fail, hint)
  }

  if (claims.simulated) {
    rule(
      'simulated',
      'ERR_POLICY_SAMPLE_TEE',
      policy.allowSimulated,
      `simulated GPU, allowed by policy "${policy.name}"`,
      `the evidence comes from the simulated GPU and policy "${policy.name}" does not allow it`,
      `only a development policy may set ${at('allowSimulated')} to true`,
    )
  } else checks.pass(id('simulated'), 'the device chain ends at an NVIDIA root, not the simulated GPU')

  const p: NvidiaGpuPolicy | undefined = policy.nvidiaGpu
  if (p === undefined) {
    checks.fail(id('nvidia-gpu'), 'ERR_POLICY_MISSING_SECTION', `policy "${policy.name}" has no nvidiaGpu section, so GPU evidence is denied`, `add an nvidiaGpu section to ${policy.source.file}`)
    return
  }
  const arch = claims.arch ?? 'unknown'
  rule('gpu-arch', 'ERR_POLICY_GPU_ARCH_NOT_ALLOWED', claims.arch !== null && p.allowedArchitectures.includes(claims.arch), `${arch} is allowed`, `architecture ${arch} is not one of ${p.allowedArchitectures.join(', ')}`, `add ${arch} to ${at('nvidiaGpu.allowedArchitectures')}`)

  const versionRules = (
    name: string,
    what: string,
    got: string | null,
    radix: 10 | 16,
    minimum: string | undefined,
    allowed: readonly string[] | undefined,
    code: PolicyErrorCode,
    field: string,
  ): void => {
    if (minimum === undefined && allowed === undefined) {
      checks.skip(id(name), `nvidiaGpu.minimum${field}Version and allowed${field}Versions are not set`)
      return
    }
    if (got === null) {
      checks.fail(id(name), code, `the report names no ${what} version, so the rule cannot be checked`, `remove the ${what} version rules from ${policy.source.file}, or use a newer driver`)
      return
    }
    const problems: string[] = []
    if (minimum !== undefined && compareVersions(got, minimum, radix) < 0) problems.push(`${what} ${got} is older than the minimum ${minimum}`)
    if (allowed !== undefined && !allowed.some((v) => v.toUpperCase() === got.toUpperCase())) problems.push(`${what} ${got} is not one of ${allowed.join(', ')}`)
    rule(name, code, problems.length === 0, `${what} ${got} is allowed`, problems.join('; '), `update the ${what}, or change ${at(minimum !== undefined ? `nvidiaGpu.minimum${field}Version` : `nvidiaGpu.allowed${field}Versions`)}`)
  }
  versionRules('driver-version', 'driver', claims.driverVersion, 10, p.minimumDriverVersion, p.allowedDriverVersions, 'ERR_POLICY_DRIVER_VERSION', 'Driver')
  versionRules('vbios-version', 'VBIOS', claims.vbiosVersion, 16, p.minimumVbiosVersion, p.allowedVbiosVersions, 'ERR_POLICY_VBIOS_VERSION', 'Vbios')

  if (p.requireRimMatch) {
    rule('rim', 'ERR_POLICY_RIM_REQUIRED', facts.rimsMatched, 'driver and VBIOS RIMs verified and every active golden measurement matched', 'the policy requires matching driver and VBIOS RIMs, and they were not both given, verified and matched', `pass --rim for the driver and the VBIOS (from \`vouch-verify trust fetch\`), or set ${at('nvidiaGpu.requireRimMatch')} to false`)
  } else checks.skip(id('rim'), 'nvidiaGpu.requireRimMatch is false')

  if (p.requireOcsp) {
    rule('ocsp', 'ERR_POLICY_OCSP_REQUIRED', facts.ocspChecked, 'OCSP responses covered the device and RIM chains', 'the policy requires OCSP responses for the device and RIM chains, and they were not all given and checked', `pass --ocsp responses (from \`vouch-verify trust fetch\`), or set ${at('nvidiaGpu.requireOcsp')} to false`)
  } else checks.skip(id('ocsp'), 'nvidiaGpu.requireOcsp is false')

  if (p.requireProtectedPcie === undefined) checks.skip(id('protected-pcie'), 'nvidiaGpu.requireProtectedPcie is not set')
  else {
    const mode = claims.protectedPcie === null ? 'not reported' : claims.protectedPcie ? 'on' : 'off'
    rule('protected-pcie', 'ERR_POLICY_PROTECTED_PCIE', claims.protectedPcie === p.requireProtectedPcie, `protected-PCIe mode is ${mode}, as required`, `protected-PCIe mode is ${mode}; the policy requires it ${p.requireProtectedPcie ? 'on' : 'off'}`, `change the GPU mode, or ${at('nvidiaGpu.requireProtectedPcie')}`)
  }
  if (p.requireNvdec0Disabled === undefined) checks.skip(id('nvdec0'), 'nvidiaGpu.requireNvdec0Disabled is not set')
  else {
    const state = claims.nvdec0Enabled === null ? 'not reported' : claims.nvdec0Enabled ? 'enabled' : 'disabled'
    rule('nvdec0', 'ERR_POLICY_NVDEC0', claims.nvdec0Enabled === !p.requireNvdec0Disabled, `NVDEC0 is ${state}, as required`, `NVDEC0 is ${state}; the policy requires it ${p.requireNvdec0Disabled ? 'disabled' : 'enabled'}`, `change the GPU configuration, or ${at('nvidiaGpu.requireNvdec0Disabled')}`)
  }
}

/** Records the `policy.gpu-count` check: how many GPUs the evidence attests against `required` and `count`. */
export function evaluateGpuCount(count: number, policy: Policy, checks: CheckCollector): void {
  const p = policy.nvidiaGpu
  if (p === undefined) {
    if (count > 0) return // each GPU already failed for the missing section
    checks.skip('policy.gpu-count', 'no GPU evidence, and the policy has no nvidiaGpu section')
    return
  }
  const at = policyField(policy, p.count === undefined ? 'nvidiaGpu.required' : 'nvidiaGpu.count')
  if (p.required && count === 0) {
    checks.fail('policy.gpu-count', 'ERR_POLICY_GPU_COUNT', 'the policy requires GPU evidence and there is none', `attest the GPUs, or set ${at} to false`)
  } else if (p.count !== undefined && count !== p.count) {
    checks.fail('policy.gpu-count', 'ERR_POLICY_GPU_COUNT', `${count} GPU(s) attested; the policy requires exactly ${p.count}`, `attest every GPU of the machine, or change ${at}`)
  } else checks.pass('policy.gpu-count', `${count} GPU(s) attested${p.count === undefined ? '' : `, as the policy requires`}`)
}
