/**
 * JSON canonicalisation (RFC 8785, JCS) and the digest notation Vouch writes everywhere. The binding
 * statement and the keyset digest are defined over JCS text, so any implementation with a JCS library
 * reproduces them byte for byte. JCS comes from `canonicalize`, the RFC authors' reference implementation.
 */
import canonicalize from 'canonicalize'
import { platform } from './platform.js'

/** A JSON value as JCS accepts it: no `undefined` inside arrays, no bytes, no NaN or infinities. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue | undefined }

const LONE_SURROGATE = /\p{Surrogate}/u

/** Throws a TypeError unless `value` is plain JSON (what JCS is defined on). */
function assertJson(value: unknown, path: string, depth: number): void {
  if (depth > 64) throw new TypeError(`canonicalJson: ${path} nests too deeply (or is circular)`)
  if (value === null || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${path} is not a finite number`)
    return
  }
  if (typeof value === 'string') {
    if (LONE_SURROGATE.test(value)) throw new TypeError(`canonicalJson: ${path} is not well-formed Unicode`)
    return
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      if (item === undefined) throw new TypeError(`canonicalJson: ${path}[${i}] is undefined`)
      assertJson(item, `${path}[${i}]`, depth + 1)
    })
    return
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`canonicalJson: ${path} is not a plain object`)
    for (const [key, item] of Object.entries(value)) {
      if (LONE_SURROGATE.test(key)) throw new TypeError(`canonicalJson: a key of ${path} is not well-formed Unicode`)
      if (item !== undefined) assertJson(item, `${path}.${key}`, depth + 1)
    }
    return
  }
  throw new TypeError(`canonicalJson: ${path} is a ${typeof value}, not JSON`)
}

/**
 * The RFC 8785 canonical JSON text of `value`: object members sorted by UTF-16 code units, no
 * whitespace, ECMAScript number formatting. Members whose value is `undefined` are left out, as
 * `JSON.stringify` does. Anything that is not plain JSON (bytes, NaN, a class instance) throws a TypeError.
 */
export function canonicalJson(value: unknown): string {
  assertJson(value, '$', 0)
  const out = canonicalize(value)
  if (out === undefined) throw new TypeError('canonicalJson: value has no JSON form')
  return out
}

/**
 * `sha256:` and the lower-case hex SHA-256 of `data` (a string as its UTF-8 bytes): Vouch's one way of writing a
 * digest. One-shot hashing, straight to hex: the log computes one for every receipt it takes.
 */
export function sha256Digest(data: Uint8Array | string): string {
  return `sha256:${platform.toHex(platform.digest('sha256', data))}`
}

/** SHA-256 of `bytes`. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return platform.digest('sha256', bytes)
}

/** SHA-512 of `bytes`. */
export function sha512(bytes: Uint8Array): Uint8Array {
  return platform.digest('sha512', bytes)
}
