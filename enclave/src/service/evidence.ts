/**
 * Evidence bundles (DESIGN.md §3): version 2 bundles, whose every field outside the signed `cpu` section is bound into
 * the SEV-SNP REPORT_DATA, and into every GPU's SPDM nonce. One unchallenged bundle (no nonce) is built per keyset
 * and cached. Challenged bundles answer relying parties' nonces: the challenges that arrive while the hardware is busy
 * (or while the rate limit holds it back) wait together and are answered by one report that lists them all, so a
 * fresh challenge costs a hardware request only when none is already on its way.
 */
import { bindingStatementV2, encodeBundle, gpuNonceV2, MAX_BUNDLE_NONCES, reportDataFor, sha256Digest, toHex, type BundleModel, type EvidenceBundleV2 } from '@vouch/protocol'
import { EnclaveError } from '../errors.js'
import type { EnclaveKeyset } from './keys.js'

/** What a CPU TEE device gives for a REPORT_DATA (see `tee/device.ts`). */
export interface CpuAttester {
  readonly platform: 'sev-snp' | 'simulated'
  attest(reportData: Uint8Array): Promise<{ report: Uint8Array; vek: Uint8Array; chain: readonly [Uint8Array, Uint8Array] | readonly Uint8Array[]; crls?: readonly Uint8Array[] }>
}

/** What the GPU devices give for an SPDM nonce: one report per GPU. */
export interface GpuAttester {
  attest(nonce: Uint8Array): Promise<ReadonlyArray<{ arch: 'HOPPER' | 'BLACKWELL'; report: Uint8Array; chain: readonly Uint8Array[] }>>
}

/** A built bundle: its decoded form, its bytes (what is hashed into receipts) and their digest. */
export interface BuiltBundle {
  bundle: EvidenceBundleV2
  bytes: Uint8Array
  digest: string
}

/** How often the hardware may be asked for a challenged bundle. */
export interface AttestRateLimit {
  /** Hardware requests that may be made back to back. */
  burst: number
  /** Hardware requests per second refilled. */
  perSecond: number
}

/** Default: ten hardware requests in a burst, two per second after that; each answers up to 64 challenges. */
export const DEFAULT_ATTEST_RATE: AttestRateLimit = { burst: 10, perSecond: 2 }

/** Challenges that may wait for a report at once (four full reports' worth); beyond, `ERR_ENCLAVE_ATTEST_RATE_LIMITED`. */
export const MAX_WAITING_CHALLENGES = 4 * MAX_BUNDLE_NONCES

/** A challenge waiting for the report that will answer it. */
interface Waiting {
  nonce: Uint8Array
  hex: string
  answer: Promise<BuiltBundle>
  resolve(built: BuiltBundle): void
  reject(error: unknown): void
}

/** Builds and caches evidence bundles for one keyset. */
export class EvidenceService {
  #unchallenged: Promise<BuiltBundle> | null = null
  #queue: Promise<unknown> = Promise.resolve()
  #tokens: number
  #refilledAt: number
  #waiting: Waiting[] = []
  #answering = false

  constructor(
    private readonly cpu: CpuAttester,
    private readonly gpu: GpuAttester | null,
    private readonly keyset: EnclaveKeyset,
    private readonly models: readonly BundleModel[],
    private readonly rate: AttestRateLimit = DEFAULT_ATTEST_RATE,
    private readonly now: () => number = Date.now,
  ) {
    this.#tokens = rate.burst
    this.#refilledAt = now()
  }

  /** The cached unchallenged bundle: proves identity, never freshness. Built once per keyset. */
  unchallenged(): Promise<BuiltBundle> {
    this.#unchallenged ??= this.#serialised(() => this.#build([]))
    // A failed build is not cached, so the next call asks the hardware again.
    this.#unchallenged.catch(() => (this.#unchallenged = null))
    return this.#unchallenged
  }

  /** Challenges waiting for a report now. */
  get waiting(): number {
    return this.#waiting.length
  }

  /**
   * A bundle whose `nonces` include `nonce`, built after the call: by the next hardware request, which answers every
   * challenge waiting for it (up to 64). Throws `ERR_ENCLAVE_ATTEST_RATE_LIMITED` when {@link MAX_WAITING_CHALLENGES}
   * already wait.
   */
  challenged(nonce: Uint8Array): Promise<BuiltBundle> {
    const hex = toHex(nonce)
    const same = this.#waiting.find((w) => w.hex === hex)
    if (same !== undefined) return same.answer
    if (this.#waiting.length >= MAX_WAITING_CHALLENGES) return Promise.reject(new EnclaveError('ERR_ENCLAVE_ATTEST_RATE_LIMITED'))
    let resolve!: (built: BuiltBundle) => void
    let reject!: (error: unknown) => void
    const answer = new Promise<BuiltBundle>((res, rej) => {
      resolve = res
      reject = rej
    })
    this.#waiting.push({ nonce: Uint8Array.from(nonce), hex, answer, resolve, reject })
    void this.#answer()
    return answer
  }

  /** Answers waiting challenges, a report at a time, as the rate allows; one loop runs at a time. */
  async #answer(): Promise<void> {
    if (this.#answering) return
    this.#answering = true
    try {
      while (this.#waiting.length > 0) {
        await this.#take()
        // Taken only now: challenges that arrived while the previous report was built, or while the rate held, join this one.
        const batch = this.#waiting.splice(0, MAX_BUNDLE_NONCES)
        try {
          const built = await this.#serialised(() => this.#build(batch.map((w) => w.nonce)))
          for (const w of batch) w.resolve(built)
        } catch (error) {
          for (const w of batch) w.reject(error)
        }
      }
    } finally {
      this.#answering = false
    }
  }

  /** Takes a token for one hardware request, waiting for the bucket to refill when it is empty. */
  async #take(): Promise<void> {
    for (;;) {
      const now = this.now()
      this.#tokens = Math.min(this.rate.burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.rate.perSecond)
      this.#refilledAt = now
      if (this.#tokens >= 1) {
        this.#tokens -= 1
        return
      }
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(((1 - this.#tokens) / this.rate.perSecond) * 1000)))
    }
  }

  /** Runs hardware requests one at a time: devices and their drivers are not built for concurrent callers. */
  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task)
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #build(nonces: Uint8Array[]): Promise<BuiltBundle> {
    const draft = { platform: this.cpu.platform, nonces, issuedAt: Math.floor(this.now() / 1000), keyset: this.keyset.public, models: [...this.models] }
    const gpus = this.gpu === null ? [] : await this.gpu.attest(gpuNonceV2(draft))
    const gpuEvidence = gpus.map((g) => ({ type: 'nvidia-cc' as const, arch: g.arch, report: g.report, chain: [...g.chain] }))
    const cpu = await this.cpu.attest(reportDataFor(bindingStatementV2({ ...draft, gpus: gpuEvidence })))
    const bundle: EvidenceBundleV2 = {
      v: 2,
      ...draft,
      cpu: {
        type: 'sev-snp',
        report: cpu.report,
        vek: cpu.vek,
        chain: [cpu.chain[0]!, cpu.chain[1]!],
        ...(cpu.crls !== undefined && cpu.crls.length > 0 && { crls: [...cpu.crls] }),
      },
      gpus: gpuEvidence,
    }
    const bytes = encodeBundle(bundle)
    return { bundle, bytes, digest: sha256Digest(bytes) }
  }
}
