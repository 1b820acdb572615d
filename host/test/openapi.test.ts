/**
 * `GET /openapi.json` describes exactly the routes the app registers (and nothing else), every error code of
 * the registry, and every operation's problem answers as `application/problem+json`.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import request from 'supertest'
import { createApp } from '../src/app.js'
import { HOST_ERRORS, PROBLEM_MEDIA_TYPE } from '../src/errors.js'
import { createMetrics } from '../src/metrics.js'
import { openApiDocument } from '../src/openapi.js'
import { FakeLink, sink } from './helpers/testkit.js'

interface RouteLayer {
  route?: { path: string; methods: Record<string, boolean> }
}

type Operation = { responses: Record<string, { content?: Record<string, unknown> }>; operationId: string }

const app = createApp({ link: new FakeLink(() => ({})), log: sink('silent').log, metrics: createMetrics({ processMetrics: false }) })

/** `METHOD /path/{param}` for every method of every route Express has (the catch-all 405 handler is not a method). */
function registeredRoutes(): string[] {
  const stack = (app as unknown as { router: { stack: RouteLayer[] } }).router.stack
  return stack.flatMap((layer) => {
    if (layer.route === undefined) return []
    const path = layer.route.path.replace(/[:*](\w+)/g, '{$1}')
    return Object.keys(layer.route.methods)
      .filter((m) => m !== '_all')
      .map((m) => `${m.toUpperCase()} ${path}`)
  })
}

test('the document is served, and is the one the code builds', async () => {
  const res = await request(app).get('/openapi.json').expect(200).expect('Content-Type', /application\/json/)
  assert.equal(res.body.openapi, '3.1.0')
  assert.deepEqual(res.body, JSON.parse(JSON.stringify(openApiDocument(res.body.info.version))))
})

test('every registered route is documented, and every documented route is registered', () => {
  const doc = openApiDocument('0.0.0') as { paths: Record<string, Record<string, Operation>> }
  const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
  const registered = registeredRoutes()
  assert.ok(registered.length >= 13, `only ${registered.length} routes found: ${registered.join(', ')}`)
  assert.deepEqual([...new Set(registered)].sort(), [...new Set(documented)].sort())
})

test('every operation has an id, a 2xx answer and problem details for its failures', () => {
  const doc = openApiDocument('0.0.0') as { paths: Record<string, Record<string, Operation>> }
  const ids = new Set<string>()
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      assert.ok(!ids.has(op.operationId), `${method} ${path}: duplicate operationId`)
      ids.add(op.operationId)
      assert.ok(Object.keys(op.responses).some((s) => s.startsWith('2')), `${method} ${path}: no 2xx`)
      assert.ok('default' in op.responses, `${method} ${path}: no default (problem) answer`)
      for (const [status, response] of Object.entries(op.responses)) {
        if (status === 'default' || Number(status) >= 400) assert.deepEqual(Object.keys(response.content ?? {}), [PROBLEM_MEDIA_TYPE], `${method} ${path} ${status}`)
      }
    }
  }
})

test('every host error code is named in the document', () => {
  const text = JSON.stringify(openApiDocument('0.0.0'))
  for (const code of Object.keys(HOST_ERRORS)) assert.ok(text.includes(`\`${code}\``), `${code} is not described`)
})

test('every $ref resolves', () => {
  const doc = openApiDocument('0.0.0')
  const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/([^"]+)"/g)].map((m) => m[1]!)
  assert.ok(refs.length > 0)
  for (const ref of refs) {
    let node: unknown = doc
    for (const part of ref.split('/')) node = (node as Record<string, unknown>)[part]
    assert.ok(node !== undefined, `#/${ref} does not resolve`)
  }
})
