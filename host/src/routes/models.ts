/** The OIP v2 model routes: the list, each model's metadata and its readiness, from the enclave's model list. */
import type { RequestHandler } from 'express'
import { locals } from '../http/locals.js'
import { requireLink, withRequestSignal, type RouteDeps, type RouteRegistrar } from '../http/router.js'

export function registerModelRoutes(route: RouteRegistrar, { link, catalog }: Pick<RouteDeps, 'link' | 'catalog'>): void {
  route('/v2/models', {
    get: async (_req, res) => {
      requireLink(link)
      res.json({ models: await catalog.get(withRequestSignal(res)) })
    },
  })
  const metadata: RequestHandler = async (req, res) => {
    const { name, version } = req.params as { name: string; version?: string }
    requireLink(link)
    const model = await catalog.find(name, version, withRequestSignal(res))
    locals(res).model = model.name
    res.json(model)
  }
  route('/v2/models/:name', { get: metadata })
  route('/v2/models/:name/versions/:version', { get: metadata })
  const ready: RequestHandler = async (req, res) => {
    const { name, version } = req.params as { name: string; version?: string }
    requireLink(link)
    const model = await catalog.find(name, version, withRequestSignal(res))
    locals(res).model = model.name
    res.json({ name: model.name, ready: true })
  }
  route('/v2/models/:name/ready', { get: ready })
  route('/v2/models/:name/versions/:version/ready', { get: ready })
}
