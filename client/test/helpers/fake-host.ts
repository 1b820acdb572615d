/**
 * A small stand-in for `vouch-host` (DESIGN.md §9), enough for the client's tests: HTTPS (TLS 1.3) with a
 * self-signed certificate, the attestation, model and sealed-inference routes, problem+json errors, and
 * a backend that is either a real enclave over its link or an in-test one; or several (issue 13), whose evidence it
 * answers a challenge with in one fleet document, and to which it routes each sealed request by its key id. Hooks let
 * a test play the untrusted host: answer 409, drop the sealed body or the connection, flip a byte, serve another
 * bundle. It counts what it saw, so a test can prove nothing was sent.
 */
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ARCHIVE_MEDIA_TYPE, decodeBundle, encodeArchive, encodeFleet, EVIDENCE_MEDIA_TYPE, FLEET_MEDIA_TYPE, KEY_ID_HEADER, SEALED_MEDIA_TYPE } from '@vouch/protocol'
import type { LinkClient } from '../../../test/helpers/link-client.js'
import { answerLog, type MemoryLog } from '../../../test/helpers/receipt-log.js'
import type { TlsIdentity } from './tls.js'

/** An HTTP answer. */
export interface Reply {
  status: number
  type: string
  body: Uint8Array
  /** More response headers (Retry-After). */
  headers?: Record<string, string>
}

/** A refusal from the backend, answered as problem+json. */
export class BackendError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

/** What the host relays to: the enclave's link operations. */
export interface Backend {
  attest(nonce: Uint8Array | null): Promise<Uint8Array>
  models(): Promise<Array<Record<string, unknown>>>
  infer(kid: string, model: string, version: string | null, body: Uint8Array): Promise<Uint8Array>
  /** The sealed answer and, beside it, the receipt, for the receipt log (a real enclave's link returns both). */
  inferLogged?(kid: string, model: string, version: string | null, body: Uint8Array): Promise<{ body: Uint8Array; receipt: string }>
}

/** A backend relaying to a real enclave over its link (test/helpers/link-client.ts). */
export function linkBackend(link: LinkClient): Backend {
  const call = async (message: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const r = await link.request(message)
    if (!r.ok) throw new BackendError(r.error.code, r.error.status, r.error.message)
    return r.result
  }
  return {
    attest: async (nonce) => (await call({ op: 'attest', nonce }))['bundle'] as Uint8Array,
    models: async () => (await call({ op: 'models' }))['models'] as Array<Record<string, unknown>>,
    infer: async (kid, model, version, body) => (await call({ op: 'infer', kid, model, version, body }))['body'] as Uint8Array,
    inferLogged: async (kid, model, version, body) => (await call({ op: 'infer', kid, model, version, body })) as { body: Uint8Array; receipt: string },
  }
}

/** What the host saw. */
export interface Seen {
  challenged: number
  unchallenged: number
  models: number
  infer: number
}

/** Stands between the client and an inference: call `next` for the real answer, or answer otherwise. */
export type InferHook = (request: { kid: string; model: string; body: Uint8Array; n: number }, next: () => Promise<Reply>) => Promise<Reply>
/** Stands between the client and an attestation. */
export type AttestHook = (nonce: Uint8Array | null, next: () => Promise<Reply>) => Promise<Reply>

/** A problem+json answer, as the host sends its refusals. */
export function problem(status: number, code: string, detail: string, instance: string): Reply {
  const body = { type: 'about:blank', title: detail, status, detail, instance, code, requestId: 'test-request' }
  return { status, type: 'application/problem+json', body: Buffer.from(JSON.stringify(body)) }
}

/** A reply that is no answer: the host closes the connection before any byte of a response (a host restarting). */
export const DROP: Reply = { status: 0, type: '', body: new Uint8Array(0) }

const json = (value: unknown): Reply => ({ status: 200, type: 'application/json', body: Buffer.from(JSON.stringify(value)) })

function readBody(req: IncomingMessage, limit = 64 * 1024 * 1024): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) req.destroy(new Error('too large'))
      else chunks.push(c)
    })
    req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))))
    req.on('error', reject)
  })
}

/** The fake host. */
export class FakeHost {
  readonly seen: Seen = { challenged: 0, unchallenged: 0, models: 0, infer: 0 }
  /** The last challenged bundle sent, byte for byte. */
  lastChallenged: Uint8Array | null = null
  onInfer: InferHook | null = null
  onAttest: AttestHook | null = null
  /**
   * The enclaves behind the host when it routes to several (issue 13): a challenge whose `Accept` names the fleet media
   * type is answered with the evidence of each, and each sealed request goes to the one holding its key (409
   * `ERR_ENCLAVE_UNKNOWN_KID` when none does). Null: the host predates fleets and relays to `backend` alone.
   */
  fleet: Backend[] | null = null
  /** Answer attestations with evidence archives (stapling nothing), as a host that staples collateral does. */
  archives = false
  /** The key id of every sealed request received, in order. */
  readonly keyIds: string[] = []
  /** Sealed requests handed to an enclave of the fleet, by its key id. */
  readonly routed = new Map<string, number>()
  /**
   * The receipt log, when the host keeps one: each answer's receipt is appended before the answer is sent (with
   * `Vouch-Log-Index`), and `/v1/log/` is served from it. A test may swap it for another log under the same key (a
   * fork), or set `dropFromLog` to announce entries it does not append.
   */
  log: MemoryLog | null = null
  dropFromLog = false
  readonly #evidenceLogged = new WeakSet<MemoryLog>()

  private constructor(
    readonly server: Server,
    public backend: Backend,
  ) {}

  /** Starts a host on 127.0.0.1 with `tls`, relaying to `backend`. */
  static async start(backend: Backend, tls: TlsIdentity): Promise<FakeHost> {
    const server = createServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.3' })
    const host = new FakeHost(server, backend)
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      host.#handle(req)
        .catch((error: unknown) =>
          error instanceof BackendError ? problem(error.status, error.code, error.message, req.url ?? '') : problem(500, 'ERR_HOST_INTERNAL', String(error), req.url ?? ''),
        )
        .then((reply) => {
          if (reply === DROP) return void req.socket.destroy()
          res.writeHead(reply.status, { ...(reply.type === '' ? {} : { 'content-type': reply.type }), ...reply.headers })
          res.end(reply.body)
        })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return host
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  /** Forgets hooks and counts. */
  reset(): void {
    this.onInfer = null
    this.onAttest = null
    this.log = null
    this.dropFromLog = false
    this.archives = false
    this.keyIds.length = 0
    this.routed.clear()
    Object.assign(this.seen, { challenged: 0, unchallenged: 0, models: 0, infer: 0 })
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }

  async #handle(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? '/', 'https://host')
    const path = url.pathname
    if (req.method === 'GET' && this.log !== null) {
      const logged = await answerLog(this.log, url)
      if (logged !== null) return { status: logged.status, type: logged.type, body: logged.body }
    }
    if (req.method === 'GET' && path === '/v1/attestation') {
      const hex = url.searchParams.get('nonce')
      if (hex !== null && !/^[0-9a-f]{64}$/i.test(hex)) return problem(400, 'ERR_HOST_NONCE_INVALID', 'nonce must be 64 hex', path)
      const nonce = hex === null ? null : new Uint8Array(Buffer.from(hex, 'hex'))
      if (nonce === null) this.seen.unchallenged++
      else this.seen.challenged++
      const fleet = this.fleet !== null && nonce !== null && (req.headers.accept ?? '').includes(FLEET_MEDIA_TYPE)
      const next = async (): Promise<Reply> => (fleet ? this.#fleetEvidence(nonce!) : this.#evidence(await this.backend.attest(nonce)))
      const reply = this.onAttest === null ? await next() : await this.onAttest(nonce, next)
      if (nonce !== null) this.lastChallenged = reply.body
      return reply
    }
    if (req.method === 'GET' && path === '/v2/models') {
      this.seen.models++
      return json({ models: await this.backend.models() })
    }
    const route = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/infer)?$/.exec(path)
    if (route === null) return problem(404, 'ERR_HOST_NOT_FOUND', 'no such route', path)
    const name = decodeURIComponent(route[1]!)
    const version = route[2] === undefined ? null : decodeURIComponent(route[2])
    if (req.method === 'GET' && route[3] === undefined) {
      const model = (await this.backend.models()).find((m) => m['name'] === name && (version === null || (m['versions'] as string[]).includes(version)))
      return model === undefined ? problem(404, 'ERR_ENCLAVE_MODEL_NOT_FOUND', 'no such model', path) : json(model)
    }
    if (req.method === 'POST' && route[3] !== undefined) {
      if (req.headers['content-type'] !== SEALED_MEDIA_TYPE) return problem(415, 'ERR_HOST_UNSUPPORTED_MEDIA_TYPE', `expected ${SEALED_MEDIA_TYPE}`, path)
      const kid = req.headers[KEY_ID_HEADER.toLowerCase()]
      if (typeof kid !== 'string') return problem(400, 'ERR_HOST_KEY_ID_MISSING', `${KEY_ID_HEADER} is required`, path)
      const body = await readBody(req)
      const n = ++this.seen.infer
      this.keyIds.push(kid)
      const next = async (): Promise<Reply> => {
        const backend = await this.#route(kid)
        if (backend === null) return unknownKid()
        const log = this.log
        if (log === null || backend.inferLogged === undefined) return { status: 200, type: SEALED_MEDIA_TYPE, body: await backend.infer(kid, name, version, body) }
        const answer = await backend.inferLogged(kid, name, version, body)
        // The evidence receipts name, once per log (one keyset in these tests), before the first receipt.
        if (!this.#evidenceLogged.has(log)) {
          this.#evidenceLogged.add(log)
          await log.append({ kind: 'evidence', bundle: await this.backend.attest(null) })
        }
        const index = this.dropFromLog ? log.size : await log.append(answer.receipt)
        return { status: 200, type: SEALED_MEDIA_TYPE, body: answer.body, headers: { 'vouch-log-index': String(index) } }
      }
      return this.onInfer === null ? await next() : await this.onInfer({ kid, model: name, body, n }, next)
    }
    return problem(405, 'ERR_HOST_METHOD_NOT_ALLOWED', 'method not allowed', path)
  }

  /** A bundle as the host serves it: bare, or in an evidence archive. */
  #evidence(bundle: Uint8Array): Reply {
    if (!this.archives) return { status: 200, type: EVIDENCE_MEDIA_TYPE, body: bundle }
    return { status: 200, type: ARCHIVE_MEDIA_TYPE, body: encodeArchive({ v: 1, bundle, stapledAt: Math.floor(Date.now() / 1000), crls: [], rims: [], ocsp: [] }) }
  }

  /** The fleet document: both bundles of every enclave, answering `nonce`. */
  async #fleetEvidence(nonce: Uint8Array): Promise<Reply> {
    const item = (bundle: Uint8Array): Uint8Array => this.#evidence(bundle).body
    const enclaves = await Promise.all(this.fleet!.map(async (b) => ({ challenged: item(await b.attest(nonce)), unchallenged: item(await b.attest(null)) })))
    return { status: 200, type: FLEET_MEDIA_TYPE, body: encodeFleet({ v: 1, nonce, archived: this.archives, enclaves }) }
  }

  /** The enclave holding `kid`: `backend` for a host without a fleet (which then refuses), else the fleet's, or null. */
  async #route(kid: string): Promise<Backend | null> {
    if (this.fleet === null) return this.backend
    for (const backend of this.fleet) {
      if (decodeBundle(await backend.attest(null)).keyset.kid !== kid) continue
      this.routed.set(kid, (this.routed.get(kid) ?? 0) + 1)
      return backend
    }
    return null
  }
}

/** A 409 as the host answers an unknown kid. */
export function unknownKid(): Reply {
  return problem(409, 'ERR_ENCLAVE_UNKNOWN_KID', 'the request is sealed to a key this enclave does not hold: attest again', '/v2/models/x/infer')
}
