/**
 * A test stand-in for NVIDIA's two PKIs, made with the OCSP testkit: a five-certificate GPU device
 * chain (names as NVIDIA's, so the architecture reads from the leaf) and a RIM signing chain, both
 * ECDSA P-384, with their private keys, so a fake OCSP responder can sign as each issuer. Real RIMs
 * are re-signed under the test RIM chain with the XMLDSig profile NVIDIA uses (enveloped, C14N 1.1,
 * SHA-384 digest, ECDSA P-384 r‖s), keeping every byte outside the signature.
 */
import { createHash, sign, type KeyObject } from 'node:crypto'
import { C14nCanonicalization, createOptionalCallbackFunction, SignedXml, type HashAlgorithm, type SignatureAlgorithm } from 'xml-crypto'
import { parseCertificate } from '../../src/x509/certificate.js'
import type { NvidiaAnchor, NvidiaTrust } from '../../src/nvidia/trust.js'
import { createTestCa, issueTestCertificate, type TestIdentity } from './ocsp-testkit.js'

const ALGORITHM = {
  c14n11: 'http://www.w3.org/2006/12/xml-c14n11',
  ecdsaSha384: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384',
  sha384: 'http://www.w3.org/2001/04/xmldsig-more#sha384',
  enveloped: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
} as const

class C14n11 extends C14nCanonicalization {
  override getAlgorithmName(): string {
    return ALGORITHM.c14n11
  }
}

class Sha384 implements HashAlgorithm {
  getAlgorithmName = (): string => ALGORITHM.sha384
  getHash = (xml: string): string => createHash('sha384').update(xml, 'utf8').digest('base64')
}

class EcdsaSha384 implements SignatureAlgorithm {
  getAlgorithmName = (): string => ALGORITHM.ecdsaSha384
  getSignature = createOptionalCallbackFunction((signedInfo: string | Buffer, key: KeyObject): string =>
    sign('sha384', typeof signedInfo === 'string' ? Buffer.from(signedInfo, 'utf8') : signedInfo, { key, dsaEncoding: 'ieee-p1363' }).toString('base64'),
  )
  verifySignature = createOptionalCallbackFunction((): boolean => {
    throw new Error('test RIMs are only signed here')
  })
}

/** Replaces a RIM's enveloped signature with one by `key`, KeyInfo holding `chain` (signer first, root last). */
export function resignRim(xml: string, key: KeyObject, chain: readonly Uint8Array[]): string {
  const unsigned = xml.replace(/<ds:Signature\b[\s\S]*<\/ds:Signature>/, '')
  const close = unsigned.lastIndexOf('</SoftwareIdentity>')
  if (close === -1) throw new TypeError('not a RIM')
  const sig = new SignedXml({
    privateKey: key,
    signatureAlgorithm: ALGORITHM.ecdsaSha384,
    canonicalizationAlgorithm: ALGORITHM.c14n11,
    getKeyInfoContent: ({ prefix } = {}) => {
      const p = prefix ? `${prefix}:` : ''
      const certs = chain.map((der) => `<${p}X509Certificate>${Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n')}\n</${p}X509Certificate>`)
      return `<${p}X509Data>${certs.join('')}</${p}X509Data>`
    },
  })
  sig.CanonicalizationAlgorithms[ALGORITHM.c14n11] = C14n11
  sig.HashAlgorithms[ALGORITHM.sha384] = Sha384
  sig.SignatureAlgorithms[ALGORITHM.ecdsaSha384] = EcdsaSha384
  sig.addReference({ xpath: '/*', uri: '', isEmptyUri: true, transforms: [ALGORITHM.enveloped, ALGORITHM.c14n11], digestAlgorithm: ALGORITHM.sha384 })
  sig.computeSignature(unsigned, { prefix: 'ds', location: { reference: '/*', action: 'append' } })
  return unsigned.slice(0, close) + sig.getSignatureXml() + unsigned.slice(close)
}

/** The test PKIs with their keys, and trust that pins their roots. */
export interface TestNvidiaPki {
  device: { root: TestIdentity; identity: TestIdentity; provisioner: TestIdentity; brom: TestIdentity; leaf: TestIdentity }
  rim: { root: TestIdentity; ca: TestIdentity; l3: TestIdentity; signer: TestIdentity }
  /** The device chain, leaf first, as PEM text (what NVML returns). */
  chainPem: string
  /** Pins the test roots only: real NVIDIA RIMs do not verify under it. */
  trust: NvidiaTrust
  /** Re-signs a RIM under the test RIM chain. */
  resign(xml: string): string
  /** Every certificate the fake OCSP responder can answer for, with its issuer. */
  issued: Array<{ cert: TestIdentity; issuer: TestIdentity }>
}

function anchor(name: string, cert: TestIdentity): NvidiaAnchor {
  return { name, spkiSha256: parseCertificate(cert.der).spkiSha256, simulated: true }
}

/** Creates the test PKIs (a few hundred milliseconds: nine P-384 keys). */
export async function createTestNvidiaPki(options: { rimSignerNotAfter?: Date } = {}): Promise<TestNvidiaPki> {
  const o = 'O=Vouch Test'
  const root = await createTestCa(`CN=Test Device Identity CA, ${o}`)
  const identity = await issueTestCertificate(root, { name: `CN=Test GH100 Identity, ${o}`, ca: true })
  const provisioner = await issueTestCertificate(identity, { name: `CN=Test GH100 Provisioner ICA 1, ${o}`, ca: true })
  const brom = await issueTestCertificate(provisioner, { name: `CN=GH100 A01 GSP BROM, ${o}`, ca: true })
  const leaf = await issueTestCertificate(brom, { name: `CN=GH100 A01 GSP FMC LF, ${o}` })
  const rimRoot = await createTestCa(`CN=Test CoRIM signing Root CA, ${o}`)
  const rimCa = await issueTestCertificate(rimRoot, { name: `CN=Test Reference Value GH100 CA, ${o}`, ca: true })
  const l3 = await issueTestCertificate(rimCa, { name: `CN=Test Reference Value L3 GH100 001, ${o}`, ca: true })
  const signer = await issueTestCertificate(l3, { name: `CN=Test HCC RIM L4 Signer, ${o}`, ...(options.rimSignerNotAfter && { notAfter: options.rimSignerNotAfter }) })
  const rimChain = [signer.der, l3.der, rimCa.der, rimRoot.der]
  return {
    device: { root, identity, provisioner, brom, leaf },
    rim: { root: rimRoot, ca: rimCa, l3, signer },
    chainPem: [leaf, brom, provisioner, identity, root].map((c) => c.pem).join('\n'),
    trust: { deviceRoots: [anchor('Test Device Identity CA', root)], rimRoots: [anchor('Test CoRIM signing Root CA', rimRoot)] },
    resign: (xml) => resignRim(xml, signer.privateKey, rimChain),
    issued: [
      { cert: brom, issuer: provisioner },
      { cert: provisioner, issuer: identity },
      { cert: identity, issuer: root },
      { cert: signer, issuer: l3 },
      { cert: l3, issuer: rimCa },
      { cert: rimCa, issuer: rimRoot },
    ],
  }
}
