/**
 * Evaluates the `sevSnp` section of a policy against verified claims. Every rule the policy
 * configures leaves a check; a configured rule that cannot be evaluated fails (deny by default).
 */
import type { FirmwareVersion, GuestPolicy, Product, Tcb } from '@vouch/protocol'
import type { PolicyErrorCode } from '../errors.js'
import type { CheckCollector } from '../result.js'
import { TCB_COMPONENTS, type SevSnpClaims, type TcbClaim } from '../sev-snp/claims.js'
import type { Policy, SevSnpPolicy } from './types.js'

/** What policy evaluation needs beyond the claims: facts authenticity established. */
export interface SevSnpFacts {
  claims: SevSnpClaims
  product: Product
  /** A CRL verified under the ARK was checked and lists neither the ASK/ASVK nor the VEK. */
  crlVerified: boolean
  simulated: boolean
  /** CURRENT firmware version of the report. */
  firmware: FirmwareVersion
}

/** Where a policy field is, for hints: `sevSnp.measurements (policies/p.yaml:12)`. */
export function policyField(policy: Policy, path: string): string {
  const at = policy.locate(path)
  return at === undefined ? `${path} in ${policy.source.file}` : `${path} (${policy.source.file}:${at.line})`
}

/** Components of `tcb` below `minimum`, as `SNP 8 < 24`. */
function tcbShortfalls(tcb: TcbClaim, minimum: Tcb): string[] {
  const out: string[] = []
  for (const [key, name] of TCB_COMPONENTS) {
    const want = minimum[key]
    if (want === undefined) continue
    const got = tcb[key] ?? 0
    if (got < want) out.push(`${name} ${got} < ${want}`)
  }
  return out
}

function compareVersions(a: FirmwareVersion, b: FirmwareVersion): number {
  return a.major - b.major || a.minor - b.minor || a.build - b.build
}

const formatVersion = (v: FirmwareVersion): string => `${v.major}.${v.minor}.${v.build}`

/** Whether a chip-id policy entry names this CHIP_ID: 64 bytes exactly, or Turin's 8-byte prefix with zeros after. */
function chipIdMatches(entry: string, chipId: string): boolean {
  if (entry.length === chipId.length) return entry === chipId
  return chipId.startsWith(entry) && /^0*$/.test(chipId.slice(entry.length))
}

const GUEST_POLICY_NAMES: Readonly<Record<string, string>> = {
  singleSocket: 'SINGLE_SOCKET',
  memAes256Xts: 'MEM_AES_256_XTS',
  raplDis: 'RAPL_DIS',
  ciphertextHiding: 'CIPHERTEXT_HIDING',
  pageSwapDisable: 'PAGE_SWAP_DISABLE',
}

/** Records the `policy.*` checks for SEV-SNP evidence. */
export function evaluateSevSnpPolicy(facts: SevSnpFacts, policy: Policy, checks: CheckCollector): void {
  const { claims, product } = facts
  const at = (path: string): string => policyField(policy, path)
  const rule = (id: string, code: PolicyErrorCode, ok: boolean, pass: string, fail: string, hint: string): void => {
    if (ok) checks.pass(id, pass)
    else checks.fail(id, code, fail, hint)
  }

  if (facts.simulated) {
    rule(
      'policy.simulated',
      'ERR_POLICY_SAMPLE_TEE',
      policy.allowSimulated,
      `simulated evidence, allowed by policy "${policy.name}"`,
      `the evidence comes from the simulated TEE and policy "${policy.name}" does not allow it`,
      `only a development policy may set ${at('allowSimulated')} to true`,
    )
  } else checks.pass('policy.simulated', 'the evidence chains to an AMD root, not the simulated TEE')

  const p: SevSnpPolicy | undefined = policy.sevSnp
  if (p === undefined) {
    checks.fail('policy.sev-snp', 'ERR_POLICY_MISSING_SECTION', `policy "${policy.name}" has no sevSnp section, so SEV-SNP evidence is denied`, `add a sevSnp section to ${policy.source.file}`)
    return
  }

  rule('policy.product', 'ERR_POLICY_PRODUCT_NOT_ALLOWED', p.allowedProducts.includes(product), `${product} is allowed`, `product ${product} is not one of ${p.allowedProducts.join(', ')}`, `add ${product} to ${at('sevSnp.allowedProducts')}`)
  rule(
    'policy.signing-key',
    'ERR_POLICY_SIGNING_KEY_NOT_ALLOWED',
    p.allowedSigningKeys.includes(claims.signingKey),
    `${claims.signingKey} is allowed`,
    `signing key ${claims.signingKey} is not one of ${p.allowedSigningKeys.join(', ')}`,
    `add ${claims.signingKey} to ${at('sevSnp.allowedSigningKeys')}`,
  )
  rule(
    'policy.debug',
    'ERR_POLICY_DEBUG_NOT_ALLOWED',
    !claims.policy.debug || p.allowDebug,
    claims.policy.debug ? 'guest POLICY allows debugging, and so does the policy' : 'guest POLICY forbids debugging',
    'guest POLICY allows debugging (bit 19): the host can read and change guest memory',
    `launch the guest without debug, or (never in production) set ${at('sevSnp.allowDebug')} to true`,
  )
  rule(
    'policy.migration-agent',
    'ERR_POLICY_MIGRATION_AGENT_NOT_ALLOWED',
    !claims.policy.migrateMa || p.allowMigrationAgent,
    claims.policy.migrateMa ? 'a migration agent is allowed, and so is it by the policy' : 'guest POLICY forbids a migration agent',
    'guest POLICY allows a migration agent (bit 18)',
    `launch the guest without MIGRATE_MA, or set ${at('sevSnp.allowMigrationAgent')} to true`,
  )
  if (p.allowSmt === undefined) checks.skip('policy.smt', 'sevSnp.allowSmt is not set: SMT is not checked')
  else rule('policy.smt', 'ERR_POLICY_SMT_NOT_ALLOWED', p.allowSmt || !claims.policy.smt, `SMT ${claims.policy.smt ? 'allowed' : 'not allowed'} by the guest POLICY`, 'guest POLICY allows SMT (bit 16)', `launch the guest without SMT, or set ${at('sevSnp.allowSmt')} to true`)

  if (p.minimumAbi === undefined) checks.skip('policy.abi', 'sevSnp.minimumAbi is not set')
  else {
    const { major, minor } = p.minimumAbi
    const got = `${claims.policy.abiMajor}.${claims.policy.abiMinor}`
    const ok = claims.policy.abiMajor > major || (claims.policy.abiMajor === major && claims.policy.abiMinor >= minor)
    rule('policy.abi', 'ERR_POLICY_ABI_TOO_LOW', ok, `guest POLICY ABI ${got} ≥ ${major}.${minor}`, `guest POLICY ABI ${got} is below the minimum ${major}.${minor}`, `launch with ABI ≥ ${major}.${minor}, or lower ${at('sevSnp.minimumAbi')}`)
  }

  if (p.requireGuestPolicy === undefined) checks.skip('policy.guest-policy', 'sevSnp.requireGuestPolicy is not set')
  else {
    const missing = p.requireGuestPolicy.filter((flag) => !claims.policy[flag as keyof GuestPolicy])
    rule(
      'policy.guest-policy',
      'ERR_POLICY_GUEST_POLICY_MISSING',
      missing.length === 0,
      `guest POLICY sets ${p.requireGuestPolicy.map((f) => GUEST_POLICY_NAMES[f] ?? f).join(', ') || 'nothing required'}`,
      `guest POLICY lacks ${missing.map((f) => GUEST_POLICY_NAMES[f] ?? f).join(', ')}`,
      `launch the guest with those bits, or remove them from ${at('sevSnp.requireGuestPolicy')}`,
    )
  }

  if (p.allowedVmpls === undefined) checks.skip('policy.vmpl', 'sevSnp.allowedVmpls is not set')
  else rule('policy.vmpl', 'ERR_POLICY_VMPL_NOT_ALLOWED', p.allowedVmpls.includes(claims.vmpl), `VMPL ${claims.vmpl} is allowed`, `VMPL ${claims.vmpl} is not one of ${p.allowedVmpls.join(', ')}`, `request the report at an allowed VMPL, or add ${claims.vmpl} to ${at('sevSnp.allowedVmpls')}`)

  if (p.minimumGuestSvn === undefined) checks.skip('policy.guest-svn', 'sevSnp.minimumGuestSvn is not set')
  else rule('policy.guest-svn', 'ERR_POLICY_GUEST_SVN_TOO_LOW', claims.guestSvn >= p.minimumGuestSvn, `GUEST_SVN ${claims.guestSvn} ≥ ${p.minimumGuestSvn}`, `GUEST_SVN ${claims.guestSvn} is below ${p.minimumGuestSvn}`, `lower ${at('sevSnp.minimumGuestSvn')} or deploy a newer guest`)

  const anyOf = (id: string, code: PolicyErrorCode, field: string, name: string, got: string, list: readonly string[] | undefined): void => {
    if (list === undefined) {
      checks.skip(id, `sevSnp.${field} is not set: any ${name} is accepted`)
      return
    }
    rule(id, code, list.includes(got), `${name} ${got} is allowed`, `${name} mismatch: got ${got}, expected one of ${list.join(', ')}`, `if this is your workload, add ${got} to ${at(`sevSnp.${field}`)}`)
  }
  anyOf('policy.measurement', 'ERR_POLICY_MEASUREMENT_MISMATCH', 'measurements', 'MEASUREMENT', claims.measurement, p.measurements)
  anyOf('policy.host-data', 'ERR_POLICY_HOST_DATA_MISMATCH', 'hostData', 'HOST_DATA', claims.hostData, p.hostData)
  anyOf('policy.id-key', 'ERR_POLICY_ID_KEY_NOT_ALLOWED', 'idKeyDigests', 'ID_KEY_DIGEST', claims.idKeyDigest, p.idKeyDigests)
  anyOf('policy.author-key', 'ERR_POLICY_AUTHOR_KEY_NOT_ALLOWED', 'authorKeyDigests', 'AUTHOR_KEY_DIGEST', claims.authorKeyDigest, p.authorKeyDigests)
  if (p.reportData === undefined) checks.skip('policy.report-data', 'sevSnp.reportData is not set')
  else rule('policy.report-data', 'ERR_POLICY_REPORT_DATA_MISMATCH', claims.reportData === p.reportData, 'REPORT_DATA equals the policy value', `REPORT_DATA mismatch: expected ${p.reportData}, got ${claims.reportData}`, `check ${at('sevSnp.reportData')}`)
  if (p.chipIds === undefined) checks.skip('policy.chip-id', 'sevSnp.chipIds is not set: any chip is accepted')
  else {
    rule(
      'policy.chip-id',
      'ERR_POLICY_CHIP_ID_NOT_ALLOWED',
      p.chipIds.some((entry) => chipIdMatches(entry, claims.chipId)),
      'CHIP_ID is on the allow-list',
      `CHIP_ID ${claims.chipId} is not on the allow-list of ${p.chipIds.length}`,
      `add the chip to ${at('sevSnp.chipIds')}`,
    )
  }

  if (p.minimumTcb === undefined) checks.skip('policy.tcb', 'sevSnp.minimumTcb is not set')
  else {
    const minimum = p.minimumTcb[product]
    if (minimum === undefined) {
      checks.fail('policy.tcb', 'ERR_POLICY_TCB_TOO_LOW', `sevSnp.minimumTcb has no entry for ${product}, so the TCB cannot be checked`, `add ${product} to ${at('sevSnp.minimumTcb')}`)
    } else {
      for (const [which, tcb] of [
        ['reported', claims.reportedTcb],
        ['committed', claims.committedTcb],
        ['launch', claims.launchTcb],
      ] as const) {
        const short = tcbShortfalls(tcb, minimum)
        rule(
          `policy.tcb.${which}`,
          'ERR_POLICY_TCB_TOO_LOW',
          short.length === 0,
          `${which.toUpperCase()}_TCB meets the ${product} minimum`,
          `${which.toUpperCase()}_TCB is below the ${product} minimum: ${short.join(', ')}`,
          `update the host firmware and microcode, or lower ${at(`sevSnp.minimumTcb.${product}`)}`,
        )
      }
    }
  }

  if (p.minimumFirmware === undefined) checks.skip('policy.firmware', 'sevSnp.minimumFirmware is not set')
  else {
    const minimum = p.minimumFirmware[product]
    if (minimum === undefined) {
      checks.fail('policy.firmware', 'ERR_POLICY_FIRMWARE_TOO_OLD', `sevSnp.minimumFirmware has no entry for ${product}`, `add ${product} to ${at('sevSnp.minimumFirmware')}`)
    } else {
      rule(
        'policy.firmware',
        'ERR_POLICY_FIRMWARE_TOO_OLD',
        compareVersions(facts.firmware, minimum) >= 0,
        `firmware ${claims.currentFirmware} ≥ ${formatVersion(minimum)}`,
        `firmware ${claims.currentFirmware} is older than ${formatVersion(minimum)}`,
        `update the SEV firmware, or lower ${at(`sevSnp.minimumFirmware.${product}`)}`,
      )
    }
  }

  if (p.allowProvisionalFirmware === undefined) checks.skip('policy.provisional-firmware', 'sevSnp.allowProvisionalFirmware is not set')
  else {
    const provisional = claims.committedTcb.raw !== claims.currentTcb.raw || claims.committedFirmware !== claims.currentFirmware
    rule(
      'policy.provisional-firmware',
      'ERR_POLICY_PROVISIONAL_FIRMWARE',
      p.allowProvisionalFirmware || !provisional,
      provisional ? 'firmware is provisional, allowed by the policy' : 'the committed firmware and TCB are the current ones',
      `provisional firmware: committed ${claims.committedFirmware} (TCB ${claims.committedTcb.raw}) differs from current ${claims.currentFirmware} (TCB ${claims.currentTcb.raw})`,
      `commit the firmware on the host, or set ${at('sevSnp.allowProvisionalFirmware')} to true`,
    )
  }

  if (p.requireCrl) {
    rule('policy.crl', 'ERR_POLICY_CRL_REQUIRED', facts.crlVerified, 'a CRL verified under the ARK was checked', 'the policy requires a CRL, and none was checked', `pass --crl (from \`vouch-verify trust fetch\`), or set ${at('sevSnp.requireCrl')} to false`)
  } else checks.skip('policy.crl', 'sevSnp.requireCrl is false')
}
