/** `GET /v2` (OIP v2 server metadata) and the health routes: live whatever the enclave, ready while the link is up. */
import { HostError } from '../errors.js'
import { requireLink, type RouteDeps, type RouteRegistrar } from '../http/router.js'

/** Protocol extensions `GET /v2` announces. */
export const EXTENSIONS = ['vouch-sealed', 'vouch-attestation', 'vouch-receipts'] as const

export function registerHealthRoutes(route: RouteRegistrar, { link, lifecycle, version }: Pick<RouteDeps, 'link' | 'lifecycle' | 'version'>): void {
  route('/v2', { get: (_req, res) => void res.json({ name: 'vouch', version, extensions: EXTENSIONS }) })
  route('/v2/health/live', { get: (_req, res) => void res.json({ live: true }) })
  route('/v2/health/ready', {
    get: (_req, res) => {
      if (lifecycle.draining) throw new HostError('ERR_HOST_SHUTTING_DOWN')
      requireLink(link)
      res.json({ ready: true })
    },
  })
}
