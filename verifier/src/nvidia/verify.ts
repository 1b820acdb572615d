/**
 * NVIDIA confidential-GPU verification: the SPDM report's structure, the device chain up to the
 * pinned NVIDIA Device Identity CA, the FWID binding, the report signature, the request nonce, then
 * (with RIMs) the golden measurements, (with OCSP responses) revocation, and finally the policy.
 */
import { verify as verifySignature } from 'node:crypto'
import { bytesEqual, fromHex, parseGpuAttestationReport, STATUS_DISABLED, toHex, type GpuAttestationReport } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { evaluateNvidiaGpuPolicy, evaluateGpuCount } from '../policy/nvidia-gpu.js'
import type { Policy } from '../policy/types.js'
import { CheckCollector, type Result } from '../result.js'
import { commonName, parseCertificate, type Certificate } from '../x509/certificate.js'
import { checkOcspStatus, evaluateOcspOutcome, parseOcspResponse, type OcspResponse, type OcspStatus } from '../x509/ocsp.js'
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

/** What one GPU's verification established, for policy evaluation and aggregation. */
export interface GpuFacts {
  /** Null when the report could not be parsed. */
  claims: NvidiaGpuClaims | null
  report: GpuAttestationReport | null
  identity: DeviceIdentity | null
  /** Whether every authenticity check of this GPU passed. */
  authentic: boolean
  /** Driver and VBIOS RIMs both verified, name this report's versions, and every active golden value matched. */
  rimsMatched: boolean
  /** OCSP responses covered the device chain and every RIM chain given, and none failed. */
  ocspChecked: boolean
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

function verifyReportSignature(report: GpuAttestationReport, identity: DeviceIdentity): string {
  let ok = false
  try {
    ok = verifySignature('sha384', report.signed, { key: identity.leaf.publicKey, dsaEncoding: 'ieee-p1363' }, report.signature)
  } catch {
    ok = false
  }
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
 * OCSP responses given, judged under the policy's allowUnknown and grace period. A response about
 * another certificate is skipped; one about this certificate that does not verify fails. Returns
 * whether every certificate was covered and passed; records one check `id`.
 */
function checkOcsp(id: string, what: string, chain: readonly Certificate[], responses: readonly OcspResponse[], options: NvidiaGpuVerifyOptions, checks: CheckCollector): boolean {
  const at = options.at ?? new Date()
  const policy = options.policy?.nvidiaGpu
  const warnings: string[] = []
  try {
    for (let i = 0; i < chain.length - 1; i++) {
      const certificate = chain[i]!
      const name = commonName(certificate.subject)
      let status: OcspStatus | undefined
      for (const response of responses) {
        try {
          status = checkOcspStatus(response, { certificate, issuer: chain[i + 1]!, at, what: name })
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
      const outcome = evaluateOcspOutcome(status, { at, allowUnknown: policy?.allowOcspUnknown ?? false, revokedGracePeriodMs: policy?.ocspRevokedGracePeriodMs ?? 0, what: `"${name}"` })
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
function checkRims(
  report: GpuAttestationReport,
  identity: DeviceIdentity,
  rims: ReadonlyArray<string | RimInput>,
  options: NvidiaGpuVerifyOptions,
  checks: CheckCollector,
  prefix: string,
): VerifiedRim[] {
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
    const result = checkRim(xml, { ...(options.at && { at: options.at }), ...(options.trust && { trust: options.trust }) }, checks, name)
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

/**
 * Records the checks of one GPU into `checks`, each id prefixed with `prefix` (`gpu[3].` for the fourth
 * of several). Returns what it established.
 */
export function checkNvidiaGpu(input: NvidiaGpuInput, options: NvidiaGpuVerifyOptions, checks: CheckCollector, prefix = ''): GpuFacts {
  const at = options.at ?? new Date()
  const trust = options.trust ?? DEFAULT_NVIDIA_TRUST
  const failedBefore = checks.errors.length
  const id = (name: string): string => `${prefix}${name}`

  let report: GpuAttestationReport
  try {
    report = parseGpuAttestationReport(input.report)
  } catch (error) {
    checks.failWith(id('report.parse'), error)
    return { claims: null, report: null, identity: null, authentic: false, rimsMatched: false, ocspChecked: false }
  }
  checks.pass(id('report.parse'), `SPDM 1.1 measurements: ${report.blocks.length} blocks, ${report.opaque.length} opaque fields, driver ${report.opaqueData.driverVersion ?? '?'}`)
  const claims = toNvidiaGpuClaims(report)

  let identity: DeviceIdentity | null = null
  checks.run(id('chain'), () => {
    const chain = toDerList(input.chain, 'device chain').map((der, i) => parseCertificate(der, `device chain certificate ${i + 1}`))
    identity = verifyDeviceChain(chain, trust.deviceRoots, at)
    return `${chain.map((c) => commonName(c.subject)).join(' ← ')}: the pinned ${identity.anchor.name}`
  })
  const device = identity as DeviceIdentity | null
  if (device !== null) {
    Object.assign(claims, { arch: device.arch, ueid: device.ueid, hwmodel: device.hwmodel, simulated: device.anchor.simulated })
    const reportedFwid = report.opaqueData.fwid
    if (reportedFwid === undefined) checks.skip(id('fwid'), 'the report carries no FWID (drivers before 550 do not): nothing to bind to the leaf')
    else checks.run(id('fwid'), () => verifyFwid(reportedFwid, device))
    checks.run(id('signature'), () => verifyReportSignature(report, device))
  } else {
    checks.skip(id('fwid'), 'the device chain did not verify')
    checks.skip(id('signature'), 'the device chain did not verify, so there is no trusted key')
  }

  if (input.nonce !== undefined) {
    const expected = input.nonce
    checks.run(id('nonce'), () => {
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
  } else checks.skip(id('nonce'), 'no expected nonce given: the report proves no freshness')

  if (report.trailing.length > 0) {
    checks.warn(id('trailing'), `${report.trailing.length} byte(s) after the signature are not covered by it and were ignored`)
  } else checks.pass(id('trailing'), 'no bytes after the signature')

  let rimsMatched = false
  let verifiedRims: VerifiedRim[] = []
  if (input.rims !== undefined && input.rims.length > 0) {
    if (device === null) checks.skip(id('rim'), 'the device chain did not verify, so the RIMs cannot be matched to a GPU')
    else {
      verifiedRims = checkRims(report, device, input.rims, options, checks, prefix)
      if (verifiedRims.length > 0) {
        claims.rim = checkGolden(report, verifiedRims, checks, prefix)
        rimsMatched = claims.rim.driver !== null && claims.rim.vbios !== null && checks.errors.length === failedBefore
      } else checks.skip(id('measurements'), 'no RIM verified and matched this GPU, so no golden values were compared')
    }
  } else checks.skip(id('measurements'), 'no RIMs given: golden measurements were not compared')

  let ocspChecked = false
  if (input.ocsp === undefined || input.ocsp.length === 0) checks.skip(id('revocation'), 'no OCSP responses given')
  else if (device === null) checks.skip(id('revocation'), 'the device chain did not verify, so its revocation cannot be checked')
  else {
    let responses: OcspResponse[] = []
    const parsed = checks.run(id('revocation.responses'), () => {
      responses = input.ocsp!.map((der, i) => parseOcspResponse(der, `OCSP response ${i + 1}`))
      return `${responses.length} OCSP response(s)`
    })
    if (parsed) {
      // The FMC leaf is not served by NVIDIA's responder: the device chain is checked from the BROM up.
      ocspChecked = checkOcsp(id('revocation.device'), 'device chain', device.chain.slice(1), responses, options, checks)
      for (const rim of verifiedRims) {
        const chain = rim.document.certificates.map((der, i) => parseCertificate(der, `RIM certificate ${i + 1}`))
        ocspChecked = checkOcsp(id(`revocation.rim.${rim.kind}`), `${rim.kind} RIM chain`, chain, responses, options, checks) && ocspChecked
      }
    }
  }

  return { claims, report, identity: device, authentic: checks.errors.length === failedBefore, rimsMatched, ocspChecked }
}

/** Evaluates the policy for one GPU (or records why it is not evaluated). */
function evaluate(facts: GpuFacts, options: NvidiaGpuVerifyOptions, checks: CheckCollector, prefix: string): void {
  const { policy } = options
  if (policy === undefined) {
    if (facts.claims?.simulated) {
      checks.fail(`${prefix}policy.simulated`, 'ERR_POLICY_SAMPLE_TEE', 'the evidence comes from the simulated GPU; only a policy with allowSimulated: true accepts it', 'verify with --policy policies/dev-simulated.yaml')
    }
    return
  }
  if (!facts.authentic) {
    checks.skip(`${prefix}policy`, 'authenticity checks failed, so the claims are not trusted and the policy was not evaluated')
    return
  }
  evaluateNvidiaGpuPolicy(facts, policy, checks, prefix)
}

/**
 * Verifies one GPU's evidence: the SPDM report, the device chain up to a pinned root at `options.at`,
 * the FWID binding, the signature, the nonce when given, and then `options.policy`. Resolves to a
 * Result; it does not throw for bad evidence.
 */
export async function verifyNvidiaGpu(input: NvidiaGpuInput, options: NvidiaGpuVerifyOptions = {}): Promise<Result<NvidiaGpuClaims | null>> {
  const checks = new CheckCollector()
  const facts = checkNvidiaGpu(input, options, checks)
  if (facts.claims === null) return checks.toResult(null)
  evaluate(facts, options, checks, '')
  if (options.policy === undefined) checks.skip('policy', 'no policy given: only authenticity was checked')
  return checks.toResult(facts.claims)
}

/** Claims of several GPUs verified together. */
export interface NvidiaGpusClaims {
  gpus: Array<NvidiaGpuClaims | null>
}

/**
 * Records the checks of several GPUs (ids prefixed `gpu[i].`), each GPU's policy, then the policy's GPU
 * count. Synchronous core of {@link verifyNvidiaGpus}, also used for the GPUs of an evidence bundle.
 */
export function checkNvidiaGpus(inputs: readonly NvidiaGpuInput[], options: NvidiaGpuVerifyOptions, checks: CheckCollector): GpuFacts[] {
  const all = inputs.map((input, i) => {
    const prefix = `gpu[${i}].`
    const facts = checkNvidiaGpu(input, options, checks, prefix)
    if (facts.claims !== null) evaluate(facts, options, checks, prefix)
    return facts
  })
  if (options.policy !== undefined) evaluateGpuCount(all.length, options.policy, checks)
  return all
}

/**
 * Verifies the GPUs of one machine together: each as {@link verifyNvidiaGpu} does (check ids prefixed
 * `gpu[i].`), then the policy's GPU count.
 */
export async function verifyNvidiaGpus(inputs: readonly NvidiaGpuInput[], options: NvidiaGpuVerifyOptions = {}): Promise<Result<NvidiaGpusClaims>> {
  const checks = new CheckCollector()
  const all = checkNvidiaGpus(inputs, options, checks)
  if (options.policy === undefined) checks.skip('policy', 'no policy given: only authenticity was checked')
  return checks.toResult({ gpus: all.map((f) => f.claims) })
}
