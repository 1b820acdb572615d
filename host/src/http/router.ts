/**
 * What a route module gets: a registrar that adds a route to the app (its template and model name go to the
 * request's context, for logs and metrics; other methods get 405), and the host's parts the routes share.
 */
import type { Express, Request, RequestHandler, Response } from 'express'
import type { Logger } from 'pino'
import { HostError } from '../errors.js'
import type { BodyReader } from '../body-reader.js'
import type { ClientRateLimiter } from '../clients.js'
import type { CollateralStapler } from '../collateral.js'
import type { HostLifecycle } from '../lifecycle.js'
import type { ReceiptLog } from '../log/receipt-log.js'
import type { EnclaveFleet } from '../fleet/pool.js'
import type { EnclaveLink, LinkCallOptions } from '../link-client.js'
import { UNKNOWN_MODEL, type HostMetrics } from '../metrics.js'
import type { ModelCatalog } from '../model-catalog.js'
import { locals } from './locals.js'

/** Registers a route's handlers at `path` (an Express path template). */
export type RouteRegistrar = (path: string, handlers: { get?: RequestHandler; post?: RequestHandler }) => void

/** The host's parts the routes use; each route module takes the ones it needs. */
export interface RouteDeps {
  /** The enclaves: `link` for anything any of them serves, `route(kid)` for a sealed request. */
  link: EnclaveFleet
  metrics: HostMetrics
  lifecycle: HostLifecycle
  catalog: ModelCatalog
  /** Reads request bodies within the host's budgets. */
  bodies: BodyReader
  /** Challenged attestations per client. */
  attestations: ClientRateLimiter
  /** The client's key for per-client limits: its address (as a trusted proxy reports it), IPv6 by /64. */
  clientOf(req: Request): string
  /** The host's version. */
  version: string
  /** Staples cached collateral to the evidence served; null: bundles only, even to a client that asks for an archive. */
  stapler: CollateralStapler | null
  /** The receipt log answers are appended to before they are relayed; null: none (answers relayed unlogged). */
  receiptLog: ReceiptLog | null
  /** The host's logger, for what a route must say beyond the request log (never bodies or keys). */
  log: Logger
  /** The built trust-center page's directory; undefined: trust-center/dist/; null: no page (its routes answer 404). */
  trustCenterDir: string | null | undefined
}

/** A route module: adds its routes with `route`. */
export type RouteModule = (route: RouteRegistrar, deps: RouteDeps) => void

/** The registrar of `app`: each route records its template and model label, and answers 405 (or OPTIONS) for other methods. */
export function createRouteRegistrar(app: Express, catalog: ModelCatalog): RouteRegistrar {
  return (path, handlers) => {
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
}

/** `ERR_HOST_ENCLAVE_UNAVAILABLE` unless the link is up. */
export function requireLink(link: EnclaveLink): void {
  if (!link.up) throw new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE')
}

/** Link call options that end with the request (its timeout, its client going away). */
export function withRequestSignal(res: Response): LinkCallOptions {
  const signal = locals(res).signal
  return signal === undefined ? {} : { signal }
}

/** A `Uint8Array` from the link as a Buffer, without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
