/**
 * Each request's context: counted while it runs (for a graceful shutdown), given an abort signal that fires when it
 * times out (504) or its client goes away, measured into the HTTP metrics once it closes, and refused while the host
 * drains.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { traceRequest, tracingHops } from '@vouch/protocol/hop-trace'
import { HostError } from '../errors.js'
import type { HostLifecycle } from '../lifecycle.js'
import type { HostMetrics } from '../metrics.js'
import { locals } from './locals.js'
import { sendProblem } from './problems.js'

/**
 * The first middleware: counts each request in `lifecycle` until its response closes. With hop tracing on
 * (`VOUCH_TRACE_HOPS`, bench/hops.bench.ts) it also traces the request from here until its response is written
 * (the routes mark their hops; a request that marks none is not recorded).
 */
export function trackRequests(lifecycle: HostLifecycle): RequestHandler {
  return (req, res, next) => {
    lifecycle.track(res)
    if (tracingHops()) traceResponse('host', req, res, next)
    else next()
  }
}

/**
 * Serves the request (`next`) as one traced request of `part` (protocol/src/hop-trace.ts), until its response is
 * written: the routes mark their hops, this its last, `send`. For the host's first middleware and the benchmarks'
 * plain server alike, so both are timed from the same point.
 */
export function traceResponse(part: string, _req: Request, res: Response, next: NextFunction): void {
  void traceRequest(part, (mark) => new Promise<void>((resolve) => {
    res.once('finish', () => {
      mark('send')
      resolve()
    })
    res.once('close', () => resolve())
    next()
  }))
}

/** Timeouts, client disconnects and metrics, per request; 503 `ERR_HOST_SHUTTING_DOWN` while draining (health answers). */
export function requestContext(options: { lifecycle: HostLifecycle; metrics: HostMetrics; requestTimeoutMs: number }): RequestHandler {
  const { lifecycle, metrics, requestTimeoutMs } = options
  return (req, res, next) => {
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
  }
}
