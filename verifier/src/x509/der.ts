/**
 * Just enough DER to reach what the X.509 library does not hand out as bytes: the exact
 * to-be-signed encoding of a certificate or CRL, small INTEGERs and strings in AMD's extensions.
 */
import { VerificationError } from '../errors.js'

/** One tag-length-value element located inside a buffer. */
export interface Tlv {
  tag: number
  /** Offset of the tag byte. */
  start: number
  /** Offset of the first content byte. */
  contentStart: number
  /** Offset just past the element. */
  end: number
}

function malformed(what: string): VerificationError {
  return new VerificationError('ERR_CERT_MALFORMED', `malformed DER: ${what}`)
}

/** Reads the element starting at `offset`; single-byte tags and definite lengths only, as DER requires. */
export function readTlv(bytes: Uint8Array, offset = 0): Tlv {
  if (offset + 2 > bytes.length) throw malformed('truncated header')
  const tag = bytes[offset]!
  if ((tag & 0x1f) === 0x1f) throw malformed('multi-byte tag')
  let length = bytes[offset + 1]!
  let contentStart = offset + 2
  if (length & 0x80) {
    const count = length & 0x7f
    if (count === 0 || count > 4) throw malformed('unsupported length encoding')
    if (contentStart + count > bytes.length) throw malformed('truncated length')
    length = 0
    for (let i = 0; i < count; i++) length = length * 256 + bytes[contentStart + i]!
    contentStart += count
  }
  const end = contentStart + length
  if (end > bytes.length) throw malformed('element runs past the end')
  return { tag, start: offset, contentStart, end }
}

/**
 * The first element inside the outer SEQUENCE of a signed structure: the TBSCertificate of a
 * certificate or the TBSCertList of a CRL, as the exact bytes the signature covers.
 */
export function signedPart(der: Uint8Array): Uint8Array {
  const outer = readTlv(der)
  if (outer.tag !== 0x30 || outer.end !== der.length) throw malformed('not a single SEQUENCE')
  const tbs = readTlv(der, outer.contentStart)
  if (tbs.tag !== 0x30) throw malformed('signed part is not a SEQUENCE')
  return der.subarray(tbs.start, tbs.end)
}

/** Splits a buffer of back-to-back DER elements (a concatenated DER chain). */
export function splitDer(bytes: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  let offset = 0
  while (offset < bytes.length) {
    const tlv = readTlv(bytes, offset)
    out.push(bytes.subarray(tlv.start, tlv.end))
    offset = tlv.end
  }
  return out
}

/** A non-negative DER INTEGER that fits in a JavaScript number. */
export function decodeSmallInteger(der: Uint8Array): number {
  const tlv = readTlv(der)
  if (tlv.tag !== 0x02 || tlv.end !== der.length) throw malformed('expected an INTEGER')
  const content = der.subarray(tlv.contentStart, tlv.end)
  if (content.length === 0 || content.length > 6 || (content[0]! & 0x80) !== 0) throw malformed('INTEGER out of range')
  let value = 0
  for (const b of content) value = value * 256 + b
  return value
}

/** An IA5String or UTF8String as text. */
export function decodeString(der: Uint8Array): string {
  const tlv = readTlv(der)
  if ((tlv.tag !== 0x16 && tlv.tag !== 0x0c) || tlv.end !== der.length) throw malformed('expected a string')
  return Buffer.from(der.subarray(tlv.contentStart, tlv.end)).toString('utf8')
}
