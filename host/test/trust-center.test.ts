/**
 * The trust-center routes in process (supertest against `createApp()`): the page's files and the shipped policies
 * served read-only under a strict Content-Security-Policy, only the names found when the app was made (no path from
 * a request reaches the file system), and 404 problem details for anything else, or for everything when there is no
 * page. The page itself is tested in a browser (test/trust-center.test.ts).
 */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import request from 'supertest'
import { createApp } from '../src/app.js'
import { PROBLEM_MEDIA_TYPE } from '../src/errors.js'
import { createMetrics } from '../src/metrics.js'
import { TRUST_CENTER_HEADERS } from '../src/routes/trust-center.js'
import { FakeLink, sink } from './helpers/testkit.js'

const dir = mkdtempSync(join(tmpdir(), 'vouch-trust-center-'))
const page = join(dir, 'page')
mkdirSync(page)
writeFileSync(join(page, 'index.html'), '<!doctype html><title>t</title>')
writeFileSync(join(page, 'app.js'), 'export {}\n')
writeFileSync(join(page, 'style.css'), 'body{}\n')
// Not a type the page serves: never answered.
writeFileSync(join(page, 'notes.txt'), 'private\n')
writeFileSync(join(dir, 'secret.html'), 'outside the page')
after(() => rmSync(dir, { recursive: true, force: true }))

const POLICIES = new URL('../../policies/', import.meta.url)

function app(trustCenterDir: string | null) {
  const logs = sink()
  const link = new FakeLink(() => ({ ready: true }))
  return { app: createApp({ link, log: logs.log, metrics: createMetrics({ processMetrics: false }), trustCenterDir }), logs }
}

function assertNotFound(res: request.Response): void {
  assert.equal(res.status, 404)
  assert.equal(res.headers['content-type'], PROBLEM_MEDIA_TYPE)
  assert.equal((JSON.parse(res.text) as { code: string }).code, 'ERR_HOST_NOT_FOUND')
}

describe('trust-center routes', () => {
  const { app: served } = app(page)

  test('/ is the page, under the strict Content-Security-Policy and the other headers', async () => {
    const res = await request(served).get('/')
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8')
    assert.equal(res.text, '<!doctype html><title>t</title>')
    for (const [name, value] of Object.entries(TRUST_CENTER_HEADERS)) assert.equal(res.headers[name.toLowerCase()], value, name)
    const csp = res.headers['content-security-policy'] as string
    // What the page relies on: nothing inline, no eval, nothing from another origin, no framing.
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]) assert.ok(csp.includes(directive), directive)
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*|https?:/)
  })

  test("the page's files, each with its media type and the same headers", async () => {
    const js = await request(served).get('/trust-center/app.js')
    assert.equal(js.status, 200)
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8')
    assert.equal(js.headers['content-security-policy'], TRUST_CENTER_HEADERS['Content-Security-Policy'])
    assert.equal(js.headers['x-content-type-options'], 'nosniff')
    const css = await request(served).get('/trust-center/style.css')
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8')
  })

  test('the shipped policies, read-only: listed, served as written, nothing else of policies/', async () => {
    const list = await request(served).get('/trust-center/policies')
    assert.equal(list.status, 200)
    const names = (JSON.parse(list.text) as { policies: string[] }).policies
    assert.deepEqual(names, ['dev-simulated.yaml', 'production.yaml'])
    for (const name of names) {
      const res = await request(served).get(`/trust-center/policies/${name}`)
      assert.equal(res.status, 200)
      assert.equal(res.headers['content-type'], 'application/yaml; charset=utf-8')
      assert.equal(res.text, readFileSync(new URL(name, POLICIES), 'utf8'))
    }
    assertNotFound(await request(served).get('/trust-center/policies/policy.schema.json'))
    const put = await request(served).put('/trust-center/policies/production.yaml').send('allowSimulated: true')
    assert.equal(put.status, 405)
    assert.equal((JSON.parse(put.text) as { code: string }).code, 'ERR_HOST_METHOD_NOT_ALLOWED')
  })

  test('only the names found when the app was made: other types, other folders and traversal are 404', async () => {
    writeFileSync(join(page, 'later.js'), 'export {}\n')
    for (const path of ['/trust-center/later.js', '/trust-center/notes.txt', '/trust-center/..%2Fsecret.html', '/trust-center/%2e%2e%2fsecret.html', '/trust-center/..%2F..%2Fpackage.json', '/trust-center/policies/..%2Fpackage.json', '/secret.html']) {
      assertNotFound(await request(served).get(path))
    }
    const post = await request(served).post('/').send('x')
    assert.equal(post.status, 405)
  })

  test('the API routes are unchanged beside the page', async () => {
    const res = await request(served).get('/v2/health/live')
    assert.equal(res.status, 200)
    assert.equal(res.headers['content-security-policy'], undefined)
  })

  test('without a built page, / is 404 and the log says why; null serves no page at all', async () => {
    const missing = app(join(dir, 'not-built'))
    assertNotFound(await request(missing.app).get('/'))
    assert.ok(missing.logs.entries.some((l) => l['level'] === 40 && String(l['msg']).includes('npm run build:page')), missing.logs.text())
    const none = app(null)
    assertNotFound(await request(none.app).get('/'))
    assertNotFound(await request(none.app).get('/trust-center/app.js'))
  })
})
