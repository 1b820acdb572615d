/**
 * Evidence bundles (DESIGN.md §3): the binding statement recomputed from the bundle must be what the
 * SEV-SNP REPORT_DATA commits to and what every GPU's nonce answers; then the CPU and each GPU are
 * verified as on their own, under one policy, with the keyset's expiry, the challenge nonce and the
 * model list on top.
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
  type Attribution,
  type EvidenceBundle,
  type KnownAnswer,
  type ModelRef,
  type Platform,
} from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import type { NvidiaGpuClaims } from '../nvidia/claims.js'
import { checkNvidiaGpus, type NvidiaGpuInput } from '../nvidia/verify.js'
import type { NvidiaTrust } from '../nvidia/trust.js'
import { evaluateBundlePolicy } from '../policy/bundle.js'
import type { Policy } from '../policy/types.js'
import { CheckCollector, type Result } from '../result.js'
import type { SevSnpClaims } from '../sev-snp/claims.js'
import type { SevSnpTrust } from '../sev-snp/trust.js'
import { checkSevSnp } from '../sev-snp/verify.js'
import type { DerInput } from '../x509/pem.js'

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
}

/** What a bundle attests of one model's manifest: who is credited, under which license. */
export interface AttestedManifest {
  /** `manifestDigest` of the manifest: what `models.allowedManifests` lists. */
  digest: string
  publisher: string
  license: string
  contributors: Attribution[]
}

/** A model a bundle attests. */
export interface AttestedModel extends ModelRef {
  /** Its manifest; null in a v1 bundle, which does not carry manifests. */
  manifest: AttestedManifest | null
  /** What it answered on its sample input at start-up; null without a sample input, and in a v1 bundle. */
  knownAnswer: KnownAnswer | null
}

/** What a verified bundle says. */
export interface BundleClaims {
  /** The bundle's version: 2 binds every field below; 1 leaves `issuedAt` and model names and versions unbound. */
  v: 1 | 2
  platform: Platform
  /** The challenges the bundle answers, 64 hex each; empty for an unchallenged bundle. */
  nonces: string[]
  keyset: { kid: string; notAfter: number; digest: string }
  models: AttestedModel[]
  issuedAt: number
  /** `sha256:` of the bundle bytes: what receipts name as `evidence`. */
  digest: string
  /** The REPORT_DATA the statement requires, hex. */
  reportData: string
  cpu: SevSnpClaims | null
  gpus: Array<NvidiaGpuClaims | null>
}

/** Copies a sub-verification's checks and errors into `checks`, ids prefixed. */
function absorb(checks: CheckCollector, result: Result<unknown>, prefix: string): void {
  for (const check of result.checks) checks.checks.push({ ...check, id: `${prefix}${check.id}` })
  checks.errors.push(...result.errors)
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

/**
 * Checks a bundle and records everything in `checks`; returns its claims, or null when it did not
 * decode. Synchronous core of {@link verifyBundle}, also used by receipt verification.
 */
export function checkBundle(
  input: Uint8Array | EvidenceBundle,
  options: BundleVerifyOptions,
  checks: CheckCollector,
  freshness = true,
): { claims: BundleClaims; bundle: EvidenceBundle } | null {
  const at = options.at ?? new Date()
  let bundle: EvidenceBundle
  let bytes: Uint8Array | null = null
  try {
    if (input instanceof Uint8Array) {
      bytes = input
      bundle = decodeBundle(input)
    } else bundle = input
  } catch (error) {
    checks.failWith('bundle.decode', error)
    return null
  }
  const statement = bundleStatement(bundle)
  const reportData = reportDataFor(statement)
  const nonces = bundleNonces(bundle).map(toHex)
  const answers = nonces.length === 0 ? 'unchallenged' : `answers ${nonces.length} challenge(s)`
  checks.pass('bundle.decode', `evidence bundle v${bundle.v}: ${bundle.platform}, ${bundle.gpus.length} GPU(s), ${bundle.models.length} model(s), ${answers}`)

  // The CPU: REPORT_DATA must be SHA-512 of the statement recomputed here from the bundle's parts.
  const cpuPolicy = options.policy
  const cpu = checkSevSnp(
    { report: bundle.cpu.report, vek: bundle.cpu.vek, chain: [...bundle.cpu.chain], crls: [...(bundle.cpu.crls ?? []), ...(options.crls ?? [])] },
    { at, reportData, ...(cpuPolicy && { policy: cpuPolicy }), ...(options.trust?.sevSnp && { trust: options.trust.sevSnp }) },
  )
  absorb(checks, cpu, 'cpu.')

  // The GPUs: each must answer the nonce derived from the bundle (v2: everything but the GPUs; v1: nonce and keyset).
  const gpuNonce = toHex(bundleGpuNonce(bundle))
  const gpuInputs: NvidiaGpuInput[] = bundle.gpus.map((g, i) => ({ report: g.report, chain: [...g.chain], nonce: gpuNonce, ...options.gpuCollateral?.[i] }))
  const gpuFacts = checkNvidiaGpus(gpuInputs, { at, ...(options.policy && { policy: options.policy }), ...(options.trust?.nvidia && { trust: options.trust.nvidia }) }, checks)
  for (const [i, facts] of gpuFacts.entries()) {
    const declared = bundle.gpus[i]!.arch
    if (facts.claims?.arch !== null && facts.claims?.arch !== undefined && facts.claims.arch !== declared) {
      checks.fail(`gpu[${i}].arch`, 'ERR_BUNDLE_INCONSISTENT', `the bundle says ${declared}, the device chain is a ${facts.claims.arch}`)
    }
  }

  // The platform the bundle declares must be the one its roots show, both ways.
  const simulated = [cpu.claims?.simulated, ...gpuFacts.map((f) => f.claims?.simulated)].filter((s): s is boolean => s !== undefined)
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

  const claims: BundleClaims = {
    v: bundle.v,
    platform: bundle.platform,
    nonces,
    keyset: { kid: bundle.keyset.kid, notAfter: bundle.keyset.notAfter, digest: keysetDigest(bundle.keyset) },
    models: modelClaims(bundle),
    issuedAt: bundle.issuedAt,
    digest: bytes === null ? '' : sha256Digest(bytes),
    reportData: toHex(reportData),
    cpu: cpu.claims,
    gpus: gpuFacts.map((f) => f.claims),
  }
  if (options.policy !== undefined) evaluateBundlePolicy(claims, options.policy, checks, at, freshness)
  return { claims, bundle }
}

/**
 * Verifies an evidence bundle (CBOR bytes or decoded): recomputes the binding statement and checks the
 * SEV-SNP REPORT_DATA and every GPU nonce against it, verifies the CPU and the GPUs under the policy,
 * the declared platform, the keyset's expiry at `options.at`, the nonce when given, and the policy's
 * model and freshness rules. Resolves to a Result; it does not throw for bad evidence.
 */
export async function verifyBundle(bundle: Uint8Array | EvidenceBundle, options: BundleVerifyOptions = {}): Promise<Result<BundleClaims | null>> {
  const checks = new CheckCollector()
  const checked = checkBundle(bundle, options, checks)
  if (options.policy === undefined) checks.skip('policy', 'no policy given: only authenticity was checked')
  return checks.toResult(checked?.claims ?? null)
}
