/**
 * Evidence bundles (DESIGN.md §3): the keyset and loaded models bound into the SEV-SNP REPORT_DATA and
 * into every GPU's SPDM nonce. One unchallenged bundle (nonce null) is built per keyset and cached;
 * challenged bundles are built on demand, one at a time and rate-limited, since each asks the hardware.
 */
import { bindingStatement, encodeBundle, gpuNonceFor, reportDataFor, sha256Digest, type EvidenceBundle, type ModelRef } from '@vouch/protocol'
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
  bundle: EvidenceBundle
  bytes: Uint8Array
  digest: string
}

/** How often challenged bundles may be built. */
export interface AttestRateLimit {
  /** Bundles that may be built back to back. */
  burst: number
  /** Bundles per second refilled. */
  perSecond: number
}

/** Default: ten in a burst, two per second after that. */
export const DEFAULT_ATTEST_RATE: AttestRateLimit = { burst: 10, perSecond: 2 }

/** Builds and caches evidence bundles for one keyset. */
export class EvidenceService {
  #unchallenged: Promise<BuiltBundle> | null = null
  #queue: Promise<unknown> = Promise.resolve()
  #tokens: number
  #refilledAt: number

  constructor(
    private readonly cpu: CpuAttester,
    private readonly gpu: GpuAttester | null,
    private readonly keyset: EnclaveKeyset,
    private readonly models: readonly ModelRef[],
    private readonly rate: AttestRateLimit = DEFAULT_ATTEST_RATE,
    private readonly now: () => number = Date.now,
  ) {
    this.#tokens = rate.burst
    this.#refilledAt = now()
  }

  /** The cached unchallenged bundle: proves identity, never freshness. Built once per keyset. */
  unchallenged(): Promise<BuiltBundle> {
    this.#unchallenged ??= this.#serialised(() => this.#build(null))
    // A failed build is not cached, so the next call asks the hardware again.
    this.#unchallenged.catch(() => (this.#unchallenged = null))
    return this.#unchallenged
  }

  /** A bundle answering `nonce`, built now. Throws `ERR_ENCLAVE_ATTEST_RATE_LIMITED` when asked too often. */
  challenged(nonce: Uint8Array): Promise<BuiltBundle> {
    this.#take()
    return this.#serialised(() => this.#build(nonce))
  }

  #take(): void {
    const now = this.now()
    this.#tokens = Math.min(this.rate.burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.rate.perSecond)
    this.#refilledAt = now
    if (this.#tokens < 1) throw new EnclaveError('ERR_ENCLAVE_ATTEST_RATE_LIMITED')
    this.#tokens -= 1
  }

  /** Runs hardware requests one at a time: devices and their drivers are not built for concurrent callers. */
  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task)
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #build(nonce: Uint8Array | null): Promise<BuiltBundle> {
    const keyset = this.keyset.public
    const gpus = this.gpu === null ? [] : await this.gpu.attest(gpuNonceFor(nonce, keyset))
    const gpuEvidence = gpus.map((g) => ({ type: 'nvidia-cc' as const, arch: g.arch, report: g.report, chain: [...g.chain] }))
    const statement = bindingStatement({ nonce, keyset, gpus: gpuEvidence, models: this.models })
    const cpu = await this.cpu.attest(reportDataFor(statement))
    const bundle: EvidenceBundle = {
      v: 1,
      platform: this.cpu.platform,
      nonce,
      keyset,
      models: [...this.models],
      cpu: {
        type: 'sev-snp',
        report: cpu.report,
        vek: cpu.vek,
        chain: [cpu.chain[0]!, cpu.chain[1]!],
        ...(cpu.crls !== undefined && cpu.crls.length > 0 && { crls: [...cpu.crls] }),
      },
      gpus: gpuEvidence,
      issuedAt: Math.floor(this.now() / 1000),
    }
    const bytes = encodeBundle(bundle)
    return { bundle, bytes, digest: sha256Digest(bytes) }
  }
}
