/**
 * A tiny DER writer for the few structures the verifier sends (OCSP requests). Elements are built
 * bottom-up from byte arrays; every length is written in its shortest form, as DER requires.
 */
import { TAG } from './der.js'

/** The DER length octets of `length`. */
function lengthOctets(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length)
  const bytes: number[] = []
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n % 256)
  return Uint8Array.from([0x80 | bytes.length, ...bytes])
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

/** One element: `tag`, then the length, then the concatenated `content`. */
export function derElement(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concat(content)
  return concat([Uint8Array.of(tag), lengthOctets(body.length), body])
}

/** SEQUENCE of the given encoded elements. */
export function derSequence(...elements: Uint8Array[]): Uint8Array {
  return derElement(TAG.sequence, ...elements)
}

/** OCTET STRING holding `bytes`. */
export function derOctetString(bytes: Uint8Array): Uint8Array {
  return derElement(TAG.octetString, bytes)
}

/** NULL. */
export function derNull(): Uint8Array {
  return Uint8Array.of(TAG.null, 0)
}

/** BOOLEAN (DER: 0xFF for true). */
export function derBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(TAG.boolean, 1, value ? 0xff : 0)
}

/** OBJECT IDENTIFIER from its dotted form, e.g. `1.3.6.1.5.5.7.48.1.2`. */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new RangeError(`not an OID: "${dotted}"`)
    return Number(a)
  })
  const [first, second, ...rest] = arcs
  if (first === undefined || second === undefined || first > 2 || (first < 2 && second > 39)) throw new RangeError(`not an OID: "${dotted}"`)
  const bytes: number[] = []
  for (const arc of [first * 40 + second, ...rest]) {
    if (!Number.isSafeInteger(arc)) throw new RangeError(`OID arc too large in "${dotted}"`)
    // Base 128, most significant group first, every group but the last with its high bit set.
    const groups = [arc % 128]
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) groups.unshift(0x80 | (n % 128))
    bytes.push(...groups)
  }
  return derElement(TAG.oid, Uint8Array.from(bytes))
}

/** INTEGER whose content octets are already encoded (a serial number copied from a certificate). */
export function derIntegerContent(content: Uint8Array): Uint8Array {
  if (content.length === 0) throw new RangeError('INTEGER content must not be empty')
  return derElement(TAG.integer, content)
}

/** Context-specific constructed `[n]` wrapping encoded elements (EXPLICIT tagging). */
export function derExplicit(n: number, ...elements: Uint8Array[]): Uint8Array {
  return derElement(0xa0 | n, ...elements)
}
