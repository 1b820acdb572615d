/**
 * The platform seam in a browser (platform.types.ts says what it is), chosen over platform.ts by bundlers through the
 * `browser` field of package.json. Signatures go to WebCrypto (SubtleCrypto: RSA-PSS, ECDSA, Ed25519). Digests are
 * @noble/hashes: parsers and the binding compute them synchronously, and SubtleCrypto.digest only answers with a
 * promise. Hex and base64 are plain JavaScript, written to decode exactly what Node's Buffer decodes.
 */
import { hmac } from '@noble/hashes/hmac'
import { sha1 } from '@noble/hashes/legacy'
import { sha256, sha384, sha512 } from '@noble/hashes/sha2'
// WebCrypto's types as @types/node names them (the project type-checks against Node's lib, not the DOM's); types only.
import type { webcrypto } from 'node:crypto'
import type { PlatformSeam, SignatureHash, SignatureScheme } from './platform.types.js'

type CryptoKey = webcrypto.CryptoKey

const utf8 = new TextEncoder()
const HASHES = { sha1, sha256, sha384, sha512 } as const
const WEB_HASH: Readonly<Record<SignatureHash, string>> = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' }

/** Imported keys by SPKI (base64) and the import parameters, which WebCrypto binds to the key. */
const keys = new Map<string, Promise<CryptoKey | null>>()
const MAX_KEYS = 256

function importParameters(scheme: SignatureScheme): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm {
  switch (scheme.kind) {
    case 'rsa-pss':
      return { name: 'RSA-PSS', hash: WEB_HASH[scheme.hash] }
    case 'ecdsa':
      return { name: 'ECDSA', namedCurve: scheme.curve }
    case 'ed25519':
      return { name: 'Ed25519' }
  }
}

function importKey(scheme: SignatureScheme, spki: Uint8Array): Promise<CryptoKey | null> {
  const parameters = importParameters(scheme)
  const id = `${JSON.stringify(parameters)}:${toBase64(spki, false)}`
  let key = keys.get(id)
  if (key === undefined) {
    // A key of another type or curve than the scheme's does not import: the signature does not verify.
    key = crypto.subtle.importKey('spki', new Uint8Array(spki), parameters, false, ['verify']).catch(() => null)
    if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value!)
    keys.set(id, key)
  }
  return key
}

/** One DER INTEGER of an ECDSA-Sig-Value, minimally encoded and non-negative, left-padded to `size` bytes; null otherwise. */
function readInteger(der: Uint8Array, at: number, size: number): { value: Uint8Array; next: number } | null {
  if (der[at] !== 0x02) return null
  const length = der[at + 1]
  if (length === undefined || length === 0 || length > 0x7f || at + 2 + length > der.length) return null
  let content = der.subarray(at + 2, at + 2 + length)
  if ((content[0]! & 0x80) !== 0) return null
  if (content[0] === 0 && content.length > 1) {
    if ((content[1]! & 0x80) === 0) return null
    content = content.subarray(1)
  }
  if (content.length > size) return null
  const value = new Uint8Array(size)
  value.set(content, size - content.length)
  return { value, next: at + 2 + length }
}

/**
 * r ‖ s of a DER ECDSA-Sig-Value (RFC 3279), as WebCrypto takes it; null for anything that is not strict DER, which
 * OpenSSL rejects too (it re-encodes the signature and compares).
 */
function derToP1363(der: Uint8Array, size: number): Uint8Array | null {
  if (der[0] !== 0x30 || der.length < 2) return null
  let at = 2
  let length = der[1]!
  if (length === 0x81) {
    length = der[2] ?? 0
    if (length < 0x80) return null
    at = 3
  } else if (length > 0x7f) return null
  if (at + length !== der.length) return null
  const r = readInteger(der, at, size)
  const s = r && readInteger(der, r.next, size)
  if (!r || !s || s.next !== der.length) return null
  const out = new Uint8Array(2 * size)
  out.set(r.value)
  out.set(s.value, size)
  return out
}

function verifyParameters(scheme: SignatureScheme): webcrypto.RsaPssParams | webcrypto.EcdsaParams | webcrypto.Algorithm {
  switch (scheme.kind) {
    case 'rsa-pss':
      return { name: 'RSA-PSS', saltLength: scheme.saltLength }
    case 'ecdsa':
      return { name: 'ECDSA', hash: WEB_HASH[scheme.hash] }
    case 'ed25519':
      return { name: 'Ed25519' }
  }
}

async function verifySignature(scheme: SignatureScheme, spki: Uint8Array, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const key = await importKey(scheme, spki)
  if (key === null) return false
  let raw: Uint8Array | null = signature
  if (scheme.kind === 'ecdsa' && scheme.encoding === 'der') raw = derToP1363(signature, scheme.curve === 'P-256' ? 32 : 48)
  if (raw === null) return false
  try {
    return await crypto.subtle.verify(verifyParameters(scheme), key, new Uint8Array(raw), new Uint8Array(data))
  } catch {
    return false
  }
}

const HEX_DIGITS = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

const utf8Decoder = new TextDecoder()

function utf8Length(text: string): number {
  let length = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) length += 1
    else if (c < 0x800) length += 2
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      length += 4
      i++
    } else length += 3
  }
  return length
}

function toHex(bytes: Uint8Array): string {
  let out = ''
  for (const b of bytes) out += HEX_DIGITS[b]
  return out
}

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const BASE64_DIGITS = `${ALPHABET}+/`
const BASE64URL_DIGITS = `${ALPHABET}-_`
/** Each character's 6-bit value in either alphabet (Node's Buffer decodes both), or -1. */
const SEXTET = new Int8Array(128).fill(-1)
for (let i = 0; i < 64; i++) {
  SEXTET[BASE64_DIGITS.charCodeAt(i)] = i
  SEXTET[BASE64URL_DIGITS.charCodeAt(i)] = i
}

function toBase64(bytes: Uint8Array, url: boolean): string {
  const digits = url ? BASE64URL_DIGITS : BASE64_DIGITS
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!
    out += digits[n >>> 18]! + digits[(n >>> 12) & 63]! + digits[(n >>> 6) & 63]! + digits[n & 63]!
  }
  const rest = bytes.length - i
  if (rest > 0) {
    const n = (bytes[i]! << 16) | ((rest === 2 ? bytes[i + 1]! : 0) << 8)
    out += digits[n >>> 18]! + digits[(n >>> 12) & 63]!
    if (rest === 2) out += digits[(n >>> 6) & 63]!
    if (!url) out += rest === 2 ? '=' : '=='
  }
  return out
}

function base64ToBytes(text: string): Uint8Array {
  const out = new Uint8Array(Math.floor((text.length * 3) / 4))
  let length = 0
  let bits = 0
  let count = 0
  for (let i = 0; i < text.length; i++) {
    // Node reads each UTF-16 unit by its low byte (a cast to uint8_t), so U+D83D counts as '=': so does this.
    const code = text.charCodeAt(i) & 0xff
    if (code === 0x3d) break // '=' ends the data, as in Node
    const sextet = code < 128 ? SEXTET[code]! : -1
    if (sextet < 0) continue
    bits = (bits << 6) | sextet
    count += 6
    if (count >= 8) {
      count -= 8
      out[length++] = (bits >>> count) & 0xff
    }
  }
  return out.slice(0, length)
}

/** The browser implementation of the platform seam. */
export const platform: PlatformSeam = {
  name: 'browser',
  digest: (name, data) => HASHES[name](typeof data === 'string' ? utf8.encode(data) : data),
  hmacSha256: (key, data) => {
    const mac = hmac.create(sha256, key)
    for (const piece of data instanceof Uint8Array ? [data] : data) mac.update(piece)
    return mac.digest()
  },
  verifySignature,
  clearKeys: () => keys.clear(),
  signWithKeyObject: () => null,
  utf8Text: (bytes) => utf8Decoder.decode(bytes),
  utf8Length,
  toHex,
  hexToBytes,
  toBase64,
  base64ToBytes,
}
