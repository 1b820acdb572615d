/**
 * Independent readers for the simulated NVIDIA tests: a minimal DER walker, the FWID decoders NVIDIA's
 * verifiers implement, and an inclusive C14N for RIM-shaped XML (elements, double-quoted attributes and
 * whitespace only), so that RIM signatures are checked without the code that wrote them.
 */
import { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = resolve(fileURLToPath(new URL('../../../..', import.meta.url)))
const FIXTURES_DIR = process.env['VOUCH_FIXTURES_DIR'] ?? resolve(REPO_ROOT, '../shared/fixtures')
export const NVIDIA_FIXTURES = join(FIXTURES_DIR, 'nvidia-gpu')
/** `false` when the real evidence is present, else the reason to skip. */
export const fixturesMissing: false | string = existsSync(NVIDIA_FIXTURES)
  ? false
  : `real evidence not found at ${NVIDIA_FIXTURES} (../shared/fixtures beside the repository); set VOUCH_FIXTURES_DIR to run these tests`

/** The DER certificates of a PEM file, in file order. */
export function pemCertificates(path: string): Uint8Array[] {
  const text = readFileSync(path, 'utf8')
  return [...text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].map(
    (m) => new Uint8Array(new X509Certificate(m[0]).raw),
  )
}

/** The certificates of a RIM's KeyInfo, in document order. */
export function rimCertificates(xml: string): Uint8Array[] {
  return [...xml.matchAll(/<ds:X509Certificate>([\s\S]*?)<\/ds:X509Certificate>/g)].map(
    (m) => new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')),
  )
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

// ---------------------------------------------------------------------------------------------------
// DER.

export interface Tlv {
  tag: number
  /** Offset of the tag byte. */
  offset: number
  /** Offset of the first content byte. */
  start: number
  /** Offset just past the content. */
  end: number
  bytes: Uint8Array
}

export function readTlv(bytes: Uint8Array, offset = 0): Tlv {
  const tag = bytes[offset]!
  const first = bytes[offset + 1]!
  const lengthBytes = first & 0x80 ? first & 0x7f : 0
  let length = lengthBytes === 0 ? first : 0
  for (let i = 0; i < lengthBytes; i++) length = length * 256 + bytes[offset + 2 + i]!
  const start = offset + 2 + lengthBytes
  return { tag, offset, start, end: start + length, bytes }
}

export function children(node: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let at = node.start; at < node.end; ) {
    const child = readTlv(node.bytes, at)
    out.push(child)
    at = child.end
  }
  return out
}

export const content = (node: Tlv): Uint8Array => node.bytes.subarray(node.start, node.end)
/** The whole TLV, header included. */
export const whole = (node: Tlv): Uint8Array => node.bytes.subarray(node.offset, node.end)

/** The extnValue content of a certificate extension, or undefined. */
export function extensionValue(der: Uint8Array, oid: string): Uint8Array | undefined {
  const tbs = children(readTlv(der))[0]!
  const extensions = children(tbs).find((t) => t.tag === 0xa3)
  if (extensions === undefined) return undefined
  for (const e of children(children(extensions)[0]!)) {
    const [id, ...rest] = children(e)
    if (decodeOid(content(id!)) === oid) return content(rest.at(-1)!)
  }
  return undefined
}

export function decodeOid(bytes: Uint8Array): string {
  const arcs: number[] = []
  let value = 0
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f)
    if ((b & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80)
      else arcs.push(value)
      value = 0
    }
  }
  return arcs.join('.')
}

/**
 * Hopper's FWID as NVIDIA's verifiers read it: `SEQUENCE { INTEGER 1, SubjectPublicKeyInfo, SEQUENCE { OID
 * sha384, OCTET STRING } }`; returns the digest and the embedded public key.
 */
export function hopperFwid(value: Uint8Array): { fwid: Uint8Array; spki: Uint8Array; version: number } {
  const [version, spki, fwid] = children(readTlv(value))
  const [alg, digest] = children(fwid!)
  if (decodeOid(content(alg!)) !== '2.16.840.1.101.3.4.2.2') throw new Error('FWID digest is not SHA-384')
  return { fwid: content(digest!), spki: whole(spki!), version: content(version!)[0]! }
}

/** Blackwell's FWID: fwids[0].digest of the TCG DICE TcbInfo (`[6] IMPLICIT SEQUENCE OF FWID`). */
export function blackwellFwid(value: Uint8Array): { fwid: Uint8Array; model: string; fwids: number } {
  const fields = children(readTlv(value))
  const model = Buffer.from(content(fields.find((f) => f.tag === 0x81)!)).toString('utf8')
  const list = children(fields.find((f) => f.tag === 0xa6)!)
  const [, digest] = children(list[0]!)
  return { fwid: content(digest!), model, fwids: list.length }
}

// ---------------------------------------------------------------------------------------------------
// Inclusive C14N (1.0, which equals 1.1 without xml:* attributes) for RIM-shaped documents.

interface Token {
  kind: 'start' | 'end' | 'text'
  name: string
  attrs: Array<[string, string]>
  selfClosing: boolean
  text: string
}

function tokenize(xml: string): Token[] {
  const tokens: Token[] = []
  const re = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[^\s=/>]+="[^"]*")*)\s*(\/?)>|([^<]+)/g
  for (const m of xml.matchAll(re)) {
    if (m[5] !== undefined) {
      tokens.push({ kind: 'text', name: '', attrs: [], selfClosing: false, text: m[5] })
      continue
    }
    const attrs = [...m[3]!.matchAll(/([^\s=]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!] as [string, string])
    tokens.push({ kind: m[1] === '/' ? 'end' : 'start', name: m[2]!, attrs, selfClosing: m[4] === '/', text: '' })
  }
  return tokens
}

const escapeAttr = (v: string): string =>
  v.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('"', '&quot;').replaceAll('\t', '&#x9;').replaceAll('\n', '&#xA;').replaceAll('\r', '&#xD;')
const escapeText = (v: string): string => v.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('\r', '&#xD;')
const unescape = (v: string): string =>
  v.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&apos;', "'").replaceAll('&amp;', '&')

/**
 * Canonicalises one element (the apex of `xml`, which must start with it) by inclusive C14N. `inherited`
 * holds the namespace bindings in scope from its ancestors (prefix → URI, `''` for the default): the
 * apex renders all of them, as C14N does for a document subset; descendants render only changes.
 */
export function canonicalize(xml: string, inherited: ReadonlyMap<string, string> = new Map()): string {
  const tokens = tokenize(xml.trim())
  let out = ''
  const scopes: Array<Map<string, string>> = []
  for (const t of tokens) {
    if (t.kind === 'text') {
      if (scopes.length > 0) out += escapeText(unescape(t.text))
      continue
    }
    if (t.kind === 'end') {
      out += `</${t.name}>`
      scopes.pop()
      if (scopes.length === 0) break
      continue
    }
    const parent = scopes.at(-1)
    const scope = new Map(parent ?? inherited)
    for (const [qname, value] of t.attrs) {
      if (qname === 'xmlns') scope.set('', unescape(value))
      else if (qname.startsWith('xmlns:')) scope.set(qname.slice(6), unescape(value))
    }
    const rendered = [...scope].filter(([prefix, uri]) => (parent === undefined ? !(prefix === '' && uri === '') : parent.get(prefix) !== uri))
    rendered.sort(([a], [b]) => (a === b ? 0 : a < b ? -1 : 1))
    const attrs = t.attrs
      .filter(([qname]) => qname !== 'xmlns' && !qname.startsWith('xmlns:'))
      .map(([qname, value]) => {
        const colon = qname.indexOf(':')
        const uri = colon === -1 ? '' : scope.get(qname.slice(0, colon))
        if (uri === undefined) throw new Error(`unbound prefix in ${qname}`)
        return { qname, value: unescape(value), uri, local: colon === -1 ? qname : qname.slice(colon + 1) }
      })
      .sort((a, b) => (a.uri === b.uri ? (a.local < b.local ? -1 : a.local > b.local ? 1 : 0) : a.uri < b.uri ? -1 : 1))
    out += `<${t.name}`
    for (const [prefix, uri] of rendered) out += prefix === '' ? ` xmlns="${escapeAttr(uri)}"` : ` xmlns:${prefix}="${escapeAttr(uri)}"`
    for (const a of attrs) out += ` ${a.qname}="${escapeAttr(a.value)}"`
    out += '>'
    if (t.selfClosing) {
      out += `</${t.name}>`
      if (scopes.length === 0) break
    } else {
      scopes.push(scope)
    }
  }
  return out
}

/** The namespace declarations of the first start tag in `xml`. */
export function declarations(xml: string): Map<string, string> {
  const first = tokenize(xml).find((t) => t.kind === 'start')!
  const out = new Map<string, string>()
  for (const [qname, value] of first.attrs) {
    if (qname === 'xmlns') out.set('', value)
    else if (qname.startsWith('xmlns:')) out.set(qname.slice(6), value)
  }
  return out
}

/** What an enveloped XMLDSig RIM signature covers, recomputed independently: the digest input and SignedInfo. */
export function rimSignedParts(xml: string): { document: string; signedInfo: string; digestValue: string; signatureValue: Uint8Array } {
  const signature = /<ds:Signature\b[\s\S]*?<\/ds:Signature>/.exec(xml)
  if (signature === null) throw new Error('no ds:Signature')
  const root = xml.slice(xml.indexOf('<SoftwareIdentity'))
  // enveloped-signature transform, then C14N of the document element.
  const document = canonicalize(root.replace(signature[0], ''))
  const signedInfoText = /<ds:SignedInfo>[\s\S]*?<\/ds:SignedInfo>/.exec(signature[0])![0]
  const inherited = new Map([...declarations(root), ...declarations(signature[0])])
  return {
    document,
    signedInfo: canonicalize(signedInfoText, inherited),
    digestValue: /<ds:DigestValue>([^<]*)<\/ds:DigestValue>/.exec(signature[0])![1]!,
    signatureValue: new Uint8Array(Buffer.from(/<ds:SignatureValue>([^<]*)<\/ds:SignatureValue>/.exec(signature[0])![1]!, 'base64')),
  }
}

/**
 * The layout of a RIM with every value blanked: attribute values, base64 contents and the number of
 * golden values per resource, so two RIMs compare element for element and attribute for attribute.
 */
export function rimSkeleton(xml: string): string {
  return xml
    .replace(/="[^"]*"/g, '=""')
    .replace(/(?: ns2:Hash\d+="")+/g, ' ns2:Hash*=""')
    .replace(/>[A-Za-z0-9+/=\n]+</g, '><')
    .trimEnd()
}
