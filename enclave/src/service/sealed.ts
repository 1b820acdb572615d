/**
 * Sealed inference (DESIGN.md §4): open the HPKE-sealed request under the current keyset, refuse a
 * replayed or stale one, run the model, and seal the response under a key exported from the request's
 * own HPKE context, with a receipt signed by the attested Ed25519 key. Plaintext exists only here.
 * The receipt (v2) commits to the request and the outputs under the request's opening, another secret of
 * that context, so it can also travel in the clear beside the sealed answer, for the host's public log.
 */
import {
  decodeRequestPlaintext,
  exportReceiptOpening,
  keysetDigest,
  openRequest,
  receiptCommitment,
  RECEIPT_VERSION,
  sealResponsePlaintext,
  signReceipt,
  tensorPieces,
  type LinkResult,
  type ReceiptPayload,
  type TensorData,
} from '@vouch/protocol'
import { hop } from '@vouch/protocol/hop-trace'
import { EnclaveError } from '../errors.js'
import { ModelSlots } from './model-slots.js'
import type { EnclaveKeyset } from './keys.js'
import type { BuiltBundle } from './evidence.js'
import type { LoadedModel } from '../inference/index.js'

/** Default window within which a request's `ts` must fall and its `id` is remembered. */
export const DEFAULT_REPLAY_WINDOW_MS = 60_000
/** Request ids remembered at most; beyond it, the oldest are forgotten only once outside the window. */
const MAX_REMEMBERED_IDS = 1_000_000

/** Where models are found by name and version. */
export interface ModelLookup {
  get(name: string, version: string | null): LoadedModel
}

/** Remembers request ids for the replay window, so a captured request cannot be sent twice. */
export class ReplayGuard {
  readonly #seen = new Map<string, number>()
  /** When expired ids are next swept: at most once a second, not on every request (thousands are remembered). */
  #nextSweep = 0

  constructor(
    readonly windowMs = DEFAULT_REPLAY_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Ids remembered now (expired ones go at the next sweep, at most a second later). */
  get remembered(): number {
    return this.#seen.size
  }

  /** Throws unless `ts` is within the window and `id` has not been seen in it; then remembers `id`. */
  admit(id: string, ts: number): void {
    const now = this.now()
    if (!Number.isFinite(ts) || Math.abs(now - ts) > this.windowMs) throw new EnclaveError('ERR_ENCLAVE_REQUEST_EXPIRED')
    // An expired id still remembered until the sweep cannot be replayed: its ts fails the window check above.
    if (now >= this.#nextSweep || this.#seen.size >= MAX_REMEMBERED_IDS) this.#prune(now)
    if (this.#seen.has(id)) throw new EnclaveError('ERR_ENCLAVE_REPLAY')
    if (this.#seen.size >= MAX_REMEMBERED_IDS) throw new EnclaveError('ERR_ENCLAVE_BUSY')
    // Remember until the request's own ts leaves the window: a later replay is refused as stale anyway.
    this.#seen.set(id, ts + this.windowMs)
  }

  #prune(now: number): void {
    this.#nextSweep = now + 1_000
    for (const [id, until] of this.#seen) {
      if (until >= now) continue
      this.#seen.delete(id)
    }
  }
}

/** A request opened and started: what the rest of {@link SealedInference.handle} needs, and no plaintext. */
interface StartedRun {
  id: string
  loaded: LoadedModel
  /** The commitment to the request plaintext, for the receipt. */
  requestCommitment: string
  /** The request's opening, which the receipt's commitments are keyed with (a secret of its HPKE context). */
  opening: Uint8Array
  context: Awaited<ReturnType<typeof openRequest>>['context']
  outputs: Promise<TensorData[]>
}

/** One sealed inference, from sealed request body to sealed response body. */
export class SealedInference {
  /** The keyset's digest, named in every receipt: computed once. */
  readonly #keysetDigest: string

  constructor(
    private readonly keyset: EnclaveKeyset,
    private readonly models: ModelLookup,
    private readonly evidence: () => Promise<BuiltBundle>,
    private readonly replay: ReplayGuard,
    private readonly slots: ModelSlots = new ModelSlots(),
    private readonly now: () => number = Date.now,
  ) {
    this.#keysetDigest = keysetDigest(keyset.public)
  }

  /**
   * Opens, checks, runs and seals one request sent to `model` (and `version`) under `kid`. Errors are
   * {@link EnclaveError}s with fixed messages: nothing about keys, ciphertext or plaintext leaks. The request waits
   * sealed until one of the model's slots is free ({@link ModelSlots}); an unknown model is refused before that,
   * and one whose `signal` aborts while it waits is dropped unopened. Resolves to the sealed answer and the receipt
   * sealed in it, which reveals nothing of the request or the answer without the opening. `body` is consumed: it is
   * decrypted in place, so its bytes are the plaintext's afterwards (zeros when it does not open).
   */
  async handle(kid: string, model: string, version: string | null, body: Uint8Array, signal?: AbortSignal): Promise<LinkResult<'infer'>> {
    if (kid !== this.keyset.public.kid) throw new EnclaveError('ERR_ENCLAVE_UNKNOWN_KID')
    if (this.now() / 1000 > this.keyset.public.notAfter) throw new EnclaveError('ERR_ENCLAVE_UNKNOWN_KID')
    // An unknown or refused model is refused before anything is queued or decrypted.
    this.models.get(model, version)
    const release = await this.slots.acquire(model, signal)
    hop('model slot')
    try {
      const run = await this.#openAndStart(kid, model, version, body)
      const outputs = await run.outputs
      hop('run (wall)')
      const bundle = await this.evidence()
      const { loaded } = run
      const modelRef = { name: loaded.name, version: loaded.version, digest: loaded.digest }
      const payload: ReceiptPayload = {
        v: RECEIPT_VERSION,
        id: run.id,
        iat: Math.floor(this.now() / 1000),
        model: modelRef,
        request: run.requestCommitment,
        response: receiptCommitment(run.opening, tensorPieces(outputs)),
        keyset: this.#keysetDigest,
        evidence: bundle.digest,
        platform: bundle.bundle.platform,
        attribution: loaded.attribution.map((a) => ({ role: a.role, id: a.id, name: a.name })),
      }
      const receipt = await signReceipt(payload, this.keyset.sigPrivateKey, this.keyset.public.kid)
      hop('receipt (commit outputs, sign)')
      const sealed = await sealResponsePlaintext(run.context, { v: 1, id: run.id, model: modelRef, outputs, receipt })
      hop('seal')
      return { body: sealed, receipt }
    } finally {
      release()
    }
  }

  /**
   * Opens and checks the request and hands its inputs to the model. The plaintext is referenced only from this
   * call's frame, so it can be collected as soon as the run is packed, not when the answer is sealed.
   */
  async #openAndStart(kid: string, model: string, version: string | null, body: Uint8Array): Promise<StartedRun> {
    let opened: Awaited<ReturnType<typeof openRequest>>
    try {
      // In place: the body is this request's own frame, needed no more once opened, and a plaintext of its size
      // allocated afresh costs the detector's 4.9 MB about 20 ms of page faults (docs/benchmarks.md, "Enclave allocator").
      opened = await openRequest(this.keyset.encPrivateKey, kid, body, { inPlace: true })
    } catch (cause) {
      throw new EnclaveError('ERR_ENCLAVE_OPEN_FAILED', { cause })
    }
    hop('open')
    const { plaintext, context } = opened
    let request: ReturnType<typeof decodeRequestPlaintext>
    try {
      request = decodeRequestPlaintext(plaintext)
    } catch (cause) {
      throw new EnclaveError('ERR_ENCLAVE_REQUEST_MALFORMED', { cause })
    }
    hop('decode')
    // The route (model and version) travels in the clear for the host's routing and metrics; the sealed
    // copy is the one that counts, and the two must agree.
    if (request.model.name !== model || (version !== null && (request.model.version ?? null) !== version)) {
      throw new EnclaveError('ERR_ENCLAVE_MODEL_MISMATCH')
    }
    this.replay.admit(request.id, request.ts)
    hop('replay check')
    const loaded = this.models.get(request.model.name, request.model.version ?? null)
    const opening = await exportReceiptOpening(context)
    const outputs = loaded.run(request.inputs, request.outputs?.map((o) => o.name))
    hop('hand-off (check, pack, post)')
    // Committed while the model runs on its worker thread (on the enclave's thread, the run waits for it).
    const requestCommitment = receiptCommitment(opening, plaintext)
    hop('commit request')
    return { id: request.id, loaded, requestCommitment, opening, context, outputs }
  }
}
