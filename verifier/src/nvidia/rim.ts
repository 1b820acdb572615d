/**
 * NVIDIA RIMs (reference integrity manifests): the signed golden measurements of a GPU driver or
 * VBIOS, as ISO/IEC 19770-2 SWID tags with TCG RIM-IM metadata and an enveloped XMLDSig
 * (spec nvidia-gpu-format.md §4). Parsing reads the XML with @xmldom/xmldom and refuses any DTD;
 * the signature is checked by xml-crypto, restricted to the one algorithm set NVIDIA uses and to
 * the key of the KeyInfo leaf only after its chain verified up to a pinned root.
 *
 * This module is the RIM API and runs the checks in order; the parts are rim-xml.ts (parsing and the tree walk),
 * rim-chain.ts (the KeyInfo chain), rim-signature.ts (SignedInfo and the XML signature) and rim-cache.ts.
 */
import type { Policy } from '../policy/types.js'
import { VerificationError } from '../errors.js'
import { CheckCollector, type Result } from '../result.js'
import { commonName, parseCertificate, sha256Hex, type Certificate } from '../x509/certificate.js'
import { documentCache } from './rim-cache.js'
import { earliestNotAfter, label, verifyRimChain, verifyRimRoot, verifyRimValidity } from './rim-chain.js'
import { verifyRimSignature } from './rim-signature.js'
import { parseRimXml, type ParsedRim } from './rim-xml.js'
import type { RimCheck, RimClaims, RimDocument, RimVerifyOptions } from './rim.types.js'
import { DEFAULT_NVIDIA_TRUST, type NvidiaAnchor } from './trust.js'

export { MAX_RIM_BYTES, RIM_MAX_INDEX } from './rim-xml.js'
export { RIM_SIGNATURE_ALGORITHMS } from './rim-chain.js'
export { clearRimCaches } from './rim-cache.js'
export type { RimCheck, RimClaims, RimDocument, RimMeasurement, RimVerifyOptions } from './rim.types.js'

/**
 * Parses a RIM: the SoftwareIdentity with its Meta and Payload, and the KeyInfo certificates of its
 * one enveloped signature. Checks structure only (nothing about who signed it: use {@link verifyRim}).
 * Throws `ERR_RIM_MALFORMED` (not well-formed, a DTD, over {@link MAX_RIM_BYTES}, missing Meta or
 * Payload, duplicate indices, alternatives that disagree with the Hash attributes, hashes that are
 * not 2×size hex digits) or `ERR_RIM_SIGNATURE_STRUCTURE` (no signature, or more than one).
 */
export function parseRim(xml: string): RimDocument {
  const text = xml.charCodeAt(0) === 0xfeff ? xml.slice(1) : xml
  const sha256 = sha256Hex(text)
  const cached = documentCache.get(sha256)
  if (cached !== undefined) return cached
  return documentCache.set(sha256, parseRimXml(text).document)
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
 * verified to a pinned root. The core of {@link verifyRim}, for callers that verify a GPU
 * report with its driver and VBIOS RIMs (prefixes `rim.driver`, `rim.vbios`). Does not throw for bad evidence.
 */
export async function checkRim(xml: string, options: RimVerifyOptions, checks: CheckCollector, prefix = 'rim'): Promise<RimCheck> {
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
    sha256 = typeof text === 'string' ? sha256Hex(text) : ''
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
  const rootOk = await checks.runAsync(id('root'), async () => {
    anchor = await verifyRimRoot(certs, anchors)
    const kind = anchor.simulated ? 'simulated' : 'NVIDIA'
    return `${label(certs[certs.length - 1]!)} is a pinned ${kind} RIM root (SPKI SHA-256 ${anchor.spkiSha256})`
  })
  const chainOk = await checks.runAsync(id('chain'), () => verifyRimChain(certs))
  try {
    checks.pass(id('validity'), verifyRimValidity(certs, at))
  } catch (error) {
    const expired = error instanceof VerificationError && error.code === 'ERR_CHAIN_EXPIRED'
    const hint = 'RIM signing certificates live about two years: fetch the current RIM for this driver or VBIOS'
    checks.failWith(id('validity'), error, expired ? hint : undefined)
  }
  if (rootOk && chainOk) await checks.runAsync(id('signature'), () => verifyRimSignature(xml, sha256, fresh, certs[0]!))
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
  const { claims, authentic } = await checkRim(xml, options, checks)
  // Simulated RIMs verify like real ones; accepting them is the policy's call, as for all simulated evidence.
  if (authentic && claims?.simulated) {
    if (options.policy?.allowSimulated === true) checks.pass('policy.simulated', `simulated RIM, allowed by policy "${options.policy.name}"`)
    else checks.fail('policy.simulated', 'ERR_POLICY_SAMPLE_TEE', 'the RIM is signed under the simulated RIM root; only a policy with allowSimulated: true accepts it', 'verify with --policy policies/dev-simulated.yaml')
  }
  return checks.toResult(claims)
}
