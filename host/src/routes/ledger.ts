/**
 * `GET /v1/ledger?from=I&to=J` (docs/protocol.md, "Attribution ledger"): per contributor, the answers of each model
 * that credit them over entries `[from, to)` of the receipt log, and the entries flagged instead of counted, at the
 * latest signed checkpoint. Everything in it can be re-computed from the log (`vouch credits`), so it asks no trust.
 */
import { HostError } from '../errors.js'
import { HostLedger } from '../log/ledger.js'
import type { RouteDeps, RouteRegistrar } from '../http/router.js'
import { logOf, sizeParam } from './log.js'

export function registerLedgerRoutes(route: RouteRegistrar, { receiptLog }: Pick<RouteDeps, 'receiptLog'>): void {
  // One tally per app, following its log from request to request.
  const ledger = receiptLog === null ? null : new HostLedger(receiptLog)
  route('/v1/ledger', {
    get: async (req, res) => {
      logOf(receiptLog)
      // Without `to`, the ledger runs to the size of the checkpoint it is computed at, whichever is latest then; the
      // ledger checks the range against that same checkpoint (a RangeError otherwise).
      const to = req.query['to'] === undefined ? undefined : sizeParam(req, 'to')
      const from = sizeParam(req, 'from', 0)
      let body: Awaited<ReturnType<HostLedger['ledger']>>
      try {
        body = await ledger!.ledger(from, to)
      } catch (error) {
        throw error instanceof RangeError ? new HostError('ERR_HOST_LOG_RANGE_INVALID', { cause: error }) : error
      }
      res.set('Cache-Control', 'no-cache').json(body)
    },
  })
}
