/**
 * `GET /v1/attestation[?nonce=HEX]`: the enclave's evidence bundle, challenged (fresh, never cached, rate-limited per
 * client here and overall by the enclave) or unchallenged (cached briefly, with a strong ETag). A client that accepts
 * `application/vnd.vouch.archive+cbor` gets the bundle inside an evidence archive, with the collateral the host has
 * cached for it stapled beside it (`collateral.ts`).
 */
import { createHash } from 'node:crypto'
import { ARCHIVE_MEDIA_TYPE, EVIDENCE_MEDIA_TYPE } from '@vouch/protocol'
import { HostError } from '../errors.js'
import { asBuffer, requireLink, withRequestSignal, type RouteDeps, type RouteRegistrar } from '../http/router.js'

/** `Cache-Control` of the unchallenged bundle: shareable, and short, since a restarted enclave has new keys. */
export const UNCHALLENGED_CACHE_CONTROL = 'public, max-age=30'

const NONCE_HEX = /^[0-9a-fA-F]{64}$/

export function registerAttestationRoutes(route: RouteRegistrar, { link, metrics, attestations, clientOf, stapler }: Pick<RouteDeps, 'link' | 'metrics' | 'attestations' | 'clientOf' | 'stapler'>): void {
  route('/v1/attestation', {
    get: async (req, res) => {
      const given = req.query['nonce']
      const kind = given === undefined ? 'unchallenged' : 'challenged'
      res.once('finish', () => metrics.attestations.inc({ kind, status: String(res.statusCode) }))
      if (given !== undefined && (typeof given !== 'string' || !NONCE_HEX.test(given))) throw new HostError('ERR_HOST_NONCE_INVALID')
      requireLink(link)
      if (given !== undefined) {
        // Each challenge asks the hardware; a client over its budget waits, the others do not.
        const wait = attestations.take(clientOf(req))
        if (wait !== null) throw new HostError('ERR_HOST_ATTEST_RATE_LIMITED', { retryAfterS: Math.ceil(wait) })
      }
      const nonce = given === undefined ? null : Buffer.from(given, 'hex')
      const { bundle } = await link.request('attest', { nonce }, withRequestSignal(res))
      if (res.headersSent) return
      const archived = stapler !== null && req.accepts([EVIDENCE_MEDIA_TYPE, ARCHIVE_MEDIA_TYPE]) === ARCHIVE_MEDIA_TYPE
      const body = archived ? stapler.archive(bundle, { unchallenged: nonce === null }) : bundle
      // The same URL answers a bundle or an archive: caches must keep them apart.
      res.set('Content-Type', archived ? ARCHIVE_MEDIA_TYPE : EVIDENCE_MEDIA_TYPE).set('Vary', 'Accept')
      if (nonce !== null) res.set('Cache-Control', 'no-store')
      else {
        // A strong validator of the bytes served: clients and caches revalidate with If-None-Match.
        res.set('Cache-Control', UNCHALLENGED_CACHE_CONTROL).set('ETag', `"sha256-${createHash('sha256').update(body).digest('base64url')}"`)
        if (req.fresh) {
          res.status(304).end()
          return
        }
      }
      res.status(200).send(asBuffer(body))
    },
  })
}
