/**
 * A strict DER reader: definite, minimal lengths; single-byte tags; every element must end inside its
 * parent. X.509 certificates and CRLs are decoded with it (certificate.ts, crl.ts) because the fields
 * trust decisions read are few and a schema-driven ASN.1 library costs several milliseconds per
 * certificate, more than all the signature checks of a chain together.
 */
import { latin1Text, toHex, utf8Text } from '@vouch/protocol'
import { VerificationError, type VerificationErrorCode } from '../errors.js'

/** Universal tags used by X.509. */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  utcTime: 0x17,
  generalizedTime: 0x18,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const

/** Context-specific tag `[n]`, constructed. */
export const contextTag = (n: number): number => 0xa0 | n

/** One decoded element: its tag and the bytes of its header+content and of its content. */
export interface Element {
  tag: number
  /** The whole element, header included: what signatures and hashes cover. */
  raw: Uint8Array
  /** The content octets. */
  content: Uint8Array
}

/** Reads the elements of one constructed element (or a whole buffer) in order. */
export class DerReader {
  #offset = 0

  constructor(
    private readonly bytes: Uint8Array,
    private readonly code: VerificationErrorCode = 'ERR_CERT_MALFORMED',
  ) {}

  /** An error in the caller's code, saying what is wrong with the encoding. */
  error(what: string): VerificationError {
    return new VerificationError(this.code, `malformed DER: ${what}`)
  }

  get done(): boolean {
    return this.#offset >= this.bytes.length
  }

  /** The tag of the next element, or -1 at the end. */
  peekTag(): number {
    return this.done ? -1 : this.bytes[this.#offset]!
  }

  /** Reads the next element; if `tag` is given, it must have that tag. */
  next(tag?: number, what = 'element'): Element {
    const b = this.bytes
    const start = this.#offset
    if (start + 2 > b.length) throw this.error(`${what}: truncated`)
    const actual = b[start]!
    if ((actual & 0x1f) === 0x1f) throw this.error(`${what}: multi-byte tag`)
    if (tag !== undefined && actual !== tag) throw this.error(`${what}: expected tag 0x${tag.toString(16)}, got 0x${actual.toString(16)}`)
    let length = b[start + 1]!
    let contentStart = start + 2
    if (length & 0x80) {
      const count = length & 0x7f
      if (count === 0 || count > 4) throw this.error(`${what}: unsupported length encoding`)
      if (contentStart + count > b.length) throw this.error(`${what}: truncated length`)
      length = 0
      for (let i = 0; i < count; i++) length = length * 256 + b[contentStart + i]!
      // DER: the shortest form, so long form only from 128 and without leading zero octets.
      if (length < 0x80 || b[contentStart] === 0) throw this.error(`${what}: non-minimal length`)
      contentStart += count
    }
    const end = contentStart + length
    if (end > b.length) throw this.error(`${what}: runs past its parent`)
    this.#offset = end
    return { tag: actual, raw: b.subarray(start, end), content: b.subarray(contentStart, end) }
  }

  /** Reads the next element if it has `tag`, else nothing. */
  optional(tag: number, what?: string): Element | undefined {
    return this.peekTag() === tag ? this.next(tag, what) : undefined
  }

  /** A reader over the content of the next element, which must be constructed with `tag`. */
  enter(tag: number, what?: string): DerReader {
    return new DerReader(this.next(tag, what).content, this.code)
  }

  /** Throws unless every element has been read. */
  end(what: string): void {
    if (!this.done) throw this.error(`${what}: unexpected trailing data`)
  }
}

/** Reads exactly one element spanning all of `bytes`. */
export function readSingle(bytes: Uint8Array, tag: number, what: string, code: VerificationErrorCode = 'ERR_CERT_MALFORMED'): Element {
  const reader = new DerReader(bytes, code)
  const element = reader.next(tag, what)
  reader.end(what)
  return element
}

/** Splits a buffer of back-to-back DER elements (a concatenated DER chain). */
export function splitDer(bytes: Uint8Array): Uint8Array[] {
  const reader = new DerReader(bytes)
  const out: Uint8Array[] = []
  while (!reader.done) out.push(reader.next(undefined, 'element').raw)
  return out
}

/** A dotted OID from the content of an OBJECT IDENTIFIER. */
export function decodeOid(content: Uint8Array): string {
  if (content.length === 0) throw new VerificationError('ERR_CERT_MALFORMED', 'malformed DER: empty OID')
  const parts: number[] = []
  let value = 0
  for (const [i, byte] of content.entries()) {
    if (value === 0 && byte === 0x80) throw new VerificationError('ERR_CERT_MALFORMED', 'malformed DER: non-minimal OID')
    value = value * 128 + (byte & 0x7f)
    if ((byte & 0x80) === 0) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80)
      else parts.push(value)
      value = 0
    } else if (i === content.length - 1) throw new VerificationError('ERR_CERT_MALFORMED', 'malformed DER: truncated OID')
  }
  return parts.join('.')
}

/** The content of an INTEGER as lower-case hex without leading zero bytes (serial numbers). */
export function integerHex(content: Uint8Array): string {
  if (content.length === 0) throw new VerificationError('ERR_CERT_MALFORMED', 'malformed DER: empty INTEGER')
  let i = 0
  while (i < content.length - 1 && content[i] === 0) i++
  return toHex(content.subarray(i))
}

/** A non-negative INTEGER that fits in a JavaScript number. */
export function integerValue(content: Uint8Array, code: VerificationErrorCode = 'ERR_CERT_MALFORMED'): number {
  if (content.length === 0 || content.length > 6 || (content[0]! & 0x80) !== 0) {
    throw new VerificationError(code, 'malformed DER: INTEGER out of range')
  }
  let value = 0
  for (const b of content) value = value * 256 + b
  return value
}

/** An extension (RFC 5280 §4.1, RFC 6960 §4.4): its criticality and the contents of its extnValue. */
export interface Extension {
  critical: boolean
  value: Uint8Array
}

/**
 * Reads a SEQUENCE OF Extension, by OID. An OID listed twice is an error, worded by `duplicate`; so is
 * anything that is not DER (in `list`'s code).
 */
export function decodeExtensions(list: DerReader, duplicate: (oid: string) => VerificationError): Map<string, Extension> {
  const out = new Map<string, Extension>()
  while (!list.done) {
    const ext = list.enter(TAG.sequence, 'extension')
    const oid = decodeOid(ext.next(TAG.oid, 'extension id').content)
    const critical = ext.optional(TAG.boolean, 'critical')
    const value = ext.next(TAG.octetString, 'extension value').content
    ext.end('extension')
    if (out.has(oid)) throw duplicate(oid)
    out.set(oid, { critical: critical ? booleanValue(critical.content) : false, value })
  }
  return out
}

/** A DER BOOLEAN's value. */
export function booleanValue(content: Uint8Array): boolean {
  if (content.length !== 1 || (content[0] !== 0 && content[0] !== 0xff)) {
    throw new VerificationError('ERR_CERT_MALFORMED', 'malformed DER: BOOLEAN must be 0x00 or 0xFF')
  }
  return content[0] === 0xff
}

/** A BMPString's text: UTF-16 code units, big-endian. */
function utf16BeText(content: Uint8Array): string {
  if (content.length % 2 !== 0) throw new VerificationError('ERR_CERT_MALFORMED', 'malformed DER: a BMPString of an odd number of bytes')
  let out = ''
  for (let i = 0; i < content.length; i += 2) out += String.fromCharCode((content[i]! << 8) | content[i + 1]!)
  return out
}

const TEXT_TAGS = new Set<number>([TAG.utf8String, TAG.printableString, TAG.ia5String, TAG.teletexString])

/** A directory or extension string (UTF8String, PrintableString, IA5String, TeletexString; BMPString as UTF-16BE). */
export function stringValue(element: Element): string {
  if (element.tag === TAG.bmpString) return utf16BeText(element.content)
  if (!TEXT_TAGS.has(element.tag)) throw new VerificationError('ERR_CERT_MALFORMED', `malformed DER: tag 0x${element.tag.toString(16)} is not a string`)
  return element.tag === TAG.utf8String ? utf8Text(element.content) : latin1Text(element.content)
}

/** A UTCTime or GeneralizedTime (the `Z` forms RFC 5280 requires). */
export function timeValue(element: Element): Date {
  const text = latin1Text(element.content)
  const match =
    element.tag === TAG.utcTime
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
      : element.tag === TAG.generalizedTime
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text)
        : null
  if (match === null) throw new VerificationError('ERR_CERT_MALFORMED', `malformed DER: bad time "${text}"`)
  const [, y, mo, d, h, mi, s] = match.map(Number) as [number, number, number, number, number, number, number]
  // RFC 5280 §4.1.2.5.1: two-digit years 50-99 are 19xx, 00-49 are 20xx.
  const year = element.tag === TAG.utcTime ? (y >= 50 ? 1900 + y : 2000 + y) : y
  return new Date(Date.UTC(year, mo - 1, d, h, mi, s))
}
