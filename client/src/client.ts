/**
 * The relying party (DESIGN.md §1, §4): attest the enclave under a policy before anything is sealed to
 * it, seal each request to the attested key, and accept an answer only when it opens under that
 * request's own context and its receipt verifies against the attested evidence. The host in between is
 * untrusted: whatever it does, the worst outcome is a coded refusal, never an unverified answer.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import {
  ARCHIVE_LIMITS,
  FLEET_LIMITS,
  ARCHIVE_MEDIA_TYPE,
  assertResponsePlaintext,
  decodeCbor,
  DEFAULT_MAX_SEALED_BYTES,
  encodeRequestPlaintext,
  EVIDENCE_MEDIA_TYPE,
  exportReceiptOpening,
  FLEET_MEDIA_TYPE,
  isRecord,
  KEY_ID_HEADER,
  openResponse,
  ProtocolError,
  receiptCommitment,
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
import { hop, traceRequest } from '@vouch/protocol/hop-trace'
import {
  verifyReceipt,
  type BundleVerifyOptions,
  type Policy,
  type ReceiptClaims,
  type Result,
} from '@vouch/verifier'
import type { CheckpointStore, LogReader } from '@vouch/verifier/log'
import { ClientError, summarizeErrors, type CheckedBundle, type EnclaveAttestation, type FleetRejection, type Problem } from './errors.js'
import { assembleFleet, checkEvidence, judgeEnclave, parseFleetAnswer, Rotation, type EnclaveOutcome, type JudgeContext } from './fleet.js'
import { createFetchTransport, createHttpsTransport, DEFAULT_RETRY, failedBeforeResponse, sendWithRetry, type FetchLike, type HttpResponse, type RetryOptions, type Transport } from './http.js'
import { computeCredits, type CreditsOptions, type CreditsReport } from './credits.js'
import { checkpointKeeper, proveLogged, type LogProofOptions, type LogProofResult } from './log.js'
import { toTensorData, type InferInput } from './tensors.js'

/** Default deadline of one HTTP exchange. */
export const DEFAULT_TIMEOUT_MS = 30_000
/** Default time before `keyset.notAfter` at which a cached attestation is renewed. */
export const DEFAULT_RENEW_MARGIN_S = 60
/** Largest JSON answer read (model lists, metadata, problem documents). */
const MAX_JSON_BYTES = 1024 * 1024
const PROBLEM_MEDIA_TYPE = 'application/problem+json'
/** The enclave's "sealed to a key I do not hold" code, relayed by the host as a 409: send to another enclave, or attest again. */
const UNKNOWN_KID = 'ERR_ENCLAVE_UNKNOWN_KID'
/** 503 codes that say this enclave takes no request now (draining, not connected), and was not sent this one. */
const ENCLAVE_GONE: ReadonlySet<string> = new Set(['ERR_ENCLAVE_DRAINING', 'ERR_HOST_ENCLAVE_UNAVAILABLE'])
/** The 503 of a host that is shutting down: it closes the connection and sent the request nowhere; another host may take it. */
const HOST_LEAVING = 'ERR_HOST_SHUTTING_DOWN'
/** Attestations one `infer` may add after refusals, beyond the one it starts with. */
const MAX_REATTESTATIONS = 2

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

/**
 * A verified attestation of the enclaves behind a host: the first accepted one (its keyset, both its bundles as
 * received, as for a host with one enclave), and every enclave the host offered, accepted or not.
 */
export interface Attestation extends EnclaveAttestation {
  /**
   * Every enclave whose evidence is accepted, this one first, each keyset once: {@link VouchClient.infer} spreads
   * requests over them. One for a host that answers for a single enclave.
   */
  fleet: EnclaveAttestation[]
  /** The enclaves offered whose evidence is not accepted, with the Result that rejected each: nothing is sealed to them. */
  rejected: FleetRejection[]
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
  /** The attestation of the enclave the request was sealed to (one of `Attestation.fleet`). */
  attestation: EnclaveAttestation
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
   * Fetches the evidence of every enclave behind the host with a fresh challenge (a host routing to several answers
   * with all of them in one fleet document; an older host, for its one enclave), and each enclave's unchallenged
   * bundle (the one its receipts name); verifies both of each under the policy, and caches the accepted enclaves for
   * {@link VouchClient.infer}. An enclave is accepted when both its bundles are and attest the same keyset; the others
   * are listed in `rejected` with their Result. Rejects with `ERR_CLIENT_ATTESTATION_REJECTED` (carrying the first
   * rejection's Result) when none is accepted, `ERR_CLIENT_FLEET_TOO_SMALL` when fewer than the policy's
   * `fleet.minEnclaves` are, and `ERR_CLIENT_RESPONSE_INVALID` for a fleet document that is malformed or answers another
   * nonce. A host that answers 429 or 503 is asked again as `attestRetry` says (by default up to 5 tries within 15 s,
   * never sooner than its `Retry-After`); after that, `ERR_CLIENT_HTTP` with its status.
   */
  attest(options?: AttestOptions): Promise<Attestation>
  /** `GET /v2/models`: the host's list of models. Unverified; {@link VouchClient.attest} says what the enclave runs. */
  models(): Promise<{ models: ModelInfo[] }>
  /** `GET /v2/models/{name}[/versions/{v}]`: a model's OIP v2 metadata. Unverified. */
  model(name: string, options?: { version?: string }): Promise<ModelInfo>
  /**
   * Runs `model` on `inputs` in an enclave: attests first unless a valid attestation is cached, seals the request to
   * the next accepted enclave in turn (so requests spread over them; never to a key that was not attested), sends it,
   * opens the answer and verifies its receipt. Resolves only to a verified answer. An enclave the host says holds no
   * such key (409 `ERR_ENCLAVE_UNKNOWN_KID`), is draining (503 `ERR_ENCLAVE_DRAINING`) or is not connected (503
   * `ERR_HOST_ENCLAVE_UNAVAILABLE`) did not run the request: it is dropped, and the request sealed anew (a new id) to
   * the next one; when fewer than `fleet.minEnclaves` (or none) are left, the client attests again. A connection lost
   * before any byte of the answer, or a host shutting down (503 `ERR_HOST_SHUTTING_DOWN`), is sent again once, sealed
   * anew, on a new connection. Bounded: at most the fleet's
   * size plus 2 sends and 2 attestations, then the last refusal (`ERR_CLIENT_HTTP`). Every other status fails at once,
   * among them 502 `ERR_HOST_ENCLAVE_LOST` (the enclave went away while running it: its outcome is unknown).
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
  /**
   * The attribution ledger re-computed from the host's receipt log (`vouch credits`): the latest checkpoint, signed by
   * the log keys (as for {@link logProof}) and consistent with the last one this client saw of that log; every entry
   * from the first, proven against it; every receipt of the range verified against its logged evidence; the table
   * computed with the host's own tally, and compared with the host's `GET /v1/ledger`. Resolves to a report whose
   * `problems` (and the ledger's `flagged`) say what is wrong; rejects with `ERR_CLIENT_LOG_FORK` (both signed
   * checkpoints), `ERR_CLIENT_LOG_PROOF_REJECTED` or `ERR_CLIENT_HTTP`, and a RangeError for an index past the log.
   */
  credits(options?: CreditsOptions): Promise<CreditsReport>
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

class Client implements VouchClient {
  readonly url: URL
  readonly policy: Policy
  readonly #transport: Transport
  readonly #maxPlaintext: number
  readonly #renewMarginMs: number
  readonly #verify: Pick<BundleVerifyOptions, 'trust' | 'crls' | 'gpuCollateral'>
  readonly #attestRetry: RetryOptions
  readonly #log: { keys: readonly string[] | undefined; keeper: Pick<CheckpointStore, 'load' | 'save'>; waitMs: number }
  /** The policy's `fleet.minEnclaves`: the fewest accepted enclaves requests are sent to. */
  readonly #required: number
  /** The accepted enclaves of the last attestation, in turn. */
  #fleet: Rotation<Attestation> | null = null
  #pending: Promise<Rotation<Attestation>> | null = null

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
    this.#required = Math.max(1, options.policy.fleet?.minEnclaves ?? 1)
    this.#verify = options.verify ?? {}
    this.#attestRetry = { ...DEFAULT_RETRY, ...options.attestRetry }
    this.#log = { keys: options.log?.keys ?? options.policy.log?.keys, keeper: checkpointKeeper(options.log?.stateDir), waitMs: options.log?.waitMs ?? DEFAULT_LOG_WAIT_MS }
  }

  async logProof(receipt: string, options: LogProofOptions = {}): Promise<LogProofResult> {
    const keys = this.#log.keys
    if (keys === undefined || keys.length === 0) throw new TypeError('logProof: no log key to check the proof with (ClientOptions.log.keys, or the policy\'s log.keys)')
    return proveLogged(this.#logReader(), this.#log.keeper, keys, receipt, options)
  }

  async credits(options: CreditsOptions = {}): Promise<CreditsReport> {
    const keys = this.#log.keys
    if (keys === undefined || keys.length === 0) throw new TypeError('credits: no log key to check the log with (ClientOptions.log.keys, or the policy\'s log.keys)')
    return await computeCredits(this.#logReader(), this.#log.keeper, keys, options.policy === undefined ? this.policy : options.policy, options.since)
  }

  /** The log's HTTP API, through this client's transport. */
  #logReader(): LogReader {
    return { get: (path, accept, maxBytes) => this.#send('GET', path, { accept }, maxBytes) }
  }

  close(): void {
    this.#transport.close()
  }

  async #send(method: 'GET' | 'POST', path: string, headers: Record<string, string>, maxBytes: number, body?: Uint8Array, fresh = false, onSent?: () => void): Promise<HttpResponse> {
    return this.#transport.request({ method, url: new URL(path, this.url), headers, maxBytes, ...(body !== undefined && { body }), ...(fresh && { fresh }), ...(onSent !== undefined && { onSent }) })
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
   * The answer at `v1/attestation`: for a challenge, preferably the fleet document (every enclave's evidence), else as
   * an older host answers, the evidence archive with the host's stapled collateral (which then needs no trip to AMD or
   * NVIDIA), else the bare bundle; without one, the archive or the bundle.
   */
  async #fetchEvidence(nonce: string | null): Promise<HttpResponse> {
    const path = nonce === null ? 'v1/attestation' : `v1/attestation?nonce=${nonce}`
    const accept = nonce === null ? `${ARCHIVE_MEDIA_TYPE}, ${EVIDENCE_MEDIA_TYPE};q=0.9` : `${FLEET_MEDIA_TYPE}, ${ARCHIVE_MEDIA_TYPE};q=0.9, ${EVIDENCE_MEDIA_TYPE};q=0.8`
    // The host turns away challenges beyond a client's budget (429) and answers 503 while the enclave restarts: both pass.
    const response = await sendWithRetry(this.#transport, { method: 'GET', url: new URL(path, this.url), headers: { accept }, maxBytes: nonce === null ? ARCHIVE_LIMITS.maxBytes : FLEET_LIMITS.maxBytes }, this.#attestRetry)
    if (response.status < 200 || response.status > 299) throw this.#httpError('GET', path, response)
    const fleet = nonce !== null && response.mediaType === FLEET_MEDIA_TYPE
    if ((!fleet && response.mediaType !== EVIDENCE_MEDIA_TYPE && response.mediaType !== ARCHIVE_MEDIA_TYPE) || response.body.length === 0) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `GET /v1/attestation: expected a ${EVIDENCE_MEDIA_TYPE} or ${ARCHIVE_MEDIA_TYPE} body, got ${response.body.length} bytes of ${response.mediaType || 'no content type'}`)
    }
    // Only a bundle's worth of bytes, unless it is a fleet document (which holds one per enclave).
    if (!fleet && response.body.length > ARCHIVE_LIMITS.maxBytes) throw new ClientError('ERR_CLIENT_RESPONSE_TOO_LARGE', `GET /v1/attestation: the evidence (${response.body.length} bytes) exceeds the ${ARCHIVE_LIMITS.maxBytes}-byte limit`)
    return response
  }

  /** Every enclave the host offers for `nonce`, each judged on both its bundles: from a fleet document, or an older host's one. */
  async #judgeEnclaves(nonce: string): Promise<EnclaveOutcome[]> {
    const options: BundleVerifyOptions = { ...this.#verify, policy: this.policy }
    const challenge = { ...options, nonce }
    // The unchallenged bundle is checked as receipts are, its age aside: the challenged one proves freshness.
    const named = { ...options, freshness: false }
    const context: JudgeContext = { where: this.url.origin, policy: this.policy.name, renewMarginMs: this.#renewMarginMs }
    const judge = async (index: number, challenged: Promise<CheckedBundle>, unchallenged: Promise<CheckedBundle>): Promise<EnclaveOutcome> => {
      const [c, u] = await Promise.all([challenged, unchallenged])
      return judgeEnclave(index, { nonce, challenged: c, unchallenged: u }, context)
    }
    const answer = await this.#fetchEvidence(nonce)
    if (answer.mediaType !== FLEET_MEDIA_TYPE) {
      // A host that answers for one enclave: its unchallenged bundle is a request of its own.
      const unchallenged = this.#fetchEvidence(null).then((r) => checkEvidence(r.body, r.mediaType === ARCHIVE_MEDIA_TYPE, named))
      return [await judge(0, checkEvidence(answer.body, answer.mediaType === ARCHIVE_MEDIA_TYPE, challenge), unchallenged)]
    }
    const fleet = parseFleetAnswer(answer.body, nonce)
    return Promise.all(fleet.enclaves.map((m, i) => judge(i, checkEvidence(m.challenged, fleet.archived, challenge), checkEvidence(m.unchallenged, fleet.archived, named))))
  }

  /** One attestation; null when it should be tried again (an enclave's two bundles named two keysets, and too few were accepted). */
  async #attestOnce(nonce: string, last: boolean): Promise<Attestation | null> {
    const outcome = assembleFleet(await this.#judgeEnclaves(nonce), this.#required, !last, { where: this.url.origin, policy: this.policy.name, renewMarginMs: this.#renewMarginMs })
    if (outcome === null) return null
    return { ...outcome.accepted[0]!, fleet: [...outcome.accepted], rejected: [...outcome.rejected] }
  }

  async attest(options: AttestOptions = {}): Promise<Attestation> {
    return (await this.#attestFleet(options.nonce)).attestation
  }

  /** Attests and caches the accepted enclaves for `infer`. */
  async #attestFleet(given?: Uint8Array | string): Promise<Rotation<Attestation>> {
    const nonce = normalizeNonce(given)
    // An enclave may renew its keyset between its two bundles: one more try sees one keyset.
    const attestation = (await this.#attestOnce(nonce, false)) ?? (await this.#attestOnce(given === undefined ? normalizeNonce(undefined) : nonce, true))
    const fleet = new Rotation(attestation!)
    this.#fleet = fleet
    return fleet
  }

  /** Enough attested enclaves left, before their keysets are due for renewal. */
  #usable(fleet: Rotation<Attestation> | null): fleet is Rotation<Attestation> {
    return fleet !== null && fleet.live >= this.#required && Date.now() < fleet.validUntil
  }

  /** The cached enclaves if still usable, else a new attestation (one at a time, shared by concurrent callers). */
  #current(): Promise<Rotation<Attestation>> {
    const fleet = this.#fleet
    return this.#usable(fleet) ? Promise.resolve(fleet) : this.#renew(fleet)
  }

  /** A new attestation replacing `stale`, unless another caller already replaced it. */
  #renew(stale: Rotation<Attestation> | null): Promise<Rotation<Attestation>> {
    if (this.#pending !== null) return this.#pending
    const fleet = this.#fleet
    if (fleet !== stale && this.#usable(fleet)) return Promise.resolve(fleet)
    this.#fleet = null
    const pending = this.#attestFleet().finally(() => {
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
    return traceRequest('client', async () => {
      // Encoded before attesting, so a request the protocol refuses costs no round trip.
      const first = draft()
      const logged = options.log ?? this.policy.log?.requireInclusion ?? false
      const bytes = encode(first)
      hop('encode')
      return this.#deliver(path, first, bytes, draft, logged)
    })
  }

  /**
   * Sends the request to the attested enclaves in turn until one answers (see {@link VouchClient.infer}): `plaintext`
   * (as `bytes`) first, then a new `draft()` for every other send, since the enclave refuses an id it has seen.
   */
  async #deliver(path: string, plaintext: RequestPlaintext, bytes: Uint8Array, draft: () => RequestPlaintext, logged: boolean): Promise<InferResult> {
    let fleet = await this.#current()
    const most = fleet.attestation.fleet.length + 2
    let reattested = 0
    let fresh = false
    let refusal: ClientError | null = null
    // Once per request, on a new connection: the host went away before it answered, and another (behind the same
    // address) may take it. Sealed anew, like every send: each has its own id and runs nothing else.
    const reconnect = (sent: number): boolean => {
      if (fresh || sent + 1 >= most) return false
      fresh = true
      return true
    }
    for (let sent = 0; ; sent++) {
      if (sent > 0) bytes = encode((plaintext = draft()))
      while (fleet.live < this.#required) {
        if (reattested === MAX_REATTESTATIONS) throw refusal ?? this.#tooFew()
        reattested++
        fleet = await this.#renew(fleet)
      }
      const member = fleet.next()
      const { context, body } = await seal(bytes, member.keyset)
      const request = new RequestCommitment(await exportReceiptOpening(context), bytes)
      hop('seal')
      let response: HttpResponse
      try {
        response = await this.#send('POST', path, { 'content-type': SEALED_MEDIA_TYPE, accept: SEALED_MEDIA_TYPE, [KEY_ID_HEADER.toLowerCase()]: member.keyset.kid }, this.#maxPlaintext + RESPONSE_NONCE_SIZE + TAG_SIZE, body, fresh, () => request.value)
        hop('http exchange')
      } catch (error) {
        // Nothing was answered: the connection was refused or lost before the answer began (a host restarting).
        if (failedBeforeResponse(error) && reconnect(sent)) continue
        throw error
      }
      if (response.status === 503 && this.#problemCode(response) === HOST_LEAVING && reconnect(sent)) continue
      if (this.#enclaveGone(response)) {
        // This enclave did not run it and takes no more: the next one, or a new attestation, will.
        fleet.drop(member)
        refusal = this.#httpError('POST', path, response)
        if (sent + 1 >= most) throw refusal
        continue
      }
      if (response.status < 200 || response.status > 299) throw this.#httpError('POST', path, response)
      return await this.#accept(response, context, request, plaintext, member, logged)
    }
  }

  /** Whether the host says the enclave holding the key did not run the request and takes no more: its key is unknown (a 409 naming no other code, such as a replay), it drains, or it is not connected. */
  #enclaveGone(response: HttpResponse): boolean {
    if (response.status !== 409 && response.status !== 503) return false
    const code = this.#problemCode(response)
    return response.status === 409 ? code === undefined || code === UNKNOWN_KID : code !== undefined && ENCLAVE_GONE.has(code)
  }

  /** The code of the host's problem document, if it sent one. */
  #problemCode(response: HttpResponse): string | undefined {
    return this.#httpError('POST', '', response).problem?.code
  }

  /** Other callers' refusals left too few enclaves, attestation after attestation. */
  #tooFew(): ClientError {
    return new ClientError('ERR_CLIENT_FLEET_TOO_SMALL', `fewer than ${this.#required} attested enclaves of ${this.url.origin} take requests, after ${MAX_REATTESTATIONS} attestations`)
  }

  /** The receipt's inclusion proof, checked, when asked for: the host answers only once the receipt is logged, saying where. */
  async #logged(response: HttpResponse, receipt: string): Promise<LogProofResult> {
    const announced = response.headers['vouch-log-index']
    const index = announced !== undefined && /^(0|[1-9][0-9]{0,15})$/.test(announced) ? Number(announced) : undefined
    return this.logProof(receipt, { wait: this.#log.waitMs, ...(index !== undefined && { index }) })
  }

  async #accept(response: HttpResponse, context: EnvelopeContext, request: RequestCommitment, plaintext: RequestPlaintext, attestation: EnclaveAttestation, logged: boolean): Promise<InferResult> {
    // DESIGN.md §4: a 2xx without a sealed body is a hard failure, never an answer.
    if (response.mediaType !== SEALED_MEDIA_TYPE || response.body.length === 0) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `HTTP ${response.status} without a sealed body (${response.body.length} bytes of ${response.mediaType || 'no content type'})`)
    }
    let opened: Uint8Array
    try {
      // Over the body itself: this client owns it and needs it no more (a detector's answer is not copied again).
      opened = await openResponse(context, response.body, { maxPlaintextBytes: this.#maxPlaintext, inPlace: true })
    } catch (cause) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', 'the sealed response does not open under this request: altered, truncated, or sealed for another request', { cause })
    }
    hop('open')
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
    hop('decode')
    if (answer.id !== plaintext.id) throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `response id mismatch: expected ${plaintext.id}, got ${answer.id}`)
    const want = plaintext.model
    if (answer.model.name !== want.name || (want.version !== undefined && answer.model.version !== want.version)) {
      throw new ClientError('ERR_CLIENT_RESPONSE_INVALID', `model mismatch: asked for ${want.name}${want.version === undefined ? '' : ` ${want.version}`}, the answer is from ${answer.model.name} ${answer.model.version}`)
    }

    // The bundle was verified at attestation: only the receipt itself is checked on each answer, its commitments (v2)
    // with the opening this client derives from the request's own context, as the enclave did.
    const { opening } = request
    // Its inclusion in the log first, when asked for: the policy may require the proof the receipt is checked with.
    const log = logged ? await this.#logged(response, answer.receipt) : undefined
    const result = await verifyReceipt(answer.receipt, {
      ...this.#verify,
      evidence: attestation.unchallenged.bytes,
      verifiedEvidence: attestation.unchallenged.result,
      policy: this.policy,
      request: request.bytes,
      requestCommitment: request.value,
      outputs: answer.outputs,
      opening,
      ...(log !== undefined && { log: { proof: log.proof, keys: this.#log.keys } }),
    })
    hop('verify receipt')
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
      request: request.bytes,
      receiptOpening: opening,
      ...(log !== undefined && { log }),
    }
  }
}

/**
 * A request's plaintext and its receipt commitment (`receiptCommitment` under the opening), computed once: while the
 * answer is awaited (once the body is sent), not after it comes, where a detector's 4.9 MB would add their HMAC to
 * the round trip.
 */
class RequestCommitment {
  #value: string | undefined

  constructor(
    readonly opening: Uint8Array,
    readonly bytes: Uint8Array,
  ) {}

  get value(): string {
    return (this.#value ??= receiptCommitment(this.opening, this.bytes))
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
