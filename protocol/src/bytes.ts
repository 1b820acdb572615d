import { platform } from './platform.js'

/** Lower-case hex of `bytes`; the only hex form Vouch emits. */
export function toHex(bytes: Uint8Array): string {
  return platform.toHex(bytes)
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/

/**
 * Bytes of a hex string (either case, optional `0x`). Throws a `TypeError` naming `what` when the
 * text is not hex or, if `length` is given, does not decode to exactly `length` bytes.
 */
export function fromHex(text: string, what = 'value', length?: number): Uint8Array {
  const body = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text
  if (!HEX.test(body)) throw new TypeError(`${what}: not a hex string`)
  const bytes = platform.hexToBytes(body)
  if (length !== undefined && bytes.length !== length) {
    throw new TypeError(`${what}: expected ${length} bytes (${length * 2} hex characters), got ${bytes.length}`)
  }
  return bytes
}

/** True when every byte of `bytes` is zero. */
export function isAllZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false
  return true
}

/** Constant-shape equality of two byte arrays (lengths differ means unequal). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/** A reversed copy of `bytes` (little-endian ↔ big-endian). */
export function reversed(bytes: Uint8Array): Uint8Array {
  return Uint8Array.from(bytes).reverse()
}

const BASE64URL = /^[A-Za-z0-9_-]*$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Unpadded base64url (RFC 4648 §5) of `bytes`, as JOSE writes key material. */
export function toBase64Url(bytes: Uint8Array): string {
  return platform.toBase64(bytes, true)
}

/**
 * Bytes of unpadded base64url text. Strict: only the base64url alphabet, no padding, and the canonical
 * form (unused trailing bits zero), so one value has one spelling. Throws a `TypeError` naming `what`;
 * with `length`, also when the bytes are not exactly `length` long.
 */
export function fromBase64Url(text: string, what = 'value', length?: number): Uint8Array {
  if (!BASE64URL.test(text) || text.length % 4 === 1) throw new TypeError(`${what}: not unpadded base64url`)
  const bytes = platform.base64ToBytes(text)
  if (toBase64Url(bytes) !== text) throw new TypeError(`${what}: not canonical base64url`)
  if (length !== undefined && bytes.length !== length) {
    throw new TypeError(`${what}: expected ${length} bytes, got ${bytes.length}`)
  }
  return bytes
}

/** Padded base64 (RFC 4648 §4) of `bytes`: the JSON rendering of certificates and reports. */
export function toBase64(bytes: Uint8Array): string {
  return platform.toBase64(bytes, false)
}

/** Bytes of padded base64 text. Strict like {@link fromBase64Url}: standard alphabet, padding, canonical. */
export function fromBase64(text: string, what = 'value', length?: number): Uint8Array {
  if (!BASE64.test(text)) throw new TypeError(`${what}: not padded base64`)
  const bytes = platform.base64ToBytes(text)
  if (toBase64(bytes) !== text) throw new TypeError(`${what}: not canonical base64`)
  if (length !== undefined && bytes.length !== length) {
    throw new TypeError(`${what}: expected ${length} bytes, got ${bytes.length}`)
  }
  return bytes
}

/** One copy of `parts` laid end to end. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** `bytes` read as UTF-8, malformed sequences replaced by U+FFFD (as Node's Buffer and the WHATWG decoder both do). */
export function utf8Text(bytes: Uint8Array): string {
  return platform.utf8Text(bytes)
}

/** The length in bytes of `text` encoded as UTF-8, without encoding it. */
export function utf8Length(text: string): number {
  return platform.utf8Length(text)
}

/** `bytes` read as ISO-8859-1 (Latin-1): one character per byte, the code point the byte's value. */
export function latin1Text(bytes: Uint8Array): string {
  let out = ''
  // In slices: String.fromCharCode takes its arguments on the stack.
  for (let i = 0; i < bytes.length; i += 4096) out += String.fromCharCode(...bytes.subarray(i, i + 4096))
  return out
}
