/**
 * The relying party (DESIGN.md §1, §4): attest the enclave under a policy before anything is sealed to
 * it, seal each request to the attested key, and accept an answer only when it opens under that
 * request's own context and its receipt verifies against the attested evidence. The host in between is
 * untrusted: whatever it does, the worst outcome is a coded refusal, never an unverified answer.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import {
  ARCHIVE_LIMITS,
  ARCHIVE_MEDIA_TYPE,
  assertResponsePlaintext,
  decodeArchive,
  decodeBundle,
  decodeCbor,
  DEFAULT_MAX_SEALED_BYTES,
  encodeRequestPlaintext,
  EVIDENCE_MEDIA_TYPE,
  exportReceiptOpening,
  isRecord,
  KEY_ID_HEADER,
  openResponse,
  ProtocolError,
  RESPONSE_NONCE_SIZE,
  SEALED_MEDIA_TYPE,
  sealRequest,
  TAG_SIZE,
  type EnvelopeContext,
  type Keyset,
  type ModelRef,
  type RequestParameters,
  type RequestPlaintext,
  type ResponsePlaintext,
  type TensorData,
} from '@vouch/protocol'
import {
  verifyArchive,
  verifyBundle,
  verifyReceipt,
  type BundleClaims,
  type BundleVerifyOptions,
  type Policy,
  type ReceiptClaims,
  type Result,
} from '@vouch/verifier'
import type { CheckpointStore, LogReader } from '@vouch/verifier/log'
import { ClientError, type AttestationEvidence, type CheckedBundle, type Problem } from './errors.js'
import { createFetchTransport, createHttpsTransport, DEFAULT_RETRY, sendWithRetry, type FetchLike, type HttpResponse, type RetryOptions, type Transport } from './http.js'
import { checkpointKeeper, proveLogged, type LogProofOptions, type LogProofResult } from './log.js'
import { toTensorData, type InferInput } from './tensors.js'

/** Default deadline of one HTTP exchange. */
export const DEFAULT_TIMEOUT_MS = 30_000
/** Default time before `keyset.notAfter` at which a cached attestation is renewed. */
export const DEFAULT_RENEW_MARGIN_S = 60
/** Largest JSON answer read (model lists, metadata, problem documents). */
const MAX_JSON_BYTES = 1024 * 1024
const PROBLEM_MEDIA_TYPE = 'application/problem+json'
/** The enclave's "sealed to a key I do not hold" code, relayed by the host as a 409: re-attest once. */
const UNKNOWN_KID = 'ERR_ENCLAVE_UNKNOWN_KID'

/** Options of {@link createClient}. Every field says what happens when it is unset. */
export interface ClientOptions {
  /** The Vouch host, such as `https://vouch.example:8443`; a path prefix is kept. Must be `https:` unless `fetch` is given. */
  url: string | URL
  /** The policy evidence and receipts must satisfy (`parsePolicy`, or {@link loadPolicy} from a file). Required. */
  policy: Policy
  /** PEM CA certificate(s) the host's TLS certificate must chain to (a self-signed development certificate itself). Unset: Node's public CAs. */
  ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array>
  /** Accept any TLS certificate. Development only: the evidence and receipts are still verified. Unset: false. */
  insecureTls?: boolean
  /** Deadline of each HTTP exchange, connection to last byte, in ms. Unset: {@link DEFAULT_TIMEOUT_MS}. */
  timeoutMs?: number
  /** A fetch-compatible function to send requests with, instead of node:https; excludes `ca` and `insecureTls`. Unset: node:https. */
  fetch?: FetchLike
  /** Largest sealed response plaintext accepted, in bytes. Unset: `DEFAULT_MAX_SEALED_BYTES` (24 MiB). */
  maxResponseBytes?: number
  /** Renew a cached attestation this many seconds before its keyset expires. Unset: {@link DEFAULT_RENEW_MARGIN_S}. */
  renewMarginS?: number
  /** Trust material for the verifier (pinned roots, CRLs, GPU RIMs and OCSP). Unset: the verifier's defaults, the collateral in the bundle. */
  verify?: Pick<BundleVerifyOptions, 'trust' | 'crls' | 'gpuCollateral'>
  /**
   * How fetching evidence is retried when the host answers 429 (too many challenges: this client's budget at the
   * host, or the enclave's) or 503 (the enclave is restarting): after the host's `Retry-After` plus a random part of
   * an exponential backoff, a bounded number of times within a bounded time. Unset: {@link DEFAULT_RETRY} (5 tries,
   * backoff from 250 ms doubling to 4 s, no retry starting later than 15 s after the first try); `{ attempts: 1 }`:
   * never retried.
   */
  attestRetry?: RetryOptions
  /**
   * The receipt log (issue 12): the log keys its checkpoints must be signed by (unset: the policy's `log.keys`), where
   * the last checkpoint seen of each log is kept (`stateDir`, one file per log origin; unset: this client's memory
   * only, so consistency is checked across its own calls alone), and how long {@link VouchClient.infer} waits for an
   * answer's proof when it checks one (`waitMs`; unset: {@link DEFAULT_LOG_WAIT_MS}).
   */
  log?: { keys?: readonly string[]; stateDir?: string; waitMs?: number }
}

/** How long `infer` waits for an answer's inclusion proof by default: the host answers only once it is available. */
export const DEFAULT_LOG_WAIT_MS = 5_000

/** Options of {@link VouchClient.attest}. */
export interface AttestOptions {
  /** The challenge, 32 bytes or 64 hex. Unset: 32 fresh random bytes (the right choice unless a verifier elsewhere chose it). */
  nonce?: Uint8Array | string
}

/** A verified attestation: the keyset requests are sealed to, and both bundles as received. */
export interface Attestation extends AttestationEvidence {
  /** The attested keyset (the same in both bundles). */
  keyset: Keyset
  /** What the challenged bundle proves: platform, keyset, models, CPU and GPU claims. */
  claims: BundleClaims
  /** Until when (ms since the epoch) {@link VouchClient.infer} reuses this attestation. */
  validUntil: number
}

/** Options of {@link VouchClient.infer}. */
export interface InferOptions {
  /** The model version. Unset: the one the enclave serves under that name. */
  version?: string
  /** The outputs wanted, by name. Unset: all of the model's. */
  outputs?: ReadonlyArray<string | { name: string }>
  /** OIP v2 request parameters. Unset: none. */
  parameters?: RequestParameters
  /**
   * Wait for the receipt's inclusion proof in the log and check it ({@link VouchClient.logProof}); the answer is
   * refused when it cannot be proven logged. Unset: the policy's `log.requireInclusion` (false when it has no `log`).
   */
  log?: boolean
}

/** A verified answer. */
export interface InferResult {
  /** The request id (a random UUID), which the response and the receipt repeat. */
  id: string
  /** The model that ran, as the enclave names it. */
  model: ModelRef
  outputs: TensorData[]
  /**
   * The receipt, a compact JWS: keep it, with {@link InferResult.evidence}, to prove the answer later. It names the
   * model, the evidence and who is credited; its request and response are commitments only the opening
   * ({@link InferResult.receiptOpening}) checks, so it can be shown (and the host logs it) without revealing either.
   */
  receipt: string
  /** What the verified receipt says: model, attribution, digests, and the claims of the evidence it names. */
  claims: ReceiptClaims
  /** The receipt's verification Result (accepted), every check listed. */
  result: Result<ReceiptClaims>
  /** The attestation the request was sealed under. */
  attestation: Attestation
  /** The evidence bundle the receipt names, exactly as received (for `vouch-verify receipt --evidence`); `attestation.unchallenged.bytes`. */
  evidence: Uint8Array
  /**
   * The evidence archive of that bundle, when the host stapled collateral to it (for `vouch-verify receipt --archive`,
   * offline); `attestation.unchallenged.archive`.
   */
  archive?: Uint8Array
  /** The request plaintext (CBOR) the receipt's `request` commitment names. */
  request: Uint8Array
  /**
   * The receipt's opening: the 32-byte secret of this request's HPKE context its `request` and `response`
   * commitments are keyed with (`exportReceiptOpening`). With the receipt, the evidence, {@link InferResult.request}
   * and the outputs, it proves to a third party what was asked and answered (`verifyReceipt(receipt, { evidence,
   * opening, request, outputs })`, `vouch-verify receipt --opening`). A secret like the request itself: whoever holds
   * it can test guesses of the request and outputs against the receipt, so hand it only to whom you would show them,
   * and never log it. Nothing else can be opened with it (the response key is another secret of the context).
   */
  receiptOpening: Uint8Array
  /**
   * The receipt's proven inclusion in the log, when it was checked (`InferOptions.log`, or the policy's
   * `log.requireInclusion`): its index, the checkpoint, and the proof to keep for `vouch-verify receipt --log-proof`.
   */
  log?: LogProofResult
}

/** An input or output as OIP v2 model metadata describes it; `-1` is a dimension of any size. */
export interface TensorMetadata {
  name: string
  datatype: string
  shape: number[]
}

/** A model as the host describes it (KServe v2 metadata, with Vouch's additions). Unverified: the host's word. */
export interface ModelInfo {
  name: string
  versions?: string[]
  platform?: string
  inputs?: TensorMetadata[]
  outputs?: TensorMetadata[]
  digest?: string
  [field: string]: unknown
}

/** A connection to one Vouch host under one policy. */
export interface VouchClient {
  readonly url: URL
  readonly policy: Policy
  /**
   * Fetches the enclave's evidence with a fresh challenge and its unchallenged bundle (the one receipts
   * name), verifies both under the policy, and caches the attestation for {@link VouchClient.infer}.
   * Rejects with `ERR_CLIENT_ATTESTATION_REJECTED` (carrying the Result) unless both are accepted and
   * attest the same keyset. A host that answers 429 or 503 is asked again as `attestRetry` says (by default up
   * to 5 tries within 15 s, never sooner than its `Retry-After`); after that, `ERR_CLIENT_HTTP` with its status.
   */
  attest(options?: AttestOptions): Promise<Attestation>
  /** `GET /v2/models`: the host's list of models. Unverified; {@link VouchClient.attest} says what the enclave runs. */
  models(): Promise<{ models: ModelInfo[] }>
  /** `GET /v2/models/{name}[/versions/{v}]`: a model's OIP v2 metadata. Unverified. */
  model(name: string, options?: { version?: string }): Promise<ModelInfo>
  /**
   * Runs `model` on `inputs` in the enclave: attests first unless a valid attestation is cached, seals
   * the request, sends it (re-attesting once if the host says the key is unknown), opens the answer and
   * verifies its receipt. Resolves only to a verified answer.
   */
  infer(model: string, inputs: readonly InferInput[], options?: InferOptions): Promise<InferResult>
  /**
   * `GET /v1/log/proof`: the proof that the log holds `receipt` (the compact JWS), checked against the log keys
   * (`ClientOptions.log.keys`, else the policy's `log.keys`; a TypeError when there are none), and its checkpoint
   * checked consistent with the last one this client saw of that log, which it then keeps. Rejects with
   * `ERR_CLIENT_LOG_ENTRY_MISSING` (not in the log within `wait` ms, or not at the index announced),
   * `ERR_CLIENT_LOG_NOT_SERVED` (the host serves no log: a 404 that is not the log's, refused without waiting),
   * `ERR_CLIENT_LOG_PROOF_REJECTED`, or `ERR_CLIENT_LOG_FORK` carrying both signed checkpoints as the proof.
   */
  logProof(receipt: string, options?: LogProofOptions): Promise<LogProofResult>
  /** Closes kept-alive connections. The client still works afterwards; it opens new ones. */
  close(): void
}

function normalizeNonce(nonce: Uint8Array | string | undefined): string {
  if (nonce === undefined) return randomBytes(32).toString('hex')
  if (typeof nonce === 'string') {
    if (!/^[0-9a-fA-F]{64}$/.test(nonce)) throw new TypeError('attest: nonce must be 64 hex characters (32 bytes)')
    return nonce.toLowerCase()
  }
  if (!(nonce instanceof Uint8Array) || nonce.length !== 32) throw new TypeError('attest: nonce must be 32 bytes')
  return Buffer.from(nonce).toString('hex')
}

function summarizeErrors(result: Result<unknown>): string {
  const shown = result.errors.slice(0, 3).map((e) => `${e.code}: ${e.message}`)
  if (result.errors.length > 3) shown.push(`and ${result.errors.length - 3} more`)
  return shown.length > 0 ? shown.join('; ') : 'nothing passed'
}

class Client implements VouchClient {
  readonly url: URL
  readonly policy: Policy
  readonly #transport: Transport
  readonly #maxPlaintext: number
  readonly #renewMarginMs: number
  readonly #verify: Pick<BundleVerifyOptions, 'trust' | 'crls' | 'gpuCollateral'>
  readonly #attestRetry: RetryOptions
  readonly #log: { keys: readonly string[] | undefined; keeper: Pick<CheckpointStore, 'load' | 'save'>; waitMs: number }
  #cached: Attestation | null = null
  #pending: Promise<Attestation> | null = null

  constructor(options: ClientOptions) {
    let url: URL
    try {
      url = new URL(String(options.url))
    } catch {
      throw new TypeError(`createClient: url ${JSON.stringify(String(options.url))} is not a URL`)
    }
    if (options.fetch === undefined && url.protocol !== 'https:') throw new TypeError(`createClient: url must be https: (the host serves TLS 1.3 only), got ${url.protocol}`)
    if (options.fetch !== undefined && (options.ca !== undefined || options.insecureTls !== undefined)) {
      throw new TypeError('createClient: ca and insecureTls configure node:https; with fetch, configure TLS in the fetch function')
    }
    if (!isRecord(options.policy) || options.policy['version'] !== 1 || typeof options.policy['locate'] !== 'function') {
      throw new TypeError('createClient: policy must be a parsed Policy (parsePolicy or loadPolicy)')
    }
    // Relative paths resolve under the URL's own path, so a host behind a prefix (/vouch/) works.
    if (!url.pathname.endsWith('/')) url.pathname += '/'
    url.search = ''
    url.hash = ''
    this.url = url
    this.policy = options.policy
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS
    this.#transport =
      options.fetch !== undefined
        ? createFetchTransport(options.fetch, { timeoutMs })
        : createHttpsTransport({ timeoutMs, ...(options.ca !== undefined && { ca: options.ca }), ...(options.insecureTls !== undefined && { insecureTls: options.insecureTls }) })
    this.#maxPlaintext = options.maxResponseBytes ?? DEFAULT_MAX_SEALED_BYTES
    this.#renewMarginMs = (options.renewMarginS ?? DEFAULT_RENEW_MARGIN_S) * 1000
    this.#verify = options.verify ?? {}
    this.#attestRetry = { ...DEFAULT_RETRY, ...options.attestRetry }
    this.#log = { keys: options.log?.keys ?? options.policy.log?.keys, keeper: checkpointKeeper(options.log?.stateDir), waitMs: options.log?.waitMs ?? DEFAULT_LOG_WAIT_MS }
  }

  async logProof(receipt: string, options: LogProofOptions = {}): Promise<LogProofResult> {
    const keys = this.#log.keys
    if (keys === undefined || keys.length === 0) throw new TypeError('logProof: no log key to check the proof with (ClientOptions.log.keys, or the policy\'s log.keys)')
    const reader: LogReader = { get: (path, accept, maxBytes) => this.#send('GET', path, { accept }, maxBytes) }
    return proveLogged(reader, this.#log.keeper, keys, receipt, options)
  }

  close(): void {
    this.#transport.close()
  }

  async #send(method: 'GET' | 'POST', path: string, headers: Record<string, string>, maxBytes: number, body?: Uint8Array): Promise<HttpResponse> {
    return this.#transport.request({ method, url: new URL(path, this.url), headers, maxBytes, ...(body !== undefined && { body }) })
  }

  /** The ClientError for a non-2xx answer, with the host's problem document when it sent one. */
  #httpError(method: string, path: string, response: HttpResponse): ClientError {
    let problem: Problem | undefined
    if (response.mediaType === PROBLEM_MEDIA_TYPE || response.mediaType === 'application/json') {
      try {
        const parsed: unknown = JSON.parse(Buffer.from(response.body).toString('utf8'))
        if (isRecord(parsed)) problem = parsed as Problem
      } catch {
        // not JSON after all: the status alone is the answer
      }
    }
    const what = problem === undefined ? '' : `: ${[problem.code, problem.detail ?? problem.title].filter((s) => typeof s === 'string' && s !== '').join(': ')}`
    const id = typeof problem?.requestId === 'string' ? ` (request ${problem.requestId})` : ''
    return new ClientError('ERR_CLIENT_HTTP', `${method} /${path.split('?')[0]}: HTTP ${response.status}${what}${id}`, { status: response.status, ...(problem !== undefined && { problem }) })
  }

  async #getJson(path: string): Promise<Record<string, unknown>> {
    const response = await this.#send('GET', path, { accept: 'application/json' }, MAX_JSON_BYTES)
    if (response.status < 200 || response.status > 299) throw this.#httpError('GET', path, response)
    try {
      const value: unknown = JSON.parse(Buffer.from(response.body).toString('utf8'))
      if (isRecord(value)) return value
    } catch {
      // reported below
    }
    throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `GET /${path}: the answer is not a JSON object`)
  }

  /**
   * The evidence at `v1/attestation`, preferably as an archive with the host's stapled collateral (which then needs no
   * trip to AMD or NVIDIA), else the bare bundle; and its verification under `options`.
   */
  async #fetchEvidence(nonce: string | null, options: BundleVerifyOptions): Promise<CheckedBundle> {
    const path = nonce === null ? 'v1/attestation' : `v1/attestation?nonce=${nonce}`
    const accept = `${ARCHIVE_MEDIA_TYPE}, ${EVIDENCE_MEDIA_TYPE};q=0.9`
    // The host turns away challenges beyond a client's budget (429) and answers 503 while the enclave restarts: both pass.
    const response = await sendWithRetry(this.#transport, { method: 'GET', url: new URL(path, this.url), headers: { accept }, maxBytes: ARCHIVE_LIMITS.maxBytes }, this.#attestRetry)
    if (response.status < 200 || response.status > 299) throw this.#httpError('GET', path, response)
    if ((response.mediaType !== EVIDENCE_MEDIA_TYPE && response.mediaType !== ARCHIVE_MEDIA_TYPE) || response.body.length === 0) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `GET /v1/attestation: expected a ${EVIDENCE_MEDIA_TYPE} or ${ARCHIVE_MEDIA_TYPE} body, got ${response.body.length} bytes of ${response.mediaType || 'no content type'}`)
    }
    if (response.mediaType === EVIDENCE_MEDIA_TYPE) return { bytes: response.body, result: await verifyBundle(response.body, options) }
    // Every stapled item is verified with the bundle: one that does not verify rejects, whoever stapled it.
    let bytes: Uint8Array = new Uint8Array(0)
    try {
      bytes = decodeArchive(response.body).bundle
    } catch {
      // verifyArchive rejects it, naming why.
    }
    return { bytes, archive: response.body, result: await verifyArchive(response.body, options) }
  }

  /** One attestation; bundles attesting two keysets come back as `mismatch`, since a second try may see one. */
  async #attestOnce(nonce: string): Promise<{ attestation: Attestation } | { mismatch: ClientError }> {
    const options: BundleVerifyOptions = { ...this.#verify, policy: this.policy }
    // The unchallenged bundle is checked as receipts are, its age aside: the challenged one proves freshness.
    const [challenged, unchallenged] = await Promise.all([this.#fetchEvidence(nonce, { ...options, nonce }), this.#fetchEvidence(null, { ...options, freshness: false })])
    const evidence: AttestationEvidence = { nonce, challenged, unchallenged }
    for (const [which, checked] of [['challenged', challenged], ['unchallenged', unchallenged]] as const) {
      if (checked.result.verdict !== 'accepted' || checked.result.claims === null) {
        throw new ClientError('ERR_CLIENT_ATTESTATION_REJECTED', `the ${which} evidence from ${this.url.origin} is rejected under policy ${this.policy.name}: ${summarizeErrors(checked.result)}`, {
          result: checked.result,
          attestation: evidence,
        })
      }
    }
    const claims = challenged.result.claims!
    if (claims.keyset.digest !== unchallenged.result.claims!.keyset.digest) {
      const message = `the challenged and unchallenged bundles attest different keysets (${claims.keyset.kid}, ${unchallenged.result.claims!.keyset.kid})`
      return { mismatch: new ClientError('ERR_CLIENT_ATTESTATION_REJECTED', message, { attestation: evidence }) }
    }
    const keyset = decodeBundle(challenged.bytes).keyset
    return { attestation: { ...evidence, keyset, claims, validUntil: keyset.notAfter * 1000 - this.#renewMarginMs } }
  }

  async attest(options: AttestOptions = {}): Promise<Attestation> {
    const nonce = normalizeNonce(options.nonce)
    let outcome = await this.#attestOnce(nonce)
    // The enclave may have renewed its keyset between the two fetches: one more try sees one keyset.
    if ('mismatch' in outcome) outcome = await this.#attestOnce(options.nonce === undefined ? normalizeNonce(undefined) : nonce)
    if ('mismatch' in outcome) throw outcome.mismatch
    this.#cached = outcome.attestation
    return outcome.attestation
  }

  /** The cached attestation if still valid, else a new one (one at a time, shared by concurrent callers). */
  #current(): Promise<Attestation> {
    const cached = this.#cached
    if (cached !== null && Date.now() < cached.validUntil) return Promise.resolve(cached)
    return this.#renew(cached)
  }

  /** A new attestation replacing `stale`, unless another caller already replaced it. */
  #renew(stale: Attestation | null): Promise<Attestation> {
    if (this.#pending !== null) return this.#pending
    const cached = this.#cached
    if (cached !== null && cached !== stale && Date.now() < cached.validUntil) return Promise.resolve(cached)
    this.#cached = null
    const pending = this.attest().finally(() => {
      if (this.#pending === pending) this.#pending = null
    })
    this.#pending = pending
    return pending
  }

  async models(): Promise<{ models: ModelInfo[] }> {
    const value = await this.#getJson('v2/models')
    const models = value['models']
    if (!Array.isArray(models) || !models.every((m) => isRecord(m) && typeof m['name'] === 'string')) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', 'GET /v2/models: expected { "models": [{ "name": ... }, ...] }')
    }
    return { models: models as ModelInfo[] }
  }

  async model(name: string, options: { version?: string } = {}): Promise<ModelInfo> {
    const value = await this.#getJson(modelPath(name, options.version))
    if (typeof value['name'] !== 'string') throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `GET /${modelPath(name, options.version)}: expected model metadata { "name": ... }`)
    return value as ModelInfo
  }

  async infer(model: string, inputs: readonly InferInput[], options: InferOptions = {}): Promise<InferResult> {
    if (typeof model !== 'string' || model === '') throw new TypeError('infer: model must be a model name')
    if (!Array.isArray(inputs)) throw new TypeError('infer: inputs must be an array of tensors')
    const tensors = inputs.map((t, i) => toTensorData(t, `inputs[${i}]`))
    const outputs = options.outputs?.map((o) => ({ name: typeof o === 'string' ? o : o.name }))
    const path = `${modelPath(model, options.version)}/infer`
    // A new id on every send: the enclave refuses an id it has seen (DESIGN.md §4).
    const draft = (): RequestPlaintext => ({
      v: 1,
      id: randomUUID(),
      ts: Date.now(),
      model: options.version === undefined ? { name: model } : { name: model, version: options.version },
      inputs: tensors,
      ...(outputs !== undefined && { outputs }),
      ...(options.parameters !== undefined && { parameters: options.parameters }),
    })
    // Encoded before attesting, so a request the protocol refuses costs no round trip.
    let plaintext = draft()
    let bytes = encode(plaintext)
    let attestation = await this.#current()
    for (let attempt = 0; ; attempt++) {
      const { context, body } = await seal(bytes, attestation.keyset)
      const response = await this.#send('POST', path, { 'content-type': SEALED_MEDIA_TYPE, accept: SEALED_MEDIA_TYPE, [KEY_ID_HEADER.toLowerCase()]: attestation.keyset.kid }, this.#maxPlaintext + RESPONSE_NONCE_SIZE + TAG_SIZE, body)
      if (response.status === 409 && attempt === 0 && this.#isUnknownKid(response)) {
        attestation = await this.#renew(attestation)
        plaintext = draft()
        bytes = encode(plaintext)
        continue
      }
      if (response.status < 200 || response.status > 299) throw this.#httpError('POST', path, response)
      const logged = options.log ?? this.policy.log?.requireInclusion ?? false
      return await this.#accept(response, context, bytes, plaintext, attestation, logged)
    }
  }

  /** A 409 means "re-attest" unless its problem names another code (a replay, for one). */
  #isUnknownKid(response: HttpResponse): boolean {
    const code = this.#httpError('POST', '', response).problem?.code
    return code === undefined || code === UNKNOWN_KID
  }

  /** The receipt's inclusion proof, checked, when asked for: the host answers only once the receipt is logged, saying where. */
  async #logged(response: HttpResponse, receipt: string): Promise<LogProofResult> {
    const announced = response.headers['vouch-log-index']
    const index = announced !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(announced) ? Number(announced) : undefined
    return this.logProof(receipt, { wait: this.#log.waitMs, ...(index !== undefined && { index }) })
  }

  async #accept(response: HttpResponse, context: EnvelopeContext, request: Uint8Array, plaintext: RequestPlaintext, attestation: Attestation, logged: boolean): Promise<InferResult> {
    // DESIGN.md §4: a 2xx without a sealed body is a hard failure, never an answer.
    if (response.mediaType !== SEALED_MEDIA_TYPE || response.body.length === 0) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `HTTP ${response.status} without a sealed body (${response.body.length} bytes of ${response.mediaType || 'no content type'})`)
    }
    let opened: Uint8Array
    try {
      opened = await openResponse(context, response.body, { maxPlaintextBytes: this.#maxPlaintext })
    } catch (cause) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', 'the sealed response does not open under this request: altered, truncated, or sealed for another request', { cause })
    }
    let value: unknown
    try {
      value = decodeCbor(opened, { maxBytes: this.#maxPlaintext, maxDepth: 8 })
    } catch (cause) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', 'the response plaintext is not CBOR', { cause })
    }
    if (isRecord(value) && (value['receipt'] === undefined || value['receipt'] === '')) {
      throw new ClientError('ERR_CLIENT_RECEIPT_REJECTED', 'the response carries no receipt')
    }
    try {
      assertResponsePlaintext(value)
    } catch (cause) {
      const issues = cause instanceof ProtocolError ? cause.issues.join('; ') : String(cause)
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `the response plaintext is malformed: ${issues}`, { cause })
    }
    const answer: ResponsePlaintext = value
    if (answer.id !== plaintext.id) throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `response id mismatch: expected ${plaintext.id}, got ${answer.id}`)
    const want = plaintext.model
    if (answer.model.name !== want.name || (want.version !== undefined && answer.model.version !== want.version)) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `model mismatch: asked for ${want.name}${want.version === undefined ? '' : ` ${want.version}`}, the answer is from ${answer.model.name} ${answer.model.version}`)
    }

    // The bundle was verified at attestation: only the receipt itself is checked on each answer, its commitments (v2)
    // with the opening this client derives from the request's own context, as the enclave did.
    const opening = await exportReceiptOpening(context)
    // Its inclusion in the log first, when asked for: the policy may require the proof the receipt is checked with.
    const log = logged ? await this.#logged(response, answer.receipt) : undefined
    const result = await verifyReceipt(answer.receipt, {
      ...this.#verify,
      evidence: attestation.unchallenged.bytes,
      verifiedEvidence: attestation.unchallenged.result,
      policy: this.policy,
      request,
      outputs: answer.outputs,
      opening,
      ...(log !== undefined && { log: { proof: log.proof, keys: this.#log.keys } }),
    })
    const claims = result.claims
    if (result.verdict !== 'accepted' || claims === null) {
      throw new ClientError('ERR_CLIENT_RECEIPT_REJECTED', `the receipt is rejected under policy ${this.policy.name}: ${summarizeErrors(result)}`, { result })
    }
    // The receipt verified, and names this request's plaintext; it must also name the model that answered.
    const m = claims.model
    if (m.name !== answer.model.name || m.version !== answer.model.version || m.digest !== answer.model.digest) {
      throw new ClientError('ERR_CLIENT_RECEIPT_REJECTED', `the receipt names ${m.name} ${m.version} (${m.digest}), the answer ${answer.model.name} ${answer.model.version} (${answer.model.digest})`, { result })
    }
    return {
      id: answer.id,
      model: answer.model,
      outputs: answer.outputs,
      receipt: answer.receipt,
      claims,
      result: result as Result<ReceiptClaims>,
      attestation,
      evidence: attestation.unchallenged.bytes,
      ...(attestation.unchallenged.archive !== undefined && { archive: attestation.unchallenged.archive }),
      request,
      receiptOpening: opening,
      ...(log !== undefined && { log }),
    }
  }
}

function modelPath(name: string, version: string | undefined): string {
  return `v2/models/${encodeURIComponent(name)}${version === undefined ? '' : `/versions/${encodeURIComponent(version)}`}`
}

function requestInvalid(cause: unknown): ClientError {
  if (!(cause instanceof ProtocolError)) throw cause
  const detail = cause.issues.length > 0 ? cause.issues.join('; ') : cause.message
  return new ClientError('ERR_CLIENT_REQUEST_INVALID', `the request cannot be sent: ${detail}`, { cause })
}

/** The request plaintext's CBOR; a request the protocol refuses is the caller's error, before anything is sent. */
function encode(plaintext: RequestPlaintext): Uint8Array {
  try {
    return encodeRequestPlaintext(plaintext)
  } catch (cause) {
    throw requestInvalid(cause)
  }
}

async function seal(bytes: Uint8Array, keyset: Keyset): Promise<{ context: EnvelopeContext; body: Uint8Array }> {
  try {
    return await sealRequest(keyset.enc, keyset.kid, bytes)
  } catch (cause) {
    throw requestInvalid(cause)
  }
}

/**
 * Creates a client for the Vouch host at `options.url` under `options.policy`. Nothing is sent until the
 * first call. Throws a TypeError for options that cannot work (not https, no parsed policy).
 */
export function createClient(options: ClientOptions): VouchClient {
  return new Client(options)
}
