/** Key encodings the platform seam takes (it verifies under a DER SubjectPublicKeyInfo), for keys that travel raw. */
import { concatBytes, fromHex } from './bytes.js'

/** SubjectPublicKeyInfo of an Ed25519 key (RFC 8410) up to its 32 raw bytes. */
const ED25519_SPKI_PREFIX = fromHex('302a300506032b6570032100')

/** The DER SubjectPublicKeyInfo of the raw 32-byte Ed25519 public key `raw`. */
export function ed25519Spki(raw: Uint8Array): Uint8Array {
  return concatBytes(ED25519_SPKI_PREFIX, raw)
}
