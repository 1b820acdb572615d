/**
 * The host's HTTP API (DESIGN.md §9): an Express 5 app that relays sealed requests and attestation to the
 * enclave over the link and never sees plaintext. Open Inference Protocol v2 routes (`/v2/...`), Vouch's
 * attestation route, health, metrics and the OpenAPI document; every failure is RFC 9457 problem details
 * from the registry in `errors.ts`. Request logs hold ids, routes, statuses, sizes and timings, never bodies
 * or headers (only the public `Vouch-Key-Id`).
 */
import { createHash, randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readFileSync } from 'node:fs'
import express, { type Express, type NextFunction, type Request, type RequestHandler, type Response } from 'express'
import { EVIDENCE_MEDIA_TYPE, KEY_ID_HEADER, KID_PATTERN, MAX_LINK_MODEL_NAME, MAX_LINK_MODEL_VERSION, SEALED_MEDIA_TYPE, type LinkModel, type LinkResult } from '@vouch/protocol'
import type { Logger } from 'pino'
import { pinoHttp } from 'pino-http'
import { BodyReader } from './body-reader.js'
import { ClientRateLimiter, toClientKey } from './clients.js'
import { EnclaveRefusal, HostError, PROBLEM_MEDIA_TYPE, toProblem } from './errors.js'
import type { EnclaveLink } from './link-client.js'
import { UNKNOWN_MODEL, type HostMetrics } from './metrics.js'
import { openApiDocument } from './openapi.js'

/** The host's version, from its package.json (read at load, from `src/` and `dist/` alike). */
export const HOST_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** Protocol extensions `GET /v2` announces. */
export const EXTENSIONS = ['vouch-sealed', 'vouch-attestation', 'vouch-receipts'] as const

/** `Cache-Control` of the unchallenged bundle: shareable, and short, since a restarted enclave has new keys. */
export const UNCHALLENGED_CACHE_CONTROL = 'public, max-age=30'

/** HTTP settings of the app. Every field says what happens when it is unset. */
export interface AppConfig {
  /** Largest request body in bytes (413 beyond). Unset: 16 MiB. */
  bodyBytes?: number
  /** Bytes of request bodies held at once (read as they arrive, queued or in flight); bodies beyond wait, paused. Unset: 24 MiB. */
  bufferedBytes?: number
  /** Request bodies one client address has being read at once; its others wait unread. Unset: 16. */
  clientBodies?: number
  /** Slowest arrival of a request body in bytes per second, over each `bodyRateWindowMs` of reading (408 below; 0: none). Unset: 16 KiB/s. */
  minBodyRate?: number
  /** Reading time over which `minBodyRate` is measured, window after window. Unset: 5 s. */
  bodyRateWindowMs?: number
  /** Time a request body may take from the start of reading, waits for the budget included (408 beyond; in effect only when shorter than `requestTimeoutMs`). Unset: 30 s. */
  bodyTimeoutMs?: number
  /** Challenged attestations one client may ask for back to back (429 beyond). Unset: 5. */
  attestBurst?: number
  /** Challenged attestations per minute that refill a client's burst. Unset: 60. */
  attestPerMinute?: number
  /** Proxies whose `X-Forwarded-For` names the client (Express `trust proxy` values). Unset or empty: the TCP peer is the client. */
  trustProxy?: readonly string[]
  /** Time to serve one request (504 beyond). Unset: 65 s. */
  requestTimeoutMs?: number
  /** Time the enclave's model list is reused. Unset: 5 s. */
  modelsCacheMs?: number
}

/**
 * Shutdown state shared by the app and the server: while `draining`, new requests get 503
 * `ERR_HOST_SHUTTING_DOWN` and readiness fails; `idle()` resolves once no request is in progress.
 */
export class HostLifecycle {
  draining = false
  #active = 0
  #waiters: Array<() => void> = []

  /** Requests in progress. */
  get active(): number {
    return this.#active
  }

  /** Resolves when no request is in progress. */
  idle(): Promise<void> {
    return this.#active === 0 ? Promise.resolve() : new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Counts a request until its response closes. */
  track(res: ServerResponse): void {
    this.#active++
    res.once('close', () => {
      this.#active--
      if (this.#active === 0) for (const resolve of this.#waiters.splice(0)) resolve()
    })
  }
}

/** What {@link createApp} needs. */
export interface AppOptions {
  link: EnclaveLink
  config?: AppConfig
  log: Logger
  metrics: HostMetrics
  /** Shutdown state. Unset: a fresh one (never draining). */
  lifecycle?: HostLifecycle
}

/** A model as `GET /v2/models/{name}` answers: OIP v2 metadata plus the enclave's digest, publisher and license. */
export type ModelEntry = LinkModel

interface Locals {
  route?: string
  model?: string
  signal?: AbortSignal
  error?: HostError | EnclaveRefusal
  cause?: unknown
}

const locals = (res: Response): Locals => res.locals as Locals

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
const NONCE_HEX = /^[0-9a-fA-F]{64}$/

/** A `Uint8Array` from the link as a Buffer, without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function isMediaType(header: string | undefined, type: string): boolean {
  return header !== undefined && header.split(';', 1)[0]!.trim().toLowerCase() === type
}

/** The enclave's model list, fetched with the `models` op, reused for `ttlMs`, one fetch at a time. */
class ModelCatalog {
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

  get(signal?: AbortSignal): Promise<ModelEntry[]> {
    if (this.#models !== null && performance.now() - this.#at < this.ttlMs) return Promise.resolve(this.#models)
    this.#pending ??= this.link
      .request('models', {}, signal === undefined ? {} : { signal })
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

  /** Refreshes a stale list without waiting (so metric labels learn model names). */
  refreshSoon(): void {
    if (this.#pending === null && (this.#models === null || performance.now() - this.#at >= this.ttlMs) && this.link.up) this.get().catch(() => undefined)
  }
}

/** Creates the host's Express app. It opens no socket: serve it with `createHttpsServer` or test it with supertest. */
export function createApp(options: AppOptions): Express {
  const { link, log, metrics } = options
  const config = options.config ?? {}
  const bodyBytes = config.bodyBytes ?? 16 * 1024 * 1024
  const requestTimeoutMs = config.requestTimeoutMs ?? 65_000
  // Bytes of request bodies the host holds, taken as they arrive and given back once the request is answered. Beyond
  // them a body waits, paused (TCP pushes back on its client): a thousand concurrent 16 MiB uploads cost a socket
  // each, not a thousand buffers (DESIGN.md §10); a thousand slow ones hold a few KiB each, and are cut off.
  const bodies = new BodyReader(
    {
      maxBytes: bodyBytes,
      bufferedBytes: config.bufferedBytes ?? 24 * 1024 * 1024,
      perClient: config.clientBodies ?? 16,
      minRate: config.minBodyRate ?? 16 * 1024,
      windowMs: config.bodyRateWindowMs ?? 5_000,
      // One no shorter than the request's would only race it: the request timeout (504) covers that case.
      timeoutMs: (config.bodyTimeoutMs ?? 30_000) < requestTimeoutMs ? (config.bodyTimeoutMs ?? 30_000) : Infinity,
    },
    (held, waiting) => metrics.bodies(held, waiting),
  )
  // The enclave's own bucket is one for everyone; this one per client keeps a single client from draining it.
  const attestations = new ClientRateLimiter({ burst: config.attestBurst ?? 5, perSecond: (config.attestPerMinute ?? 60) / 60 })
  const lifecycle = options.lifecycle ?? new HostLifecycle()
  const catalog = new ModelCatalog(link, config.modelsCacheMs ?? 5_000)
  const app = express()
  app.disable('x-powered-by')
  // Off unless configured: with it, a client that reaches the host directly could name any address it likes.
  if (config.trustProxy !== undefined && config.trustProxy.length > 0) app.set('trust proxy', [...config.trustProxy])
  /** The client's key for per-client limits: its address (as a trusted proxy reports it), IPv6 by /64. */
  const clientOf = (req: Request): string => toClientKey(req.ip ?? req.socket.remoteAddress)
  // Sealed bodies are unique and evidence has its own ETag: no hashing of every response.
  app.set('etag', false)

  app.use((_req, res, next) => {
    lifecycle.track(res)
    next()
  })
  app.use(
    pinoHttp({
      logger: log,
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const given = req.headers['x-request-id']
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
        res.setHeader('X-Request-Id', id)
        return id
      },
      // Only these fields of a request are ever logged: no body, no header but the public key id.
      serializers: {
        req: (req: { id: unknown; method: string; url: string; headers: Record<string, string | undefined>; remoteAddress?: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url.split('?', 1)[0],
          kid: req.headers['vouch-key-id'],
          bytes: req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']),
          remoteAddress: req.remoteAddress,
        }),
        res: (res: { statusCode: number; headers: Record<string, unknown> }) => ({
          status: res.statusCode,
          bytes: res.headers['content-length'] === undefined ? undefined : Number(res.headers['content-length']),
        }),
        err: (err: Error & { code?: string }) => ({ type: err.name, code: err.code, message: err.message }),
      },
      customLogLevel: (req, res, err) => {
        // Probes and scrapes every few seconds would drown the log; a 503 from readiness is its job while the enclave starts.
        if (req.url === '/metrics' || req.url?.startsWith('/v2/health/')) return 'debug'
        if (err !== undefined || res.statusCode >= 500) return 'error'
        return 'info'
      },
      customSuccessObject: (_req, res, value: Record<string, unknown>) => {
        const l = locals(res as Response)
        return { ...value, route: l.route, model: l.model, code: l.error?.code, cause: describeCause(l.cause) }
      },
      customErrorObject: (_req, res, _error, value: Record<string, unknown>) => {
        const l = locals(res as Response)
        const { err: _err, ...rest } = value
        return { ...rest, route: l.route, model: l.model, code: l.error?.code, cause: describeCause(l.cause) }
      },
      customSuccessMessage: (_req, res) => (res.statusCode >= 400 ? 'request refused' : 'request served'),
      customErrorMessage: () => 'request failed',
    }),
  )

  // Timeouts, client disconnects and metrics, per request.
  app.use((req, res, next) => {
    const started = performance.now()
    const controller = new AbortController()
    locals(res).signal = controller.signal
    const timer = setTimeout(() => {
      controller.abort(new HostError('ERR_HOST_TIMEOUT'))
      if (!res.headersSent) sendProblem(req, res, new HostError('ERR_HOST_TIMEOUT'))
    }, requestTimeoutMs)
    timer.unref()
    res.once('close', () => {
      clearTimeout(timer)
      if (!res.writableFinished) controller.abort(new HostError('ERR_HOST_TIMEOUT', { cause: new Error('the client went away') }))
      const l = locals(res)
      const labels = { method: req.method, route: l.route ?? '(unmatched)', model: l.model ?? '', status: String(res.statusCode) }
      metrics.httpRequests.inc(labels)
      metrics.httpDuration.observe(labels, (performance.now() - started) / 1000)
    })
    if (lifecycle.draining && !req.path.startsWith('/v2/health/')) {
      res.setHeader('Connection', 'close')
      next(new HostError('ERR_HOST_SHUTTING_DOWN'))
      return
    }
    next()
  })

  /** Registers a route: its template and model name go to `res.locals` (logs, metrics); other methods get 405. */
  const route = (path: string, handlers: { get?: RequestHandler; post?: RequestHandler }): void => {
    const allowed = Object.keys(handlers).map((m) => m.toUpperCase())
    if (allowed.includes('GET')) allowed.push('HEAD')
    const r = app.route(path)
    r.all((req, res, next) => {
      const l = locals(res)
      l.route = path
      const name = (req.params as Record<string, string | undefined>)['name']
      if (name !== undefined) {
        catalog.refreshSoon()
        l.model = catalog.knows(name) ? name : UNKNOWN_MODEL
      }
      next()
    })
    if (handlers.get) r.get(handlers.get)
    if (handlers.post) r.post(handlers.post)
    r.all((req, res, next) => {
      res.setHeader('Allow', allowed.join(', '))
      if (req.method === 'OPTIONS') res.status(204).end()
      else next(new HostError('ERR_HOST_METHOD_NOT_ALLOWED'))
    })
  }

  const requireLink = (): void => {
    if (!link.up) throw new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE')
  }

  const findModel = async (res: Response, name: string, version: string | undefined): Promise<ModelEntry> => {
    requireLink()
    const models = await catalog.get(locals(res).signal)
    const model = models.find((m) => m.name === name && (version === undefined || m.versions.includes(version)))
    if (model === undefined) throw new HostError('ERR_HOST_MODEL_NOT_FOUND')
    return model
  }

  route('/v2', { get: (_req, res) => void res.json({ name: 'vouch', version: HOST_VERSION, extensions: EXTENSIONS }) })
  route('/v2/health/live', { get: (_req, res) => void res.json({ live: true }) })
  route('/v2/health/ready', {
    get: (_req, res) => {
      if (lifecycle.draining) throw new HostError('ERR_HOST_SHUTTING_DOWN')
      requireLink()
      res.json({ ready: true })
    },
  })
  route('/v2/models', {
    get: async (_req, res) => {
      requireLink()
      res.json({ models: await catalog.get(locals(res).signal) })
    },
  })
  const metadata: RequestHandler = async (req, res) => {
    const { name, version } = req.params as { name: string; version?: string }
    const model = await findModel(res, name, version)
    locals(res).model = model.name
    res.json(model)
  }
  route('/v2/models/:name', { get: metadata })
  route('/v2/models/:name/versions/:version', { get: metadata })
  const modelReady: RequestHandler = async (req, res) => {
    const { name, version } = req.params as { name: string; version?: string }
    const model = await findModel(res, name, version)
    locals(res).model = model.name
    res.json({ name: model.name, ready: true })
  }
  route('/v2/models/:name/ready', { get: modelReady })
  route('/v2/models/:name/versions/:version/ready', { get: modelReady })

  const infer: RequestHandler = async (req, res) => {
    const { name, version } = req.params as { name: string; version?: string }
    if (!isMediaType(req.headers['content-type'], SEALED_MEDIA_TYPE)) throw new HostError('ERR_HOST_UNSUPPORTED_MEDIA_TYPE')
    const encoding = req.headers['content-encoding']
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') throw new HostError('ERR_HOST_UNSUPPORTED_MEDIA_TYPE')
    const kid = req.get(KEY_ID_HEADER)
    if (kid === undefined || !KID_PATTERN.test(kid)) throw new HostError('ERR_HOST_KEY_ID_INVALID')
    if (name.length > MAX_LINK_MODEL_NAME || (version !== undefined && version.length > MAX_LINK_MODEL_VERSION)) throw new HostError('ERR_HOST_MODEL_NOT_FOUND')
    requireLink()
    const signal = locals(res).signal
    // Null for a chunked body: it may be as large as the limit.
    const declared = req.headers['content-length'] === undefined ? null : Number(req.headers['content-length'])
    if (declared !== null && !(declared >= 0)) throw new HostError('ERR_HOST_BAD_REQUEST')
    const { body, release } = await bodies.read(req, clientOf(req), declared, signal)
    let answer: LinkResult<'infer'>
    try {
      if (body.length === 0) throw new HostError('ERR_HOST_BAD_REQUEST', { cause: new Error('empty body') })
      answer = await link.request('infer', { kid, model: name, version: version ?? null, body }, signal === undefined ? {} : { signal })
    } finally {
      release()
    }
    // The enclave answered 2xx for this name, so it is a real model (a bounded label).
    locals(res).model = name
    if (res.headersSent) return
    res.status(200).set('Content-Type', SEALED_MEDIA_TYPE).set('Cache-Control', 'no-store').send(asBuffer(answer.body))
  }
  route('/v2/models/:name/infer', { post: infer })
  route('/v2/models/:name/versions/:version/infer', { post: infer })

  route('/v1/attestation', {
    get: async (req, res) => {
      const given = req.query['nonce']
      const kind = given === undefined ? 'unchallenged' : 'challenged'
      res.once('finish', () => metrics.attestations.inc({ kind, status: String(res.statusCode) }))
      if (given !== undefined && (typeof given !== 'string' || !NONCE_HEX.test(given))) throw new HostError('ERR_HOST_NONCE_INVALID')
      requireLink()
      if (given !== undefined) {
        // Each challenge asks the hardware; a client over its budget waits, the others do not.
        const wait = attestations.take(clientOf(req))
        if (wait !== null) throw new HostError('ERR_HOST_ATTEST_RATE_LIMITED', { retryAfterS: Math.ceil(wait) })
      }
      const nonce = given === undefined ? null : Buffer.from(given, 'hex')
      const signal = locals(res).signal
      const { bundle } = await link.request('attest', { nonce }, signal === undefined ? {} : { signal })
      if (res.headersSent) return
      res.set('Content-Type', EVIDENCE_MEDIA_TYPE)
      if (nonce !== null) res.set('Cache-Control', 'no-store')
      else {
        // A strong validator of the bundle bytes: clients and caches revalidate with If-None-Match.
        res.set('Cache-Control', UNCHALLENGED_CACHE_CONTROL).set('ETag', `"sha256-${createHash('sha256').update(bundle).digest('base64url')}"`)
        if (req.fresh) {
          res.status(304).end()
          return
        }
      }
      res.status(200).send(asBuffer(bundle))
    },
  })

  route('/metrics', {
    get: async (_req, res) => {
      const text = await metrics.registry.metrics()
      res.set('Content-Type', metrics.registry.contentType).set('Cache-Control', 'no-store').send(text)
    },
  })
  const document = JSON.stringify(openApiDocument(HOST_VERSION))
  route('/openapi.json', { get: (_req, res) => void res.type('application/json').send(document) })

  app.use((_req, _res, next) => next(new HostError('ERR_HOST_NOT_FOUND')))
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      // The response (a 504, or a partial one) is out: nothing more can be said to this client.
      locals(res).cause ??= error
      if (!res.writableEnded) res.destroy()
      return
    }
    sendProblem(req, res, toPublicError(error, res))
  })
  return app
}

/** Any failure as the error a client sees; the cause is kept in `res.locals` for the log line. */
function toPublicError(error: unknown, res: Response): HostError | EnclaveRefusal {
  if (error instanceof HostError || error instanceof EnclaveRefusal) {
    if (error.cause !== undefined) locals(res).cause = error.cause
    return error
  }
  locals(res).cause = error
  // Express and its parsers mark client errors with a 4xx `status` (a malformed URL, for one).
  const status = (error as { status?: unknown }).status
  if (typeof status === 'number' && status >= 400 && status < 500) return new HostError(status === 413 ? 'ERR_HOST_BODY_TOO_LARGE' : 'ERR_HOST_BAD_REQUEST')
  return new HostError('ERR_HOST_INTERNAL')
}

/** Answers with problem details (RFC 9457) for `error`. */
function sendProblem(req: Request, res: Response, error: HostError | EnclaveRefusal): void {
  locals(res).error = error
  const id = String((req as Request & { id?: unknown }).id ?? '')
  const problem = toProblem(error, req.originalUrl.split('?', 1)[0]!, id)
  res.status(error.status).set('Content-Type', PROBLEM_MEDIA_TYPE).set('Cache-Control', 'no-store')
  // A body not received to its end (too slow, too large, or refused before it was read) is not read on after the
  // answer: the connection closes instead.
  if (!req.complete) res.set('Connection', 'close')
  const retryAfterS = error instanceof HostError ? error.retryAfterS : undefined
  if (retryAfterS !== undefined) res.set('Retry-After', String(retryAfterS))
  else if (error.status === 503 || error.status === 429) res.set('Retry-After', '1')
  // A Buffer, so Express adds no charset parameter to the media type.
  res.send(Buffer.from(JSON.stringify(problem)))
}

function describeCause(cause: unknown): object | undefined {
  if (cause === undefined) return undefined
  const c = cause as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown }
  const inner = c.cause as { code?: unknown; message?: unknown } | undefined
  return { type: c.name, code: c.code, message: c.message, cause: inner === undefined ? undefined : { code: inner.code, message: inner.message } }
}
