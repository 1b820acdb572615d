/**
 * The binding (DESIGN.md §3), defined once: how an evidence bundle's fields are tied to the SEV-SNP report
 * (REPORT_DATA) and to every GPU report (the SPDM nonce). The enclave computes these to ask the hardware for
 * evidence; the verifier recomputes them from the bundle and rejects any mismatch. Every step is a standard one
 * (JCS, SHA-256, SHA-512), so another implementation reproduces the bytes from `docs/protocol.md`'s test vectors.
 *
 * Version 2 (bundles of `v: 2`) binds every field of the bundle outside its `cpu` section, which authenticates
 * itself (a signed report and certificates up to a pinned root): platform, nonces, issuedAt, the keyset, each
 * model with its manifest and known answer, and each GPU's architecture, report and certificates. Version 1
 * (bundles of `v: 1`) binds the nonce, keyset, GPU reports and model digests only.
 */
import { concatBytes, fromHex, toHex } from './bytes.js'
import {
  checkKeyset,
  NONCE_SIZE,
  type BundleModel,
  type EvidenceBundle,
  type GpuEvidence,
  type Keyset,
  type ModelManifestData,
  type ModelRef,
  type Platform,
} from './bundle.js'
import { Issues } from './issues.js'
import { canonicalJson, sha256, sha256Digest, sha512 } from './jcs.js'

/** The v1 binding statement's `purpose`, which also versions it. */
export const BINDING_PURPOSE = 'vouch/report-data/v1'
/** The v2 binding statement's `purpose`. */
export const BINDING_PURPOSE_V2 = 'vouch/report-data/v2'
/** Domain-separation prefix of the v1 GPU nonce derivation. */
export const GPU_NONCE_LABEL = 'vouch/gpu-nonce/v1'
/** Domain-separation prefix of the v2 GPU nonce derivation. */
export const GPU_NONCE_LABEL_V2 = 'vouch/gpu-nonce/v2'

/** The v1 statement whose JCS text REPORT_DATA commits to. */
export interface BindingStatement {
  purpose: typeof BINDING_PURPOSE
  /** The challenge as 64 lower-case hex digits, or null for an unchallenged bundle. */
  nonce: string | null
  /** {@link keysetDigest} of the keyset. */
  keyset: string
  /** `sha256:<hex>` of each GPU report's bytes, in bundle order. */
  gpus: string[]
  /** Each loaded model's digest, in bundle order. */
  models: string[]
}

/** A model as the v2 statement binds it: its reference, its manifest's digest and its known answer. */
export interface BoundModel extends ModelRef {
  /** {@link manifestDigest} of the model's manifest. */
  manifest: string
  knownAnswer: { input: string; output: string } | null
}

/** A GPU as the v2 statement binds it: its declared architecture and the digests of its report and certificates. */
export interface BoundGpu {
  arch: GpuEvidence['arch']
  /** `sha256:<hex>` of the report bytes. */
  report: string
  /** `sha256:<hex>` of each certificate, leaf first. */
  chain: string[]
}

/** The v2 statement: every field of a v2 bundle outside `cpu`, byte strings as digests. */
export interface BindingStatementV2 {
  purpose: typeof BINDING_PURPOSE_V2
  platform: Platform
  /** The challenges, 64 lower-case hex digits each, in bundle order; empty for an unchallenged bundle. */
  nonces: string[]
  issuedAt: number
  /** {@link keysetDigest} of the keyset (kid, both keys and notAfter). */
  keyset: string
  models: BoundModel[]
  gpus: BoundGpu[]
}

/** The statement REPORT_DATA commits to, of a bundle's version. */
export type AnyBindingStatement = BindingStatement | BindingStatementV2

/** What the v1 binding reads from a bundle. */
export interface BindingInput {
  nonce: Uint8Array | null
  keyset: Keyset
  gpus: readonly Pick<GpuEvidence, 'report'>[]
  models: readonly Pick<ModelRef, 'digest'>[]
}

const utf8 = new TextEncoder()

function assertKeyset(keyset: Keyset): void {
  const issues = new Issues()
  checkKeyset(keyset, 'keyset', issues)
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'binding')
}

/** A copy of exactly the keyset's fields (the keyset was checked to have no others). */
function keysetFields(keyset: Keyset): Keyset {
  return {
    kid: keyset.kid,
    enc: { kty: keyset.enc.kty, crv: keyset.enc.crv, x: keyset.enc.x },
    sig: { kty: keyset.sig.kty, crv: keyset.sig.crv, x: keyset.sig.x },
    notAfter: keyset.notAfter,
  }
}

/**
 * `sha256:<hex>` of the UTF-8 JCS text of `keyset` (`{ kid, enc, sig, notAfter }` with the JWKs'
 * `kty`, `crv`, `x`). Throws `ERR_PROTOCOL_MALFORMED` for a malformed keyset, including one with any
 * other property: what is digested is exactly what the bundle carries.
 */
export function keysetDigest(keyset: Keyset): string {
  assertKeyset(keyset)
  return sha256Digest(utf8.encode(canonicalJson(keysetFields(keyset))))
}

/** What the v2 binding reads from a bundle (or from what an enclave is about to put in one). */
export interface BindingInputV2 {
  platform: Platform
  nonces: readonly Uint8Array[]
  issuedAt: number
  keyset: Keyset
  models: readonly BundleModel[]
  gpus: readonly Pick<GpuEvidence, 'arch' | 'report' | 'chain'>[]
}

/**
 * `sha256:<hex>` of the UTF-8 JCS text of a model manifest: what the evidence binds, and what a policy's
 * `models.allowedManifests` lists. Throws a TypeError for a value that is not JSON.
 */
export function manifestDigest(manifest: ModelManifestData): string {
  return sha256Digest(utf8.encode(canonicalJson(manifest)))
}

function assertNonce(nonce: unknown, what: string): void {
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_SIZE) throw new TypeError(`${what}: a nonce must be ${NONCE_SIZE} bytes`)
}

/** The v2 statement without its `gpus`: what every GPU's nonce commits to (the GPU reports cannot commit to themselves). */
function statementWithoutGpus(input: Omit<BindingInputV2, 'gpus'>): Omit<BindingStatementV2, 'gpus'> {
  for (const nonce of input.nonces) assertNonce(nonce, 'bindingStatementV2')
  return {
    purpose: BINDING_PURPOSE_V2,
    platform: input.platform,
    nonces: input.nonces.map(toHex),
    issuedAt: input.issuedAt,
    keyset: keysetDigest(input.keyset),
    models: input.models.map((m) => ({
      name: m.name,
      version: m.version,
      digest: m.digest,
      manifest: manifestDigest(m.manifest),
      knownAnswer: m.knownAnswer === null ? null : { input: m.knownAnswer.input, output: m.knownAnswer.output },
    })),
  }
}

/** The v2 binding statement of a bundle's fields. */
export function bindingStatementV2(input: BindingInputV2): BindingStatementV2 {
  return {
    ...statementWithoutGpus(input),
    gpus: input.gpus.map((g) => ({ arch: g.arch, report: sha256Digest(g.report), chain: g.chain.map((c) => sha256Digest(c)) })),
  }
}

/**
 * The 32-byte SPDM nonce every GPU report of a v2 bundle answers: SHA-256 of `"vouch/gpu-nonce/v2"` ‖ the UTF-8 JCS
 * text of the v2 statement without its `gpus` member. It commits to the challenges, the keys, the models and the
 * time, so a GPU report cannot be moved to another bundle.
 */
export function gpuNonceV2(input: Omit<BindingInputV2, 'gpus'>): Uint8Array {
  return sha256(concatBytes(utf8.encode(GPU_NONCE_LABEL_V2), utf8.encode(canonicalJson(statementWithoutGpus(input)))))
}

/** The binding statement a bundle's REPORT_DATA must commit to, of the bundle's own version. */
export function bundleStatement(bundle: EvidenceBundle): AnyBindingStatement {
  return bundle.v === 1 ? bindingStatement(bundle) : bindingStatementV2(bundle)
}

/** The SPDM nonce every GPU report of `bundle` must answer, of the bundle's own version. */
export function bundleGpuNonce(bundle: EvidenceBundle): Uint8Array {
  return bundle.v === 1 ? gpuNonceFor(bundle.nonce, bundle.keyset) : gpuNonceV2(bundle)
}

/** The v1 binding statement of a bundle (or of what an enclave is about to put in one). */
export function bindingStatement(input: BindingInput): BindingStatement {
  if (input.nonce !== null && (!(input.nonce instanceof Uint8Array) || input.nonce.length !== NONCE_SIZE)) {
    throw new TypeError(`bindingStatement: nonce must be ${NONCE_SIZE} bytes or null`)
  }
  return {
    purpose: BINDING_PURPOSE,
    nonce: input.nonce === null ? null : toHex(input.nonce),
    keyset: keysetDigest(input.keyset),
    gpus: input.gpus.map((g) => sha256Digest(g.report)),
    models: input.models.map((m) => m.digest),
  }
}

/** The UTF-8 JCS text of `statement`: the exact bytes REPORT_DATA hashes. */
export function bindingStatementText(statement: AnyBindingStatement): string {
  return canonicalJson({ ...statement })
}

/** SEV-SNP REPORT_DATA for `statement`: SHA-512 of its UTF-8 JCS text, all 64 bytes. */
export function reportDataFor(statement: AnyBindingStatement): Uint8Array {
  return sha512(utf8.encode(bindingStatementText(statement)))
}

/**
 * The 32-byte SPDM nonce every GPU report of a bundle answers: SHA-256 of `"vouch/gpu-nonce/v1"` ‖ the
 * nonce's 32 bytes (nothing when null) ‖ the 32 raw bytes of {@link keysetDigest}. It commits to the
 * challenge and to the keys, so a GPU report cannot be moved to another bundle or keyset.
 */
export function gpuNonceFor(nonce: Uint8Array | null, keyset: Keyset): Uint8Array {
  if (nonce !== null && (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_SIZE)) {
    throw new TypeError(`gpuNonceFor: nonce must be ${NONCE_SIZE} bytes or null`)
  }
  const digest = fromHex(keysetDigest(keyset).slice('sha256:'.length))
  return sha256(concatBytes(utf8.encode(GPU_NONCE_LABEL), nonce ?? new Uint8Array(0), digest))
}
