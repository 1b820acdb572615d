/**
 * A small DER writer: elements built bottom-up from byte arrays, every length in its shortest form as DER
 * requires. The verifier writes OCSP requests with it and the simulated certificate authorities the parts of
 * certificates and CRLs that ASN.1 libraries do not write the way the vendors do. Reading DER is the verifier's
 * (verifier/src/x509/der.ts), which decides trust; this module only writes.
 */
import { concatBytes } from './bytes.js'

/** The DER length octets of `length` content bytes: short form below 128, long form otherwise. */
function derLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length)
  const bytes: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Uint8Array.of(0x80 | bytes.length, ...bytes)
}

/** One element: `tag`, then the length, then the concatenated `content`. */
export function derElement(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concatBytes(...content)
  return concatBytes(Uint8Array.of(tag), derLength(body.length), body)
}

/** SEQUENCE of the given encoded elements. */
export function derSequence(...elements: Uint8Array[]): Uint8Array {
  return derElement(0x30, ...elements)
}

/** OCTET STRING holding `bytes`. */
export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derElement(0x04, bytes)
}

/** NULL. */
export function derNull(): Uint8Array {
  return Uint8Array.of(0x05, 0)
}

/** BOOLEAN (DER: 0xFF for true). */
export function derBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(0x01, 1, value ? 0xff : 0)
}

/** Context-specific constructed `[n]` wrapping encoded elements (EXPLICIT tagging). */
export function derExplicit(n: number, ...elements: Uint8Array[]): Uint8Array {
  return derElement(0xa0 | n, ...elements)
}

/**
 * OBJECT IDENTIFIER from its dotted form, e.g. `1.3.6.1.5.5.7.48.1.2`; arcs of any size. A RangeError for text
 * that is not an OID (X.660: the first arc 0 to 2, the second at most 39 under 0 and 1).
 */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`not an OID: "${dotted}"`)
    return BigInt(a)
  })
  const [first, second, ...rest] = arcs
  if (first === undefined || second === undefined || first > 2n || (first < 2n && second > 39n)) throw new RangeError(`not an OID: "${dotted}"`)
  const bytes: number[] = []
  for (const arc of [first * 40n + second, ...rest]) {
    // Base 128, most significant group first, every group but the last with its high bit set.
    const groups = [Number(arc & 0x7fn)]
    for (let n = arc >> 7n; n > 0n; n >>= 7n) groups.unshift(0x80 | Number(n & 0x7fn))
    bytes.push(...groups)
  }
  return derElement(0x06, Uint8Array.from(bytes))
}

/** Minimal two's-complement content octets of a non-negative INTEGER. */
export function integerContent(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError(`negative integers are not supported, got ${value}`)
  let hex = value.toString(16)
  if (hex.length % 2 === 1) hex = '0' + hex
  const bytes = Uint8Array.from(Buffer.from(hex, 'hex'))
  return bytes[0]! & 0x80 ? concatBytes(Uint8Array.of(0), bytes) : bytes
}

/** INTEGER (non-negative). */
export function derInteger(value: bigint | number): Uint8Array {
  return derElement(0x02, integerContent(BigInt(value)))
}

/** INTEGER whose content octets are already encoded (a serial number copied from a certificate). */
export function derIntegerContent(content: Uint8Array): Uint8Array {
  if (content.length === 0) throw new RangeError('INTEGER content must not be empty')
  return derElement(0x02, content)
}

/** IA5String; a RangeError for text that is not ASCII. */
export function derIa5String(text: string): Uint8Array {
  if (![...text].every((c) => c.charCodeAt(0) < 0x80)) {
    throw new RangeError(`IA5String must be ASCII, got ${JSON.stringify(text)}`)
  }
  return derElement(0x16, Uint8Array.from(Buffer.from(text, 'ascii')))
}
