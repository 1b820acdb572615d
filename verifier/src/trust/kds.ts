/**
 * Fills a {@link TrustStore} from AMD's Key Distribution Service: the ASK (or ASVK) then ARK chain of a
 * product, its CRL, and the VCEK of a chip at a TCB. Everything is validated before it is written, so
 * the cache only ever holds material that chains to an ARK pinned in {@link AMD_ARK_ANCHORS}: a
 * downloaded root is never trusted for itself (DESIGN.md §5). KDS is rate-limited, so requests are
 * spaced (across processes, through a timestamp in the store) and transient failures retried.
 */
import {
  AMD_KDS_URL,
  bytesEqual,
  decodeTcb,
  fromHex,
  isAllZero,
  kdsCertChainUrl,
  kdsCrlUrl,
  kdsHwId,
  kdsVcekUrl,
  ProtocolError,
  toHex,
  type AttestationReport,
  type KeyFamily,
  type Product,
  type Tcb,
} from '@vouch/protocol'
import { VerificationError, type ErrorCode } from '../errors.js'
import { formatTcb, tcbEqual } from '../sev-snp/claims.js'
import { AMD_ARK_ANCHORS } from '../sev-snp/trust.js'
import { AMD_SIGNATURE_ALGORITHMS, verifyArkCertificate, verifyIntermediateCertificate, verifyVekCertificate } from '../sev-snp/chain.js'
import { productOfVek } from '../sev-snp/vek.js'
import { commonName, parseCertificate, type Certificate } from '../x509/certificate.js'
import { parseCrl, verifyCrlSignature, type Crl } from '../x509/crl.js'
import { toDerList } from '../x509/pem.js'
import { ServiceClient, type HttpHooks } from './http.js'
import { tcbKey, type TrustStore } from './store.js'

/** AMD KDS allows about one request every 10 seconds per client; faster clients get HTTP 429. */
export const AMD_KDS_MIN_INTERVAL_MS = 10_000
/** How many times a request that failed transiently (network, 429, 5xx) is tried again by default. */
export const AMD_KDS_RETRIES = 3
/** Per-request timeout by default. */
export const AMD_KDS_TIMEOUT_MS = 30_000
/** KDS answers are a few kilobytes; anything this large is not one. */
const MAX_BODY_BYTES = 1 << 20
/** Products a version 2 report can come from (it has no CPUID, and Turin reports are v3+), in lookup order. */
const PRODUCTS_OF_V2: readonly Product[] = ['Milan', 'Genoa']

/** What to fetch and how. Every option says what happens when it is unset. */
export interface FetchAmdCollateralOptions extends HttpHooks {
  /** Where validated collateral is cached. */
  store: TrustStore
  /** KDS base URL. Unset: {@link AMD_KDS_URL}. */
  kdsUrl?: string
  /**
   * A parsed report whose collateral to fetch: its product's chain and CRL for the family SIGNING_KEY
   * names, and for a VCEK report with a CHIP_ID the VCEK at REPORTED_TCB. Unset: no report-specific items.
   */
  report?: AttestationReport
  /**
   * For a version 2 report, which does not name its product: the candidates, tried in order until
   * KDS has the VCEK (only Milan and Genoa are possible). Unset: Milan, then Genoa.
   */
  reportProducts?: readonly Product[]
  /** Products whose chains and CRLs to fetch, for each of `families`. Unset: none. */
  products?: readonly Product[]
  /** Families fetched for `products`. Unset: `['vcek']`. */
  families?: readonly KeyFamily[]
  /** The clock: CRL freshness and request spacing. Unset: the system clock. */
  now?: () => Date
  /** Minimum time between the starts of two KDS requests, across processes. Unset: {@link AMD_KDS_MIN_INTERVAL_MS}. */
  minIntervalMs?: number
  /**
   * Retries after a network error, HTTP 408, 429 or 5xx. Unset: {@link AMD_KDS_RETRIES}. Other 4xx, a name that does not
   * resolve, a TLS failure and an answer that fails validation are never retried.
   */
  retries?: number
  /** Per-request timeout. Unset: {@link AMD_KDS_TIMEOUT_MS}. */
  timeoutMs?: number
  /** Progress lines (requests, waits, retries). Unset: silent. */
  log?: (line: string) => void
}

/** The kinds of collateral KDS serves. */
export type CollateralKind = 'cert_chain' | 'crl' | 'vcek'

/** `cached`: already in the store and valid, no request made. `fetched`: downloaded, validated, stored. `failed`: not in the store. */
export type CollateralStatus = 'fetched' | 'cached' | 'failed'

/** The outcome for one piece of collateral. */
export interface CollateralItem {
  kind: CollateralKind
  product: Product
  family: KeyFamily
  status: CollateralStatus
  /** The KDS URL it comes from. */
  url: string
  /** Its file in the store. */
  path: string
  /** What was found (subject, issuer, dates), or for a failure what went wrong. */
  detail: string
  /** Set when `status` is `failed`: the code of the check or request that failed. */
  error?: { code: ErrorCode; message: string }
}

/** What {@link fetchAmdCollateral} did. */
export interface CollateralSummary {
  /** True when nothing failed: everything asked for is in the store and valid. */
  ok: boolean
  /** The store's directory. */
  dir: string
  /** How many HTTP requests were made (retries included). */
  requests: number
  items: CollateralItem[]
  /** Things the user should know that are not failures (a VLEK cannot be fetched, a CRL is stale, ...). */
  notes: string[]
}

/** A chain that passed {@link validateChain}. */
interface ValidChain {
  ark: Certificate
  intermediate: Certificate
}

/**
 * Checks an ASK (or ASVK) then ARK chain for `product` and `family`: the ARK's SPKI is AMD's pin for
 * that product (simulated roots never qualify), it signs itself and the intermediate with
 * RSASSA-PSS SHA-384, both are RSA-4096 CAs, and the intermediate is the one the family needs.
 */
export async function validateChain(input: Uint8Array | string, product: Product, family: KeyFamily): Promise<ValidChain> {
  const ders = toDerList(input, `${product} ${family} cert_chain`)
  if (ders.length !== 2) {
    const want = family === 'vlek' ? 'ASVK' : 'ASK'
    throw new VerificationError('ERR_INPUT_INVALID', `${product} ${family} cert_chain must hold ${want} then ARK, got ${ders.length} certificates`)
  }
  const intermediate = parseCertificate(ders[0]!, family === 'vlek' ? 'ASVK' : 'ASK')
  const ark = parseCertificate(ders[1]!, 'ARK')
  const pinned = AMD_ARK_ANCHORS.find((a) => a.spkiSha256 === ark.spkiSha256)
  if (pinned === undefined) {
    throw new VerificationError(
      'ERR_CHAIN_UNTRUSTED',
      `ARK "${commonName(ark.subject)}" is not AMD's pinned root for ${product} (SPKI SHA-256 ${ark.spkiSha256})`,
    )
  }
  if (pinned.product !== product) {
    throw new VerificationError('ERR_CHAIN_PRODUCT_MISMATCH', `the ARK is AMD's root for ${pinned.product}, not for ${product}`)
  }
  await verifyArkCertificate(ark, [pinned])
  const name = family === 'vlek' ? 'ASVK' : 'ASK'
  await verifyIntermediateCertificate(intermediate, ark, name)
  const expectedCn = family === 'vlek' ? `SEV-VLEK-${product}` : `SEV-${product}`
  const cn = commonName(intermediate.subject)
  if (cn !== expectedCn) throw new VerificationError('ERR_CHAIN_PRODUCT_MISMATCH', `${name} CN must be ${expectedCn}, got "${cn}"`)
  return { ark, intermediate }
}

/** Checks a CRL for a product's chain: parsed and signed by its ARK. */
async function validateCrl(der: Uint8Array, chain: ValidChain, what: string): Promise<Crl> {
  const list = toDerList(der, what)
  if (list.length !== 1) throw new VerificationError('ERR_CRL_MALFORMED', `${what}: expected one CRL, got ${list.length}`)
  const crl = parseCrl(list[0]!, what)
  await verifyCrlSignature(crl, chain.ark, AMD_SIGNATURE_ALGORITHMS, what)
  return crl
}

/**
 * Checks a VCEK for a chip and TCB: issued by the chain's ASK (RSASSA-PSS SHA-384), an EC P-384
 * leaf, and its AMD extensions name the product, the chip (`hwId`) and exactly `tcb`.
 */
async function validateVcek(input: Uint8Array, product: Product, chain: ValidChain, hwId: Uint8Array, tcb: Tcb): Promise<Certificate> {
  const ders = toDerList(input, 'VCEK')
  if (ders.length !== 1) throw new VerificationError('ERR_INPUT_INVALID', `VCEK: expected one certificate, got ${ders.length}`)
  const vcek = parseCertificate(ders[0]!, 'VCEK')
  const extensions = await verifyVekCertificate(vcek, chain.intermediate, 'VCEK')
  if (extensions.kind !== 'VCEK') throw new VerificationError('ERR_SIGNING_KEY_MISMATCH', `expected a VCEK, got a ${extensions.kind}`)
  if (productOfVek(extensions.productName) !== product) {
    throw new VerificationError('ERR_CHAIN_PRODUCT_MISMATCH', `VCEK productName "${extensions.productName}" is not ${product}`)
  }
  if (extensions.hwId === null || !bytesEqual(extensions.hwId, hwId)) {
    const got = extensions.hwId === null ? '(none)' : toHex(extensions.hwId)
    throw new VerificationError('ERR_VCEK_CHIP_ID_MISMATCH', `hwID mismatch: expected ${toHex(hwId)}, the VCEK is for ${got}`)
  }
  if (!tcbEqual(extensions.tcb, tcb)) {
    throw new VerificationError('ERR_VCEK_TCB_MISMATCH', `TCB mismatch: expected ${formatTcb(tcb)}, the VCEK certifies ${formatTcb(extensions.tcb)}`)
  }
  return vcek
}

/** The code and message of a coded verifier or protocol error; anything else (a bug, a full disk) is rethrown. */
function errorOf(error: unknown): { code: ErrorCode; message: string } {
  if (error instanceof VerificationError || error instanceof ProtocolError) return { code: error.code, message: error.message }
  throw error
}

function describeCrl(crl: Crl): string {
  const next = crl.nextUpdate === null ? 'no nextUpdate' : `nextUpdate ${crl.nextUpdate.toISOString()}`
  return `CRL of ${commonName(crl.issuer)}, thisUpdate ${crl.thisUpdate.toISOString()}, ${next}, ${crl.revoked.size} revoked`
}

function isFresh(crl: Crl, now: Date): boolean {
  return crl.nextUpdate !== null && now < crl.nextUpdate
}

/** One run: remembers what it did so each item is fetched and reported once. */
class Run {
  readonly items: CollateralItem[] = []
  readonly notes: string[] = []
  readonly #chains = new Map<string, ValidChain | null>()
  readonly #crlsDone = new Set<string>()
  readonly #store: TrustStore
  readonly #client: ServiceClient
  readonly #kdsUrl: string
  readonly #now: () => Date
  readonly #log: (line: string) => void

  constructor(store: TrustStore, client: ServiceClient, kdsUrl: string, now: () => Date, log: (line: string) => void) {
    this.#store = store
    this.#client = client
    this.#kdsUrl = kdsUrl
    this.#now = now
    this.#log = log
  }

  #failed(base: Omit<CollateralItem, 'status' | 'detail'>, error: { code: ErrorCode; message: string }): CollateralItem {
    return { ...base, status: 'failed', detail: error.message, error }
  }

  /** The product's chain for a family, from the store if valid there, else from KDS (validated, then stored). */
  async chain(product: Product, family: KeyFamily): Promise<ValidChain | null> {
    const key = `${product}/${family}`
    if (this.#chains.has(key)) return this.#chains.get(key)!
    const url = kdsCertChainUrl(product, family, this.#kdsUrl)
    const base = { kind: 'cert_chain' as const, product, family, url, path: this.#store.chainPath(product, family) }
    const describe = (c: ValidChain): string =>
      `${commonName(c.intermediate.subject)} (serial ${c.intermediate.serialNumber}) signed by ${commonName(c.ark.subject)}, AMD's pinned root for ${product}`
    let result: ValidChain | null = null
    const cached = this.#store.readChain(product, family)
    if (cached !== null) {
      try {
        result = await validateChain(cached, product, family)
        this.items.push({ ...base, status: 'cached', detail: describe(result) })
      } catch (error) {
        this.#log(`the cached ${product} ${family} cert_chain is not valid (${errorOf(error).message}): fetching it again`)
      }
    }
    if (result === null) {
      const got = await this.#client.request({ method: 'GET', url: base.url })
      if (!got.ok) this.items.push(this.#failed(base, { code: 'ERR_COLLATERAL_FETCH', message: got.message }))
      else {
        try {
          const chain = await validateChain(got.body, product, family)
          this.#store.writeChain(product, family, [chain.intermediate.der, chain.ark.der])
          this.items.push({ ...base, status: 'fetched', detail: describe(chain) })
          result = chain
        } catch (error) {
          this.items.push(this.#failed(base, errorOf(error)))
        }
      }
    }
    this.#chains.set(key, result)
    return result
  }

  /**
   * The family's CRL: the cached one while it is valid and `now` is before its nextUpdate, else a
   * fresh one from KDS. A CRL older than the cached one never replaces it (no rollback).
   */
  async crl(product: Product, family: KeyFamily, chain: ValidChain | null): Promise<void> {
    const key = `${product}/${family}`
    if (this.#crlsDone.has(key)) return
    this.#crlsDone.add(key)
    const base = { kind: 'crl' as const, product, family, url: kdsCrlUrl(product, family, this.#kdsUrl), path: this.#store.crlPath(product, family) }
    if (chain === null) {
      const message = `not fetched: it is validated under the ${product} ${family} cert_chain, which is not available`
      this.items.push(this.#failed(base, { code: 'ERR_COLLATERAL_MISSING', message }))
      return
    }
    const now = this.#now()
    let cached: Crl | null = null
    const cachedDer = this.#store.readCrl(product, family)
    if (cachedDer !== null) {
      try {
        cached = await validateCrl(cachedDer, chain, `cached ${product} ${family} CRL`)
      } catch (error) {
        this.#log(`the cached ${product} ${family} CRL is not valid (${errorOf(error).message}): fetching it again`)
      }
    }
    if (cached !== null && isFresh(cached, now)) {
      this.items.push({ ...base, status: 'cached', detail: describeCrl(cached) })
      return
    }
    if (cached !== null) this.#log(`the cached ${product} ${family} CRL is past its nextUpdate: fetching a newer one`)
    const got = await this.#client.request({ method: 'GET', url: base.url })
    if (!got.ok) {
      const stale = cached !== null ? ` (the cached CRL, ${describeCrl(cached)}, is kept but is stale)` : ''
      this.items.push(this.#failed(base, { code: 'ERR_COLLATERAL_FETCH', message: `${got.message}${stale}` }))
      return
    }
    let crl: Crl
    try {
      crl = await validateCrl(got.body, chain, `${product} ${family} CRL`)
    } catch (error) {
      this.items.push(this.#failed(base, errorOf(error)))
      return
    }
    if (cached !== null && crl.thisUpdate < cached.thisUpdate) {
      const detail = `${describeCrl(cached)}; KDS served an older one (thisUpdate ${crl.thisUpdate.toISOString()}), not stored`
      this.items.push({ ...base, status: 'cached', detail })
      crl = cached
    } else {
      this.#store.writeCrl(product, family, crl.der)
      this.items.push({ ...base, status: 'fetched', detail: describeCrl(crl) })
    }
    if (!isFresh(crl, now)) {
      this.notes.push(
        `the ${product} ${family} CRL is past its nextUpdate (${crl.nextUpdate?.toISOString() ?? 'none'}) and KDS has nothing newer; ` +
          'it is kept, and fetched again on the next run',
      )
    }
  }

  /** Whether the store holds a file for this report's VCEK as `product` (not validated: only orders lookups). */
  hasCachedVcek(product: Product, report: AttestationReport): boolean {
    return this.#store.readVcek(product, kdsHwId(report.chipId, product), decodeTcb(report.reportedTcb, product)) !== null
  }

  /** The report's VCEK as `product`. Returns the item without recording it, so a wrong guess of a v2 product can be dropped. */
  async vcek(product: Product, report: AttestationReport, chain: ValidChain | null): Promise<CollateralItem> {
    const tcb = decodeTcb(report.reportedTcb, product)
    const hwIdHex = kdsHwId(report.chipId, product)
    const url = kdsVcekUrl(product, report.chipId, tcb, this.#kdsUrl)
    const base = { kind: 'vcek' as const, product, family: 'vcek' as const, url, path: this.#store.vcekPath(product, hwIdHex, tcb) }
    if (chain === null) {
      const message = `not fetched: it is validated under the ${product} vcek cert_chain, which is not available`
      return this.#failed(base, { code: 'ERR_COLLATERAL_MISSING', message })
    }
    const hwId = fromHex(hwIdHex)
    const describe = (): string => `VCEK of ${product} chip ${hwIdHex} at ${formatTcb(tcb)}, signed by ${commonName(chain.intermediate.subject)}`
    const cached = this.#store.readVcek(product, hwIdHex, tcb)
    if (cached !== null) {
      try {
        await validateVcek(cached, product, chain, hwId, tcb)
        return { ...base, status: 'cached', detail: describe() }
      } catch (error) {
        this.#log(`the cached VCEK ${tcbKey(tcb, product)} is not valid (${errorOf(error).message}): fetching it again`)
      }
    }
    const got = await this.#client.request({ method: 'GET', url: base.url })
    if (!got.ok) {
      const message = got.status === 404 ? `KDS has no VCEK for this chip and TCB: ${got.message}` : got.message
      return this.#failed(base, { code: 'ERR_COLLATERAL_FETCH', message })
    }
    try {
      const vcek = await validateVcek(got.body, product, chain, hwId, tcb)
      this.#store.writeVcek(product, hwIdHex, tcb, vcek.der)
      return { ...base, status: 'fetched', detail: describe() }
    } catch (error) {
      return this.#failed(base, errorOf(error))
    }
  }

  /** Everything a report needs. */
  async report(report: AttestationReport, reportProducts: readonly Product[] | undefined): Promise<void> {
    const family: KeyFamily = report.signingKey === 'VLEK' ? 'vlek' : 'vcek'
    let candidates: readonly Product[]
    if (report.product !== null) candidates = [report.product]
    else {
      const wanted = (reportProducts ?? []).filter((p) => PRODUCTS_OF_V2.includes(p))
      candidates = wanted.length > 0 ? wanted : PRODUCTS_OF_V2
      this.notes.push(`a version ${report.version} report does not name its product: looked up as ${candidates.join(', then ')}`)
    }
    if (family === 'vlek' || isAllZero(report.chipId)) {
      this.notes.push(
        family === 'vlek'
          ? 'KDS does not publish VLEKs: the VLEK must come with the evidence (--vek); only its chain and CRL were fetched'
          : 'CHIP_ID is zero (MASK_CHIP_ID), so KDS cannot be asked for the VCEK: it must come with the evidence (--vek)',
      )
      for (const product of candidates) await this.crl(product, family, await this.chain(product, family))
      return
    }
    // A product whose VCEK is already cached goes first, so a v2 report costs no lookup once cached.
    const ordered = [...candidates].sort((a, b) => Number(this.hasCachedVcek(b, report)) - Number(this.hasCachedVcek(a, report)))
    const known = ordered.length === 1
    const misses: CollateralItem[] = []
    for (const product of ordered) {
      const chain = await this.chain(product, 'vcek')
      // The CRL of a product that is only a guess is fetched once the VCEK shows the guess was right.
      if (known) await this.crl(product, 'vcek', chain)
      const item = await this.vcek(product, report, chain)
      if (item.status !== 'failed') {
        if (misses.length > 0) item.detail += ` (not found as ${misses.map((m) => m.product).join(' or ')})`
        this.items.push(item)
        if (!known) await this.crl(product, 'vcek', chain)
        return
      }
      misses.push(item)
    }
    this.items.push(...misses)
  }
}

/**
 * The client for KDS: requests spaced across processes through the store's last-request time, and a
 * retry waits the interval or Retry-After, with no back-off of its own.
 */
function kdsClient(options: FetchAmdCollateralOptions, now: () => Date, log: (line: string) => void): ServiceClient {
  const { store } = options
  const minIntervalMs = Math.max(0, options.minIntervalMs ?? AMD_KDS_MIN_INTERVAL_MS)
  return new ServiceClient({
    service: 'KDS',
    fetch: options.fetch,
    sleep: options.sleep,
    now,
    minIntervalMs,
    retries: options.retries ?? AMD_KDS_RETRIES,
    backoffMs: 0,
    timeoutMs: options.timeoutMs ?? AMD_KDS_TIMEOUT_MS,
    maxBodyBytes: MAX_BODY_BYTES,
    tooLarge: (bytes) => `a ${bytes}-byte answer is not KDS collateral`,
    lastRequest: { read: () => store.readLastRequest(), write: (at) => store.writeLastRequest(at) },
    waitReason: `KDS allows one request every ${minIntervalMs / 1000} s`,
    log,
  })
}

/**
 * Fetches AMD collateral into `options.store`: for `options.report`, its product's chain, CRL and (a
 * VCEK report) VCEK; for each of `options.products`, the chain and CRL of each of `options.families`.
 * Cached chains and VCEKs are kept forever, a cached CRL until its nextUpdate; cached items are
 * re-validated, and fetched ones are validated before anything is written. Never throws for KDS or
 * validation failures: they are `failed` items in the summary.
 *
 * @example
 * ```ts
 * const summary = await fetchAmdCollateral({ store: new TrustStore(), report: parseAttestationReport(bytes) })
 * if (!summary.ok) for (const i of summary.items) if (i.error) console.error(i.error.code, i.error.message)
 * ```
 */
export async function fetchAmdCollateral(options: FetchAmdCollateralOptions): Promise<CollateralSummary> {
  const now = options.now ?? (() => new Date())
  const log = options.log ?? (() => {})
  const client = kdsClient(options, now, log)
  const run = new Run(options.store, client, options.kdsUrl ?? AMD_KDS_URL, now, log)
  if (options.report !== undefined) await run.report(options.report, options.reportProducts)
  for (const product of options.products ?? []) {
    for (const family of options.families ?? ['vcek']) await run.crl(product, family, await run.chain(product, family))
  }
  return { ok: run.items.every((i) => i.status !== 'failed'), dir: options.store.dir, requests: client.requests, items: run.items, notes: run.notes }
}
