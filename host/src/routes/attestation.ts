/**
 * `GET /v1/attestation[?nonce=HEX]`: the enclave's evidence bundle, challenged (fresh, never cached, rate-limited per
 * client here and overall by the enclave) or unchallenged (cached briefly, with a strong ETag). A client that accepts
 * `application/vnd.vouch.archive+cbor` gets the bundle inside an evidence archive, with the collateral the host has
 * cached for it stapled beside it (`collateral.ts`).
 */
import { createHash } from 'node:crypto'
import { ARCHIVE_MEDIA_TYPE, encodeFleet, EVIDENCE_MEDIA_TYPE, FLEET_LIMITS, FLEET_MEDIA_TYPE, type FleetMember } from '@vouch/protocol'
import type { Logger } from 'pino'
import type { CollateralStapler } from '../collateral.js'
import { HostError } from '../errors.js'
import type { EnclaveFleet } from '../fleet/pool.js'
import type { LinkCallOptions } from '../link-client.js'
import { asBuffer, requireLink, withRequestSignal, type RouteDeps, type RouteRegistrar } from '../http/router.js'

/** `Cache-Control` of the unchallenged bundle: shareable, and short, since a restarted enclave has new keys. */
export const UNCHALLENGED_CACHE_CONTROL = 'public, max-age=30'

const NONCE_HEX = /^[0-9a-fA-F]{64}$/

/**
 * The fleet document answering `nonce`: each enclave taking requests, its challenged and unchallenged bundles (as
 * archives with `stapler`). An enclave that cannot answer is left out (the client counts whom it accepts); none
 * answering fails as the first one did.
 */
async function attestFleet(fleet: EnclaveFleet, nonce: Uint8Array, stapler: CollateralStapler | null, options: LinkCallOptions, log: Logger): Promise<Uint8Array> {
  // A document holds at most FLEET_LIMITS.enclaves: beyond, each answer shows another part of the fleet, in turn.
  const members = fleet.serving(FLEET_LIMITS.enclaves)
  if (members.length === 0) throw new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE')
  const settled = await Promise.allSettled(
    members.map(async (member) => {
      const [challenged, unchallenged] = await Promise.all([member.link.request('attest', { nonce }, options), member.link.request('attest', { nonce: null }, options)])
      member.remember(unchallenged.bundle)
      if (stapler === null) return { challenged: challenged.bundle, unchallenged: unchallenged.bundle }
      const [challengedArchive, unchallengedArchive] = await Promise.all([stapler.archive(challenged.bundle, { unchallenged: false }), stapler.archive(unchallenged.bundle, { unchallenged: true })])
      return { challenged: challengedArchive, unchallenged: unchallengedArchive }
    }),
  )
  const enclaves: FleetMember[] = []
  settled.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') enclaves.push(outcome.value)
    else log.warn({ enclave: members[i]!.address, err: { code: (outcome.reason as { code?: string }).code } }, 'fleet attestation: an enclave did not answer; left out')
  })
  if (enclaves.length === 0) throw (settled[0] as PromiseRejectedResult).reason
  return encodeFleet({ v: 1, nonce, archived: stapler !== null, enclaves })
}

export function registerAttestationRoutes(route: RouteRegistrar, { link, metrics, attestations, clientOf, stapler, log }: Pick<RouteDeps, 'link' | 'metrics' | 'attestations' | 'clientOf' | 'stapler' | 'log'>): void {
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
      // A client that knows fleets gets every enclave's evidence, answering its one challenge.
      if (nonce !== null && req.accepts([EVIDENCE_MEDIA_TYPE, ARCHIVE_MEDIA_TYPE, FLEET_MEDIA_TYPE]) === FLEET_MEDIA_TYPE) {
        const archived = stapler !== null && req.accepts(ARCHIVE_MEDIA_TYPE) !== false
        const fleet = await attestFleet(link, nonce, archived ? stapler : null, withRequestSignal(res), log)
        if (res.headersSent) return
        res.status(200).set('Content-Type', FLEET_MEDIA_TYPE).set('Vary', 'Accept').set('Cache-Control', 'no-store').send(asBuffer(fleet))
        return
      }
      const enclave = link.serving()[0]
      if (enclave === undefined) throw new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE')
      const { bundle } = await enclave.link.request('attest', { nonce }, withRequestSignal(res))
      // Receipts name the unchallenged bundle: kept, so answers under this keyset are logged with it even after a rotation.
      if (nonce === null) enclave.remember(bundle)
      if (res.headersSent) return
      const archived = stapler !== null && req.accepts([EVIDENCE_MEDIA_TYPE, ARCHIVE_MEDIA_TYPE]) === ARCHIVE_MEDIA_TYPE
      const body = archived ? await stapler.archive(bundle, { unchallenged: nonce === null }) : bundle
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
