/**
 * The request log: one pino line per request with its id, route, model, status, sizes and timings, and the code and
 * cause of a refusal; never a body, nor a header other than the public key id. A well-formed `X-Request-Id` of the
 * request is its id; otherwise one is made, and either way the answer carries it.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RequestHandler, Response } from 'express'
import type { Logger } from 'pino'
import { pinoHttp } from 'pino-http'
import { locals } from './locals.js'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** A cause as the log holds it: its class, code and message, and those of its own cause. */
function describeCause(cause: unknown): object | undefined {
  if (cause === undefined) return undefined
  const c = cause as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown }
  const inner = c.cause as { code?: unknown; message?: unknown } | undefined
  return { type: c.name, code: c.code, message: c.message, cause: inner === undefined ? undefined : { code: inner.code, message: inner.message } }
}

/** The route, model, code and cause of a request, from its context. */
function contextFields(res: ServerResponse): object {
  const l = locals(res as Response)
  return { route: l.route, model: l.model, code: l.error?.code, cause: describeCause(l.cause) }
}

/** The middleware that logs every request to `log` once it is answered. */
export function requestLogger(log: Logger): RequestHandler {
  return pinoHttp({
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
    customSuccessObject: (_req, res, value: Record<string, unknown>) => ({ ...value, ...contextFields(res) }),
    customErrorObject: (_req, res, _error, value: Record<string, unknown>) => {
      const { err: _err, ...rest } = value
      return { ...rest, ...contextFields(res) }
    },
    customSuccessMessage: (_req, res) => (res.statusCode >= 400 ? 'request refused' : 'request served'),
    customErrorMessage: () => 'request failed',
  })
}
