/**
 * The rules of a policy's `sevSnp` section, as a table run on the facts of authentic SEV-SNP evidence.
 * Every rule the policy configures leaves a check; a configured rule that cannot be evaluated fails
 * (deny by default).
 */
import type { FirmwareVersion, GuestPolicy, Product, Tcb } from '@vouch/protocol'
import type { PolicyErrorCode } from '../errors.js'
import type { SevSnpFacts } from '../facts.types.js'
import { TCB_COMPONENTS, type TcbClaim } from '../sev-snp/claims.js'
import { requireSection, ruleOf, simulatedRule, type PolicyRule, type RuleEntry } from './rules.js'

/** SEV-SNP facts the policy is evaluated on: authentic, so the chain named the product. */
export type EvaluableSevSnp = SevSnpFacts & { product: Product }

/** Whether the policy may be evaluated on these facts: every authenticity check passed. */
export function isEvaluableSevSnp(facts: SevSnpFacts): facts is EvaluableSevSnp {
  return facts.authentic && facts.product !== null
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
const guestPolicyNames = (flags: readonly string[]): string => flags.map((f) => GUEST_POLICY_NAMES[f] ?? f).join(', ')
const missingGuestPolicy = (f: EvaluableSevSnp, required: readonly string[]): string[] => required.filter((flag) => !f.claims.policy[flag as keyof GuestPolicy])

/** The three TCBs the `minimumTcb` floor applies to, by the case names of their checks. */
const TCBS = ['reported', 'committed', 'launch'] as const
function tcbOf(f: EvaluableSevSnp, which: string): TcbClaim {
  return which === 'reported' ? f.claims.reportedTcb : which === 'committed' ? f.claims.committedTcb : f.claims.launchTcb
}

function isProvisional(f: EvaluableSevSnp): boolean {
  return f.claims.committedTcb.raw !== f.claims.currentTcb.raw || f.claims.committedFirmware !== f.claims.currentFirmware
}

const rule = ruleOf<EvaluableSevSnp>()

type AnyOfField = 'measurements' | 'hostData' | 'idKeyDigests' | 'authorKeyDigests'
type AnyOfClaim = 'measurement' | 'hostData' | 'idKeyDigest' | 'authorKeyDigest'

/** An any-of list of hex values one report field must be among. */
function anyOf(id: string, code: PolicyErrorCode, field: AnyOfField, name: string, claim: AnyOfClaim): PolicyRule<EvaluableSevSnp, unknown> {
  return rule({
    id,
    code,
    field: `sevSnp.${field}`,
    read: (p) => p.sevSnp?.[field],
    unset: `sevSnp.${field} is not set: any ${name} is accepted`,
    test: (f, list) => list.includes(f.claims[claim]),
    pass: (f) => `${name} ${f.claims[claim]} is allowed`,
    fail: (f, list) => `${name} mismatch: got ${f.claims[claim]}, expected one of ${list.join(', ')}`,
    hint: (f, _, c) => `if this is your workload, add ${f.claims[claim]} to ${c.at()}`,
  })
}

/** The `sevSnp` rules, in the order their checks appear. */
export const SEV_SNP_RULES: readonly RuleEntry<EvaluableSevSnp>[] = [
  simulatedRule({ simulated: 'simulated evidence', simulator: 'the simulated TEE', genuine: 'the evidence chains to an AMD root, not the simulated TEE' }),
  requireSection('sev-snp', 'a', 'sevSnp', 'SEV-SNP evidence'),

  rule({
    id: 'product',
    code: 'ERR_POLICY_PRODUCT_NOT_ALLOWED',
    field: 'sevSnp.allowedProducts',
    read: (p) => p.sevSnp?.allowedProducts,
    test: (f, allowed) => allowed.includes(f.product),
    pass: (f) => `${f.product} is allowed`,
    fail: (f, allowed) => `product ${f.product} is not one of ${allowed.join(', ')}`,
    hint: (f, _, c) => `add ${f.product} to ${c.at()}`,
  }),
  rule({
    id: 'signing-key',
    code: 'ERR_POLICY_SIGNING_KEY_NOT_ALLOWED',
    field: 'sevSnp.allowedSigningKeys',
    read: (p) => p.sevSnp?.allowedSigningKeys,
    test: (f, allowed) => allowed.includes(f.claims.signingKey),
    pass: (f) => `${f.claims.signingKey} is allowed`,
    fail: (f, allowed) => `signing key ${f.claims.signingKey} is not one of ${allowed.join(', ')}`,
    hint: (f, _, c) => `add ${f.claims.signingKey} to ${c.at()}`,
  }),
  rule({
    id: 'debug',
    code: 'ERR_POLICY_DEBUG_NOT_ALLOWED',
    field: 'sevSnp.allowDebug',
    read: (p) => p.sevSnp?.allowDebug,
    test: (f, allowed) => !f.claims.policy.debug || allowed,
    pass: (f) => (f.claims.policy.debug ? 'guest POLICY allows debugging, and so does the policy' : 'guest POLICY forbids debugging'),
    fail: () => 'guest POLICY allows debugging (bit 19): the host can read and change guest memory',
    hint: (_f, _v, c) => `launch the guest without debug, or (never in production) set ${c.at()} to true`,
  }),
  rule({
    id: 'migration-agent',
    code: 'ERR_POLICY_MIGRATION_AGENT_NOT_ALLOWED',
    field: 'sevSnp.allowMigrationAgent',
    read: (p) => p.sevSnp?.allowMigrationAgent,
    test: (f, allowed) => !f.claims.policy.migrateMa || allowed,
    pass: (f) => (f.claims.policy.migrateMa ? 'a migration agent is allowed, and so is it by the policy' : 'guest POLICY forbids a migration agent'),
    fail: () => 'guest POLICY allows a migration agent (bit 18)',
    hint: (_f, _v, c) => `launch the guest without MIGRATE_MA, or set ${c.at()} to true`,
  }),
  rule({
    id: 'smt',
    code: 'ERR_POLICY_SMT_NOT_ALLOWED',
    field: 'sevSnp.allowSmt',
    read: (p) => p.sevSnp?.allowSmt,
    unset: 'sevSnp.allowSmt is not set: SMT is not checked',
    test: (f, allowed) => allowed || !f.claims.policy.smt,
    pass: (f) => `SMT ${f.claims.policy.smt ? 'allowed' : 'not allowed'} by the guest POLICY`,
    fail: () => 'guest POLICY allows SMT (bit 16)',
    hint: (_f, _v, c) => `launch the guest without SMT, or set ${c.at()} to true`,
  }),
  rule({
    id: 'abi',
    code: 'ERR_POLICY_ABI_TOO_LOW',
    field: 'sevSnp.minimumAbi',
    read: (p) => p.sevSnp?.minimumAbi,
    test: ({ claims: { policy } }, min) => policy.abiMajor > min.major || (policy.abiMajor === min.major && policy.abiMinor >= min.minor),
    pass: (f, min) => `guest POLICY ABI ${f.claims.policy.abiMajor}.${f.claims.policy.abiMinor} ≥ ${min.major}.${min.minor}`,
    fail: (f, min) => `guest POLICY ABI ${f.claims.policy.abiMajor}.${f.claims.policy.abiMinor} is below the minimum ${min.major}.${min.minor}`,
    hint: (_f, min, c) => `launch with ABI ≥ ${min.major}.${min.minor}, or lower ${c.at()}`,
  }),
  rule({
    id: 'guest-policy',
    code: 'ERR_POLICY_GUEST_POLICY_MISSING',
    field: 'sevSnp.requireGuestPolicy',
    read: (p) => p.sevSnp?.requireGuestPolicy,
    test: (f, required) => missingGuestPolicy(f, required).length === 0,
    pass: (_f, required) => `guest POLICY sets ${guestPolicyNames(required) || 'nothing required'}`,
    fail: (f, required) => `guest POLICY lacks ${guestPolicyNames(missingGuestPolicy(f, required))}`,
    hint: (_f, _v, c) => `launch the guest with those bits, or remove them from ${c.at()}`,
  }),
  rule({
    id: 'vmpl',
    code: 'ERR_POLICY_VMPL_NOT_ALLOWED',
    field: 'sevSnp.allowedVmpls',
    read: (p) => p.sevSnp?.allowedVmpls,
    test: (f, allowed) => allowed.includes(f.claims.vmpl),
    pass: (f) => `VMPL ${f.claims.vmpl} is allowed`,
    fail: (f, allowed) => `VMPL ${f.claims.vmpl} is not one of ${allowed.join(', ')}`,
    hint: (f, _, c) => `request the report at an allowed VMPL, or add ${f.claims.vmpl} to ${c.at()}`,
  }),
  rule({
    id: 'guest-svn',
    code: 'ERR_POLICY_GUEST_SVN_TOO_LOW',
    field: 'sevSnp.minimumGuestSvn',
    read: (p) => p.sevSnp?.minimumGuestSvn,
    test: (f, min) => f.claims.guestSvn >= min,
    pass: (f, min) => `GUEST_SVN ${f.claims.guestSvn} ≥ ${min}`,
    fail: (f, min) => `GUEST_SVN ${f.claims.guestSvn} is below ${min}`,
    hint: (_f, _v, c) => `lower ${c.at()} or deploy a newer guest`,
  }),
  anyOf('measurement', 'ERR_POLICY_MEASUREMENT_MISMATCH', 'measurements', 'MEASUREMENT', 'measurement'),
  anyOf('host-data', 'ERR_POLICY_HOST_DATA_MISMATCH', 'hostData', 'HOST_DATA', 'hostData'),
  anyOf('id-key', 'ERR_POLICY_ID_KEY_NOT_ALLOWED', 'idKeyDigests', 'ID_KEY_DIGEST', 'idKeyDigest'),
  anyOf('author-key', 'ERR_POLICY_AUTHOR_KEY_NOT_ALLOWED', 'authorKeyDigests', 'AUTHOR_KEY_DIGEST', 'authorKeyDigest'),
  rule({
    id: 'report-data',
    code: 'ERR_POLICY_REPORT_DATA_MISMATCH',
    field: 'sevSnp.reportData',
    read: (p) => p.sevSnp?.reportData,
    test: (f, expected) => f.claims.reportData === expected,
    pass: () => 'REPORT_DATA equals the policy value',
    fail: (f, expected) => `REPORT_DATA mismatch: expected ${expected}, got ${f.claims.reportData}`,
    hint: (_f, _v, c) => `check ${c.at()}`,
  }),
  rule({
    id: 'chip-id',
    code: 'ERR_POLICY_CHIP_ID_NOT_ALLOWED',
    field: 'sevSnp.chipIds',
    read: (p) => p.sevSnp?.chipIds,
    unset: 'sevSnp.chipIds is not set: any chip is accepted',
    test: (f, allowed) => allowed.some((entry) => chipIdMatches(entry, f.claims.chipId)),
    pass: () => 'CHIP_ID is on the allow-list',
    fail: (f, allowed) => `CHIP_ID ${f.claims.chipId} is not on the allow-list of ${allowed.length}`,
    hint: (_f, _v, c) => `add the chip to ${c.at()}`,
  }),
  rule({
    id: 'tcb',
    code: 'ERR_POLICY_TCB_TOO_LOW',
    field: 'sevSnp.minimumTcb',
    read: (p) => p.sevSnp?.minimumTcb,
    untestable: (f, minimums, c) =>
      minimums[f.product] === undefined ? { fail: `sevSnp.minimumTcb has no entry for ${f.product}, so the TCB cannot be checked`, hint: `add ${f.product} to ${c.at()}` } : undefined,
    each: TCBS,
    test: (f, minimums, c) => tcbShortfalls(tcbOf(f, c.item), minimums[f.product]!).length === 0,
    pass: (f, _, c) => `${c.item.toUpperCase()}_TCB meets the ${f.product} minimum`,
    fail: (f, minimums, c) => `${c.item.toUpperCase()}_TCB is below the ${f.product} minimum: ${tcbShortfalls(tcbOf(f, c.item), minimums[f.product]!).join(', ')}`,
    hint: (f, _, c) => `update the host firmware and microcode, or lower ${c.at(`sevSnp.minimumTcb.${f.product}`)}`,
  }),
  rule({
    id: 'firmware',
    code: 'ERR_POLICY_FIRMWARE_TOO_OLD',
    field: 'sevSnp.minimumFirmware',
    read: (p) => p.sevSnp?.minimumFirmware,
    untestable: (f, minimums, c) => (minimums[f.product] === undefined ? { fail: `sevSnp.minimumFirmware has no entry for ${f.product}`, hint: `add ${f.product} to ${c.at()}` } : undefined),
    test: (f, minimums) => compareVersions(f.firmware, minimums[f.product]!) >= 0,
    pass: (f, minimums) => `firmware ${f.claims.currentFirmware} ≥ ${formatVersion(minimums[f.product]!)}`,
    fail: (f, minimums) => `firmware ${f.claims.currentFirmware} is older than ${formatVersion(minimums[f.product]!)}`,
    hint: (f, _, c) => `update the SEV firmware, or lower ${c.at(`sevSnp.minimumFirmware.${f.product}`)}`,
  }),
  rule({
    id: 'provisional-firmware',
    code: 'ERR_POLICY_PROVISIONAL_FIRMWARE',
    field: 'sevSnp.allowProvisionalFirmware',
    read: (p) => p.sevSnp?.allowProvisionalFirmware,
    test: (f, allowed) => allowed || !isProvisional(f),
    pass: (f) => (isProvisional(f) ? 'firmware is provisional, allowed by the policy' : 'the committed firmware and TCB are the current ones'),
    fail: ({ claims: c }) => `provisional firmware: committed ${c.committedFirmware} (TCB ${c.committedTcb.raw}) differs from current ${c.currentFirmware} (TCB ${c.currentTcb.raw})`,
    hint: (_f, _v, c) => `commit the firmware on the host, or set ${c.at()} to true`,
  }),
  rule({
    id: 'crl',
    code: 'ERR_POLICY_CRL_REQUIRED',
    field: 'sevSnp.requireCrl',
    // `false` reads as unset: the rule is skipped.
    read: (p): true | undefined => p.sevSnp?.requireCrl || undefined,
    unset: 'sevSnp.requireCrl is false',
    test: (f) => f.crlVerified,
    pass: () => 'a CRL verified under the ARK was checked',
    fail: () => 'the policy requires a CRL, and none was checked',
    hint: (_f, _v, c) => `pass --crl (from \`vouch-verify trust fetch\`), or set ${c.at()} to false`,
  }),
]
