/**
 * The enclave's keyset: an X25519 key that requests are sealed to (HPKE) and an Ed25519 key that signs
 * receipts, generated inside the TEE at start and never serialised. Only the public halves leave, as
 * JWKs in the evidence bundle, bound to the hardware report through REPORT_DATA.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import type { Keyset } from '@vouch/protocol'

/** A keyset with its private keys. The private keys are KeyObjects and stay in this process. */
export interface EnclaveKeyset {
  /** The public keyset as the bundle carries it. */
  readonly public: Keyset
  /** HPKE recipient key (X25519). */
  readonly encPrivateKey: KeyObject
  /** Receipt signing key (Ed25519). */
  readonly sigPrivateKey: KeyObject
}

/** Default keyset lifetime: clients re-attest at least daily. */
export const DEFAULT_KEYSET_LIFETIME_S = 24 * 3600

function publicJwk(key: KeyObject): { kty: 'OKP'; crv: string; x: string } {
  const jwk = key.export({ format: 'jwk' }) as { kty: string; crv: string; x: string }
  return { kty: 'OKP', crv: jwk.crv, x: jwk.x }
}

/**
 * Generates a keyset valid for `lifetimeS` seconds from `now`. The kid is random: it names this
 * keyset only, so a request sealed to a previous one is refused with a clear "re-attest".
 */
export function generateKeyset(now = new Date(), lifetimeS = DEFAULT_KEYSET_LIFETIME_S): EnclaveKeyset {
  const enc = generateKeyPairSync('x25519')
  const sig = generateKeyPairSync('ed25519')
  return {
    public: {
      kid: randomBytes(16).toString('base64url'),
      enc: publicJwk(enc.publicKey),
      sig: publicJwk(sig.publicKey),
      notAfter: Math.floor(now.getTime() / 1000) + lifetimeS,
    } as Keyset,
    encPrivateKey: enc.privateKey,
    sigPrivateKey: sig.privateKey,
  }
}
