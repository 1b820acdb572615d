/**
 * The XML signature of a RIM, checked as the last signature-wrapping defences require: SignedInfo must be the one
 * shape NVIDIA signs (C14N 1.1, ECDSA-SHA384, one Reference to the whole document), xml-crypto runs with its
 * algorithm tables replaced by exactly those, and the signature is bound to the key of the KeyInfo leaf after its
 * chain verified (rim-chain.ts); xml-crypto is told to find no key of its own. Outcomes are cached (rim-cache.ts).
 */
import { platform, toBase64 } from '@vouch/protocol'
import { C14nCanonicalization, SignedXml, type HashAlgorithm, type SignatureAlgorithm as XmlSignatureAlgorithm } from 'xml-crypto'
import { VerificationError } from '../errors.js'
import { verifyWithAlgorithm, type Certificate } from '../x509/certificate.js'
import { signatureCache } from './rim-cache.js'
import { label } from './rim-chain.js'
import { base64, elementChildren, is, NS, onlyChild, parseRimXml, structure, type ParsedRim, type XmlElement } from './rim-xml.js'

/** The only algorithms accepted, by exact URI. */
const ALGORITHM = {
  c14n11: 'http://www.w3.org/2006/12/xml-c14n11',
  enveloped: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
  ecdsaSha384: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384',
  sha384: 'http://www.w3.org/2001/04/xmldsig-more#sha384',
} as const


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
    return toBase64(platform.digest('sha384', xml))
  }

  getAlgorithmName(): string {
    return ALGORITHM.sha384
  }
}

/**
 * Verifies the enveloped signature with xml-crypto. Its algorithm tables are replaced by exactly the accepted ones.
 * xml-crypto canonicalises SignedInfo and checks the Reference's digest; the signature over the canonical SignedInfo
 * is then checked here, under `signer`'s key, since the platform's (WebCrypto's) check answers with a promise and
 * xml-crypto asks for a boolean. Whatever key xml-crypto would find (it is told to find none) is ignored.
 */
async function verifyXmlSignature(parsed: ParsedRim, signer: Certificate): Promise<void> {
  let signed: { material: string; signatureValue: string } | undefined
  class EcdsaSha384 implements XmlSignatureAlgorithm {
    getSignature(): never {
      throw new Error('RIMs are only verified here')
    }

    verifySignature(material: string, _key: unknown, signatureValue: string): boolean {
      // Recorded, and verified once xml-crypto is done: it asks once, after the digest matched.
      if (signed !== undefined) throw new Error('SignedInfo was offered for verification twice')
      signed = { material, signatureValue }
      return true
    }

    getAlgorithmName(): string {
      return ALGORITHM.ecdsaSha384
    }
  }
  const xml = new SignedXml({ publicCert: 'unused: the signer is bound after the chain verified', getCertFromKeyInfo: () => null })
  const enveloped = xml.CanonicalizationAlgorithms[ALGORITHM.enveloped]!
  xml.CanonicalizationAlgorithms = { [ALGORITHM.c14n11]: C14n11, [ALGORITHM.enveloped]: enveloped }
  xml.HashAlgorithms = { [ALGORITHM.sha384]: Sha384 }
  xml.SignatureAlgorithms = { [ALGORITHM.ecdsaSha384]: EcdsaSha384 }
  let referencesValid: boolean
  try {
    xml.loadSignature(parsed.signature as unknown as Parameters<SignedXml['loadSignature']>[0])
    // checkSignature digests the reference first: false means the digest did not match.
    referencesValid = xml.checkSignature(parsed.xml)
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new VerificationError('ERR_RIM_SIGNATURE_STRUCTURE', `the signature could not be checked: ${reason}`, { cause })
  }
  if (!referencesValid) {
    throw new VerificationError(
      'ERR_RIM_DIGEST_MISMATCH',
      'the SHA-384 digest of the canonical document is not the signed DigestValue: the RIM was changed after it was signed',
    )
  }
  if (signed === undefined) throw new VerificationError('ERR_RIM_SIGNATURE_INVALID', 'the signature was not checked under the RIM signer')
  // XMLDSig ECDSA (RFC 4050/6931) carries r‖s, not DER.
  const signature = platform.base64ToBytes(signed.signatureValue.replace(/\s+/g, ''))
  const data = new TextEncoder().encode(signed.material)
  const ok = signature.length === 96 && (await verifyWithAlgorithm({ kind: 'ecdsa', hash: 'sha384' }, signer, data, signature, 'ieee-p1363'))
  if (!ok) throw new VerificationError('ERR_RIM_SIGNATURE_INVALID', 'the ECDSA P-384 signature over SignedInfo does not verify under the RIM signer')
}

/**
 * Checks the enveloped signature of the RIM whose text is `xml` (SHA-256 `sha256`) under `leaf`, the signer whose
 * chain verified; `fresh` is its parse when the caller has one. Returns the check's detail; throws the cached
 * `VerificationError` otherwise.
 */
export async function verifyRimSignature(xml: string, sha256: string, fresh: ParsedRim | undefined, leaf: Certificate): Promise<string> {
  const key = `${sha256}:${leaf.sha256}`
  let outcome = signatureCache.get(key)
  if (outcome === undefined) {
    try {
      const parsed = fresh ?? parseRimXml(xml)
      checkSignedInfo(parsed.signature)
      await verifyXmlSignature(parsed, leaf)
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
