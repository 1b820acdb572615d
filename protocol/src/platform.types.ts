/**
 * The platform seam: the few primitives whose best implementation differs between Node and a browser.
 * `platform.ts` implements them on node:crypto and Buffer (the fastest in Node); `platform.browser.ts` on
 * WebCrypto (signatures) and plain JavaScript (digests, text encodings). Bundlers pick the browser one through
 * the `browser` field of this package's package.json; Node never sees it. Both must satisfy {@link PlatformSeam},
 * and both must give the same answer for the same input: verification Results do not depend on where they ran.
 */

/** A digest the verifier and the wire formats use; SHA-1 only names things (an OCSP CertID), it never protects any. */
export type DigestName = 'sha1' | 'sha256' | 'sha384' | 'sha512'
/** The digests a signature may be made over. */
export type SignatureHash = 'sha256' | 'sha384' | 'sha512'

/**
 * How a signature is checked. ECDSA names its curve (WebCrypto imports the key for one curve) and the signature's
 * encoding: `der` as X.509 and OCSP carry it, `ieee-p1363` (r ‖ s) as SEV-SNP, SPDM and XMLDSig do.
 */
export type SignatureScheme =
  | { kind: 'rsa-pss'; hash: SignatureHash; saltLength: number }
  | { kind: 'ecdsa'; hash: SignatureHash; curve: 'P-256' | 'P-384'; encoding: 'der' | 'ieee-p1363' }
  | { kind: 'ed25519' }

/** What both implementations provide. */
export interface PlatformSeam {
  /** Which implementation this is, for messages and tests. */
  readonly name: 'node' | 'browser'
  /** The digest of `data` (a string as its UTF-8 bytes). Synchronous: parsers call it. */
  digest(name: DigestName, data: Uint8Array | string): Uint8Array
  /** HMAC-SHA-256 of `data` (or of the concatenation of its pieces) under `key`. */
  hmacSha256(key: Uint8Array, data: Uint8Array | readonly Uint8Array[]): Uint8Array
  /**
   * Whether `signature` over `data` verifies under the DER SubjectPublicKeyInfo `spki` with `scheme`. Resolves to
   * false, never rejects, for a key or signature that does not fit the scheme. Imported keys are cached by SPKI.
   */
  verifySignature(scheme: SignatureScheme, spki: Uint8Array, data: Uint8Array, signature: Uint8Array): Promise<boolean>
  /** Forgets the imported keys (benchmarks measure cold verification). */
  clearKeys(): void
  /**
   * The Ed25519 signature of `data` when `key` is a node:crypto private KeyObject (the enclave's fast path); null
   * when it is not one, which in a browser it never is.
   */
  signWithKeyObject(key: unknown, data: Uint8Array): Uint8Array | null
  /** `bytes` read as UTF-8, malformed sequences replaced by U+FFFD (Node's Buffer and the WHATWG decoder agree). */
  utf8Text(bytes: Uint8Array): string
  /** The length in bytes of `text` as UTF-8 (a lone surrogate counts as U+FFFD's 3), without encoding it. */
  utf8Length(text: string): number
  /** Lower-case hex of `bytes`. */
  toHex(bytes: Uint8Array): string
  /** Bytes of a string of hex digit pairs; the caller has checked that it is one. */
  hexToBytes(hex: string): Uint8Array
  /** Base64 (`url`: base64url, unpadded) of `bytes`. */
  toBase64(bytes: Uint8Array, url: boolean): string
  /**
   * Bytes of base64 or base64url text, decoded leniently as Node's Buffer does: characters outside both alphabets
   * are skipped and the first `=` ends the input. Callers that need strictness check the text first.
   */
  base64ToBytes(text: string): Uint8Array
}
