/**
 * The binding (DESIGN.md §3), defined once: how an evidence bundle's nonce, keyset, GPU reports and
 * models are tied to the SEV-SNP report (REPORT_DATA) and to every GPU report (the SPDM nonce). The
 * enclave computes these to ask the hardware for evidence; the verifier recomputes them from the bundle
 * and rejects any mismatch. Every step is a standard one (JCS, SHA-256, SHA-512), so another
 * implementation reproduces the bytes from `docs/protocol.md`'s test vectors.
 */
import { concatBytes, fromHex, toHex } from './bytes.js'
import { checkKeyset, NONCE_SIZE, type GpuEvidence, type Keyset, type ModelRef } from './bundle.js'
import { Issues } from './issues.js'
import { canonicalJson, sha256, sha256Digest, sha512 } from './jcs.js'

/** The binding statement's `purpose`, which also versions it. */
export const BINDING_PURPOSE = 'vouch/report-data/v1'
/** Domain-separation prefix of the GPU nonce derivation. */
export const GPU_NONCE_LABEL = 'vouch/gpu-nonce/v1'

/** The statement whose JCS text REPORT_DATA commits to. */
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

/** What the binding reads from a bundle. */
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

/** The binding statement of a bundle (or of what an enclave is about to put in one). */
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
export function bindingStatementText(statement: BindingStatement): string {
  return canonicalJson({ ...statement })
}

/** SEV-SNP REPORT_DATA for `statement`: SHA-512 of its UTF-8 JCS text, all 64 bytes. */
export function reportDataFor(statement: BindingStatement): Uint8Array {
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
