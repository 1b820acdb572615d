/** The enclave's model list as the host knows it: fetched with the link's `models` op and reused for a while. */
import type { LinkModel } from '@vouch/protocol'
import { HostError } from './errors.js'
import type { EnclaveLink, LinkCallOptions } from './link-client.js'

/** A model as `GET /v2/models/{name}` answers: OIP v2 metadata plus the enclave's digest, publisher and license. */
export type ModelEntry = LinkModel

/** The enclave's model list, fetched with the `models` op, reused for `ttlMs`, one fetch at a time. */
export class ModelCatalog {
  #models: ModelEntry[] | null = null
  #at = 0
  #pending: Promise<ModelEntry[]> | null = null

  constructor(
    readonly link: EnclaveLink,
    readonly ttlMs: number,
  ) {}

  /** Names from the last list fetched (for metric labels; never fetches). */
  knows(name: string): boolean {
    return this.#models?.some((m) => m.name === name) ?? false
  }

  /** The list, fetched again once it is older than `ttlMs`. */
  get(options: LinkCallOptions = {}): Promise<ModelEntry[]> {
    if (this.#models !== null && performance.now() - this.#at < this.ttlMs) return Promise.resolve(this.#models)
    this.#pending ??= this.link
      .request('models', {}, options)
      .then(({ models }) => {
        this.#models = models
        this.#at = performance.now()
        return models
      })
      .finally(() => {
        this.#pending = null
      })
    return this.#pending
  }

  /** The model `name` (of `version`, if given); `ERR_HOST_MODEL_NOT_FOUND` when the enclave serves none such. */
  async find(name: string, version: string | undefined, options: LinkCallOptions = {}): Promise<ModelEntry> {
    const models = await this.get(options)
    const model = models.find((m) => m.name === name && (version === undefined || m.versions.includes(version)))
    if (model === undefined) throw new HostError('ERR_HOST_MODEL_NOT_FOUND')
    return model
  }

  /** Refreshes a stale list without waiting (so metric labels learn model names). */
  refreshSoon(): void {
    if (this.#pending === null && (this.#models === null || performance.now() - this.#at >= this.ttlMs) && this.link.up) this.get().catch(() => undefined)
  }
}
