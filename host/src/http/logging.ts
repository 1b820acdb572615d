/**
 * The request log: one pino line per request with its id, route, model, status, sizes and timings, and the code and
 * cause of a refusal; never a body, nor a header other than the public key id. A well-formed `X-Request-Id` of the
 * request is its id; otherwise one is made, and either way the answer carries it.
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RequestHandler, Response } from 'express'
import type { Logger } from 'pino'
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

/** Only these fields of a request are ever logged: no body, no header but the public key id. */
function requestFields(req: IncomingMessage & { id?: string }): object {
  return {
    id: req.id,
    method: req.method,
    path: req.url?.split('?', 1)[0],
    kid: req.headers['vouch-key-id'],
    bytes: req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']),
    remoteAddress: req.socket?.remoteAddress,
  }
}

function responseFields(res: ServerResponse): object {
  const length = res.getHeader('content-length')
  return { status: res.statusCode, bytes: length === undefined ? undefined : Number(length) }
}

/** Probes and scrapes every few seconds would drown the log; a 503 from readiness is its job while the enclave starts. */
function levelOf(req: IncomingMessage, res: ServerResponse, failed: boolean): 'debug' | 'info' | 'error' {
  if (req.url === '/metrics' || req.url?.startsWith('/v2/health/')) return 'debug'
  return failed || res.statusCode >= 500 ? 'error' : 'info'
}

/**
 * The middleware that logs every request to `log` once it is answered (finished, closed early, or failed). The line
 * is built only when its level is enabled: a host logging at `warn` pays an id and three listeners per request, not
 * the two child loggers and the serialised request pino-http made for every request whatever the level (issue 14:
 * no per-request work the plain server does not do, beyond the cryptography and the receipt).
 */
export function requestLogger(log: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.headers['x-request-id']
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    res.setHeader('X-Request-Id', id)
    ;(req as { id?: string }).id = id
    const started = Date.now()
    const complete = (error?: unknown): void => {
      res.off('close', complete)
      res.off('finish', complete)
      res.off('error', complete)
      const failed = error !== undefined || res.statusCode >= 500
      const level = levelOf(req, res, failed)
      if (!log.isLevelEnabled(level)) return
      const line = { req: requestFields(req), res: responseFields(res), responseTime: Date.now() - started, ...contextFields(res) }
      if (failed) log[level](line, 'request failed')
      else log[level](line, res.statusCode >= 400 ? 'request refused' : 'request served')
    }
    res.on('close', complete)
    res.on('finish', complete)
    res.on('error', complete)
    next()
  }
}
