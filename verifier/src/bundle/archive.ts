/**
 * Evidence archives (`@vouch/protocol`'s `decodeArchive`): a bundle with the AMD and NVIDIA collateral the host
 * stapled beside it. The bundle is verified exactly as on its own; the stapled CRLs, RIMs and OCSP responses are
 * inputs to that verification like any the caller passes, so each is verified (signature, chain to a pinned root,
 * validity at the verification time) and one that does not verify rejects: nothing is trusted because it was
 * stapled. Each item must also be for this bundle's evidence (a CRL of its ARK, a RIM one of its GPUs names, an OCSP
 * response about a certificate of its chains), so an archive assembled for other evidence is refused as such.
 */
import {
  bytesEqual,
  decodeArchive,
  decodeBundle,
  decodeReceipt,
  parseGpuAttestationReport,
  sha256Digest,
  utf8Text,
  type EvidenceArchive,
  type EvidenceBundle,
} from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { parseRim } from '../nvidia/rim.js'
import { gpuRimIds } from '../nvidia/rim-ids.js'
import type { RimInput } from '../nvidia/verify.js'
import { CheckCollector, type Result } from '../result.js'
import { commonName, parseCertificate, type Certificate } from '../x509/certificate.js'
import { parseCrl } from '../x509/crl.js'
import { answersFor } from '../x509/ocsp-check.js'
import { parseOcspResponse } from '../x509/ocsp-decode.js'
import type { BundleClaims, ReceiptClaims } from './claims.types.js'
import { verifyReceipt, type ReceiptVerifyOptions } from './receipt.js'
import { collectBundle, type BundleVerifyOptions } from './verify.js'

/** An archive's collateral, sorted to the evidence it is for: the bundle's CRLs, and each GPU's RIMs and OCSP responses. */
interface Stapled {
  crls: Uint8Array[]
  gpus: Array<{ rims: RimInput[]; ocsp: Uint8Array[] }>
}

/** The archive's bundle bytes, exactly as the enclave wrote them, and its collateral sorted to that bundle's evidence. */
interface OpenedArchive {
  bundle: Uint8Array
  stapled: Stapled
}

/** A certificate with the one that issued it: what an OCSP response can be about. */
type IssuedPair = readonly [Certificate, Certificate]

/** Each certificate of `chain` but the last, with its issuer (the next one). */
function pairsOf(chain: readonly Certificate[], from: number): IssuedPair[] {
  return chain.slice(from, -1).map((cert, i) => [cert, chain[from + i + 1]!] as const)
}

/** What each GPU of the bundle is: the RIM ids its report names, and its device chain (null when it does not parse). */
function gpusOf(bundle: EvidenceBundle): Array<{ ids: string[]; device: Certificate[] }> | null {
  try {
    return bundle.gpus.map((g) => {
      let ids: string[] = []
      try {
        const named = gpuRimIds(parseGpuAttestationReport(g.report), g.arch)
        ids = [named.driver, named.vbios]
      } catch {
        // A report that names no RIMs (or does not parse) gets none: its own checks say why.
      }
      return { ids, device: g.chain.map((der) => parseCertificate(der)) }
    })
  } catch {
    return null
  }
}

/**
 * Sorts the archive's collateral to the bundle's evidence, listing in `strays` every item that is for none of it:
 * a CRL its ARK did not issue, a RIM none of its GPUs names, an OCSP response about no certificate of its GPUs'
 * device chains (below the root) or of the stapled RIMs' signing chains (below the root). Throws a coded error for
 * an item that does not parse. Returns null when the bundle's own certificates do not parse (its checks say why).
 */
function sortCollateral(archive: EvidenceArchive, bundle: EvidenceBundle, strays: string[]): Stapled | null {
  const gpus = gpusOf(bundle)
  let ark: Certificate
  try {
    ark = parseCertificate(bundle.cpu.chain[1], 'ARK')
  } catch {
    return null
  }
  if (gpus === null) return null
  const stapled: Stapled = { crls: [], gpus: gpus.map(() => ({ rims: [], ocsp: [] })) }
  for (const [i, der] of archive.crls.entries()) {
    const crl = parseCrl(der, `crls[${i}]`)
    if (bytesEqual(crl.issuerDer, ark.subjectDer)) stapled.crls.push(der)
    else strays.push(`crls[${i}] was issued by "${commonName(crl.issuer)}", not by this bundle's ARK "${commonName(ark.subject)}"`)
  }
  const pairs: IssuedPair[][] = gpus.map((g) => pairsOf(g.device, 1))
  for (const [i, rim] of archive.rims.entries()) {
    const owners = gpus.flatMap((g, j) => (g.ids.includes(rim.id) ? [j] : []))
    if (owners.length === 0) strays.push(`rims[${i}] (${rim.id}) is named by none of the bundle's GPUs`)
    const xml = utf8Text(rim.xml)
    let chain: Certificate[] = []
    try {
      chain = parseRim(xml).certificates.map((c) => parseCertificate(c))
    } catch {
      // Its RIM check says why; its chain has no OCSP responses to sort.
    }
    for (const j of owners) {
      stapled.gpus[j]!.rims.push({ id: rim.id, xml })
      pairs[j]!.push(...pairsOf(chain, 0))
    }
  }
  for (const [i, der] of archive.ocsp.entries()) {
    const response = parseOcspResponse(der, `ocsp[${i}]`)
    const owners = pairs.flatMap((p, j) => (p.some(([cert, issuer]) => answersFor(response, cert, issuer)) ? [j] : []))
    if (owners.length === 0) strays.push(`ocsp[${i}] is about no certificate of the bundle's GPU device chains or of the stapled RIMs' chains`)
    for (const j of owners) stapled.gpus[j]!.ocsp.push(der)
  }
  return stapled
}

/**
 * Decodes an archive (`archive.decode`); when `evidence` (the digest a receipt names) is given, checks the archive
 * holds that bundle (`archive.bundle`, else `ERR_ARCHIVE_BUNDLE_MISMATCH` and null); sorts its collateral to the
 * bundle's evidence (`archive.collateral`, `ERR_ARCHIVE_COLLATERAL_MISMATCH` for items that are for none of it).
 * Returns null when there is nothing to verify further.
 */
function checkArchive(bytes: Uint8Array, checks: CheckCollector, evidence?: string): OpenedArchive | null {
  let archive: EvidenceArchive
  try {
    archive = decodeArchive(bytes)
  } catch (error) {
    checks.failWith('archive.decode', error)
    return null
  }
  const stapledAt = new Date(archive.stapledAt * 1000).toISOString()
  checks.pass('archive.decode', `evidence archive v${archive.v}: ${archive.crls.length} CRL(s), ${archive.rims.length} RIM(s), ${archive.ocsp.length} OCSP response(s), stapled ${stapledAt} (the host's word)`)
  if (evidence !== undefined) {
    const held = sha256Digest(archive.bundle)
    const named = checks.run('archive.bundle', () => {
      if (held !== evidence) throw new VerificationError('ERR_ARCHIVE_BUNDLE_MISMATCH', `the receipt names evidence ${evidence}, the archive holds ${held}`)
      return `the archive holds the evidence the receipt names (${held})`
    })
    if (!named) return null
  }
  const empty: Stapled = { crls: [], gpus: [] }
  let bundle: EvidenceBundle
  try {
    bundle = decodeBundle(archive.bundle)
  } catch {
    checks.skip('archive.collateral', 'the bundle does not decode (bundle.decode says why), so its collateral cannot be sorted')
    return { bundle: archive.bundle, stapled: empty }
  }
  const strays: string[] = []
  let stapled: Stapled | null
  try {
    stapled = sortCollateral(archive, bundle, strays)
  } catch (error) {
    checks.failWith('archive.collateral', error)
    return { bundle: archive.bundle, stapled: empty }
  }
  if (stapled === null) checks.skip('archive.collateral', "the bundle's certificates do not all parse (its checks say why), so its collateral cannot be sorted")
  else if (strays.length > 0) checks.fail('archive.collateral', 'ERR_ARCHIVE_COLLATERAL_MISMATCH', `stapled collateral that is not for this bundle's evidence: ${strays.join('; ')}`)
  else checks.pass('archive.collateral', "every stapled item is for this bundle's evidence, and is verified with it")
  return { bundle: archive.bundle, stapled: stapled ?? empty }
}

/** `options` with the stapled collateral added to the CRLs and GPU collateral the caller gives. */
function withStapled<O extends Pick<BundleVerifyOptions, 'crls' | 'gpuCollateral'>>(options: O, stapled: Stapled): O {
  const crls = [...(options.crls ?? []), ...stapled.crls]
  const gpuCollateral = stapled.gpus.map((s, i) => {
    const own = options.gpuCollateral?.[i]
    const rims = [...(own?.rims ?? []), ...s.rims]
    const ocsp = [...(own?.ocsp ?? []), ...s.ocsp]
    return { ...(rims.length > 0 && { rims }), ...(ocsp.length > 0 && { ocsp }) }
  })
  return { ...options, ...(crls.length > 0 && { crls }), ...(stapled.gpus.length > 0 && { gpuCollateral }) }
}

/**
 * Verifies an evidence archive (CBOR, `application/vnd.vouch.archive+cbor`) as {@link verifyBundle} verifies the
 * bundle it holds, with the stapled collateral added to `options.crls` and `options.gpuCollateral`: so a policy that
 * requires a CRL, RIMs or OCSP is met offline. Also records `archive.decode` and `archive.collateral`. Resolves to a
 * Result; it does not throw for bad evidence.
 */
export async function verifyArchive(bytes: Uint8Array, options: BundleVerifyOptions = {}): Promise<Result<BundleClaims | null>> {
  const checks = new CheckCollector()
  const opened = checkArchive(bytes, checks)
  if (opened === null) return checks.toResult(null)
  return collectBundle(checks, opened.bundle, withStapled(options, opened.stapled))
}

/** How to verify a receipt from an archive: as {@link verifyReceipt}, with the archive in place of the bundle. */
export interface ArchivedReceiptVerifyOptions extends Omit<ReceiptVerifyOptions, 'evidence' | 'verifiedEvidence'> {
  /** The evidence archive of the bundle the receipt names (CBOR, exactly as received or stored). */
  archive: Uint8Array
}

/**
 * Verifies a receipt from an evidence archive alone, with no network and no trust directory: the archive must hold
 * the bundle the receipt names (`ERR_ARCHIVE_BUNDLE_MISMATCH`), its collateral must be for that bundle
 * (`ERR_ARCHIVE_COLLATERAL_MISMATCH`), and then the receipt is verified as {@link verifyReceipt} does, as of its own
 * time (`iat`) unless `options.at` says otherwise, with the stapled collateral as trust material.
 */
export async function verifyArchivedReceipt(jws: string, options: ArchivedReceiptVerifyOptions): Promise<Result<ReceiptClaims | null>> {
  const checks = new CheckCollector()
  let named: string | undefined
  try {
    named = decodeReceipt(jws).payload.evidence
  } catch {
    // verifyReceipt records why it does not decode.
  }
  const opened = checkArchive(options.archive, checks, named)
  if (opened === null) return checks.toResult(null)
  const { archive: _archive, ...rest } = options
  const result = await verifyReceipt(jws, { ...withStapled(rest, opened.stapled), evidence: opened.bundle })
  checks.append(result.checks)
  return checks.toResult(result.claims)
}
