/**
 * Failures as RFC 9457 problem details: every error a route throws, or Express raises, becomes the public error of
 * the registry in `errors.ts` (code, status, fixed message); its cause goes to the log line, never to the client.
 */
import type { NextFunction, Request, Response } from 'express'
import { EnclaveRefusal, HostError, PROBLEM_MEDIA_TYPE, toProblem } from '../errors.js'
import { locals } from './locals.js'

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
export function sendProblem(req: Request, res: Response, error: HostError | EnclaveRefusal): void {
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

/** The last handler but one: a request no route matched is `ERR_HOST_NOT_FOUND`. */
export function notFound(_req: Request, _res: Response, next: NextFunction): void {
  next(new HostError('ERR_HOST_NOT_FOUND'))
}

/** The error handler: problem details, or, once the answer has started, the end of the connection. */
export function answerProblem(error: unknown, req: Request, res: Response, _next: NextFunction): void {
  if (res.headersSent) {
    // The response (a 504, or a partial one) is out: nothing more can be said to this client.
    locals(res).cause ??= error
    if (!res.writableEnded) res.destroy()
    return
  }
  sendProblem(req, res, toPublicError(error, res))
}
