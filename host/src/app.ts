/**
 * The host's HTTP API (DESIGN.md §9): an Express 5 app that relays sealed requests and attestation to the
 * enclave over the link and never sees plaintext. Open Inference Protocol v2 routes (`/v2/...`), Vouch's
 * attestation route, health, metrics and the OpenAPI document; every failure is RFC 9457 problem details
 * from the registry in `errors.ts`. Request logs hold ids, routes, statuses, sizes and timings, never bodies
 * or headers (only the public `Vouch-Key-Id`).
 *
 * This module assembles the app: the request log (`http/logging.ts`), each request's context (`http/context.ts`),
 * the route modules (`routes/`), each `(route, deps) => void`, and the problem answers (`http/problems.ts`).
 */
import express, { type Express, type Request } from 'express'
import type { Logger } from 'pino'
import { BodyReader } from './body-reader.js'
import { ClientRateLimiter, toClientKey } from './clients.js'
import type { CollateralStapler } from './collateral.js'
import { requestContext, trackRequests } from './http/context.js'
import { requestLogger } from './http/logging.js'
import { answerProblem, notFound } from './http/problems.js'
import { createRouteRegistrar, type RouteDeps, type RouteModule } from './http/router.js'
import { HostLifecycle } from './lifecycle.js'
import { asFleet, type EnclaveFleet } from './fleet/pool.js'
import type { EnclaveLink } from './link-client.js'
import type { ReceiptLog } from './log/receipt-log.js'
import type { HostMetrics } from './metrics.js'
import { ModelCatalog } from './model-catalog.js'
import { registerAttestationRoutes } from './routes/attestation.js'
import { registerHealthRoutes } from './routes/health.js'
import { registerInferRoutes } from './routes/infer.js'
import { registerLedgerRoutes } from './routes/ledger.js'
import { registerLogRoutes } from './routes/log.js'
import { registerModelRoutes } from './routes/models.js'
import { registerOperationsRoutes } from './routes/operations.js'
import { registerTrustCenterRoutes } from './routes/trust-center.js'
import { HOST_VERSION } from './version.js'

export { HostLifecycle } from './lifecycle.js'
export { EXTENSIONS } from './routes/health.js'
export { UNCHALLENGED_CACHE_CONTROL } from './routes/attestation.js'
export type { ModelEntry } from './model-catalog.js'
export { HOST_VERSION }

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

/** What {@link createApp} needs. */
export interface AppOptions {
  /** The enclave, or the fleet of them ({@link EnclavePool}) the host routes to. */
  link: EnclaveLink | EnclaveFleet
  config?: AppConfig
  log: Logger
  metrics: HostMetrics
  /** Shutdown state. Unset: a fresh one (never draining). */
  lifecycle?: HostLifecycle
  /** Staples the collateral it has cached to the evidence served to clients that ask for an archive. Unset: bundles only. */
  stapler?: CollateralStapler
  /**
   * The receipt log: every answer is appended (and covered by a signed checkpoint) before it is relayed, and the log's
   * read routes serve it. Unset or null: answers are relayed unlogged and the log routes answer 404 (`receiptLog.enabled`
   * false, tests).
   */
  receiptLog?: ReceiptLog | null
  /**
   * Directory of the built trust-center page served at `/` (docs/trust-center.md). Unset: trust-center/dist/ of this
   * checkout (`npm run build:page`; `/` answers 404 until it is built). Null: no page.
   */
  trustCenterDir?: string | null
}

/** The route modules, in the order their routes are registered. */
const ROUTES: readonly RouteModule[] = [registerHealthRoutes, registerModelRoutes, registerInferRoutes, registerAttestationRoutes, registerLogRoutes, registerLedgerRoutes, registerOperationsRoutes, registerTrustCenterRoutes]

/**
 * The body reader of `config`. Bytes of request bodies the host holds, taken as they arrive and given back once the
 * request is answered. Beyond them a body waits, paused (TCP pushes back on its client): a thousand concurrent 16 MiB
 * uploads cost a socket each, not a thousand buffers (DESIGN.md §10); a thousand slow ones hold a few KiB each, and
 * are cut off.
 */
function createBodyReader(config: AppConfig, requestTimeoutMs: number, metrics: HostMetrics): BodyReader {
  const bodyTimeoutMs = config.bodyTimeoutMs ?? 30_000
  return new BodyReader(
    {
      maxBytes: config.bodyBytes ?? 16 * 1024 * 1024,
      bufferedBytes: config.bufferedBytes ?? 24 * 1024 * 1024,
      perClient: config.clientBodies ?? 16,
      minRate: config.minBodyRate ?? 16 * 1024,
      windowMs: config.bodyRateWindowMs ?? 5_000,
      // One no shorter than the request's would only race it: the request timeout (504) covers that case.
      timeoutMs: bodyTimeoutMs < requestTimeoutMs ? bodyTimeoutMs : Infinity,
    },
    (held, waiting) => metrics.bodies(held, waiting),
  )
}

/** Creates the host's Express app. It opens no socket: serve it with `createHttpsServer` or test it with supertest. */
export function createApp(options: AppOptions): Express {
  const { log, metrics } = options
  const link = asFleet(options.link)
  const config = options.config ?? {}
  const requestTimeoutMs = config.requestTimeoutMs ?? 65_000
  const lifecycle = options.lifecycle ?? new HostLifecycle()
  const catalog = new ModelCatalog(link, config.modelsCacheMs ?? 5_000)
  const deps: RouteDeps = {
    link,
    metrics,
    lifecycle,
    catalog,
    bodies: createBodyReader(config, requestTimeoutMs, metrics),
    // The enclave's own bucket is one for everyone; this one per client keeps a single client from draining it.
    attestations: new ClientRateLimiter({ burst: config.attestBurst ?? 5, perSecond: (config.attestPerMinute ?? 60) / 60 }),
    clientOf: (req: Request) => toClientKey(req.ip ?? req.socket.remoteAddress),
    version: HOST_VERSION,
    stapler: options.stapler ?? null,
    receiptLog: options.receiptLog ?? null,
    log,
    trustCenterDir: options.trustCenterDir,
  }
  const app = express()
  app.disable('x-powered-by')
  // Off unless configured: with it, a client that reaches the host directly could name any address it likes.
  if (config.trustProxy !== undefined && config.trustProxy.length > 0) app.set('trust proxy', [...config.trustProxy])
  // Sealed bodies are unique and evidence has its own ETag: no hashing of every response.
  app.set('etag', false)

  app.use(trackRequests(lifecycle))
  app.use(requestLogger(log))
  app.use(requestContext({ lifecycle, metrics, requestTimeoutMs }))
  const route = createRouteRegistrar(app, catalog)
  for (const register of ROUTES) register(route, deps)
  app.use(notFound)
  app.use(answerProblem)
  return app
}
