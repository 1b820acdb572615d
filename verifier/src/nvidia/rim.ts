/**
 * NVIDIA RIMs (reference integrity manifests): the signed golden measurements of a GPU driver or
 * VBIOS, as ISO/IEC 19770-2 SWID tags with TCG RIM-IM metadata and an enveloped XMLDSig
 * (spec nvidia-gpu-format.md §4). Parsing reads the XML with @xmldom/xmldom and refuses any DTD;
 * the signature is checked by xml-crypto, restricted to the one algorithm set NVIDIA uses and to
 * the key of the KeyInfo leaf only after its chain verified up to a pinned root.
 */
import { createHash, verify as verifySignatureRaw, type KeyLike, type KeyObject } from 'node:crypto'
import { createRequire } from 'node:module'
import { bytesEqual } from '@vouch/protocol'
import { C14nCanonicalization, SignedXml, type HashAlgorithm, type SignatureAlgorithm as XmlSignatureAlgorithm } from 'xml-crypto'
import type { Policy } from '../policy/types.js'
import { VerificationError, type VerificationErrorCode } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import { CheckCollector, type Result } from '../result.js'
import {
  commonName,
  parseCertificate,
  requireCa,
  requireKey,
  requireLeaf,
  requireValidAt,
  sha256Hex,
  verifyIssuedBy,
  type Certificate,
  type SignatureAlgorithm,
} from '../x509/certificate.js'
import { DEFAULT_NVIDIA_TRUST, type NvidiaAnchor, type NvidiaTrust } from './trust.js'

/** Largest RIM accepted, in UTF-8 bytes. Real RIMs are about 20 KB. */
export const MAX_RIM_BYTES = 1024 * 1024
/** RIM indices run 0..63: one per SPDM measurement block (block k holds RIM index k-1). */
export const RIM_MAX_INDEX = 63

/** A node as @xmldom/xmldom 0.8 implements it: the subset read here. */
interface XmlNode {
  readonly nodeType: number
  readonly nodeName: string
  readonly nodeValue: string | null
  readonly textContent: string | null
  readonly parentNode: XmlNode | null
  readonly childNodes: ArrayLike<XmlNode>
}

/** An attribute node; `namespaceURI` is undefined, not null, for an unqualified one. */
interface XmlAttr {
  readonly name: string
  readonly localName: string | null
  readonly prefix: string | null
  readonly namespaceURI: string | null | undefined
}

/** An element node; `getAttribute*` return '' (not null) for a missing attribute. */
interface XmlElement extends XmlNode {
  readonly localName: string
  readonly prefix: string | null
  readonly namespaceURI: string | null | undefined
  readonly attributes: ArrayLike<XmlAttr>
  hasAttribute(name: string): boolean
  getAttribute(name: string): string | null
  hasAttributeNS(ns: string, name: string): boolean
  getAttributeNS(ns: string, name: string): string | null
}

/**
 * xml-crypto's own parser, loaded untyped: the package's typings reference the browser DOM lib, which
 * would retype `fetch` and friends for the whole verifier.
 */
const { DOMParser } = createRequire(import.meta.url)('@xmldom/xmldom') as {
  DOMParser: new (options: { errorHandler: (level: string, message: unknown) => void }) => {
    parseFromString(xml: string, mimeType: 'text/xml'): XmlNode
  }
}

const NS = {
  swid: 'http://standards.iso.org/iso/19770/-2/2015/schema.xsd',
  rim: 'https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/',
  sha384: 'http://www.w3.org/2001/04/xmlenc#sha384',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const

/** The only algorithms accepted, by exact URI. */
const ALGORITHM = {
  c14n11: 'http://www.w3.org/2006/12/xml-c14n11',
  enveloped: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
  ecdsaSha384: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384',
  sha384: 'http://www.w3.org/2001/04/xmldsig-more#sha384',
} as const

/** NVIDIA signs every link of a RIM chain with ECDSA P-384 SHA-384 (all real Hopper and Blackwell chains). */
export const RIM_SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [{ kind: 'ecdsa', hash: 'sha384' }]
const RIM_KEY = { type: 'ec', curve: 'P-384' } as const
/** A RIM nests 5 deep at most (Signature/KeyInfo/X509Data/X509Certificate); far deeper is refused before it is walked. */
const MAX_DEPTH = 16
const MAX_ALTERNATIVES = 64
const MAX_SIZE = 64
const ELEMENT_NODE = 1
const TEXT_NODE = 3
const PROCESSING_INSTRUCTION_NODE = 7

/** One `Resource type="Measurement"` of the Payload. */
export interface RimMeasurement {
  /** RIM index 0..63; the runtime value is SPDM measurement block `index + 1`. */
  readonly index: number
  /** Inactive entries are not compared. */
  readonly active: boolean
  readonly name: string
  /** Digest size in bytes (48 for SHA-384). */
  readonly size: number
  /** `Hash0`..`Hash(alternatives-1)`, lower-case hex: the runtime value may equal any one. */
  readonly alternatives: readonly string[]
}

/** A parsed RIM. Parsing checks structure only: {@link verifyRim} checks who signed it. */
export interface RimDocument {
  /** `SoftwareIdentity/@tagId`. */
  readonly tagId: string
  /** `SoftwareIdentity/@name`, such as "GH100". */
  readonly name: string
  /** `Meta/@product`, such as "GH100". */
  readonly product: string
  /** `Meta/@colloquialVersion`: the driver version ("550.144.03") or VBIOS version ("96.00.5E.00.01"). */
  readonly colloquialVersion: string
  /** `Meta/@rim:FirmwareManufacturerId` ("5703" for NVIDIA). */
  readonly firmwareManufacturerId: string
  /** `Meta/@rim:PlatformModel`, such as "GH100". */
  readonly platformModel: string
  /** Every measurement entry, in document order, indices unique. */
  readonly measurements: readonly RimMeasurement[]
  /** The KeyInfo `X509Certificate`s as DER, in document order: signer first, root last. */
  readonly certificates: readonly Uint8Array[]
}

/** What an authentic RIM says, as claims. Hex is lower case. */
export interface RimClaims {
  tagId: string
  product: string
  /** `colloquialVersion`: compared with the report's driver or VBIOS version. */
  version: string
  manufacturerId: string
  /** The CN of the certificate that signed the RIM. */
  signer: string
  /** RIM indices of the active measurements, ascending. */
  activeIndices: number[]
  /** The earliest notAfter of the KeyInfo certificates, ISO 8601: when the RIM stops verifying. */
  certificateNotAfter: string
  /** Whether the root is a simulated anchor (always false for NVIDIA's). */
  simulated: boolean
}

/** How to verify a RIM. Every field is optional and says what happens when it is unset. */
export interface RimVerifyOptions {
  /** The clock for certificate validity. Unset: now. RIM signing certificates live about two years. */
  at?: Date
  /** Pinned roots; only `rimRoots` is used here. Unset: {@link DEFAULT_NVIDIA_TRUST}. */
  trust?: NvidiaTrust
}

/** What {@link checkRim} established, for a caller that goes on to compare golden measurements. */
export interface RimCheck {
  /** The parsed RIM, or null when it did not parse. Its values are golden only if `authentic`. */
  document: RimDocument | null
  /** What the RIM says (null when it did not parse), whether or not it verified: read `authentic` first. */
  claims: RimClaims | null
  /** Whether every check this RIM recorded passed: structure, chain to a pinned root, validity, signature. */
  authentic: boolean
}

/** A parse, with the DOM node xml-crypto needs to check the signature. */
interface ParsedRim {
  document: RimDocument
  xml: string
  signature: XmlElement
}

const malformed = (message: string, cause?: unknown): VerificationError =>
  new VerificationError('ERR_RIM_MALFORMED', message, cause === undefined ? undefined : { cause })
const structure = (message: string): VerificationError => new VerificationError('ERR_RIM_SIGNATURE_STRUCTURE', message)

function elementChildren(node: XmlNode): XmlElement[] {
  return Array.from(node.childNodes).filter((n): n is XmlElement => n.nodeType === ELEMENT_NODE)
}

function is(element: XmlElement, ns: string, localName: string): boolean {
  return element.namespaceURI === ns && element.localName === localName
}

/** The single child `ns:localName` of `parent`; `fail` builds the error when there is none or several. */
function onlyChild(parent: XmlElement, ns: string, localName: string, fail: (message: string) => VerificationError): XmlElement {
  const found = elementChildren(parent).filter((c) => is(c, ns, localName))
  if (found.length !== 1) throw fail(`<${parent.localName}> must hold exactly one <${localName}>, found ${found.length}`)
  return found[0]!
}

/** A required attribute (xmldom returns '' for a missing one, so presence is checked separately). */
function attribute(element: XmlElement, ns: string | null, name: string): string {
  const present = ns === null ? element.hasAttribute(name) : element.hasAttributeNS(ns, name)
  if (!present) throw malformed(`<${element.localName}> lacks the attribute ${ns === null ? name : `{${ns}}${name}`}`)
  return ns === null ? element.getAttribute(name)! : element.getAttributeNS(ns, name)!
}

function nonEmpty(element: XmlElement, ns: string | null, name: string): string {
  const value = attribute(element, ns, name)
  if (value.trim() === '') throw malformed(`<${element.localName}> has an empty ${name}`)
  return value
}

/** A canonical decimal integer in [min, max]: no sign, no leading zeros, so "7" and "07" cannot both name index 7. */
function decimal(element: XmlElement, name: string, min: number, max: number): number {
  const text = attribute(element, null, name)
  const value = /^(0|[1-9][0-9]{0,5})$/.test(text) ? Number(text) : NaN
  if (!(value >= min && value <= max)) throw malformed(`<${element.localName}> ${name}="${text}" is not an integer from ${min} to ${max}`)
  return value
}

/** Strict base64 (whitespace allowed between characters, as XML line-wraps it). */
function base64(text: string, what: string, fail: (message: string) => VerificationError): Uint8Array {
  const compact = text.replace(/[\t\n\r ]+/g, '')
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw fail(`${what} is not base64`)
  return new Uint8Array(Buffer.from(compact, 'base64'))
}

function parseXml(xml: string): XmlNode {
  const messages: string[] = []
  let dom: XmlNode
  try {
    // Every message counts, warnings included: xmldom recovers from errors a strict parser would refuse.
    const errorHandler = (level: string, message: unknown): void => {
      messages.push(`${level}: ${String(message).replace(/\s+/g, ' ').trim()}`)
    }
    dom = new DOMParser({ errorHandler }).parseFromString(xml, 'text/xml')
  } catch (cause) {
    throw malformed(`not well-formed XML: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
  }
  if (messages.length > 0) throw malformed(`not well-formed XML (${messages[0]})`)
  return dom
}

/** The document element, with nothing but an XML declaration and white space around it. */
function documentElement(dom: XmlNode): XmlElement {
  let root: XmlElement | undefined
  for (const node of Array.from(dom.childNodes)) {
    if (node.nodeType === ELEMENT_NODE && root === undefined) root = node as XmlElement
    else if (node.nodeType === TEXT_NODE && /^[\t\n\r ]*$/.test(node.nodeValue ?? '')) continue
    else if (node.nodeType === PROCESSING_INSTRUCTION_NODE && node.nodeName === 'xml' && root === undefined) continue
    else throw malformed(`${node.nodeName} outside the document element`)
  }
  if (root === undefined) throw malformed('no document element')
  if (!is(root, NS.swid, 'SoftwareIdentity')) throw malformed(`the document element is <${root.nodeName}>, not an ISO 19770-2 SoftwareIdentity`)
  return root
}

/**
 * Walks every element once: bounded depth, every prefix bound, no `xml:*` attribute (C14N 1.1 is
 * computed as C14N 1.0, which agrees with it only without them), and no XMLDSig element outside the
 * one enveloped ds:Signature, a direct child of the root (signature-wrapping defence). Returns it.
 */
function checkTree(root: XmlElement): XmlElement {
  let signature: XmlElement | undefined
  const stack: Array<{ element: XmlElement; depth: number; inSignature: boolean }> = [{ element: root, depth: 0, inSignature: false }]
  while (stack.length > 0) {
    const { element, depth, inSignature } = stack.pop()!
    if (depth > MAX_DEPTH) throw malformed(`elements nest deeper than ${MAX_DEPTH}`)
    if (element.prefix && !element.namespaceURI) throw malformed(`<${element.nodeName}> uses an unbound namespace prefix`)
    for (const attr of Array.from(element.attributes)) {
      if (attr.namespaceURI === NS.xml) throw malformed(`<${element.localName}> carries ${attr.name}: xml:* attributes are not accepted`)
      if (attr.prefix && !attr.namespaceURI) throw malformed(`<${element.localName}> attribute ${attr.name} uses an unbound namespace prefix`)
    }
    let inside = inSignature
    // xml-crypto finds SignedInfo by local name anywhere in the document, so those count too.
    const dsig = element.namespaceURI === NS.ds || element.localName === 'Signature' || element.localName === 'SignedInfo'
    if (!inSignature && dsig) {
      if (!is(element, NS.ds, 'Signature') || element.parentNode !== root) {
        throw structure(`<${element.nodeName}> outside the enveloped ds:Signature, which must be the one child of SoftwareIdentity`)
      }
      if (signature !== undefined) throw structure('the document holds more than one ds:Signature')
      signature = element
      inside = true
    }
    for (const child of elementChildren(element)) stack.push({ element: child, depth: depth + 1, inSignature: inside })
  }
  if (signature === undefined) throw structure('the document holds no enveloped ds:Signature')
  return signature
}

function parseMeasurement(resource: XmlElement): RimMeasurement {
  if (!is(resource, NS.swid, 'Resource')) throw malformed(`<Payload> holds <${resource.nodeName}>; only Resource elements are accepted`)
  const type = attribute(resource, null, 'type')
  if (type !== 'Measurement') throw malformed(`Resource type "${type}" is not Measurement`)
  const index = decimal(resource, 'index', 0, RIM_MAX_INDEX)
  const activeText = attribute(resource, null, 'active')
  if (!['True', 'False', 'true', 'false'].includes(activeText)) throw malformed(`Resource ${index}: active="${activeText}" is not True or False`)
  const count = decimal(resource, 'alternatives', 1, MAX_ALTERNATIVES)
  const size = decimal(resource, 'size', 1, MAX_SIZE)
  const alternatives: string[] = []
  for (let i = 0; i < count; i++) {
    if (!resource.hasAttributeNS(NS.sha384, `Hash${i}`)) {
      throw malformed(`Resource ${index}: alternatives="${count}" but Hash${i} is missing`)
    }
    const hash = resource.getAttributeNS(NS.sha384, `Hash${i}`)!
    if (hash.length !== 2 * size || !/^[0-9a-fA-F]+$/.test(hash)) {
      throw malformed(`Resource ${index}: Hash${i} is not ${2 * size} hex digits (size ${size})`)
    }
    alternatives.push(hash.toLowerCase())
  }
  for (const attr of Array.from(resource.attributes)) {
    // A HashN beyond `alternatives`, or in another namespace, would be a golden value nobody compares.
    const m = /^Hash([0-9]+)$/.exec(attr.localName ?? '')
    if (m !== null && (attr.namespaceURI !== NS.sha384 || attr.localName !== `Hash${Number(m[1])}` || Number(m[1]) >= count)) {
      throw malformed(`Resource ${index}: ${attr.name} does not match alternatives="${count}"`)
    }
  }
  const name = attribute(resource, null, 'name')
  return Object.freeze({ index, active: activeText.toLowerCase() === 'true', name, size, alternatives: Object.freeze(alternatives) })
}

function parseCertificates(signature: XmlElement): Uint8Array[] {
  for (const child of elementChildren(signature)) {
    if (!(child.namespaceURI === NS.ds && ['SignedInfo', 'SignatureValue', 'KeyInfo'].includes(child.localName))) {
      throw structure(`ds:Signature holds <${child.nodeName}>; only SignedInfo, SignatureValue and KeyInfo are accepted`)
    }
  }
  const keyInfo = onlyChild(signature, NS.ds, 'KeyInfo', structure)
  const certificates: Uint8Array[] = []
  for (const data of elementChildren(keyInfo)) {
    if (!is(data, NS.ds, 'X509Data')) throw structure(`KeyInfo holds <${data.nodeName}>; only X509Data is accepted`)
    for (const cert of elementChildren(data)) {
      if (!is(cert, NS.ds, 'X509Certificate')) throw structure(`X509Data holds <${cert.nodeName}>; only X509Certificate is accepted`)
      certificates.push(base64(cert.textContent ?? '', `X509Certificate ${certificates.length + 1}`, structure))
    }
  }
  if (certificates.length === 0) throw structure('KeyInfo holds no X509Certificate')
  return certificates
}

function parseRimXml(input: string): ParsedRim {
  if (typeof input !== 'string') throw new VerificationError('ERR_INPUT_INVALID', 'a RIM must be given as XML text')
  // A byte-order mark is not part of the XML; the same text then goes to xml-crypto.
  const xml = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input
  const bytes = Buffer.byteLength(xml, 'utf8')
  if (bytes > MAX_RIM_BYTES) throw malformed(`${bytes} bytes, over the ${MAX_RIM_BYTES}-byte limit`)
  // Refused before any parser sees it: a DTD is how XXE and entity expansion get in, and RIMs have none.
  if (xml.includes('<!DOCTYPE') || xml.includes('<!ENTITY')) throw malformed('a DTD (DOCTYPE or ENTITY declaration) is refused')
  const root = documentElement(parseXml(xml))
  const signature = checkTree(root)
  for (const child of elementChildren(root)) {
    if (child !== signature && child.namespaceURI !== NS.swid) throw malformed(`SoftwareIdentity holds <${child.nodeName}> from another namespace`)
  }
  const meta = onlyChild(root, NS.swid, 'Meta', malformed)
  const payload = onlyChild(root, NS.swid, 'Payload', malformed)
  const measurements = elementChildren(payload).map(parseMeasurement)
  if (measurements.length === 0) throw malformed('Payload holds no measurement')
  const seen = new Set<number>()
  for (const m of measurements) {
    if (seen.has(m.index)) throw malformed(`measurement index ${m.index} appears twice`)
    seen.add(m.index)
  }
  const document: RimDocument = Object.freeze({
    tagId: nonEmpty(root, null, 'tagId'),
    name: nonEmpty(root, null, 'name'),
    product: nonEmpty(meta, null, 'product'),
    colloquialVersion: nonEmpty(meta, null, 'colloquialVersion'),
    firmwareManufacturerId: nonEmpty(meta, NS.rim, 'FirmwareManufacturerId'),
    platformModel: nonEmpty(meta, NS.rim, 'PlatformModel'),
    measurements: Object.freeze(measurements),
    certificates: Object.freeze(parseCertificates(signature)),
  })
  return { document, xml, signature }
}

/**
 * Parses a RIM: the SoftwareIdentity with its Meta and Payload, and the KeyInfo certificates of its
 * one enveloped signature. Checks structure only (nothing about who signed it: use {@link verifyRim}).
 * Throws `ERR_RIM_MALFORMED` (not well-formed, a DTD, over {@link MAX_RIM_BYTES}, missing Meta or
 * Payload, duplicate indices, alternatives that disagree with the Hash attributes, hashes that are
 * not 2×size hex digits) or `ERR_RIM_SIGNATURE_STRUCTURE` (no signature, or more than one).
 */
export function parseRim(xml: string): RimDocument {
  const text = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml
  const sha256 = sha256Hex(Buffer.from(text, 'utf8'))
  const cached = documentCache.get(sha256)
  if (cached !== undefined) return cached
  return documentCache.set(sha256, parseRimXml(text).document)
}

/** Parsed RIMs by SHA-256 of their text; a RIM is verified once per GPU report that names it. */
const documentCache = new BoundedCache<RimDocument>(64)
/** XML signature outcomes by `<SHA-256 of the text>:<SHA-256 of the signing certificate>`. */
const signatureCache = new BoundedCache<{ code: VerificationErrorCode; message: string } | true>(64)

/** Empties the RIM caches; benchmarks use it to measure cold verification. */
export function clearRimCaches(): void {
  documentCache.clear()
  signatureCache.clear()
}

function isSelfSigned(cert: Certificate): boolean {
  return bytesEqual(cert.subjectDer, cert.issuerDer)
}

function label(cert: Certificate): string {
  return `"${commonName(cert.subject) || cert.subject}"`
}

/** Checks that the last KeyInfo certificate is a pinned root, self-signed, a P-384 CA. Throws `ERR_CHAIN_UNTRUSTED` otherwise. */
function verifyRimRoot(certs: readonly Certificate[], anchors: readonly NvidiaAnchor[]): NvidiaAnchor {
  const last = certs[certs.length - 1]!
  if (certs.length < 2 || !isSelfSigned(last)) {
    throw new VerificationError(
      'ERR_CHAIN_UNTRUSTED',
      `KeyInfo ends with ${label(last)}, issued by "${last.issuer}": no self-signed root certificate follows the signer`,
    )
  }
  const anchor = anchors.find((a) => a.spkiSha256 === last.spkiSha256)
  if (anchor === undefined) {
    throw new VerificationError('ERR_CHAIN_UNTRUSTED', `RIM root ${label(last)} is not a pinned NVIDIA RIM root (SPKI SHA-256 ${last.spkiSha256})`)
  }
  verifyIssuedBy(last, last, RIM_SIGNATURE_ALGORITHMS, `RIM root ${label(last)} self-signature`)
  requireKey(last, RIM_KEY, `RIM root ${label(last)}`)
  requireCa(last, `RIM root ${label(last)}`)
  return anchor
}

/** Checks each KeyInfo certificate is issued by the next, CAs above a P-384 signing leaf. Returns the chain's names. */
function verifyRimChain(certs: readonly Certificate[]): string {
  const leaf = certs[0]!
  requireKey(leaf, RIM_KEY, `RIM signer ${label(leaf)}`)
  requireLeaf(leaf, `RIM signer ${label(leaf)}`)
  if (leaf.keyUsage !== null && !leaf.keyUsage.digitalSignature) {
    throw new VerificationError('ERR_CHAIN_CONSTRAINTS', `RIM signer ${label(leaf)}: key usage does not allow digital signatures`)
  }
  for (let i = 0; i + 1 < certs.length; i++) {
    const child = certs[i]!
    const issuer = certs[i + 1]!
    const what = i === 0 ? `RIM signer ${label(child)}` : `RIM CA ${label(child)}`
    verifyIssuedBy(child, issuer, RIM_SIGNATURE_ALGORITHMS, what)
    requireKey(issuer, RIM_KEY, `RIM CA ${label(issuer)}`)
    requireCa(issuer, `RIM CA ${label(issuer)}`)
  }
  return certs.map((c) => commonName(c.subject) || c.subject).join(' ← ')
}

function verifyRimValidity(certs: readonly Certificate[], at: Date): string {
  // An invalid Date compares false both ways, which would pass every validity check.
  if (Number.isNaN(at.getTime())) throw new VerificationError('ERR_INPUT_INVALID', 'the verification time is not a valid date')
  for (const cert of certs) requireValidAt(cert, at, `RIM certificate ${label(cert)}`)
  const first = earliestNotAfter(certs).toISOString()
  return `all ${certs.length} certificates are valid at ${at.toISOString()}; the first to expire does so ${first}`
}

function earliestNotAfter(certs: readonly Certificate[]): Date {
  return certs.reduce((min, c) => (c.notAfter < min ? c.notAfter : min), certs[0]!.notAfter)
}

function dsChild(parent: XmlElement, localName: string): XmlElement {
  return onlyChild(parent, NS.ds, localName, structure)
}

function algorithmOf(element: XmlElement): string {
  if (elementChildren(element).length > 0) throw structure(`<${element.localName}> must not hold parameters`)
  return element.getAttribute('Algorithm') ?? ''
}

function requireAlgorithm(what: string, got: string, want: string): void {
  if (got !== want) throw new VerificationError('ERR_RIM_SIGNATURE_ALGORITHM', `${what} must be ${want}, got "${got}"`)
}

/**
 * Checks SignedInfo is the one shape NVIDIA signs: C14N 1.1, ECDSA-SHA384, one Reference to the
 * whole document (URI "") with the enveloped-signature and C14N 1.1 transforms and a SHA-384 digest.
 */
function checkSignedInfo(signature: XmlElement): void {
  const signedInfo = dsChild(signature, 'SignedInfo')
  const names = elementChildren(signedInfo).map((c) => (c.namespaceURI === NS.ds ? c.localName : c.nodeName))
  if (names.join(',') !== 'CanonicalizationMethod,SignatureMethod,Reference') {
    throw structure(`SignedInfo must hold CanonicalizationMethod, SignatureMethod and one Reference; it holds ${names.join(', ')}`)
  }
  requireAlgorithm('CanonicalizationMethod', algorithmOf(dsChild(signedInfo, 'CanonicalizationMethod')), ALGORITHM.c14n11)
  requireAlgorithm('SignatureMethod', algorithmOf(dsChild(signedInfo, 'SignatureMethod')), ALGORITHM.ecdsaSha384)
  const reference = dsChild(signedInfo, 'Reference')
  // Only the whole document may be signed: an Id-based reference can be pointed at a wrapped copy.
  if (!reference.hasAttribute('URI') || reference.getAttribute('URI') !== '') {
    const got = reference.hasAttribute('URI') ? `URI="${reference.getAttribute('URI')}"` : 'no URI'
    throw structure(`the Reference must have URI="" (the whole document), it has ${got}`)
  }
  const parts = elementChildren(reference).map((c) => (c.namespaceURI === NS.ds ? c.localName : c.nodeName))
  if (parts.join(',') !== 'Transforms,DigestMethod,DigestValue') {
    throw structure(`Reference must hold Transforms, DigestMethod and DigestValue; it holds ${parts.join(', ')}`)
  }
  const transforms = elementChildren(dsChild(reference, 'Transforms')).map((t) => {
    if (!is(t, NS.ds, 'Transform')) throw structure(`Transforms holds <${t.nodeName}>`)
    return algorithmOf(t)
  })
  if (transforms.join(' ') !== `${ALGORITHM.enveloped} ${ALGORITHM.c14n11}`) {
    const got = transforms.join(', ') || 'none'
    throw new VerificationError('ERR_RIM_SIGNATURE_ALGORITHM', `Reference transforms must be enveloped-signature then C14N 1.1, got ${got}`)
  }
  requireAlgorithm('DigestMethod', algorithmOf(dsChild(reference, 'DigestMethod')), ALGORITHM.sha384)
  const digest = base64(dsChild(reference, 'DigestValue').textContent ?? '', 'DigestValue', structure)
  if (digest.length !== 48) throw structure(`DigestValue is ${digest.length} bytes, not the 48 of SHA-384`)
  const value = base64(dsChild(signature, 'SignatureValue').textContent ?? '', 'SignatureValue', structure)
  if (value.length !== 96) {
    throw new VerificationError('ERR_RIM_SIGNATURE_INVALID', `SignatureValue is ${value.length} bytes, not the 96 of an ECDSA P-384 r‖s`)
  }
}

/** xml-crypto implements inclusive C14N 1.0; without xml:* attributes (refused when parsing) 1.1 is byte-identical. */
class C14n11 extends C14nCanonicalization {
  override getAlgorithmName(): string {
    return ALGORITHM.c14n11
  }
}

class Sha384 implements HashAlgorithm {
  getHash(xml: string): string {
    return createHash('sha384').update(xml, 'utf8').digest('base64')
  }

  getAlgorithmName(): string {
    return ALGORITHM.sha384
  }
}

/**
 * Verifies the enveloped signature with xml-crypto. Its algorithm tables are replaced by exactly the
 * accepted ones, and the signature algorithm is bound to `key`: whatever key xml-crypto would find
 * (it is told to find none) is ignored.
 */
function verifyXmlSignature(parsed: ParsedRim, key: KeyObject): void {
  let verdict: boolean | undefined
  class EcdsaSha384 implements XmlSignatureAlgorithm {
    getSignature(): never {
      throw new Error('RIMs are only verified here')
    }

    verifySignature(material: string, _key: KeyLike, signatureValue: string): boolean {
      const signature = Buffer.from(signatureValue.replace(/\s+/g, ''), 'base64')
      try {
        // XMLDSig ECDSA (RFC 4050/6931) carries r‖s, not DER.
        const data = Buffer.from(material, 'utf8')
        verdict = signature.length === 96 && verifySignatureRaw('sha384', data, { key, dsaEncoding: 'ieee-p1363' }, signature)
      } catch {
        verdict = false
      }
      return verdict
    }

    getAlgorithmName(): string {
      return ALGORITHM.ecdsaSha384
    }
  }
  const signed = new SignedXml({ publicCert: key, getCertFromKeyInfo: () => null })
  const enveloped = signed.CanonicalizationAlgorithms[ALGORITHM.enveloped]!
  signed.CanonicalizationAlgorithms = { [ALGORITHM.c14n11]: C14n11, [ALGORITHM.enveloped]: enveloped }
  signed.HashAlgorithms = { [ALGORITHM.sha384]: Sha384 }
  signed.SignatureAlgorithms = { [ALGORITHM.ecdsaSha384]: EcdsaSha384 }
  let referencesValid: boolean
  try {
    signed.loadSignature(parsed.signature)
    // checkSignature digests the reference first: false means the digest did not match.
    referencesValid = signed.checkSignature(parsed.xml)
  } catch (cause) {
    if (verdict === false) {
      throw new VerificationError('ERR_RIM_SIGNATURE_INVALID', 'the ECDSA P-384 signature over SignedInfo does not verify under the RIM signer', { cause })
    }
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new VerificationError('ERR_RIM_SIGNATURE_STRUCTURE', `the signature could not be checked: ${reason}`, { cause })
  }
  if (!referencesValid) {
    throw new VerificationError(
      'ERR_RIM_DIGEST_MISMATCH',
      'the SHA-384 digest of the canonical document is not the signed DigestValue: the RIM was changed after it was signed',
    )
  }
  if (verdict !== true) throw new VerificationError('ERR_RIM_SIGNATURE_INVALID', 'the signature was not checked under the RIM signer')
}

function verifyRimSignature(xml: string, sha256: string, fresh: ParsedRim | undefined, leaf: Certificate): string {
  const key = `${sha256}:${leaf.sha256}`
  let outcome = signatureCache.get(key)
  if (outcome === undefined) {
    try {
      const parsed = fresh ?? parseRimXml(xml)
      checkSignedInfo(parsed.signature)
      verifyXmlSignature(parsed, leaf.publicKey)
      outcome = true
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error
      outcome = { code: error.code, message: error.message }
    }
    signatureCache.set(key, outcome)
  }
  if (outcome !== true) throw new VerificationError(outcome.code, outcome.message)
  return `enveloped XMLDSig (C14N 1.1, SHA-384 digest, ECDSA P-384 SHA-384) verifies under ${label(leaf)}`
}

function toClaims(document: RimDocument, certs: readonly Certificate[], anchor: NvidiaAnchor | undefined): RimClaims {
  return {
    tagId: /^[0-9a-fA-F]+$/.test(document.tagId) ? document.tagId.toLowerCase() : document.tagId,
    product: document.product,
    version: document.colloquialVersion,
    manufacturerId: document.firmwareManufacturerId,
    signer: commonName(certs[0]!.subject),
    activeIndices: document.measurements.filter((m) => m.active).map((m) => m.index).sort((a, b) => a - b),
    certificateNotAfter: earliestNotAfter(certs).toISOString(),
    simulated: anchor?.simulated ?? false,
  }
}

/**
 * Checks one RIM and records `<prefix>.parse`, `<prefix>.root`, `<prefix>.chain`, `<prefix>.validity`
 * and `<prefix>.signature` in `checks`. The signature is checked only under a signer whose chain
 * verified to a pinned root. Synchronous core of {@link verifyRim}, for callers that verify a GPU
 * report with its driver and VBIOS RIMs (prefixes `rim.driver`, `rim.vbios`). Does not throw for bad evidence.
 */
export function checkRim(xml: string, options: RimVerifyOptions, checks: CheckCollector, prefix = 'rim'): RimCheck {
  const failuresBefore = checks.errors.length
  const at = options.at ?? new Date()
  const anchors = (options.trust ?? DEFAULT_NVIDIA_TRUST).rimRoots
  const id = (step: string): string => `${prefix}.${step}`

  let sha256 = ''
  let fresh: ParsedRim | undefined
  let document: RimDocument | undefined
  let certs: Certificate[] = []
  const parsed = checks.run(id('parse'), () => {
    const text = typeof xml === 'string' && xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml
    sha256 = typeof text === 'string' ? sha256Hex(Buffer.from(text, 'utf8')) : ''
    document = documentCache.get(sha256)
    if (document === undefined) {
      fresh = parseRimXml(text)
      document = fresh.document
    }
    certs = document.certificates.map((der, i) => parseCertificate(der, `RIM KeyInfo certificate ${i + 1}`))
    if (fresh !== undefined) documentCache.set(sha256, document)
    const active = document.measurements.filter((m) => m.active).length
    const { product, colloquialVersion, measurements } = document
    return `${product} RIM version ${colloquialVersion}: ${measurements.length} measurements, ${active} active; ${certs.length} KeyInfo certificates`
  })
  if (!parsed || document === undefined) {
    for (const step of ['root', 'chain', 'validity', 'signature']) checks.skip(id(step), 'the RIM did not parse')
    return { document: null, claims: null, authentic: false }
  }

  let anchor: NvidiaAnchor | undefined
  const rootOk = checks.run(id('root'), () => {
    anchor = verifyRimRoot(certs, anchors)
    const kind = anchor.simulated ? 'simulated' : 'NVIDIA'
    return `${label(certs[certs.length - 1]!)} is a pinned ${kind} RIM root (SPKI SHA-256 ${anchor.spkiSha256})`
  })
  const chainOk = checks.run(id('chain'), () => verifyRimChain(certs))
  try {
    checks.pass(id('validity'), verifyRimValidity(certs, at))
  } catch (error) {
    const expired = error instanceof VerificationError && error.code === 'ERR_CHAIN_EXPIRED'
    const hint = 'RIM signing certificates live about two years: fetch the current RIM for this driver or VBIOS'
    checks.failWith(id('validity'), error, expired ? hint : undefined)
  }
  if (rootOk && chainOk) checks.run(id('signature'), () => verifyRimSignature(xml, sha256, fresh, certs[0]!))
  else checks.skip(id('signature'), 'the signing certificate does not chain to a pinned root, so its key is not used')

  return { document, claims: toClaims(document, certs, anchor), authentic: checks.errors.length === failuresBefore }
}

/**
 * Verifies an NVIDIA RIM: its structure, the KeyInfo chain up to a pinned NVIDIA CoRIM signing root,
 * every certificate's validity at `options.at`, and the enveloped XML signature under the signer.
 * Resolves to a Result whose claims describe the RIM (null if it did not parse); it does not throw
 * for bad evidence. Golden values are compared with a report by `compareGoldenMeasurements`.
 *
 * @example
 * ```ts
 * const result = await verifyRim(readFileSync('NV_GPU_DRIVER_GH100_550.144.03.xml', 'utf8'), { at: new Date('2025-06-01') })
 * if (result.verdict !== 'accepted') console.error(result.errors)
 * ```
 */
export async function verifyRim(xml: string, options: RimVerifyOptions & { policy?: Policy } = {}): Promise<Result<RimClaims | null>> {
  const checks = new CheckCollector()
  const { claims, authentic } = checkRim(xml, options, checks)
  // Simulated RIMs verify like real ones; accepting them is the policy's call, as for all simulated evidence.
  if (authentic && claims?.simulated) {
    if (options.policy?.allowSimulated === true) checks.pass('policy.simulated', `simulated RIM, allowed by policy "${options.policy.name}"`)
    else checks.fail('policy.simulated', 'ERR_POLICY_SAMPLE_TEE', 'the RIM is signed under the simulated RIM root; only a policy with allowSimulated: true accepts it', 'verify with --policy policies/dev-simulated.yaml')
  }
  return checks.toResult(claims)
}
