/**
 * The host's logs hold no request or response body and no header but the public key id, at every level,
 * for answered and refused requests alike (pino `sink()`, as pino's own redaction tests do).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import request from 'supertest'
import { SEALED_MEDIA_TYPE } from '@vouch/protocol'
import { createApp } from '../src/app.js'
import { HostError, toEnclaveRefusal } from '../src/errors.js'
import { createMetrics } from '../src/metrics.js'
import { FakeLink, inferAnswer, sink } from './helpers/testkit.js'

const MARKER = 'PLAINTEXT-MARKER-7f3a'
const SECRET = 'Bearer secret-token-91c2'
const COOKIE = 'session=cookie-secret-5d1e'

/** Every form a body could take in a log line. */
function forms(bytes: Buffer): string[] {
  const slice = bytes.subarray(0, 24)
  return [slice.toString('utf8'), slice.toString('hex'), slice.toString('base64'), slice.toString('base64url'), JSON.stringify([...slice]).slice(1, 60)]
}

test('no body, no secret header and no plaintext reaches the log, whatever the outcome', async () => {
  const logs = sink('trace')
  const answer = Buffer.from(`${MARKER}-ANSWER`.repeat(10))
  let mode: 'ok' | 'refuse' | 'fail' | 'timeout' = 'ok'
  const link = new FakeLink((call) => {
    if (call.op === 'models') return { models: [{ name: 'm', versions: ['1'] }] }
    if (call.op === 'attest') return { bundle: Buffer.from(`${MARKER}-BUNDLE`) }
    if (mode === 'refuse') return Promise.reject(toEnclaveRefusal({ code: 'ERR_ENCLAVE_OPEN_FAILED', status: 400, message: 'the sealed request could not be opened' }))
    if (mode === 'fail') return Promise.reject(new HostError('ERR_HOST_BAD_GATEWAY', { cause: new Error('corrupt frame') }))
    if (mode === 'timeout') return new Promise(() => undefined)
    return inferAnswer(answer)
  })
  const app = createApp({ link, log: logs.log, metrics: createMetrics({ processMetrics: false }), config: { requestTimeoutMs: 200, bodyBytes: 4096 } })
  const body = Buffer.from(`${MARKER}-REQUEST`.repeat(20))
  const send = (path = '/v2/models/m/infer') =>
    request(app).post(path).set('Content-Type', SEALED_MEDIA_TYPE).set('Vouch-Key-Id', 'public-kid-1').set('Authorization', SECRET).set('Cookie', COOKIE).set('X-Api-Key', SECRET)
  for (const m of ['ok', 'refuse', 'fail', 'timeout'] as const) {
    mode = m
    await send().send(body)
  }
  await send().send(Buffer.concat([body, Buffer.alloc(5000, 0x41)]))
  await send('/nowhere').send(body)
  await request(app).get('/v1/attestation').set('Authorization', SECRET)

  const text = logs.text()
  assert.ok(logs.entries.length >= 7, `only ${logs.entries.length} log lines`)
  for (const form of [...forms(body), ...forms(answer), ...forms(Buffer.from(`${MARKER}-BUNDLE`)), MARKER, 'secret-token', 'cookie-secret']) {
    assert.ok(!text.includes(form), `the log holds ${JSON.stringify(form)}`)
  }
  // What the log does hold: ids, routes, codes, and the public key id.
  const served = logs.entries.filter((e) => e['msg'] === 'request served' || e['msg'] === 'request refused' || e['msg'] === 'request failed')
  assert.ok(served.some((e) => (e['req'] as { kid?: string }).kid === 'public-kid-1'))
  assert.ok(served.some((e) => e['code'] === 'ERR_ENCLAVE_OPEN_FAILED'))
  assert.ok(served.some((e) => e['code'] === 'ERR_HOST_BAD_GATEWAY' && (e['cause'] as { message?: string }).message === 'corrupt frame'), 'the cause of a 5xx is logged')
  assert.ok(served.some((e) => e['code'] === 'ERR_HOST_TIMEOUT'))
  assert.ok(served.some((e) => e['code'] === 'ERR_HOST_BODY_TOO_LARGE'))
  for (const e of served) assert.equal((e['req'] as Record<string, unknown>)['headers'], undefined)
})

test('the redaction paths censor a body or headers logged by mistake', () => {
  const logs = sink('info')
  logs.log.info({ body: MARKER, req: { headers: { authorization: SECRET } }, link: { body: MARKER, data: MARKER } }, 'oops')
  assert.ok(!logs.text().includes(MARKER))
  assert.ok(!logs.text().includes('secret-token'))
  assert.match(logs.text(), /\[redacted\]/)
})

test('each request is logged once at its level: served and refused at info, failed at error, probes at debug; below the host level, not at all', async () => {
  let fail = false
  const link = new FakeLink((call) => {
    if (call.op === 'models') return { models: [{ name: 'm', versions: ['1'] }] }
    if (fail) return Promise.reject(new HostError('ERR_HOST_BAD_GATEWAY', { cause: new Error('corrupt frame') }))
    return inferAnswer(Buffer.from('answer'))
  })
  const lines = async (level: 'debug' | 'warn'): Promise<Array<Record<string, unknown>>> => {
    const logs = sink(level)
    const app = createApp({ link, log: logs.log, metrics: createMetrics({ processMetrics: false }) })
    const infer = () => request(app).post('/v2/models/m/infer').set('Content-Type', SEALED_MEDIA_TYPE).set('Vouch-Key-Id', 'kid-1').send(Buffer.from('sealed'))
    fail = false
    const served = await infer().set('X-Request-Id', 'given-id-1')
    assert.equal(served.headers['x-request-id'], 'given-id-1')
    await infer().set('Content-Type', 'text/plain')
    fail = true
    const failed = await infer()
    assert.match(failed.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/)
    await request(app).get('/v2/health/live')
    return logs.entries.filter((e) => typeof e['msg'] === 'string' && (e['msg'] as string).startsWith('request '))
  }
  const all = await lines('debug')
  assert.deepEqual(
    all.map((e) => [e['msg'], e['level'], (e['req'] as { path: string }).path, (e['res'] as { status: number }).status]),
    [
      ['request served', 30, '/v2/models/m/infer', 200],
      ['request refused', 30, '/v2/models/m/infer', 415],
      ['request failed', 50, '/v2/models/m/infer', 502],
      ['request served', 20, '/v2/health/live', 200],
    ],
  )
  assert.equal((all[0]!['req'] as { id: string }).id, 'given-id-1')
  assert.equal(all[2]!['code'], 'ERR_HOST_BAD_GATEWAY')
  assert.equal(typeof all[0]!['responseTime'], 'number')
  // At warn, only the failure is logged.
  assert.deepEqual((await lines('warn')).map((e) => e['msg']), ['request failed'])
})
