/**
 * NVIDIA confidential-GPU verification: the SPDM report's structure, the device chain up to the
 * pinned NVIDIA Device Identity CA, the FWID binding, the report signature, the request nonce, then
 * (with RIMs) the golden measurements, (with OCSP responses) revocation: the facts the policy is then
 * evaluated on.
 */
import { bytesEqual, fromHex, parseGpuAttestationReport, STATUS_DISABLED, toHex, type GpuAttestationReport } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import type { GpuFacts } from '../facts.types.js'
import { evaluatePolicy } from '../policy/evaluate.js'
import type { Policy } from '../policy/types.js'
import { CheckCollector, type Result } from '../result.js'
import { commonName, parseCertificate, verifyWithAlgorithm, type Certificate } from '../x509/certificate.js'
import { checkOcspStatus, evaluateOcspOutcome, type OcspStatus } from '../x509/ocsp-check.js'
import { parseOcspResponse, type OcspResponse } from '../x509/ocsp-decode.js'
import { toDerList, type DerInput } from '../x509/pem.js'
import { toNvidiaGpuClaims, type NvidiaGpuClaims, type RimSummary } from './claims.js'
import { verifyDeviceChain, type DeviceIdentity } from './device.js'
import { compareGoldenMeasurements } from './golden.js'
import { checkRim, parseRim, type RimDocument } from './rim.js'
import { gpuRimIds } from './rim-ids.js'
import { DEFAULT_NVIDIA_TRUST, type NvidiaTrust } from './trust.js'

/** Evidence of one GPU. */
export interface NvidiaGpuInput {
  /** The bytes `nvmlDeviceGetConfComputeGpuAttestationReport` returned: request ‖ signed response. */
  report: Uint8Array
  /** The device chain, leaf first (5 certificates): PEM text or DER byte arrays. */
  chain: DerInput
  /** Expected request nonce, 64 hex. Unset: the nonce is not compared (the report proves no freshness). */
  nonce?: string
  /** Driver and VBIOS RIMs (TCG/SWID XML), with their RIM service id when known. Unset: golden values are not compared. */
  rims?: ReadonlyArray<string | RimInput>
  /**
   * OCSP responses (DER) for the device chain's certificates 1..3 and each RIM chain's certificates but
   * the root, in any order. Unset: revocation is not checked, and a policy with `requireOcsp` rejects.
   */
  ocsp?: readonly Uint8Array[]
}

/** A RIM with the id NVIDIA's RIM service knows it by (which names the project and SKU for a VBIOS RIM). */
export interface RimInput {
  id?: string | undefined
  xml: string
}

/** How to verify. Every field is optional and says what happens when it is unset. */
export interface NvidiaGpuVerifyOptions {
  /** Policy to evaluate. Unset: only authenticity is checked, policy checks are `skip`, simulated evidence is rejected. */
  policy?: Policy
  /** The clock for certificate validity. Unset: now. */
  at?: Date
  /** Pinned roots. Unset: NVIDIA's and the simulated GPU's ({@link DEFAULT_NVIDIA_TRUST}). */
  trust?: NvidiaTrust
}

/** How OCSP outcomes are judged: the policy's `nvidiaGpu.allowOcspUnknown` and `ocspRevokedGracePeriodMs`, which decide authenticity. */
export interface OcspJudgement {
  allowUnknown: boolean
  revokedGracePeriodMs: number
}

/** What GPU verification needs besides the evidence: the entry points derive it from their options and the policy. */
export interface NvidiaGpuCheckOptions {
  /** The clock for certificate validity. Unset: now. */
  at?: Date
  /** Pinned roots. Unset: {@link DEFAULT_NVIDIA_TRUST}. */
  trust?: NvidiaTrust
  ocsp: OcspJudgement
}

/** The OCSP judgement a policy sets (strict when it sets none). */
export function toOcspJudgement(policy: Policy | undefined): OcspJudgement {
  return { allowUnknown: policy?.nvidiaGpu?.allowOcspUnknown ?? false, revokedGracePeriodMs: policy?.nvidiaGpu?.ocspRevokedGracePeriodMs ?? 0 }
}

/** The verification options of {@link verifyNvidiaGpu}'s, the policy's OCSP settings among them. */
function toCheckOptions(options: NvidiaGpuVerifyOptions): NvidiaGpuCheckOptions {
  return { ...(options.at !== undefined && { at: options.at }), ...(options.trust !== undefined && { trust: options.trust }), ocsp: toOcspJudgement(options.policy) }
}

function verifyFwid(reported: Uint8Array, identity: DeviceIdentity): string {
  if (identity.fwid === null) {
    throw new VerificationError('ERR_GPU_FWID_MISMATCH', 'the report carries an FWID but the leaf certificate certifies none')
  }
  if (!bytesEqual(reported, identity.fwid)) {
    throw new VerificationError('ERR_GPU_FWID_MISMATCH', `FWID mismatch: the leaf certifies ${toHex(identity.fwid)}, the report says ${toHex(reported)}`)
  }
  return `the report's FWID equals the one the leaf certificate carries`
}

async function verifyReportSignature(report: GpuAttestationReport, identity: DeviceIdentity): Promise<string> {
  const ok = await verifyWithAlgorithm({ kind: 'ecdsa', hash: 'sha384' }, identity.leaf, report.signed, report.signature, 'ieee-p1363')
  if (!ok) throw new VerificationError('ERR_GPU_SIGNATURE_INVALID', `the report signature does not verify under the leaf "${commonName(identity.leaf.subject)}"`)
  return `ECDSA P-384 SHA-384 signature over ${report.signed.length} bytes verifies under the leaf`
}

/** A RIM that verified, and which of the GPU's two it is. */
interface VerifiedRim {
  kind: 'driver' | 'vbios'
  document: RimDocument
  summary: RimSummary
}

/**
 * Checks the revocation status of `chain[0 .. chain.length - 2]` (each issued by the next) with the
 * OCSP responses given, judged under `options.ocsp` (the policy's allowUnknown and grace period). A response about
 * another certificate is skipped; one about this certificate that does not verify fails. Returns
 * whether every certificate was covered and passed; records one check `id`.
 */
async function checkOcsp(id: string, what: string, chain: readonly Certificate[], responses: readonly OcspResponse[], options: NvidiaGpuCheckOptions, checks: CheckCollector): Promise<boolean> {
  const at = options.at ?? new Date()
  const warnings: string[] = []
  try {
    for (let i = 0; i < chain.length - 1; i++) {
      const certificate = chain[i]!
      const name = commonName(certificate.subject)
      let status: OcspStatus | undefined
      for (const response of responses) {
        try {
          status = await checkOcspStatus(response, { certificate, issuer: chain[i + 1]!, at, what: name })
          break
        } catch (error) {
          if (error instanceof VerificationError && error.code === 'ERR_OCSP_CERT_MISMATCH') continue
          throw error
        }
      }
      if (status === undefined) {
        checks.skip(id, `no OCSP response covers "${name}" of the ${what}, so its revocation is not checked`)
        return false
      }
      const outcome = evaluateOcspOutcome(status, { at, ...options.ocsp, what: `"${name}"` })
      if (!outcome.pass) throw new VerificationError(outcome.code, `${outcome.message} (${what})`)
      if (outcome.warning) warnings.push(outcome.detail)
    }
  } catch (error) {
    checks.failWith(id, error)
    return false
  }
  const detail = `OCSP: the ${what}'s ${chain.length - 1} certificate(s) below the root are not revoked`
  if (warnings.length > 0) checks.warn(id, `${detail}; ${warnings.join('; ')}`)
  else checks.pass(id, detail)
  return true
}

/** The chip a device names ("GH100" from "GH100 A01 GSP BROM"), which a RIM's product must equal. */
function chipOf(identity: DeviceIdentity): string {
  return identity.hwmodel.split(' ')[0] ?? ''
}

/**
 * Verifies each RIM (chain to a pinned RIM root, signature) and matches it to this GPU: its version
 * must be the report's driver or VBIOS version, its product the GPU's chip, and a RIM service id, when
 * known, the one NVIDIA's verifiers build from the report (which names the VBIOS's project and SKU).
 */
async function checkRims(
  report: GpuAttestationReport,
  identity: DeviceIdentity,
  rims: ReadonlyArray<string | RimInput>,
  options: NvidiaGpuCheckOptions,
  checks: CheckCollector,
  prefix: string,
): Promise<VerifiedRim[]> {
  const verified: VerifiedRim[] = []
  const ids = (() => {
    try {
      return gpuRimIds(report, identity.arch)
    } catch {
      return null
    }
  })()
  for (const [i, rim] of rims.entries()) {
    const { xml, id } = typeof rim === 'string' ? { xml: rim, id: undefined } : rim
    let version: string | null = null
    try {
      version = parseRim(xml).colloquialVersion
    } catch {
      // checkRim below records why it does not parse
    }
    const kind = version === null ? null : version === report.opaqueData.driverVersion ? 'driver' : version.toUpperCase() === report.opaqueData.vbiosVersion ? 'vbios' : null
    const name = `${prefix}rim.${kind ?? i}`
    const result = await checkRim(xml, { ...(options.at && { at: options.at }), ...(options.trust && { trust: options.trust }) }, checks, name)
    if (!result.authentic || result.document === null) continue
    const doc = result.document
    const matched = checks.run(`${name}.match`, () => {
      if (kind === null) {
        throw new VerificationError(
          'ERR_RIM_VERSION_MISMATCH',
          `the RIM is for version ${doc.colloquialVersion}; the GPU reports driver ${report.opaqueData.driverVersion ?? '?'} and VBIOS ${report.opaqueData.vbiosVersion ?? '?'}`,
        )
      }
      if (doc.product !== chipOf(identity)) {
        throw new VerificationError('ERR_RIM_VERSION_MISMATCH', `the RIM is for ${doc.product}, the GPU is a ${chipOf(identity)}`)
      }
      const expectedId = ids === null ? null : ids[kind]
      if (id !== undefined && expectedId !== null && id.toUpperCase() !== expectedId.toUpperCase()) {
        throw new VerificationError('ERR_RIM_VERSION_MISMATCH', `the RIM is ${id}; this GPU's ${kind} RIM is ${expectedId}`)
      }
      return `${kind} RIM for ${doc.product} ${doc.colloquialVersion}${id ? ` (${id})` : ''} matches the report`
    })
    if (matched && kind !== null) {
      verified.push({ kind, document: doc, summary: { id: id ?? null, tagId: doc.tagId, version: doc.colloquialVersion, product: doc.product } })
    }
  }
  return verified
}

/** Compares the report's measurements with the verified RIMs' golden values; records `measurements`. */
function checkGolden(report: GpuAttestationReport, rims: readonly VerifiedRim[], checks: CheckCollector, prefix: string): NvidiaGpuClaims['rim'] & object {
  const driver = rims.find((r) => r.kind === 'driver')
  const vbios = rims.find((r) => r.kind === 'vbios')
  const runtime = new Map(report.blocks.map((b) => [b.index, b.value]))
  const nvdec0Disabled = report.opaqueData.nvdec0Status === STATUS_DISABLED
  const comparison = compareGoldenMeasurements(runtime, { driver: driver?.document, vbios: vbios?.document }, { nvdec0Disabled })
  const id = `${prefix}measurements`
  if (comparison.conflicts.length > 0) {
    checks.fail(id, 'ERR_RIM_INDEX_CONFLICT', `the driver and VBIOS RIMs both claim index ${comparison.conflicts.join(', ')}`)
  }
  if (comparison.mismatches.length > 0) {
    const list = comparison.mismatches.map((m) => `index ${m.index} (${m.source}): got ${m.got ?? 'nothing'}, expected ${m.expected.join(' or ')}`)
    checks.fail(id, 'ERR_GPU_MEASUREMENT_MISMATCH', `${comparison.mismatches.length} measurement(s) differ from the golden values: ${list.join('; ')}`)
  }
  if (comparison.conflicts.length === 0 && comparison.mismatches.length === 0) {
    const skipped = nvdec0Disabled ? ' (index 35 skipped: NVDEC0 disabled)' : ''
    checks.pass(id, `all ${comparison.compared.length} active golden measurements of the ${[driver && 'driver', vbios && 'VBIOS'].filter(Boolean).join(' and ')} RIM${driver && vbios ? 's' : ''} match${skipped}`)
  }
  return {
    driver: driver?.summary ?? null,
    vbios: vbios?.summary ?? null,
    mismatches: comparison.mismatches.map((m) => ({ index: m.index, source: m.source, expected: [...m.expected], got: m.got })),
  }
}

/** Verifies the device chain, the FWID binding and the report's signature; returns the device, or null when the chain did not verify. */
async function checkDevice(report: GpuAttestationReport, chainInput: DerInput, options: NvidiaGpuCheckOptions, checks: CheckCollector, prefix: string): Promise<DeviceIdentity | null> {
  let identity: DeviceIdentity | null = null
  await checks.runAsync(`${prefix}chain`, async () => {
    const chain = toDerList(chainInput, 'device chain').map((der, i) => parseCertificate(der, `device chain certificate ${i + 1}`))
    const verified = await verifyDeviceChain(chain, (options.trust ?? DEFAULT_NVIDIA_TRUST).deviceRoots, options.at ?? new Date())
    identity = verified
    return `${chain.map((c) => commonName(c.subject)).join(' ← ')}: the pinned ${verified.anchor.name}`
  })
  const device = identity as DeviceIdentity | null
  if (device !== null) {
    const reportedFwid = report.opaqueData.fwid
    if (reportedFwid === undefined) checks.skip(`${prefix}fwid`, 'the report carries no FWID (drivers before 550 do not): nothing to bind to the leaf')
    else checks.run(`${prefix}fwid`, () => verifyFwid(reportedFwid, device))
    await checks.runAsync(`${prefix}signature`, () => verifyReportSignature(report, device))
  } else {
    checks.skip(`${prefix}fwid`, 'the device chain did not verify')
    checks.skip(`${prefix}signature`, 'the device chain did not verify, so there is no trusted key')
  }
  return device
}

/** Records `nonce`: the report answers the expected request nonce, when one is given. */
function checkNonce(report: GpuAttestationReport, expected: string | undefined, checks: CheckCollector, prefix: string): void {
  if (expected === undefined) {
    checks.skip(`${prefix}nonce`, 'no expected nonce given: the report proves no freshness')
    return
  }
  checks.run(`${prefix}nonce`, () => {
    let want: Uint8Array
    try {
      want = fromHex(expected, 'nonce', 32)
    } catch (cause) {
      throw new VerificationError('ERR_INPUT_INVALID', (cause as Error).message, { cause })
    }
    if (!bytesEqual(want, report.request.nonce)) {
      throw new VerificationError('ERR_GPU_NONCE_MISMATCH', `nonce mismatch: expected ${toHex(want)}, the report answers ${toHex(report.request.nonce)}`)
    }
    return 'the report answers the expected nonce'
  })
}

/** Verifies the RIMs given and compares the golden values; returns the RIMs that verified and matched this GPU. */
async function checkGoldenValues(report: GpuAttestationReport, device: DeviceIdentity | null, input: NvidiaGpuInput, claims: NvidiaGpuClaims, options: NvidiaGpuCheckOptions, checks: CheckCollector, prefix: string): Promise<VerifiedRim[]> {
  if (input.rims === undefined || input.rims.length === 0) {
    checks.skip(`${prefix}measurements`, 'no RIMs given: golden measurements were not compared')
    return []
  }
  if (device === null) {
    checks.skip(`${prefix}rim`, 'the device chain did not verify, so the RIMs cannot be matched to a GPU')
    return []
  }
  const verified = await checkRims(report, device, input.rims, options, checks, prefix)
  if (verified.length > 0) claims.rim = checkGolden(report, verified, checks, prefix)
  else checks.skip(`${prefix}measurements`, 'no RIM verified and matched this GPU, so no golden values were compared')
  return verified
}

/** Checks revocation of the device chain and of each verified RIM's chain with the OCSP responses given; returns whether all were covered and passed. */
async function checkRevocation(device: DeviceIdentity | null, responsesDer: readonly Uint8Array[] | undefined, rims: readonly VerifiedRim[], options: NvidiaGpuCheckOptions, checks: CheckCollector, prefix: string): Promise<boolean> {
  if (responsesDer === undefined || responsesDer.length === 0) checks.skip(`${prefix}revocation`, 'no OCSP responses given')
  else if (device === null) checks.skip(`${prefix}revocation`, 'the device chain did not verify, so its revocation cannot be checked')
  else {
    let responses: OcspResponse[] = []
    const parsed = checks.run(`${prefix}revocation.responses`, () => {
      responses = responsesDer.map((der, i) => parseOcspResponse(der, `OCSP response ${i + 1}`))
      return `${responses.length} OCSP response(s)`
    })
    if (!parsed) return false
    // The FMC leaf is not served by NVIDIA's responder: the device chain is checked from the BROM up.
    let covered = await checkOcsp(`${prefix}revocation.device`, 'device chain', device.chain.slice(1), responses, options, checks)
    for (const rim of rims) {
      const chain = rim.document.certificates.map((der, i) => parseCertificate(der, `RIM certificate ${i + 1}`))
      covered = (await checkOcsp(`${prefix}revocation.rim.${rim.kind}`, `${rim.kind} RIM chain`, chain, responses, options, checks)) && covered
    }
    return covered
  }
  return false
}

/**
 * Verifies the authenticity of one GPU's evidence, recording checks into `checks` (ids prefixed with
 * `prefix`, `gpu[3].` for the fourth of several), and returns what it established for policy
 * evaluation. Evaluates no policy: {@link verifyNvidiaGpu} does that afterwards.
 */
export async function checkNvidiaGpu(input: NvidiaGpuInput, options: NvidiaGpuCheckOptions, checks: CheckCollector, prefix = ''): Promise<GpuFacts> {
  const failedBefore = checks.errors.length
  let report: GpuAttestationReport
  try {
    report = parseGpuAttestationReport(input.report)
  } catch (error) {
    checks.failWith(`${prefix}report.parse`, error)
    return { claims: null, authentic: false, rimsMatched: false, ocspChecked: false }
  }
  checks.pass(`${prefix}report.parse`, `SPDM 1.1 measurements: ${report.blocks.length} blocks, ${report.opaque.length} opaque fields, driver ${report.opaqueData.driverVersion ?? '?'}`)
  const claims = toNvidiaGpuClaims(report)

  const device = await checkDevice(report, input.chain, options, checks, prefix)
  if (device !== null) Object.assign(claims, { arch: device.arch, ueid: device.ueid, hwmodel: device.hwmodel, simulated: device.anchor.simulated })
  checkNonce(report, input.nonce, checks, prefix)
  if (report.trailing.length > 0) {
    checks.warn(`${prefix}trailing`, `${report.trailing.length} byte(s) after the signature are not covered by it and were ignored`)
  } else checks.pass(`${prefix}trailing`, 'no bytes after the signature')

  const rims = await checkGoldenValues(report, device, input, claims, options, checks, prefix)
  const rimsMatched = claims.rim !== undefined && claims.rim.driver !== null && claims.rim.vbios !== null && checks.errors.length === failedBefore
  const ocspChecked = await checkRevocation(device, input.ocsp, rims, options, checks, prefix)
  return { claims, authentic: checks.errors.length === failedBefore, rimsMatched, ocspChecked }
}

/**
 * Verifies one GPU's evidence: the SPDM report, the device chain up to a pinned root at `options.at`,
 * the FWID binding, the signature, the nonce when given, and then `options.policy`. Resolves to a
 * Result; it does not throw for bad evidence.
 */
export async function verifyNvidiaGpu(input: NvidiaGpuInput, options: NvidiaGpuVerifyOptions = {}): Promise<Result<NvidiaGpuClaims | null>> {
  const checks = new CheckCollector()
  const facts = await checkNvidiaGpu(input, toCheckOptions(options), checks)
  checks.append(evaluatePolicy({ kind: 'nvidia-gpu', gpu: facts }, options.policy))
  return checks.toResult(facts.claims)
}

/** Claims of several GPUs verified together. */
export interface NvidiaGpusClaims {
  gpus: Array<NvidiaGpuClaims | null>
}

/**
 * Verifies the authenticity of several GPUs' evidence (check ids prefixed `gpu[i].`) and returns each
 * one's facts. Also used for the GPUs of an evidence bundle.
 */
export async function checkNvidiaGpus(inputs: readonly NvidiaGpuInput[], options: NvidiaGpuCheckOptions, checks: CheckCollector): Promise<GpuFacts[]> {
  // One after another: the checks of each GPU stay together, in order, in the Result.
  const all: GpuFacts[] = []
  for (const [i, input] of inputs.entries()) all.push(await checkNvidiaGpu(input, options, checks, `gpu[${i}].`))
  return all
}

/**
 * Verifies the GPUs of one machine together: each as {@link verifyNvidiaGpu} does (check ids prefixed
 * `gpu[i].`), then the policy's GPU count.
 */
export async function verifyNvidiaGpus(inputs: readonly NvidiaGpuInput[], options: NvidiaGpuVerifyOptions = {}): Promise<Result<NvidiaGpusClaims>> {
  const checks = new CheckCollector()
  const all = await checkNvidiaGpus(inputs, toCheckOptions(options), checks)
  checks.append(evaluatePolicy({ kind: 'nvidia-gpus', gpus: all }, options.policy))
  return checks.toResult({ gpus: all.map((f) => f.claims) })
}
