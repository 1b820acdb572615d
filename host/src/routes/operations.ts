/** The operators' routes: Prometheus metrics and the OpenAPI document. */
import { openApiDocument } from '../openapi.js'
import type { RouteDeps, RouteRegistrar } from '../http/router.js'

export function registerOperationsRoutes(route: RouteRegistrar, { metrics, version }: Pick<RouteDeps, 'metrics' | 'version'>): void {
  route('/metrics', {
    get: async (_req, res) => {
      const text = await metrics.registry.metrics()
      res.set('Content-Type', metrics.registry.contentType).set('Cache-Control', 'no-store').send(text)
    },
  })
  // Built once: the document is the same for every request.
  const document = JSON.stringify(openApiDocument(version))
  route('/openapi.json', { get: (_req, res) => void res.type('application/json').send(document) })
}
