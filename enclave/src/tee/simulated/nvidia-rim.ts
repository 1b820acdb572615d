/**
 * Reference integrity manifests (RIMs) for the simulated GPU, written like NVIDIA's driver and VBIOS RIMs
 * (the real ones under `shared/fixtures/nvidia-gpu` were the model): an ISO/IEC 19770-2 SWID tag with
 * the TCG RIM information model, the same elements, attributes, attribute order, prefixes and
 * indentation, 64 `Resource type="Measurement"` entries with their golden values, and an enveloped
 * XMLDSig signature as NVIDIA's signer writes it: C14N 1.1, ECDSA P-384/SHA-384 with a raw `r‖s`
 * SignatureValue, a SHA-384 digest, and the L4 signer, L3, CA and root certificates in KeyInfo.
 *
 * C14N 1.1 differs from inclusive C14N 1.0 only in how it inherits `xml:*` attributes, which these
 * documents never carry, so the C14N 1.0 canonicalizer of xml-crypto serves under the 1.1 URI.
 */
import { createHash, createPrivateKey, createPublicKey, KeyObject, sign, verify, type BinaryLike, type KeyLike } from 'node:crypto'
import {
  C14nCanonicalization,
  createOptionalCallbackFunction,
  SignedXml,
  type HashAlgorithm,
  type SignatureAlgorithm,
} from 'xml-crypto'
import type { GpuChip } from './nvidia-ca.js'

/** Algorithm URIs of NVIDIA's RIM signatures. */
export const RIM_ALGORITHM = {
  c14n11: 'http://www.w3.org/2006/12/xml-c14n11',
  ecdsaSha384: 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384',
  sha384: 'http://www.w3.org/2001/04/xmldsig-more#sha384',
  envelopedSignature: 'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
} as const

const SWID_NS = 'http://standards.iso.org/iso/19770/-2/2015/schema.xsd'
const SHA384_NS = 'http://www.w3.org/2001/04/xmlenc#sha384'
const TCG_RIM_NS = 'https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/'
/** NVIDIA's PCI vendor id in decimal (0x10DE), the RIMs' manufacturer ids. */
const NVIDIA_MANUFACTURER_ID = '5703'
const MEASUREMENT_SIZE = 48

/** One `Resource type="Measurement"` of a RIM. */
export interface RimMeasurement {
  /** RIM index, 0-based (SPDM block index − 1). */
  index: number
  /** Whether verifiers compare this index; inactive entries carry zeros. */
  active: boolean
  /** Golden values, written as `ns2:Hash0`, `ns2:Hash1`, …: at least one, 48 bytes each. */
  values: readonly Uint8Array[]
  /** The `name` attribute; `Measurement_<index>` when unset. */
  name?: string
}

/** What {@link composeRim} writes. */
export interface ComposeRimOptions {
  /** Chip of the RIM: its `name`, `product` and `PlatformModel`. */
  chip: GpuChip
  /** `colloquialVersion`: the driver version (`580.159.03`) or VBIOS version (`96.00.74.00.20`). */
  version: string
  /** `tagId`, 96 lower-case hex digits like NVIDIA's; SHA-384 of the chip and version when unset. */
  tagId?: string
  /** The resources in the order written; NVIDIA writes all 64 indices in order. */
  measurements: readonly RimMeasurement[]
}

/** The L4 signer's key and the certificates KeyInfo carries: L4 signer, L3, CA, root (DER), NVIDIA's order. */
export interface RimSigner {
  key: KeyObject
  chain: readonly Uint8Array[]
}

const escapeAttribute = (text: string): string =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('"', '&quot;')

/**
 * Writes an unsigned RIM exactly as NVIDIA lays them out: no XML declaration, four-space indentation, one
 * element per line, `\n` line ends; {@link signRim} appends the signature.
 */
export function composeRim(options: ComposeRimOptions): string {
  const { chip, version } = options
  const tagId =
    options.tagId ?? createHash('sha384').update(JSON.stringify(['vouch/simulated-rim/tag-id', chip, version])).digest('hex')
  const lines = [
    `<SoftwareIdentity xmlns="${SWID_NS}" xmlns:ns0="${SWID_NS}" xmlns:ns2="${SHA384_NS}" corpus="false" name="${chip}" ` +
      `patch="false" supplemental="false" tagId="${escapeAttribute(tagId)}" version="1.0" tagVersion="0">`,
    `    <ns0:Entity name="NVIDIA Corporation" role="softwareCreator tagCreator"/>`,
    `    <ns0:Meta xmlns:ns1="${TCG_RIM_NS}" colloquialVersion="${escapeAttribute(version)}" edition="GPU" ` +
      `product="${chip}" revision="r1" PayloadType="direct" ns1:BindingSpec="RIMIM" ns1:BindingSpecVersion="1.01" ` +
      `ns1:PlatformManufacturerId="${NVIDIA_MANUFACTURER_ID}" ns1:PlatformManufacturerStr="NVIDIA Corporation" ` +
      `ns1:PlatformModel="${chip}" ns1:FirmwareManufacturer="NVIDIA Corporation" ` +
      `ns1:FirmwareManufacturerId="${NVIDIA_MANUFACTURER_ID}"/>`,
    `    <ns0:Payload xmlns:SHA384="${SHA384_NS}">`,
  ]
  for (const m of options.measurements) {
    if (m.values.length === 0) throw new RangeError(`RIM index ${m.index} needs at least one value`)
    const hashes = m.values.map((v, i) => {
      if (v.length !== MEASUREMENT_SIZE) throw new RangeError(`RIM index ${m.index}: values are 48 bytes, got ${v.length}`)
      return `ns2:Hash${i}="${Buffer.from(v).toString('hex')}"`
    })
    lines.push(
      `        <ns0:Resource type="Measurement" index="${m.index}" active="${m.active ? 'True' : 'False'}" ` +
        `alternatives="${m.values.length}" ${hashes.join(' ')} name="${escapeAttribute(m.name ?? `Measurement_${m.index}`)}" ` +
        `size="${MEASUREMENT_SIZE}"/>`,
    )
  }
  lines.push('    </ns0:Payload>', '</SoftwareIdentity>', '')
  return lines.join('\n')
}

// xml-crypto maps algorithms by URI: NVIDIA's three are not among its defaults.

class C14n11Canonicalization extends C14nCanonicalization {
  override getAlgorithmName(): string {
    return RIM_ALGORITHM.c14n11
  }
}

class Sha384 implements HashAlgorithm {
  getAlgorithmName = (): string => RIM_ALGORITHM.sha384
  getHash = (xml: string): string => createHash('sha384').update(xml, 'utf8').digest('base64')
}

const asBytes = (data: BinaryLike): NodeJS.ArrayBufferView => (typeof data === 'string' ? Buffer.from(data, 'utf8') : data)

/** XMLDSig ecdsa-sha384 (RFC 4050/6931): the SignatureValue is `r‖s`, not DER. */
class EcdsaSha384 implements SignatureAlgorithm {
  getAlgorithmName = (): string => RIM_ALGORITHM.ecdsaSha384
  getSignature = createOptionalCallbackFunction((signedInfo: BinaryLike, privateKey: KeyLike): string =>
    sign('sha384', asBytes(signedInfo), {
      key: privateKey instanceof KeyObject ? privateKey : createPrivateKey(privateKey),
      dsaEncoding: 'ieee-p1363',
    }).toString('base64'),
  )
  verifySignature = createOptionalCallbackFunction((material: string, key: KeyLike, signatureValue: string): boolean =>
    verify(
      'sha384',
      asBytes(material),
      { key: key instanceof KeyObject ? key : createPublicKey(key), dsaEncoding: 'ieee-p1363' },
      Buffer.from(signatureValue, 'base64'),
    ),
  )
}

/** Base64 in 64-character lines ending in a newline, as NVIDIA's X509Certificate elements hold it. */
function wrappedBase64(der: Uint8Array): string {
  return `${Buffer.from(der).toString('base64').match(/.{1,64}/g)!.join('\n')}\n`
}

/**
 * Signs a RIM written by {@link composeRim} with an enveloped XMLDSig signature, appended as the last
 * child of `SoftwareIdentity` exactly where NVIDIA's signer puts it: `Reference URI=""` with the
 * enveloped-signature and C14N 1.1 transforms, a SHA-384 DigestValue, SignedInfo canonicalised with C14N
 * 1.1 and signed ECDSA P-384/SHA-384 (`r‖s`), and KeyInfo/X509Data with `signer.chain` in order. The
 * document's own bytes are left as they were.
 */
export function signRim(xml: string, signer: RimSigner): string {
  const close = xml.lastIndexOf('</SoftwareIdentity>')
  if (close === -1) throw new TypeError('a RIM must have a SoftwareIdentity root element')
  const sig = new SignedXml({
    privateKey: signer.key,
    signatureAlgorithm: RIM_ALGORITHM.ecdsaSha384,
    canonicalizationAlgorithm: RIM_ALGORITHM.c14n11,
    getKeyInfoContent: ({ prefix } = {}) => {
      const p = prefix ? `${prefix}:` : ''
      const certificates = signer.chain.map((der) => `<${p}X509Certificate>${wrappedBase64(der)}</${p}X509Certificate>`)
      return `<${p}X509Data>${certificates.join('')}</${p}X509Data>`
    },
  })
  sig.CanonicalizationAlgorithms[RIM_ALGORITHM.c14n11] = C14n11Canonicalization
  sig.HashAlgorithms[RIM_ALGORITHM.sha384] = Sha384
  sig.SignatureAlgorithms[RIM_ALGORITHM.ecdsaSha384] = EcdsaSha384
  sig.addReference({
    xpath: '/*',
    uri: '',
    isEmptyUri: true,
    transforms: [RIM_ALGORITHM.envelopedSignature, RIM_ALGORITHM.c14n11],
    digestAlgorithm: RIM_ALGORITHM.sha384,
  })
  sig.computeSignature(xml, { prefix: 'ds', location: { reference: '/*', action: 'append' } })
  // Splice the Signature element into the original text rather than take xml-crypto's re-serialised
  // document, so the bytes outside the signature stay exactly as composed.
  return xml.slice(0, close) + sig.getSignatureXml() + xml.slice(close)
}
