/** The argument check every TEE device shares. */

/**
 * A copy of `value` when it is a Uint8Array of exactly `length` bytes (a copy, so the caller's later writes cannot
 * change what was checked); a RangeError naming `field` otherwise.
 */
export function requireLength(value: Uint8Array, length: number, field: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== length) {
    const got = value instanceof Uint8Array ? value.length : typeof value
    throw new RangeError(`${field} must be ${length} bytes, got ${got}`)
  }
  return new Uint8Array(value)
}
