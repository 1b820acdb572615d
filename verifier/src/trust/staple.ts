/**
 * The collateral of an evidence bundle, for the host to staple to the bundle it serves (an evidence archive,
 * `@vouch/protocol`'s `encodeArchive`): the AMD CRL of its ARK, and the driver and VBIOS RIMs and OCSP responses of
 * its GPUs, fetched into a {@link TrustStore} by {@link fetchBundleCollateral} and read back by
 * {@link cachedBundleCollateral}. Everything in it is signed by AMD or NVIDIA and verified again by whoever
 * verifies the archive, so the host that staples it stays untrusted; what is picked here only decides what is worth
 * sending: items that speak for the stapling time and belong to this bundle.
 */
import { parseAttestationReport, parseGpuAttestationReport, type ArchivedRim, type EvidenceBundle, type KeyFamily, type Product } from '@vouch/protocol'
import { AMD_SIGNATURE_ALGORITHMS } from '../sev-snp/chain.js'
import { parseCertificate, sha256Hex } from '../x509/certificate.js'
import { parseCrl, verifyCrlSignature } from '../x509/crl.js'
import { firstCertificate, judgeCachedCrl, productOfVekInput } from './amd-cache.js'
import type { HttpHooks } from './http.js'
import { fetchAmdCollateral, type CollateralSummary } from './kds.js'
import { fetchNvidiaCollateral, type NvidiaCollateralSummary } from './nvidia.js'
import { nvidiaCollateralFromTrustDir } from './nvidia-cache.js'
import type { TrustStore } from './store.js'

/** What the trust directory holds for a bundle, in the archive's forms. */
export interface BundleCollateral {
  /** The CRL of the bundle's product and key family, issued by its ARK. */
  crls: Uint8Array[]
  /** The RIMs its GPUs' reports name, each once. */
  rims: ArchivedRim[]
  /** OCSP responses about its GPUs' device chains and its RIMs' signing chains, each once. */
  ocsp: Uint8Array[]
  /** What is missing or left out, and why. */
  notes: string[]
}

/** The product and key family whose CRL the bundle's CPU evidence needs, or why there is none. */
function amdFamilyOf(bundle: EvidenceBundle): { product: Product; family: KeyFamily } | string {
  let product: Product | undefined
  let family: KeyFamily
  try {
    const report = parseAttestationReport(bundle.cpu.report)
    product = report.product ?? productOfVekInput(bundle.cpu.vek)
    family = report.signingKey === 'VLEK' ? 'vlek' : 'vcek'
  } catch (error) {
    return `the SEV-SNP report does not parse (${(error as Error).message})`
  }
  return product === undefined ? 'neither the SEV-SNP report nor its VEK names a product' : { product, family }
}

/** The cached CRL of the bundle's family if its ARK issued it and it speaks for `at`. */
async function cachedCrls(store: TrustStore, bundle: EvidenceBundle, at: Date, notes: string[]): Promise<Uint8Array[]> {
  const of = amdFamilyOf(bundle)
  if (typeof of === 'string') {
    notes.push(`no CRL: ${of}`)
    return []
  }
  const der = store.readCrl(of.product, of.family)
  const name = `${of.product} ${of.family} CRL`
  if (der === null) {
    notes.push(`trust directory ${store.dir} holds no ${name}`)
    return []
  }
  try {
    // The cache holds AMD's CRL of the product; evidence under another root (the simulated one bears AMD's names) cannot use it.
    await verifyCrlSignature(parseCrl(der, name), parseCertificate(bundle.cpu.chain[1], 'ARK'), AMD_SIGNATURE_ALGORITHMS, name)
  } catch (error) {
    notes.push(`the cached ${name} is not stapled: ${(error as Error).message}`)
    return []
  }
  const judged = judgeCachedCrl(der, firstCertificate(bundle.cpu.chain[0]), at, false, name)
  if (judged.note !== null) notes.push(judged.note)
  return judged.use ? [der] : []
}

/**
 * What `store` holds for `bundle` that speaks for `at`: the CRL of its product and key family when its ARK issued
 * it and `at` is within its validity (or it revokes the bundle's ASK or ASVK); for each GPU, the RIMs its report
 * names and the OCSP responses about its device chain and those RIMs' chains that cover `at` (or say "revoked").
 * Nothing is fetched; nothing is verified beyond the CRL's issuer, which only sorts AMD's CRL from a simulated
 * bundle's.
 */
export async function cachedBundleCollateral(store: TrustStore, bundle: EvidenceBundle, at: Date): Promise<BundleCollateral> {
  const notes: string[] = []
  const crls = await cachedCrls(store, bundle, at, notes)
  const rims = new Map<string, ArchivedRim>()
  const ocsp = new Map<string, Uint8Array>()
  for (const [i, gpu] of bundle.gpus.entries()) {
    let report
    try {
      report = parseGpuAttestationReport(gpu.report)
    } catch (error) {
      notes.push(`GPU ${i}: the report does not parse (${(error as Error).message})`)
      continue
    }
    const cached = nvidiaCollateralFromTrustDir(store, report, gpu.chain, at)
    for (const rim of cached.rims) if (rim.id !== undefined && !rims.has(rim.id)) rims.set(rim.id, { id: rim.id, xml: new TextEncoder().encode(rim.xml) })
    for (const der of cached.ocsp) ocsp.set(sha256Hex(der), der)
    notes.push(...cached.notes.filter((n) => !n.startsWith('from trust directory')).map((n) => `GPU ${i}: ${n}`))
  }
  return { crls, rims: [...rims.values()], ocsp: [...ocsp.values()], notes }
}

/** How {@link fetchBundleCollateral} fetches. Every option says what happens when it is unset. */
export interface FetchBundleCollateralOptions extends HttpHooks {
  /** Where validated collateral is cached. */
  store: TrustStore
  /** AMD KDS base URL. Unset: AMD's. */
  kdsUrl?: string
  /** NVIDIA RIM service base URL. Unset: NVIDIA's. */
  rimUrl?: string
  /** NVIDIA OCSP responder URL. Unset: NVIDIA's. */
  ocspUrl?: string
  /** The clock: freshness and request spacing. Unset: the system clock. */
  now?: () => Date
  /** Progress lines (requests, waits, retries). Unset: silent. */
  log?: (line: string) => void
}

/** What {@link fetchBundleCollateral} did: each vendor's summary, null when nothing was asked of it. */
export interface BundleCollateralSummary {
  amd: CollateralSummary | null
  nvidia: NvidiaCollateralSummary | null
  /** Why a vendor was not asked. */
  notes: string[]
}

/**
 * Fetches what `bundle` needs into `options.store`, as `vouch-verify trust fetch` does: from AMD's KDS the chain and
 * CRL of its product and key family (the bundle carries its VEK and chain; the chain validates the CRL), and from
 * NVIDIA's RIM service and OCSP responder its GPUs' RIMs and OCSP responses. Items already cached and current cost
 * no request. A simulated bundle is not fetched for: no vendor knows its chips. Never throws for service or
 * validation failures: they are `failed` items in the summaries.
 */
export async function fetchBundleCollateral(bundle: EvidenceBundle, options: FetchBundleCollateralOptions): Promise<BundleCollateralSummary> {
  if (bundle.platform === 'simulated') return { amd: null, nvidia: null, notes: ['a simulated bundle: AMD and NVIDIA know none of its chips, so nothing is fetched'] }
  const { store, kdsUrl, rimUrl, ocspUrl, now, log, fetch, sleep } = options
  const hooks = { ...(now && { now }), ...(log && { log }), ...(fetch && { fetch }), ...(sleep && { sleep }) }
  const notes: string[] = []
  const of = amdFamilyOf(bundle)
  let amd: CollateralSummary | null = null
  if (typeof of === 'string') notes.push(`AMD: nothing fetched: ${of}`)
  else amd = await fetchAmdCollateral({ store, products: [of.product], families: [of.family], ...(kdsUrl && { kdsUrl }), ...hooks })
  const gpus = bundle.gpus.flatMap((g, i) => {
    try {
      return [{ report: parseGpuAttestationReport(g.report), chain: g.chain }]
    } catch (error) {
      notes.push(`NVIDIA: GPU ${i} not fetched for: its report does not parse (${(error as Error).message})`)
      return []
    }
  })
  const nvidia = gpus.length === 0 ? null : await fetchNvidiaCollateral({ store, gpus, ...(rimUrl && { rimUrl }), ...(ocspUrl && { ocspUrl }), ...hooks })
  return { amd, nvidia, notes }
}
