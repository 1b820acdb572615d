/** Lower-case hex of `bytes`; the only hex form Vouch emits. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/

/**
 * Bytes of a hex string (either case, optional `0x`). Throws a `TypeError` naming `what` when the
 * text is not hex or, if `length` is given, does not decode to exactly `length` bytes.
 */
export function fromHex(text: string, what = 'value', length?: number): Uint8Array {
  const body = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text
  if (!HEX.test(body)) throw new TypeError(`${what}: not a hex string`)
  const bytes = new Uint8Array(Buffer.from(body, 'hex'))
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
