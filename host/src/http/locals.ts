/** What the app keeps about one request in `res.locals`: for its log line, its metrics and its error answer. */
import type { Response } from 'express'
import type { EnclaveRefusal, HostError } from '../errors.js'

/** A request's context, filled as it is served. */
export interface RequestLocals {
  /** The route template that matched (a bounded metric label). */
  route?: string
  /** The model the route names: a name the enclave serves, else `UNKNOWN_MODEL` (a bounded metric label). */
  model?: string
  /** Aborts when the request times out or its client goes away. */
  signal?: AbortSignal
  /** The error the client was answered with. */
  error?: HostError | EnclaveRefusal
  /** What caused it, for the log line only. */
  cause?: unknown
}

/** The context of the request `res` answers. */
export function locals(res: Response): RequestLocals {
  return res.locals as RequestLocals
}
