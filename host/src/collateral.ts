/**
 * Stapled collateral (issue 12): the host fetches the AMD and NVIDIA collateral of the evidence it serves into a
 * trust directory (`@vouch/verifier/trust`, which validates everything before it caches it and works from the cache
 * offline), and staples what is cached and current to each bundle it serves, as an evidence archive, for a client
 * that asks for one (`Accept: application/vnd.vouch.archive+cbor`). The AMD CRL, the NVIDIA RIMs and the OCSP
 * responses are signed by AMD or NVIDIA, so the host stays untrusted: the client verifies every item, and needs no
 * access to AMD's or NVIDIA's servers. The bundle travels inside byte for byte, so its binding is unchanged.
 *
 * Fetching follows the enclave's unchallenged bundle (the one receipts name): when it first appears or changes, and
 * every `refreshMs`, in the background; a request never waits for AMD or NVIDIA. Challenged bundles come from the
 * same chip and GPUs, so the same cache serves them.
 */
import { createHash } from 'node:crypto'
import { decodeBundle, encodeArchive, type EvidenceBundle } from '@vouch/protocol'
import { cachedBundleCollateral, defaultTrustDir, fetchBundleCollateral, TrustStore, type BundleCollateral, type BundleCollateralSummary, type HttpHooks } from '@vouch/verifier/trust'
import type { Logger } from 'pino'

/** How long an archive is reused for the same bundle before the trust directory is read again. */
export const ARCHIVE_REUSE_MS = 30_000
/** Archives kept for reuse (the unchallenged bundle, and the last few challenged ones). */
const REUSED_ARCHIVES = 8
/** No collateral. */
const NONE: Pick<BundleCollateral, 'crls' | 'rims' | 'ocsp'> = { crls: [], rims: [], ocsp: [] }

/** What the stapler does. Every field says what happens when it is unset. */
export interface StaplerOptions {
  /** The trust directory. Unset: the verifier's default (`$VOUCH_TRUST_DIR`, else `$XDG_CACHE_HOME/vouch/trust`, else `~/.cache/vouch/trust`). */
  dir?: string
  /** Fetch from AMD and NVIDIA. Unset: true. False: staple only what `dir` holds. */
  fetch?: boolean
  /** Time between fetches. Unset: one hour. */
  refreshMs?: number
  /** AMD KDS base URL. Unset: AMD's. */
  kdsUrl?: string
  /** NVIDIA RIM service base URL. Unset: NVIDIA's. */
  rimUrl?: string
  /** NVIDIA OCSP responder URL. Unset: NVIDIA's. */
  ocspUrl?: string
  /** The clock: what is current, and request spacing. Unset: the system clock. */
  now?: () => Date
  /** The HTTP client and how to wait between requests. Unset: the global `fetch` and timers. */
  http?: HttpHooks
  /** Environment for the default trust directory. Unset: `process.env`. */
  env?: NodeJS.ProcessEnv
  log: Logger
}

/** Staples cached collateral to bundles, and keeps the cache filled for the enclave's evidence. */
export class CollateralStapler {
  readonly store: TrustStore
  readonly #options: StaplerOptions
  readonly #now: () => Date
  readonly #reused = new Map<string, { archive: Uint8Array; until: number }>()
  /** The unchallenged bundle fetched for, and its digest. */
  #target: { digest: string; bundle: EvidenceBundle } | null = null
  #fetching: Promise<void> | null = null
  /** The target changed while a fetch ran: fetch again once it ends. */
  #again = false
  readonly #timer: NodeJS.Timeout | null

  constructor(options: StaplerOptions) {
    this.#options = options
    this.#now = options.now ?? (() => new Date())
    this.store = new TrustStore(options.dir ?? defaultTrustDir(options.env))
    this.#timer = options.fetch === false ? null : setInterval(() => void this.refresh(), options.refreshMs ?? 3_600_000).unref()
  }

  /**
   * The evidence archive of `bundle` (its CBOR bytes, kept byte for byte): the bundle and what the trust directory
   * holds for it that is current now. An unchallenged bundle is the one fetching follows. One that does not decode
   * is archived without collateral (the client refuses it anyway); one over `ARCHIVE_LIMITS.bundleBytes` cannot be
   * archived at all, and rejects with `ERR_PROTOCOL_MALFORMED`.
   */
  async archive(bundle: Uint8Array, options: { unchallenged: boolean }): Promise<Uint8Array> {
    const digest = createHash('sha256').update(bundle).digest('hex')
    const now = this.#now()
    const reused = this.#reused.get(digest)
    if (reused !== undefined && now.getTime() < reused.until) return reused.archive
    let decoded: EvidenceBundle | null = null
    try {
      decoded = decodeBundle(bundle)
    } catch (error) {
      this.#options.log.warn({ err: error }, 'the enclave served a bundle that does not decode: archived without collateral')
    }
    if (decoded !== null && options.unchallenged && this.#target?.digest !== digest) {
      this.#target = { digest, bundle: decoded }
      // A fetch under way is for the previous bundle: this one is fetched for once it ends.
      this.#again = this.#fetching !== null
      void this.refresh()
    }
    const collateral = decoded === null ? NONE : await this.#cached(decoded, now)
    const archive = encodeArchive({ v: 1, bundle, stapledAt: Math.floor(now.getTime() / 1000), crls: collateral.crls, rims: collateral.rims, ocsp: collateral.ocsp })
    if (this.#reused.size >= REUSED_ARCHIVES) this.#reused.delete(this.#reused.keys().next().value!)
    this.#reused.set(digest, { archive, until: now.getTime() + ARCHIVE_REUSE_MS })
    return archive
  }

  /** What the trust directory holds for `bundle` now; a directory that cannot be read (a file over its size limit, say) gives nothing. */
  async #cached(bundle: EvidenceBundle, now: Date): Promise<Pick<BundleCollateral, 'crls' | 'rims' | 'ocsp'>> {
    try {
      return await cachedBundleCollateral(this.store, bundle, now)
    } catch (error) {
      this.#options.log.warn({ err: error, dir: this.store.dir }, 'the trust directory cannot be read: the evidence is served without collateral')
      return NONE
    }
  }

  /**
   * Fetches the collateral of the unchallenged bundle last archived, unless fetching is off or none was archived yet;
   * resolves when done (a fetch already under way is joined). Failures are logged, never thrown.
   */
  refresh(): Promise<void> {
    if (this.#options.fetch === false || this.#target === null) return Promise.resolve()
    if (this.#fetching !== null) return this.#fetching
    this.#fetching = (async () => {
      do {
        this.#again = false
        if (this.#target !== null) await this.#fetchFor(this.#target)
      } while (this.#again)
    })().finally(() => {
      this.#fetching = null
    })
    return this.#fetching
  }

  async #fetchFor(target: { digest: string; bundle: EvidenceBundle }): Promise<void> {
    const o = this.#options
    const log = o.log.child({ component: 'collateral' })
    try {
      const summary = await fetchBundleCollateral(target.bundle, {
        store: this.store,
        now: this.#now,
        log: (line) => log.debug(line),
        ...(o.kdsUrl !== undefined && { kdsUrl: o.kdsUrl }),
        ...(o.rimUrl !== undefined && { rimUrl: o.rimUrl }),
        ...(o.ocspUrl !== undefined && { ocspUrl: o.ocspUrl }),
        ...o.http,
      })
      logSummary(log, summary, target.digest)
    } catch (error) {
      log.warn({ err: error }, 'fetching collateral failed')
    }
    // What is stapled next comes from the cache as it is now.
    this.#reused.clear()
  }

  /** Stops the periodic fetch; one in progress finishes on its own. */
  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
  }
}

/** One line for the fetch, and one per item that failed, with its code (collateral is public: nothing here is secret). */
function logSummary(log: Logger, summary: BundleCollateralSummary, digest: string): void {
  const items = [...(summary.amd?.items ?? []), ...(summary.nvidia?.items ?? [])]
  const failed = items.filter((i) => i.status === 'failed')
  const requests = (summary.amd?.requests ?? 0) + (summary.nvidia?.requests ?? 0)
  log.info({ evidence: `sha256:${digest}`, items: items.length, failed: failed.length, requests, notes: summary.notes }, 'collateral fetched')
  for (const item of failed) log.warn({ kind: item.kind, code: item.error?.code, detail: item.detail }, 'collateral item not fetched')
}
