/**
 * The platform seam on Node (platform.types.ts says what it is): node:crypto and Buffer, kept because they are the
 * fastest there (one-shot native hashing, OpenSSL signatures, native hex and base64). Bundlers for the browser
 * replace this module by platform.browser.ts (package.json `browser` field).
 */
import { constants, createHmac, createPublicKey, hash, KeyObject, sign, verify } from 'node:crypto'
import type { DigestName, PlatformSeam, SignatureScheme } from './platform.types.js'

/** Imported keys by SPKI (base64): a chain, a VEK or a receipt key is verified against again and again. */
const keys = new Map<string, KeyObject | null>()
const MAX_KEYS = 256

function importKey(spki: Uint8Array): KeyObject | null {
  const id = Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength).toString('base64')
  let key = keys.get(id)
  if (key === undefined) {
    try {
      key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
    } catch {
      key = null
    }
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value!)
    keys.set(id, key)
  }
  return key
}

/** Whether `key` is of the kind `scheme` needs: what WebCrypto's import enforces in the browser, enforced here too. */
function fits(scheme: SignatureScheme, key: KeyObject): boolean {
  switch (scheme.kind) {
    case 'rsa-pss':
      return key.asymmetricKeyType === 'rsa'
    case 'ecdsa':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === (scheme.curve === 'P-256' ? 'prime256v1' : 'secp384r1')
    case 'ed25519':
      return key.asymmetricKeyType === 'ed25519'
  }
}

function verifySync(scheme: SignatureScheme, spki: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const key = importKey(spki)
  if (key === null || !fits(scheme, key)) return false
  try {
    switch (scheme.kind) {
      case 'rsa-pss':
        return verify(scheme.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.saltLength }, signature)
      case 'ecdsa':
        return verify(scheme.hash, data, { key, dsaEncoding: scheme.encoding }, signature)
      case 'ed25519':
        return verify(null, data, key, signature)
    }
  } catch {
    // OpenSSL throws on signatures it cannot even decode; that is a signature that does not verify.
    return false
  }
}

function view(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The Node implementation of the platform seam. */
export const platform: PlatformSeam = {
  name: 'node',
  digest(name: DigestName, data: Uint8Array | string): Uint8Array {
    const out = hash(name, data, 'buffer')
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  },
  hmacSha256(key: Uint8Array, data: Uint8Array | readonly Uint8Array[]): Uint8Array {
    const mac = createHmac('sha256', key)
    for (const piece of data instanceof Uint8Array ? [data] : data) mac.update(piece)
    return new Uint8Array(mac.digest())
  },
  // OpenSSL verifies synchronously; the promise only matches the browser's WebCrypto.
  verifySignature: async (scheme, spki, data, signature) => verifySync(scheme, spki, data, signature),
  clearKeys: () => keys.clear(),
  signWithKeyObject: (key, data) => (key instanceof KeyObject ? new Uint8Array(sign(null, data, key)) : null),
  utf8Text: (bytes) => view(bytes).toString('utf8'),
  utf8Length: (text) => Buffer.byteLength(text, 'utf8'),
  toHex: (bytes) => view(bytes).toString('hex'),
  hexToBytes: (hex) => new Uint8Array(Buffer.from(hex, 'hex')),
  toBase64: (bytes, url) => view(bytes).toString(url ? 'base64url' : 'base64'),
  base64ToBytes: (text) => new Uint8Array(Buffer.from(text, 'base64')),
}
