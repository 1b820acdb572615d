/**
 * SEV-SNP verification: authenticity (ARK → ASK/ASVK → VCEK/VLEK, revocation, the report's
 * signature, the certificate's agreement with the report), which yields the facts the policy is then
 * evaluated on. Steps always run in the same order and each leaves a check in the Result.
 */
import {
  bytesEqual,
  concatBytes,
  decodeTcb,
  isAllZero,
  parseAttestationReport,
  toHex,
  TURIN_CHIP_ID_SIZE,
  type AttestationReport,
  type Product,
} from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import type { SevSnpFacts } from '../facts.types.js'
import { evaluatePolicy } from '../policy/evaluate.js'
import type { Policy } from '../policy/types.js'
import { CheckCollector, type Result } from '../result.js'
import { commonName, parseCertificate, requireValidAt, verifyWithAlgorithm, type Certificate } from '../x509/certificate.js'
import { AMD_SIGNATURE_ALGORITHMS } from './chain.js'
import { parseCrl, requireCrlCurrent, requireNotRevoked, verifyCrlSignature } from '../x509/crl.js'
import { toDerList, type DerInput } from '../x509/pem.js'
import { formatTcb, tcbEqual, toSevSnpClaims, type SevSnpClaims } from './claims.js'
import { verifyArkCertificate, verifyIntermediateCertificate, verifyVekCertificate } from './chain.js'
import { DEFAULT_SEV_SNP_TRUST, type ArkAnchor, type SevSnpTrust } from './trust.js'
import { productOfVek, readProductName, type VekExtensions } from './vek.js'

/** Evidence to verify. */
export interface SevSnpInput {
  /** The raw 1184-byte ATTESTATION_REPORT. */
  report: Uint8Array
  /** The VCEK or VLEK that signed it, DER or PEM. Unset: verification fails with `ERR_COLLATERAL_MISSING`. */
  vek?: DerInput
  /** ASK (or ASVK) then ARK: PEM text, or DER byte arrays. Unset: fails with `ERR_COLLATERAL_MISSING`. */
  chain?: DerInput
  /** CRLs issued by the ARK, each DER or PEM. Unset: revocation is not checked, and a policy with `requireCrl` rejects. */
  crls?: readonly DerInput[]
}

/** How to verify. Every field is optional and says what happens when it is unset. */
export interface SevSnpVerifyOptions {
  /** Policy to evaluate. Unset: only authenticity is checked, policy checks are `skip`, simulated evidence is rejected. */
  policy?: Policy
  /** The clock for certificate and CRL validity. Unset: now. */
  at?: Date
  /** Pinned roots. Unset: AMD's ARKs and the simulated PSP's ({@link DEFAULT_SEV_SNP_TRUST}). */
  trust?: SevSnpTrust
  /** Expected REPORT_DATA (64 bytes). Unset: REPORT_DATA is not compared. */
  reportData?: Uint8Array
}

/** The chain as parsed, with what each step established. */
interface ChainState {
  ark?: Certificate
  intermediate?: Certificate
  vek?: Certificate
  anchor?: ArkAnchor
  extensions?: VekExtensions
}

function parseOne(input: DerInput, what: string): Certificate {
  const list = toDerList(input, what)
  if (list.length !== 1) throw new VerificationError('ERR_INPUT_INVALID', `${what}: expected one certificate, got ${list.length}`)
  return parseCertificate(list[0]!, what)
}

/** Parses the collateral; records `chain.collateral`. Returns what could be parsed. */
function parseCollateral(input: SevSnpInput, checks: CheckCollector, prefix: string): ChainState | null {
  const missing = [input.vek === undefined ? 'VEK (VCEK or VLEK)' : null, input.chain === undefined ? 'ASK/ASVK and ARK chain' : null].filter(
    (m) => m !== null,
  )
  if (missing.length > 0) {
    checks.fail(
      `${prefix}chain.collateral`,
      'ERR_COLLATERAL_MISSING',
      `no ${missing.join(' and no ')} given`,
      'pass --vek and --chain, or fill the trust directory with `vouch-verify trust fetch --report FILE`',
    )
    return null
  }
  try {
    const vek = parseOne(input.vek!, 'VEK')
    const chain = toDerList(input.chain!, 'chain')
    if (chain.length !== 2) throw new VerificationError('ERR_INPUT_INVALID', `chain must hold ASK (or ASVK) then ARK, got ${chain.length} certificates`)
    const intermediate = parseCertificate(chain[0]!, 'ASK/ASVK')
    const ark = parseCertificate(chain[1]!, 'ARK')
    checks.pass(`${prefix}chain.collateral`, `VEK ${commonName(vek.subject)}, ${commonName(intermediate.subject)}, ${commonName(ark.subject)}`)
    return { vek, intermediate, ark }
  } catch (error) {
    checks.failWith(`${prefix}chain.collateral`, error)
    return null
  }
}

async function verifyArk(state: ChainState, trust: SevSnpTrust): Promise<string> {
  const anchor = await verifyArkCertificate(state.ark!, trust.arks)
  state.anchor = anchor
  return `${commonName(state.ark!.subject)} is the pinned ${anchor.simulated ? 'simulated' : 'AMD'} root for ${anchor.product}`
}

async function verifyIntermediate(state: ChainState): Promise<string> {
  const intermediate = state.intermediate!
  await verifyIntermediateCertificate(intermediate, state.ark!)
  return `${commonName(intermediate.subject)} (serial ${intermediate.serialNumber}) is signed by ${commonName(state.ark!.subject)}`
}

async function verifyVek(state: ChainState): Promise<string> {
  const extensions = await verifyVekCertificate(state.vek!, state.intermediate!)
  state.extensions = extensions
  return `${extensions.kind} for ${extensions.productName} is signed by ${commonName(state.intermediate!.subject)}`
}

function verifyValidity(state: ChainState, at: Date): string {
  requireValidAt(state.ark!, at, 'ARK')
  requireValidAt(state.intermediate!, at, 'ASK/ASVK')
  requireValidAt(state.vek!, at, 'VEK')
  return `all three certificates are valid at ${at.toISOString()}`
}

/** The product the chain names, checked against itself and against the report's CPUID (v3+). */
function resolveProduct(report: AttestationReport, state: ChainState): Product {
  const product = state.anchor!.product
  const intermediateProduct = commonName(state.intermediate!.subject).replace(/^SEV-(VLEK-)?/, '')
  if (intermediateProduct !== product) {
    throw new VerificationError('ERR_CHAIN_PRODUCT_MISMATCH', `ASK/ASVK is for ${intermediateProduct}, the ARK for ${product}`)
  }
  const productName = readProductName(state.vek!)
  if (productName === null || productOfVek(productName) !== product) {
    throw new VerificationError('ERR_CHAIN_PRODUCT_MISMATCH', `VEK productName "${productName ?? '(none)'}" is not ${product}`)
  }
  if (report.product !== null && report.product !== product) {
    throw new VerificationError('ERR_CHAIN_PRODUCT_MISMATCH', `the report's CPUID names ${report.product}, the chain ${product}`)
  }
  if (report.product === null && product === 'Turin') {
    throw new VerificationError('ERR_CHAIN_PRODUCT_MISMATCH', `a version ${report.version} report comes from Milan or Genoa, the chain is for Turin`)
  }
  return product
}

function verifySigningKey(report: AttestationReport, extensions: VekExtensions): string {
  if (report.signingKey !== extensions.kind) {
    throw new VerificationError('ERR_SIGNING_KEY_MISMATCH', `SIGNING_KEY says ${report.signingKey}, the certificate is a ${extensions.kind}`)
  }
  return `SIGNING_KEY ${report.signingKey} matches the certificate`
}

function verifyTcb(report: AttestationReport, product: Product, extensions: VekExtensions): string {
  const reported = decodeTcb(report.reportedTcb, product)
  if (!tcbEqual(reported, extensions.tcb)) {
    throw new VerificationError(
      'ERR_VCEK_TCB_MISMATCH',
      `REPORTED_TCB mismatch: the ${extensions.kind} certifies ${formatTcb(extensions.tcb)}, the report says ${formatTcb(reported)}`,
    )
  }
  return `REPORTED_TCB ${formatTcb(reported)} equals the ${extensions.kind}'s TCB`
}

/** Why CHIP_ID cannot be compared with the certificate, or null when it can. */
function chipIdNotComparable(report: AttestationReport, extensions: VekExtensions): string | null {
  if (extensions.kind === 'VLEK') return `a VLEK names its cloud provider (${extensions.cspId}), not a chip`
  if (isAllZero(report.chipId)) return 'CHIP_ID is zero (MASK_CHIP_ID): the report does not name its chip'
  return null
}

function verifyChipId(report: AttestationReport, hwId: Uint8Array): string {
  const matches =
    hwId.length === TURIN_CHIP_ID_SIZE
      ? bytesEqual(report.chipId.subarray(0, TURIN_CHIP_ID_SIZE), hwId) && isAllZero(report.chipId.subarray(TURIN_CHIP_ID_SIZE))
      : bytesEqual(report.chipId, hwId)
  if (!matches) {
    throw new VerificationError('ERR_VCEK_CHIP_ID_MISMATCH', `CHIP_ID mismatch: the VCEK is for chip ${toHex(hwId)}, the report is from ${toHex(report.chipId)}`)
  }
  return `CHIP_ID equals the VCEK's hwID`
}

async function verifyReportSignature(report: AttestationReport, vek: Certificate): Promise<string> {
  const signature = concatBytes(report.signature.r, report.signature.s)
  const ok = await verifyWithAlgorithm({ kind: 'ecdsa', hash: 'sha384' }, vek, report.signed, signature, 'ieee-p1363')
  if (!ok) throw new VerificationError('ERR_REPORT_SIGNATURE_INVALID', 'the report signature does not verify under the VEK')
  return 'ECDSA P-384 SHA-384 signature over bytes 0x000-0x29F verifies under the VEK'
}

async function verifyRevocation(state: ChainState, inputs: readonly DerInput[], at: Date, allowStale: boolean): Promise<string> {
  const details: string[] = []
  const crls = inputs.flatMap((input) => toDerList(input, 'CRL'))
  for (const [i, der] of crls.entries()) {
    const what = crls.length > 1 ? `CRL ${i + 1}` : 'CRL'
    const crl = parseCrl(der, what)
    await verifyCrlSignature(crl, state.ark!, AMD_SIGNATURE_ALGORITHMS, what)
    requireCrlCurrent(crl, at, allowStale, what)
    requireNotRevoked(crl, state.intermediate!, commonName(state.intermediate!.subject))
    requireNotRevoked(crl, state.vek!, state.extensions?.kind ?? 'VEK')
    const stale = crl.nextUpdate === null || at >= crl.nextUpdate ? ' (stale, allowed by policy)' : ''
    details.push(`${what} of ${commonName(crl.issuer)} from ${crl.thisUpdate.toISOString()}${stale}`)
  }
  return `${details.join('; ')}: neither the ASK/ASVK nor the VEK is revoked`
}

/** What SEV-SNP verification needs besides the evidence: the entry points derive it from their options and the policy. */
export interface SevSnpCheckOptions {
  /** The clock for certificate and CRL validity. */
  at: Date
  trust: SevSnpTrust
  /** Expected REPORT_DATA (64 bytes). Unset: REPORT_DATA is not compared. */
  reportData?: Uint8Array
  /** Whether a CRL past its nextUpdate is still used: the policy's `sevSnp.allowStaleCrl`, which decides authenticity. */
  allowStaleCrl: boolean
}

/** The verification options of {@link verifySevSnp}'s, the policy's `sevSnp.allowStaleCrl` among them. */
export function toSevSnpCheckOptions(options: SevSnpVerifyOptions): SevSnpCheckOptions {
  return {
    at: options.at ?? new Date(),
    trust: options.trust ?? DEFAULT_SEV_SNP_TRUST,
    ...(options.reportData !== undefined && { reportData: options.reportData }),
    allowStaleCrl: options.policy?.sevSnp?.allowStaleCrl ?? false,
  }
}

/** Checks revocation with the CRLs given, once the chain they speak for verified; returns whether a CRL was verified. */
async function checkRevocation(state: ChainState, chainOk: boolean, crls: readonly DerInput[], options: SevSnpCheckOptions, checks: CheckCollector, prefix: string): Promise<boolean> {
  const id = `${prefix}revocation.crl`
  if (crls.length === 0) checks.skip(id, 'no CRL given')
  else if (!chainOk) checks.skip(id, 'the chain did not verify, so its CRL cannot be checked')
  else return checks.runAsync(id, () => verifyRevocation(state, crls, options.at, options.allowStaleCrl))
  return false
}

/** Records the certificate's agreement with the report: `vek.signing-key`, `vek.tcb`, `vek.chip-id`. */
function checkVekAgreement(report: AttestationReport, state: ChainState, product: Product | null, checks: CheckCollector, prefix: string): void {
  const extensions = state.extensions
  if (extensions === undefined) {
    for (const id of ['vek.signing-key', 'vek.tcb', 'vek.chip-id']) checks.skip(prefix + id, 'the VEK certificate did not verify')
    return
  }
  checks.run(`${prefix}vek.signing-key`, () => verifySigningKey(report, extensions))
  const layout = product ?? report.product ?? state.anchor?.product
  if (layout !== undefined && layout !== null) checks.run(`${prefix}vek.tcb`, () => verifyTcb(report, layout, extensions))
  else checks.skip(`${prefix}vek.tcb`, 'the product is unknown, so REPORTED_TCB cannot be decoded')
  const notComparable = chipIdNotComparable(report, extensions)
  if (notComparable !== null) checks.skip(`${prefix}vek.chip-id`, notComparable)
  else checks.run(`${prefix}vek.chip-id`, () => verifyChipId(report, extensions.hwId!))
}

/**
 * Verifies the parsed collateral: the chain to a pinned ARK, the product, validity, revocation, the
 * certificate's agreement with the report and the report's signature. Returns the product the chain
 * names (else the report's own) and whether a CRL was verified.
 */
async function checkChain(report: AttestationReport, state: ChainState, input: SevSnpInput, options: SevSnpCheckOptions, checks: CheckCollector, prefix: string): Promise<{ product: Product | null; crlVerified: boolean }> {
  let product: Product | null = report.product
  const arkOk = await checks.runAsync(`${prefix}chain.ark`, () => verifyArk(state, options.trust))
  // Product first: a chain for another product then fails with its own code, not as a broken link.
  if (arkOk) {
    checks.run(`${prefix}chain.product`, () => {
      product = resolveProduct(report, state)
      return `report and chain are both ${product}`
    })
  } else checks.skip(`${prefix}chain.product`, 'the ARK is not trusted, so it names no product')
  const intermediateOk = await checks.runAsync(`${prefix}chain.intermediate`, () => verifyIntermediate(state))
  await checks.runAsync(`${prefix}chain.vek`, () => verifyVek(state))
  checks.run(`${prefix}chain.validity`, () => verifyValidity(state, options.at))
  const crlVerified = await checkRevocation(state, arkOk && intermediateOk, input.crls ?? [], options, checks, prefix)
  checkVekAgreement(report, state, product, checks, prefix)
  if (state.vek !== undefined) await checks.runAsync(`${prefix}report.signature`, () => verifyReportSignature(report, state.vek!))
  return { product, crlVerified }
}

/**
 * Verifies the authenticity of SEV-SNP evidence, recording checks into `checks` (ids prefixed with
 * `prefix`), and returns what it established for policy evaluation; null when the report does not
 * parse. Evaluates no policy: {@link verifySevSnp} does that afterwards.
 */
export async function checkSevSnp(input: SevSnpInput, options: SevSnpCheckOptions, checks: CheckCollector, prefix = ''): Promise<SevSnpFacts | null> {
  const failedBefore = checks.errors.length
  let report: AttestationReport
  try {
    report = parseAttestationReport(input.report)
  } catch (error) {
    checks.failWith(`${prefix}report.parse`, error)
    return null
  }
  checks.pass(`${prefix}report.parse`, `ATTESTATION_REPORT version ${report.version}, signed by the ${report.signingKey}`)

  const state = parseCollateral(input, checks, prefix)
  const { product, crlVerified } = state !== null ? await checkChain(report, state, input, options, checks, prefix) : { product: report.product, crlVerified: false }
  if (state === null) checks.skip(`${prefix}report.signature`, 'no VEK to verify the signature with')

  if (options.reportData !== undefined) {
    const expected = options.reportData
    checks.run(`${prefix}report.data`, () => {
      if (!bytesEqual(report.reportData, expected)) {
        throw new VerificationError('ERR_REPORT_BINDING_MISMATCH', `REPORT_DATA mismatch: expected ${toHex(expected)}, got ${toHex(report.reportData)}`)
      }
      return 'REPORT_DATA equals the expected value'
    })
  } else checks.skip(`${prefix}report.data`, 'no expected REPORT_DATA given')

  const claims = toSevSnpClaims(report, product, state?.anchor?.simulated ?? false)
  return { claims, authentic: checks.errors.length === failedBefore, product, crlVerified, firmware: report.currentVersion }
}

/**
 * Verifies SEV-SNP evidence: the report's structure, the ARK → ASK/ASVK → VCEK/VLEK chain up to a
 * pinned root at `options.at`, revocation when CRLs are given, the report signature, the agreement
 * of the certificate with REPORTED_TCB, CHIP_ID and SIGNING_KEY, and then `options.policy`.
 * Resolves to a Result; it does not throw for bad evidence.
 *
 * @example
 * ```ts
 * const result = await verifySevSnp({ report, vek, chain: askThenArkPem }, { policy, at: new Date() })
 * if (result.verdict !== 'accepted') console.error(result.errors)
 * ```
 */
export async function verifySevSnp(input: SevSnpInput, options: SevSnpVerifyOptions = {}): Promise<Result<SevSnpClaims | null>> {
  const checks = new CheckCollector()
  const facts = await checkSevSnp(input, toSevSnpCheckOptions(options), checks)
  if (facts === null) return checks.toResult(null)
  checks.append(evaluatePolicy({ kind: 'sev-snp', sevSnp: facts }, options.policy))
  return checks.toResult(facts.claims)
}
