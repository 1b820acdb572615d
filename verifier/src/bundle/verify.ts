/**
 * Evidence bundles (DESIGN.md §3): the binding statement recomputed from the bundle must be what the
 * SEV-SNP REPORT_DATA commits to and what every GPU's nonce answers; then the CPU and each GPU are
 * verified as on their own, with the keyset's expiry, the challenge nonce and the model list on top.
 * One policy is evaluated afterwards on all of it.
 */
import {
  bundleGpuNonce,
  bundleNonces,
  bundleStatement,
  decodeBundle,
  keysetDigest,
  manifestDigest,
  reportDataFor,
  sha256Digest,
  toHex,
  type EvidenceBundle,
} from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import type { BundleFacts, GpuFacts, SevSnpFacts } from '../facts.types.js'
import { checkNvidiaGpus, toOcspJudgement, type NvidiaGpuInput, type OcspJudgement } from '../nvidia/verify.js'
import type { NvidiaTrust } from '../nvidia/trust.js'
import { evaluatePolicy } from '../policy/evaluate.js'
import type { Policy } from '../policy/types.js'
import { CheckCollector, type Result } from '../result.js'
import { DEFAULT_SEV_SNP_TRUST, type SevSnpTrust } from '../sev-snp/trust.js'
import { checkSevSnp } from '../sev-snp/verify.js'
import type { DerInput } from '../x509/pem.js'
import type { AttestedModel, BundleClaims } from './claims.types.js'

/** How to verify a bundle. Every field is optional and says what happens when it is unset. */
export interface BundleVerifyOptions {
  /** Policy to evaluate. Unset: only authenticity is checked, policy checks are `skip`, simulated evidence is rejected. */
  policy?: Policy
  /** The challenge the bundle must answer (32 bytes or 64 hex). Unset: freshness is not checked (an unchallenged bundle is fine). */
  nonce?: Uint8Array | string
  /** The clock for certificates, CRLs, OCSP and the keyset's expiry. Unset: now. */
  at?: Date
  /** Pinned roots. Unset: the defaults of the SEV-SNP and NVIDIA verifiers. */
  trust?: { sevSnp?: SevSnpTrust; nvidia?: NvidiaTrust }
  /** More CRLs for the SEV-SNP chain (from a trust directory), beside those the bundle carries. */
  crls?: readonly DerInput[]
  /** RIMs and OCSP responses per GPU, by bundle index (the bundle carries neither). */
  gpuCollateral?: ReadonlyArray<Pick<NvidiaGpuInput, 'rims' | 'ocsp'> | undefined>
  /**
   * Whether the policy's freshness rule (`evidence.maximumAge`) applies. Unset: true. False checks the bundle
   * as a receipt's evidence is checked, its age aside: for an unchallenged bundle whose freshness a
   * challenged one, verified beside it, proves (`policy.evidence-age` is then a skip).
   */
  freshness?: boolean
}

function nonceHex(nonce: Uint8Array | string): string {
  if (typeof nonce !== 'string') {
    if (nonce.length !== 32) throw new VerificationError('ERR_INPUT_INVALID', 'the expected nonce must be 32 bytes')
    return toHex(nonce)
  }
  if (!/^[0-9a-fA-F]{64}$/.test(nonce)) throw new VerificationError('ERR_INPUT_INVALID', 'the expected nonce must be 64 hex characters')
  return nonce.toLowerCase()
}

/** The claims of a bundle's models: v2 bundles carry each model's manifest and known answer. */
function modelClaims(bundle: EvidenceBundle): AttestedModel[] {
  if (bundle.v === 1) return bundle.models.map((m) => ({ name: m.name, version: m.version, digest: m.digest, manifest: null, knownAnswer: null }))
  return bundle.models.map((m) => ({
    name: m.name,
    version: m.version,
    digest: m.digest,
    manifest: {
      digest: manifestDigest(m.manifest),
      publisher: m.manifest.publisher,
      license: m.manifest.license,
      contributors: m.manifest.contributors.map((c) => ({ role: c.role, id: c.id, name: c.name })),
    },
    knownAnswer: m.knownAnswer === null ? null : { ...m.knownAnswer },
  }))
}

/** What bundle verification needs besides the evidence: the entry points derive it from their options and the policy. */
export interface BundleCheckOptions extends Omit<BundleVerifyOptions, 'policy' | 'freshness' | 'at'> {
  at: Date
  /** The policy's `sevSnp.allowStaleCrl`, which decides authenticity. */
  allowStaleCrl: boolean
  /** The policy's OCSP settings, which decide authenticity. */
  ocsp: OcspJudgement
}

/** The verification options of {@link verifyBundle}'s, the policy's settings that decide authenticity among them. */
export function toBundleCheckOptions(options: Omit<BundleVerifyOptions, 'at'>, at: Date): BundleCheckOptions {
  return {
    at,
    ...(options.nonce !== undefined && { nonce: options.nonce }),
    ...(options.trust !== undefined && { trust: options.trust }),
    ...(options.crls !== undefined && { crls: options.crls }),
    ...(options.gpuCollateral !== undefined && { gpuCollateral: options.gpuCollateral }),
    allowStaleCrl: options.policy?.sevSnp?.allowStaleCrl ?? false,
    ocsp: toOcspJudgement(options.policy),
  }
}

/** Decodes the bundle; records `bundle.decode`. Returns the bundle and its bytes (null when given decoded), or null. */
function decodeInput(input: Uint8Array | EvidenceBundle, checks: CheckCollector): { bundle: EvidenceBundle; bytes: Uint8Array | null } | null {
  let bundle: EvidenceBundle
  try {
    bundle = input instanceof Uint8Array ? decodeBundle(input) : input
  } catch (error) {
    checks.failWith('bundle.decode', error)
    return null
  }
  const nonces = bundleNonces(bundle).length
  const answers = nonces === 0 ? 'unchallenged' : `answers ${nonces} challenge(s)`
  checks.pass('bundle.decode', `evidence bundle v${bundle.v}: ${bundle.platform}, ${bundle.gpus.length} GPU(s), ${bundle.models.length} model(s), ${answers}`)
  return { bundle, bytes: input instanceof Uint8Array ? input : null }
}

/** Verifies the CPU (ids `cpu.`) and each GPU (ids `gpu[i].`) against the nonces the bundle's statement requires. */
async function checkEvidence(bundle: EvidenceBundle, reportData: Uint8Array, options: BundleCheckOptions, checks: CheckCollector): Promise<{ cpu: SevSnpFacts | null; gpus: GpuFacts[] }> {
  // The CPU: REPORT_DATA must be SHA-512 of the statement recomputed here from the bundle's parts.
  const cpuInput = { report: bundle.cpu.report, vek: bundle.cpu.vek, chain: [...bundle.cpu.chain], crls: [...(bundle.cpu.crls ?? []), ...(options.crls ?? [])] }
  const cpuOptions = { at: options.at, trust: options.trust?.sevSnp ?? DEFAULT_SEV_SNP_TRUST, reportData, allowStaleCrl: options.allowStaleCrl }
  const cpu = await checkSevSnp(cpuInput, cpuOptions, checks, 'cpu.')

  // The GPUs: each must answer the nonce derived from the bundle (v2: everything but the GPUs; v1: nonce and keyset).
  const gpuNonce = toHex(bundleGpuNonce(bundle))
  const gpuInputs: NvidiaGpuInput[] = bundle.gpus.map((g, i) => ({ report: g.report, chain: [...g.chain], nonce: gpuNonce, ...options.gpuCollateral?.[i] }))
  const gpus = await checkNvidiaGpus(gpuInputs, { at: options.at, ...(options.trust?.nvidia && { trust: options.trust.nvidia }), ocsp: options.ocsp }, checks)
  for (const [i, facts] of gpus.entries()) {
    const declared = bundle.gpus[i]!.arch
    if (facts.claims?.arch !== null && facts.claims?.arch !== undefined && facts.claims.arch !== declared) {
      checks.fail(`gpu[${i}].arch`, 'ERR_BUNDLE_INCONSISTENT', `the bundle says ${declared}, the device chain is a ${facts.claims.arch}`)
    }
  }
  return { cpu, gpus }
}

/** Records the bundle's own checks: `bundle.platform`, `bundle.keyset`, `bundle.models` (v2) and `bundle.nonce`. */
function checkBundleFields(bundle: EvidenceBundle, simulated: readonly boolean[], nonces: readonly string[], options: BundleCheckOptions, checks: CheckCollector): void {
  const at = options.at
  // The platform the bundle declares must be the one its roots show, both ways.
  checks.run('bundle.platform', () => {
    const wantSimulated = bundle.platform === 'simulated'
    if (simulated.some((s) => s !== wantSimulated)) {
      throw new VerificationError('ERR_BUNDLE_INCONSISTENT', `the bundle declares platform "${bundle.platform}", but its evidence chains to ${wantSimulated ? 'real vendor' : 'simulated'} roots`)
    }
    return `platform "${bundle.platform}" agrees with the roots of its evidence`
  })

  checks.run('bundle.keyset', () => {
    if (at.getTime() / 1000 > bundle.keyset.notAfter) {
      throw new VerificationError('ERR_KEYSET_EXPIRED', `keyset ${bundle.keyset.kid} expired ${new Date(bundle.keyset.notAfter * 1000).toISOString()} (checked at ${at.toISOString()})`)
    }
    return `keyset ${bundle.keyset.kid} is valid until ${new Date(bundle.keyset.notAfter * 1000).toISOString()}`
  })

  if (bundle.v === 2) {
    const models = bundle.models
    checks.run('bundle.models', () => {
      // The manifest is the enclave's own; a publisher it does not list as a contributor is a manifest the enclave would have refused.
      const orphan = models.find((m) => !m.manifest.contributors.some((c) => c.role === 'publisher' && c.id === m.manifest.publisher))
      if (orphan !== undefined) throw new VerificationError('ERR_BUNDLE_INCONSISTENT', `the manifest of ${orphan.name} ${orphan.version} names publisher ${orphan.manifest.publisher}, whom no contributor of role "publisher" is`)
      return `${models.length} model(s), each with its manifest${models.every((m) => m.knownAnswer !== null) ? ' and known answer' : ''}`
    })
  }

  if (options.nonce !== undefined) {
    const expected = options.nonce
    checks.run('bundle.nonce', () => {
      const want = nonceHex(expected)
      if (!nonces.includes(want)) {
        const got = nonces.length === 0 ? 'no nonce (an unchallenged bundle)' : nonces.join(', ')
        throw new VerificationError('ERR_BUNDLE_NONCE_MISMATCH', `nonce mismatch: expected ${want}, the bundle answers ${got}`)
      }
      return nonces.length === 1 ? 'the bundle answers the expected nonce' : `the bundle answers the expected nonce, among ${nonces.length} challenges one hardware report answered`
    })
  } else checks.skip('bundle.nonce', 'no expected nonce given: the bundle proves identity, not freshness')
}

/**
 * Verifies the authenticity of a bundle, recording checks into `checks`, and returns what it established
 * for policy evaluation with the decoded bundle; null when it did not decode. Evaluates no policy:
 * {@link verifyBundle} and receipt verification do that afterwards.
 */
export async function checkBundle(input: Uint8Array | EvidenceBundle, options: BundleCheckOptions, checks: CheckCollector): Promise<{ facts: BundleFacts; bundle: EvidenceBundle } | null> {
  const decoded = decodeInput(input, checks)
  if (decoded === null) return null
  const { bundle, bytes } = decoded
  const reportData = reportDataFor(bundleStatement(bundle))
  const nonces = bundleNonces(bundle).map(toHex)
  const { cpu, gpus } = await checkEvidence(bundle, reportData, options, checks)
  const simulated = [cpu?.claims.simulated, ...gpus.map((f) => f.claims?.simulated)].filter((s): s is boolean => s !== undefined)
  checkBundleFields(bundle, simulated, nonces, options, checks)

  const claims: BundleClaims = {
    v: bundle.v,
    platform: bundle.platform,
    nonces,
    keyset: { kid: bundle.keyset.kid, notAfter: bundle.keyset.notAfter, digest: keysetDigest(bundle.keyset) },
    models: modelClaims(bundle),
    issuedAt: bundle.issuedAt,
    digest: bytes === null ? '' : sha256Digest(bytes),
    reportData: toHex(reportData),
    cpu: cpu?.claims ?? null,
    gpus: gpus.map((f) => f.claims),
  }
  return { facts: { claims, at: options.at, cpu, gpus }, bundle }
}

/**
 * Verifies an evidence bundle (CBOR bytes or decoded): recomputes the binding statement and checks the
 * SEV-SNP REPORT_DATA and every GPU nonce against it, verifies the CPU and the GPUs, the declared
 * platform, the keyset's expiry at `options.at` and the nonce when given; then evaluates the policy on
 * the CPU, the GPUs and the bundle (its model and freshness rules). Resolves to a Result; it does not
 * throw for bad evidence.
 */
export async function verifyBundle(bundle: Uint8Array | EvidenceBundle, options: BundleVerifyOptions = {}): Promise<Result<BundleClaims | null>> {
  return collectBundle(new CheckCollector(), bundle, options)
}

/** {@link verifyBundle}'s checks and policy, recorded after those `checks` holds already (an archive's). */
export async function collectBundle(checks: CheckCollector, bundle: Uint8Array | EvidenceBundle, options: BundleVerifyOptions): Promise<Result<BundleClaims | null>> {
  const checked = await checkBundle(bundle, toBundleCheckOptions(options, options.at ?? new Date()), checks)
  if (checked === null) {
    if (options.policy === undefined) checks.skip('policy', 'no policy given: only authenticity was checked')
    return checks.toResult(null)
  }
  checks.append(evaluatePolicy({ kind: 'bundle', bundle: checked.facts }, options.policy, { freshness: options.freshness ?? true }))
  return checks.toResult(checked.facts.claims)
}
