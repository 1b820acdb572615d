/**
 * The enclave service: the keyset, the evidence, the models and sealed inference, behind the link.
 * Keys are generated here at start (and again when they expire) and never leave the process.
 */
import type { BundleModel, LinkRequestFields, LinkResult, ModelRef } from '@vouch/protocol'
import type { Logger } from 'pino'
import { EnclaveError, ModelError } from '../errors.js'
import { loadModels, type LoadedModel, type LoadModelsOptions, type RefusedModel } from '../inference/index.js'
import type { LinkHandler } from '../link/server.js'
import { DEFAULT_ATTEST_RATE, EvidenceService, type AttestRateLimit, type CpuAttester, type GpuAttester } from './evidence.js'
import { DEFAULT_KEYSET_LIFETIME_S, generateKeyset, type EnclaveKeyset } from './keys.js'
import { DEFAULT_OPEN_PER_MODEL, ModelSlots } from './model-slots.js'
import { DEFAULT_REPLAY_WINDOW_MS, ReplayGuard, SealedInference, type ModelLookup } from './sealed.js'

/** Options of {@link EnclaveService.create}. Every field says what happens when it is unset. */
export interface EnclaveServiceOptions {
  cpu: CpuAttester
  /** GPUs to attest. Unset or null: none. */
  gpu?: GpuAttester | null
  /** Folder of model manifests. */
  modelsDir: string
  log: Logger
  /** Keyset lifetime in seconds. Unset: {@link DEFAULT_KEYSET_LIFETIME_S}. */
  keysetLifetimeS?: number
  /** Replay window. Unset: {@link DEFAULT_REPLAY_WINDOW_MS}. */
  replayWindowMs?: number
  /** Challenged-bundle rate. Unset: {@link DEFAULT_ATTEST_RATE}. */
  attestRate?: AttestRateLimit
  /** Model loading options (threads per session). */
  modelOptions?: LoadModelsOptions
  /** Requests open at once per model; the rest wait sealed. Unset: {@link DEFAULT_OPEN_PER_MODEL}. */
  openPerModel?: number
  /** The clock. Unset: Date.now. */
  now?: () => number
  /** Called when the host asks the enclave to drain (the link's `drain`); the process then stops once idle. Unset: none. */
  onDrain?: () => void
}

/** The enclave service. */
export class EnclaveService implements LinkHandler, ModelLookup {
  #keyset: EnclaveKeyset
  #evidence: EvidenceService
  #sealed: SealedInference
  readonly #now: () => number
  /** Outlives keysets: requests sealed to an old keyset still hold their slots. */
  readonly #slots: ModelSlots
  #draining = false
  /** Inference requests being served; draining ends when none is left. */
  #active = 0
  #idleWaiters: (() => void)[] = []

  private constructor(
    private readonly options: EnclaveServiceOptions,
    private readonly loaded: readonly LoadedModel[],
    readonly refused: readonly RefusedModel[],
  ) {
    this.#now = options.now ?? Date.now
    this.#slots = new ModelSlots(options.openPerModel ?? DEFAULT_OPEN_PER_MODEL)
    ;[this.#keyset, this.#evidence, this.#sealed] = this.#newKeyset()
  }

  /**
   * Loads the models ({@link loadModels}: those that load are served, the others refused and left out of the evidence)
   * and generates the first keyset. Refuses to start with no model to serve.
   */
  static async create(options: EnclaveServiceOptions): Promise<EnclaveService> {
    const { loaded, refused } = await loadModels(options.modelsDir, options.modelOptions ?? {})
    for (const model of loaded) options.log.info({ model: model.name, version: model.version, digest: model.digest, thread: model.thread }, 'model loaded')
    for (const { manifestFile, error } of refused) options.log.error({ manifest: manifestFile, code: error.code, reason: error.message }, 'model refused')
    if (loaded.length === 0) {
      throw new EnclaveError('ERR_ENCLAVE_MODEL_NOT_FOUND', { cause: new Error(`no model could be loaded from ${options.modelsDir}`) })
    }
    return new EnclaveService(options, loaded, refused)
  }

  /** The models this enclave attests, in bundle order. */
  get modelRefs(): ModelRef[] {
    return this.loaded.map((m) => ({ name: m.name, version: m.version, digest: m.digest }))
  }

  /** The models as the evidence lists them: with their manifests and known answers. */
  get bundleModels(): BundleModel[] {
    return this.loaded.map((m) => ({ name: m.name, version: m.version, digest: m.digest, manifest: m.manifestData, knownAnswer: m.knownAnswer }))
  }

  #newKeyset(): [EnclaveKeyset, EvidenceService, SealedInference] {
    const o = this.options
    const keyset = generateKeyset(new Date(this.#now()), o.keysetLifetimeS ?? DEFAULT_KEYSET_LIFETIME_S)
    const evidence = new EvidenceService(o.cpu, o.gpu ?? null, keyset, this.bundleModels, o.attestRate ?? DEFAULT_ATTEST_RATE, this.#now)
    const replay = new ReplayGuard(o.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS, this.#now)
    const sealed = new SealedInference(keyset, this, () => evidence.unchallenged(), replay, this.#slots, this.#now)
    o.log.info({ kid: keyset.public.kid, notAfter: keyset.public.notAfter }, 'keyset generated')
    return [keyset, evidence, sealed]
  }

  /** Replaces an expired keyset: requests sealed to the old one get ERR_ENCLAVE_UNKNOWN_KID and clients re-attest. */
  #current(): { evidence: EvidenceService; sealed: SealedInference } {
    if (this.#now() / 1000 >= this.#keyset.public.notAfter) [this.#keyset, this.#evidence, this.#sealed] = this.#newKeyset()
    return { evidence: this.#evidence, sealed: this.#sealed }
  }

  get(name: string, version: string | null): LoadedModel {
    const model = this.loaded.find((m) => m.name === name && (version === null || m.version === version))
    if (model !== undefined) return model
    const refused = this.refused.find((r) => r.name === name)
    if (refused !== undefined) {
      // Relayed with its own code when it says what the client can act on (a file that is not its manifest's), else as a load failure.
      const code = refused.error.code === 'ERR_MODEL_DIGEST_MISMATCH' ? 'ERR_MODEL_DIGEST_MISMATCH' : 'ERR_MODEL_LOAD'
      throw new ModelError(code, `model ${name} was refused at load`, { cause: refused.error })
    }
    throw new EnclaveError('ERR_ENCLAVE_MODEL_NOT_FOUND')
  }

  async ping(): Promise<LinkResult<'ping'>> {
    return { ready: true, platform: this.options.cpu.platform, kid: this.#keyset.public.kid, models: this.loaded.length, draining: this.#draining }
  }

  /** True once {@link drain} was called: inference requests are refused with ERR_ENCLAVE_DRAINING. */
  get draining(): boolean {
    return this.#draining
  }

  /**
   * Takes no new inference request from now on (ERR_ENCLAVE_DRAINING, which the client answers by sending to another
   * enclave); those under way finish ({@link idle}). Attestation and the other operations go on: the host still logs
   * the answers being finished with this enclave's evidence.
   */
  async drain(): Promise<LinkResult<'drain'>> {
    if (!this.#draining) this.options.log.info({ active: this.#active }, 'draining: no new requests; finishing those under way')
    this.#draining = true
    this.options.onDrain?.()
    return { draining: true }
  }

  /** Inference requests being served. */
  get active(): number {
    return this.#active
  }

  /** Resolves once no inference request is under way. */
  idle(): Promise<void> {
    if (this.#active === 0) return Promise.resolve()
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  /**
   * Replaces the keyset now (a rolling key change): requests sealed to the one before and not yet opened are refused
   * with ERR_ENCLAVE_UNKNOWN_KID (the client attests again and gets the new one); those already opened finish.
   */
  async rotate(): Promise<LinkResult<'rotate'>> {
    ;[this.#keyset, this.#evidence, this.#sealed] = this.#newKeyset()
    return { kid: this.#keyset.public.kid }
  }

  async attest({ nonce }: LinkRequestFields<'attest'>): Promise<LinkResult<'attest'>> {
    const { evidence } = this.#current()
    const built = nonce === null ? await evidence.unchallenged() : await evidence.challenged(nonce)
    return { bundle: built.bytes }
  }

  async models(): Promise<LinkResult<'models'>> {
    return {
      models: this.loaded.map((m) => ({ ...m.metadata, digest: m.digest, publisher: m.manifest.publisher, license: m.manifest.license })),
      refused: this.refused.map((r) => ({ name: r.name, code: r.error.code })),
    }
  }

  async infer({ kid, model, version, body }: LinkRequestFields<'infer'>, signal?: AbortSignal): Promise<LinkResult<'infer'>> {
    if (this.#draining) throw new EnclaveError('ERR_ENCLAVE_DRAINING')
    const { sealed } = this.#current()
    this.#active++
    try {
      return await sealed.handle(kid, model, version, body, signal)
    } finally {
      if (--this.#active === 0) for (const wake of this.#idleWaiters.splice(0)) wake()
    }
  }

  /** Ends the model workers. */
  async close(): Promise<void> {
    await Promise.all(this.loaded.map((m) => m.close()))
  }
}
