/**
 * Parsing of NVIDIA RIMs (rim.ts describes them): the XML is read with @xmldom/xmldom, any DTD refused before it
 * is; the tree is walked once, bounded, with the first signature-wrapping defence (no XMLDSig element outside the
 * one enveloped ds:Signature, a direct child of the root); then the SoftwareIdentity, its Meta and Payload and the
 * KeyInfo certificates are read strictly. Structure only: who signed it is rim-signature.ts and rim-chain.ts.
 */
import { platform, utf8Length } from '@vouch/protocol'
import xmldom from '#xmldom'
import { VerificationError } from '../errors.js'
import type { RimDocument, RimMeasurement } from './rim.types.js'

/** Largest RIM accepted, in UTF-8 bytes. Real RIMs are about 20 KB. */
export const MAX_RIM_BYTES = 1024 * 1024
/** RIM indices run 0..63: one per SPDM measurement block (block k holds RIM index k-1). */
export const RIM_MAX_INDEX = 63

/** A node as @xmldom/xmldom 0.8 implements it: the subset read here. */
export interface XmlNode {
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
export interface XmlElement extends XmlNode {
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
 * xml-crypto's own parser, imported as `#xmldom` (package.json `imports`): the package itself at run time, typed by
 * xmldom.d.ts beside this file, because the package's typings reference the browser DOM lib, which would retype
 * `fetch` and friends for the whole verifier.
 */
const { DOMParser } = xmldom

/** The namespaces of a RIM, and XMLDSig's. */
export const NS = {
  swid: 'http://standards.iso.org/iso/19770/-2/2015/schema.xsd',
  rim: 'https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/',
  sha384: 'http://www.w3.org/2001/04/xmlenc#sha384',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const

/** A RIM nests 5 deep at most (Signature/KeyInfo/X509Data/X509Certificate); far deeper is refused before it is walked. */
const MAX_DEPTH = 16
const MAX_ALTERNATIVES = 64
const MAX_SIZE = 64
const ELEMENT_NODE = 1
const TEXT_NODE = 3
const PROCESSING_INSTRUCTION_NODE = 7

/** A parse, with the DOM node xml-crypto needs to check the signature. */
export interface ParsedRim {
  document: RimDocument
  xml: string
  signature: XmlElement
}

const malformed = (message: string, cause?: unknown): VerificationError =>
  new VerificationError('ERR_RIM_MALFORMED', message, cause === undefined ? undefined : { cause })
/** `ERR_RIM_SIGNATURE_STRUCTURE`: the signature is not the one shape accepted. */
export const structure = (message: string): VerificationError => new VerificationError('ERR_RIM_SIGNATURE_STRUCTURE', message)

export function elementChildren(node: XmlNode): XmlElement[] {
  return Array.from(node.childNodes).filter((n): n is XmlElement => n.nodeType === ELEMENT_NODE)
}

export function is(element: XmlElement, ns: string, localName: string): boolean {
  return element.namespaceURI === ns && element.localName === localName
}

/** The single child `ns:localName` of `parent`; `fail` builds the error when there is none or several. */
export function onlyChild(parent: XmlElement, ns: string, localName: string, fail: (message: string) => VerificationError): XmlElement {
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
export function base64(text: string, what: string, fail: (message: string) => VerificationError): Uint8Array {
  const compact = text.replace(/[\t\n\r ]+/g, '')
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw fail(`${what} is not base64`)
  return platform.base64ToBytes(compact)
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

/** Parses a RIM's text (`parseRim` in rim.ts lists what is refused), keeping the ds:Signature node for the signature check. */
export function parseRimXml(input: string): ParsedRim {
  if (typeof input !== 'string') throw new VerificationError('ERR_INPUT_INVALID', 'a RIM must be given as XML text')
  // A byte-order mark is not part of the XML; the same text then goes to xml-crypto.
  const xml = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input
  const bytes = utf8Length(xml)
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
