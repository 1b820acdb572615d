/**
 * The HTTP API in process (supertest against `createApp()`), with a scripted link standing in for the
 * enclave: every route, its media types and headers, and every refusal as problem details with its code.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, test } from 'node:test'
import type { Express } from 'express'
import request from 'supertest'
import { EVIDENCE_MEDIA_TYPE, SEALED_MEDIA_TYPE, type LinkCall } from '@vouch/protocol'
import { createApp, HostLifecycle, type AppConfig } from '../src/app.js'
import { HOST_ERRORS, HostError, PROBLEM_MEDIA_TYPE } from '../src/errors.js'
import { createMetrics } from '../src/metrics.js'
import { binaryBody, eventually, FakeLink, inferAnswer, RECEIPT, sink } from './helpers/testkit.js'
import { openSlowBody, type SlowBody } from '../../test/helpers/attackers.js'

const MODELS = [
  { name: 'ppocr-cls', versions: ['2.0'], platform: 'onnxruntime', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }], outputs: [], digest: `sha256:${'a'.repeat(64)}`, publisher: 'p', license: 'Apache-2.0' },
  { name: 'ppocr-det', versions: ['4.0'], platform: 'onnxruntime', inputs: [], outputs: [], digest: `sha256:${'b'.repeat(64)}` },
]
const BUNDLE = Uint8Array.from([0xa1, 0x61, 0x76, 0x01])

/** A link that serves models, bundles and echoes sealed bodies reversed. */
function enclaveLike(): FakeLink {
  return new FakeLink((call: LinkCall) => {
    switch (call.op) {
      case 'models':
        return { models: MODELS, refused: [] }
      case 'attest':
        return { bundle: call.nonce === null ? BUNDLE : Uint8Array.from([...BUNDLE, ...call.nonce]) }
      case 'infer':
        return inferAnswer(Uint8Array.from(call.body).reverse())
      case 'ping':
        return { ready: true }
      case 'drain':
        return { draining: true }
      case 'rotate':
        return { kid: 'rotated' }
    }
  })
}

function setup(link = enclaveLike(), config: AppConfig = {}, lifecycle?: HostLifecycle) {
  const logs = sink()
  const metrics = createMetrics({ processMetrics: false })
  const app = createApp({ link, log: logs.log, metrics, config, ...(lifecycle === undefined ? {} : { lifecycle }) })
  return { app, link, logs, metrics }
}

/** Checks a problem+json answer: status, media type, every RFC 9457 field, the code's fixed message. */
function assertProblem(res: request.Response, status: number, code: string, instance?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.headers['content-type'], PROBLEM_MEDIA_TYPE)
  assert.equal(res.headers['cache-control'], 'no-store')
  const body = JSON.parse(res.text) as Record<string, unknown>
  assert.deepEqual(Object.keys(body).sort(), ['code', 'detail', 'instance', 'requestId', 'status', 'title', 'type'])
  assert.equal(body['code'], code)
  assert.equal(body['status'], status)
  assert.equal(body['type'], `urn:vouch:error:${code}`)
  assert.equal(body['requestId'], res.headers['x-request-id'])
  if (code in HOST_ERRORS) assert.equal(body['detail'], HOST_ERRORS[code as keyof typeof HOST_ERRORS].message)
  if (instance !== undefined) assert.equal(body['instance'], instance)
  if (status === 503) assert.equal(res.headers['retry-after'], '1')
}

/** Serves `app` on 127.0.0.1 over plain HTTP, for tests that need real sockets (slow clients, source addresses). */
async function listen(app: Express): Promise<{ server: Server; port: number }> {
  const server = createServer(app).listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as AddressInfo).port }
}

/** One exchange from `localAddress` (127.0.0.0/8 is all loopback): the status, headers and problem code. */
function exchange(port: number, options: { localAddress: string; method?: string; path: string; headers?: Record<string, string>; body?: Buffer }): Promise<{ status: number; headers: Record<string, unknown>; code: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, localAddress: options.localAddress, method: options.method ?? 'GET', path: options.path, headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode!, headers: res.headers, code: res.headers['content-type'] === PROBLEM_MEDIA_TYPE ? (JSON.parse(text) as { code: string }).code : undefined })
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** The value of a metric without labels, from the registry's text. */
async function gauge(metrics: ReturnType<typeof createMetrics>, name: string): Promise<number> {
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await metrics.registry.metrics())?.[1])
}

const sealed = (app: ReturnType<typeof setup>['app'], path = '/v2/models/ppocr-cls/infer') =>
  request(app).post(path).set('Content-Type', SEALED_MEDIA_TYPE).set('Vouch-Key-Id', 'kid-1')

describe('server metadata and health', () => {
  test('GET /v2 names the server, its version and extensions', async () => {
    const res = await request(setup().app).get('/v2').expect(200).expect('Content-Type', /application\/json/)
    assert.equal(res.body.name, 'vouch')
    assert.match(res.body.version, /^\d+\.\d+\.\d+/)
    assert.ok(res.body.extensions.includes('vouch-sealed'))
  })
  test('live is 200 whatever the enclave; ready follows the link', async () => {
    const { app, link } = setup()
    await request(app).get('/v2/health/live').expect(200, { live: true })
    await request(app).get('/v2/health/ready').expect(200, { ready: true })
    link.up = false
    await request(app).get('/v2/health/live').expect(200, { live: true })
    assertProblem(await request(app).get('/v2/health/ready'), 503, 'ERR_HOST_ENCLAVE_UNAVAILABLE', '/v2/health/ready')
  })
  test('a well-formed X-Request-Id is kept; a malformed one is replaced', async () => {
    const { app } = setup()
    const kept = await request(app).get('/v2').set('X-Request-Id', 'trace-42.a').expect(200)
    assert.equal(kept.headers['x-request-id'], 'trace-42.a')
    const replaced = await request(app).get('/v2').set('X-Request-Id', 'bad id\twith spaces').expect(200)
    assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/)
  })
})

describe('models', () => {
  test('GET /v2/models lists the enclave models; the list is cached briefly', async () => {
    const { app, link } = setup()
    const res = await request(app).get('/v2/models').expect(200)
    assert.deepEqual(res.body.models.map((m: { name: string }) => m.name), ['ppocr-cls', 'ppocr-det'])
    await request(app).get('/v2/models').expect(200)
    await request(app).get('/v2/models/ppocr-det').expect(200)
    assert.equal(link.of('models').length, 1)
  })
  test('an expired cache asks again', async () => {
    const { app, link } = setup(enclaveLike(), { modelsCacheMs: 0 })
    await request(app).get('/v2/models').expect(200)
    await request(app).get('/v2/models').expect(200)
    assert.equal(link.of('models').length, 2)
  })
  test('metadata by name and by version (OIP v2), with the attested digest', async () => {
    const { app } = setup()
    const byName = await request(app).get('/v2/models/ppocr-cls').expect(200)
    assert.deepEqual(byName.body, MODELS[0])
    const byVersion = await request(app).get('/v2/models/ppocr-cls/versions/2.0').expect(200)
    assert.deepEqual(byVersion.body, MODELS[0])
    assertProblem(await request(app).get('/v2/models/ppocr-cls/versions/9.9'), 404, 'ERR_HOST_MODEL_NOT_FOUND', '/v2/models/ppocr-cls/versions/9.9')
    assertProblem(await request(app).get('/v2/models/nope'), 404, 'ERR_HOST_MODEL_NOT_FOUND')
  })
  test('model readiness', async () => {
    const { app, link } = setup()
    await request(app).get('/v2/models/ppocr-det/ready').expect(200, { name: 'ppocr-det', ready: true })
    await request(app).get('/v2/models/ppocr-det/versions/4.0/ready').expect(200, { name: 'ppocr-det', ready: true })
    assertProblem(await request(app).get('/v2/models/nope/ready'), 404, 'ERR_HOST_MODEL_NOT_FOUND')
    link.up = false
    assertProblem(await request(app).get('/v2/models/ppocr-det/ready'), 503, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
  })
  test('an answer that is not a model list is a bad gateway', async () => {
    const { app } = setup(new FakeLink(() => ({ models: [{ name: 1 }] })))
    assertProblem(await request(app).get('/v2/models'), 502, 'ERR_HOST_BAD_GATEWAY')
  })
})

describe('sealed inference', () => {
  const body = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251))

  test('relays the body, kid, model and version, and answers the sealed body', async () => {
    const { app, link } = setup()
    const res = await sealed(app).send(body).buffer(true).parse(binaryBody).expect(200)
    assert.equal(res.headers['content-type'], SEALED_MEDIA_TYPE)
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.deepEqual(Buffer.from(res.body as Buffer), Buffer.from(body).reverse())
    const [call] = link.of('infer')
    assert.ok(call?.op === 'infer')
    assert.equal(call.kid, 'kid-1')
    assert.equal(call.model, 'ppocr-cls')
    assert.equal(call.version, null)
    assert.deepEqual(Buffer.from(call.body), body)
    await sealed(app, '/v2/models/ppocr-det/versions/4.0/infer').send(body).expect(200)
    const second = link.of('infer')[1]
    assert.ok(second?.op === 'infer')
    assert.equal(second.model, 'ppocr-det')
    assert.equal(second.version, '4.0')
  })
  test('the receipt the enclave returns beside the answer stays with the host: the response is the sealed body alone', async () => {
    const { app } = setup()
    const res = await sealed(app).send(body).buffer(true).parse(binaryBody).expect(200)
    assert.deepEqual(Buffer.from(res.body as Buffer), Buffer.from(body).reverse())
    const [, payload] = RECEIPT.split('.') as [string, string]
    for (const [name, value] of Object.entries(res.headers)) assert.ok(!String(value).includes(payload), `header ${name} carries the receipt`)
  })
  test('an answer whose receipt is not a well-formed v2 receipt is 502, and nothing is relayed', async () => {
    const { app } = setup(new FakeLink(() => ({ body: Uint8Array.of(1), receipt: 'not.a.receipt' })))
    assertProblem(await sealed(app).send(body).expect(502), 502, 'ERR_HOST_BAD_GATEWAY')
  })
  test('a chunked body (no Content-Length) is read whole', async () => {
    const { app, link } = setup()
    const res = await postChunked(app, '/v2/models/ppocr-cls/infer', [body.subarray(0, 1000), body.subarray(1000)])
    assert.equal(res.status, 200)
    assert.deepEqual(Buffer.from(link.of('infer')[0]!.body), body)
  })
  test('a large body arrives in blocks taken one after the other, and is relayed byte for byte, declared or chunked', async () => {
    // 3 MB: blocks of 4 KiB doubling to 1 MiB (declared, views of one buffer of that length; chunked, joined).
    const large = Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 7) % 253))
    const { app, link } = setup()
    await sealed(app).send(large).expect(200)
    assert.deepEqual(Buffer.from(link.of('infer')[0]!.body), large)
    const res = await postChunked(app, '/v2/models/ppocr-cls/infer', [large.subarray(0, 1_000_000), large.subarray(1_000_000)])
    assert.equal(res.status, 200)
    assert.deepEqual(Buffer.from(link.of('infer')[1]!.body), large)
  })
  test("a large body's buffer takes the next large body once the enclave has answered, and only then", async () => {
    const size = 300_000
    const payload = (fill: number): Buffer => Buffer.alloc(size, fill)
    let refuse = false
    const link = new FakeLink((call) => {
      if (call.op !== 'infer') return { models: MODELS, refused: [] }
      if (refuse) return Promise.reject(new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE'))
      return inferAnswer(Uint8Array.of(call.body[0]!))
    })
    const { app } = setup(link)
    await sealed(app).send(payload(1)).expect(200)
    await sealed(app).send(payload(2)).expect(200)
    const [first, second] = link.of('infer').map((c) => c.body)
    assert.equal(second!.buffer, first!.buffer, 'answered: its buffer read the next body')
    assert.ok(Buffer.from(second!).equals(payload(2)))
    // Not answered (the link failed): its buffer is not handed on, whatever became of the bytes.
    refuse = true
    await sealed(app).send(payload(3)).expect(503)
    refuse = false
    await sealed(app).send(payload(4)).expect(200)
    const [, , failed, next] = link.of('infer').map((c) => c.body)
    assert.notEqual(next!.buffer, failed!.buffer)
    assert.ok(Buffer.from(failed!).equals(payload(3)), 'the unanswered body left as it was')
  })
  test('another media type, or a content encoding, is 415', async () => {
    const { app, link } = setup()
    assertProblem(await request(app).post('/v2/models/ppocr-cls/infer').set('Vouch-Key-Id', 'kid-1').set('Content-Type', 'application/json').send('{"inputs":[]}'), 415, 'ERR_HOST_UNSUPPORTED_MEDIA_TYPE')
    assertProblem(await request(app).post('/v2/models/ppocr-cls/infer').set('Vouch-Key-Id', 'kid-1').send(body), 415, 'ERR_HOST_UNSUPPORTED_MEDIA_TYPE')
    assertProblem(await sealed(app).set('Content-Encoding', 'gzip').send(body), 415, 'ERR_HOST_UNSUPPORTED_MEDIA_TYPE')
    // Parameters and case of the media type do not matter.
    await request(app).post('/v2/models/ppocr-cls/infer').set('Vouch-Key-Id', 'kid-1').set('Content-Type', 'Application/Vnd.Vouch.Sealed; x=1').send(body).expect(200)
    assert.equal(link.of('infer').length, 1)
  })
  test('a missing or malformed Vouch-Key-Id is 400', async () => {
    const { app, link } = setup()
    assertProblem(await request(app).post('/v2/models/ppocr-cls/infer').set('Content-Type', SEALED_MEDIA_TYPE).send(body), 400, 'ERR_HOST_KEY_ID_INVALID')
    assertProblem(await sealed(app).set('Vouch-Key-Id', 'not a kid/').send(body), 400, 'ERR_HOST_KEY_ID_INVALID')
    assertProblem(await sealed(app).set('Vouch-Key-Id', 'k'.repeat(129)).send(body), 400, 'ERR_HOST_KEY_ID_INVALID')
    assert.equal(link.of('infer').length, 0)
  })
  test('an empty body is 400', async () => {
    assertProblem(await sealed(setup().app).send(Buffer.alloc(0)), 400, 'ERR_HOST_BAD_REQUEST')
  })
  test('a body over the limit is 413, declared or streamed, and never reaches the link', async () => {
    const { app, link } = setup(enclaveLike(), { bodyBytes: 2048 })
    assertProblem(await sealed(app).send(body), 413, 'ERR_HOST_BODY_TOO_LARGE')
    const chunked = await postChunked(app, '/v2/models/ppocr-cls/infer', [body.subarray(0, 1024), body.subarray(1024, 2048), body.subarray(2048)])
    assert.equal(chunked.status, 413)
    assert.equal(JSON.parse(chunked.text).code, 'ERR_HOST_BODY_TOO_LARGE')
    await sealed(app).send(body.subarray(0, 2048)).expect(200)
    assert.equal(link.of('infer').length, 1)
  })
  test('the default limit takes a sealed 1×3×640×640 FP32 request', async () => {
    const { app } = setup()
    await sealed(app, '/v2/models/ppocr-det/infer').send(Buffer.alloc(3 * 640 * 640 * 4 + 4096, 7)).expect(200)
  })
  test('enclave refusals are relayed with their code, status and message', async () => {
    const cases = [
      { code: 'ERR_ENCLAVE_UNKNOWN_KID', status: 409, message: 'the request is sealed to a key this enclave does not hold: attest again' },
      { code: 'ERR_ENCLAVE_OPEN_FAILED', status: 400, message: 'the sealed request could not be opened' },
      { code: 'ERR_INFERENCE_SHAPE', status: 400, message: 'x: expected 3 in dimension 1, got 4' },
      { code: 'ERR_ENCLAVE_BUSY', status: 503, message: 'the enclave is overloaded: retry later' },
      { code: 'ERR_ENCLAVE_TIMEOUT', status: 504, message: 'the enclave did not answer in time' },
    ]
    for (const c of cases) {
      const { app } = setup(new FakeLink(async () => Promise.reject((await import('../src/errors.js')).toEnclaveRefusal(c))))
      const res = await sealed(app).send(body)
      assertProblem(res, c.status, c.code)
      assert.equal(res.body.detail, c.message)
    }
  })
  test('the link refusing (down, queue full, timeout) is a host problem', async () => {
    for (const code of ['ERR_HOST_ENCLAVE_UNAVAILABLE', 'ERR_HOST_QUEUE_FULL', 'ERR_HOST_TIMEOUT', 'ERR_HOST_BAD_GATEWAY'] as const) {
      const { app } = setup(new FakeLink(() => Promise.reject(new HostError(code))))
      assertProblem(await sealed(app).send(body), HOST_ERRORS[code].status, code)
    }
  })
  test('an answer without a sealed body is a bad gateway, never a 2xx', async () => {
    const { app } = setup(new FakeLink(() => ({ body: 'plain' })))
    assertProblem(await sealed(app).send(body), 502, 'ERR_HOST_BAD_GATEWAY')
  })
  test('while the link is down, 503 at once', async () => {
    const { app, link } = setup()
    link.up = false
    assertProblem(await sealed(app).send(body), 503, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    assertProblem(await request(app).get('/v1/attestation'), 503, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    assertProblem(await request(app).get('/v2/models'), 503, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    assert.equal(link.calls.length, 0)
  })
  test('bodies beyond limits.bufferedBytes wait unread until earlier requests are answered; one that waits too long is 504', async () => {
    const answers: Array<() => void> = []
    const link = new FakeLink((call) => (call.op === 'infer' ? new Promise((resolve) => answers.push(() => resolve(inferAnswer(call.body)))) : { models: MODELS, refused: [] }))
    const { app, metrics } = setup(link, { bodyBytes: 4096, bufferedBytes: 6000, requestTimeoutMs: 1_500 })
    const server = createServer(app).listen(0)
    await once(server, 'listening')
    try {
      const agent = request(server)
      const post = () => agent.post('/v2/models/ppocr-cls/infer').set('Content-Type', SEALED_MEDIA_TYPE).set('Vouch-Key-Id', 'kid-1').send(body).then((r) => r)
      const first = post()
      const second = post()
      await eventually(() => link.of('infer').length === 1, 3_000, 'the link call')
      await new Promise((resolve) => setTimeout(resolve, 100))
      // 4096 + 4096 > 6000: the second body has not been read, so it never reached the link.
      assert.equal(link.of('infer').length, 1)
      assert.match(await metrics.registry.metrics(), /vouch_request_body_waiting 1/)
      answers.shift()!()
      assert.equal((await first).status, 200)
      await eventually(() => link.of('infer').length === 2, 3_000, 'the link call')
      answers.shift()!()
      assert.equal((await second).status, 200)
      // Held past its time while waiting: 504, and the link never sees it.
      const third = post()
      const fourth = post()
      await eventually(() => link.of('infer').length === 3, 3_000, 'the link call')
      const late = await fourth
      assertProblem(late, 504, 'ERR_HOST_TIMEOUT')
      assert.equal(link.of('infer').length, 3)
      answers.shift()!()
      await third
      // Given back once the link answers, even after the client got its 504.
      await eventually(async () => /vouch_request_body_bytes 0/.test(await metrics.registry.metrics()), 3_000, 'the bytes given back')
    } finally {
      server.close()
    }
  })
  test('bodies are taken from the budget as they arrive: clients that declare all of it and trickle hold 4 KiB each, and others go through', async () => {
    // The default ratio of budget to body limit (24 MiB to 16 MiB), at a small scale.
    const { app, metrics } = setup(enclaveLike(), { bodyBytes: 64 * 1024, bufferedBytes: 96 * 1024, requestTimeoutMs: 5_000 })
    const { server, port } = await listen(app)
    const slow = ['127.0.1.1', '127.0.1.2'].map((localAddress) => openSlowBody({ port, localAddress, mode: 'declared', declared: 64 * 1024, intervalMs: 50 }))
    try {
      await Promise.all(slow.map((s) => s.opened))
      await eventually(async () => (await gauge(metrics, 'vouch_request_body_bytes')) === 2 * 4096, 3_000, 'a first block for each slow body')
      const res = await exchange(port, { localAddress: '127.0.0.1', method: 'POST', path: '/v2/models/ppocr-cls/infer', headers: { 'content-type': SEALED_MEDIA_TYPE, 'vouch-key-id': 'kid-1' }, body })
      assert.equal(res.status, 200)
    } finally {
      for (const s of slow) s.close()
      server.close()
    }
  })
  test('a body slower than limits.minBodyRate over a rate window is cut off: 408 ERR_HOST_BODY_TOO_SLOW, the connection closed, its bytes given back', async () => {
    const { app, metrics } = setup(enclaveLike(), { minBodyRate: 1024, bodyRateWindowMs: 300 })
    const { server, port } = await listen(app)
    try {
      for (const mode of ['declared', 'chunked'] as const) {
        const outcome = await openSlowBody({ port, mode, intervalMs: 20 }).outcome
        assert.deepEqual([outcome.status, outcome.code, outcome.closedByHost], [408, 'ERR_HOST_BODY_TOO_SLOW', true], JSON.stringify(outcome))
        assert.ok(outcome.sent > 0)
      }
      // A burst worth many windows, then a trickle: cut off at the end of the first window that falls short.
      const burst = await openSlowBody({ port, mode: 'declared', burst: 64 * 1024, intervalMs: 20 }).outcome
      assert.deepEqual([burst.status, burst.code], [408, 'ERR_HOST_BODY_TOO_SLOW'])
      assert.ok(burst.atMs < 2_000, `cut off after ${Math.round(burst.atMs)} ms`)
      await eventually(async () => (await gauge(metrics, 'vouch_request_body_bytes')) === 0, 3_000, 'the bytes given back')
    } finally {
      server.close()
    }
  })
  test('a body that keeps the rate but takes longer than the body timeout is cut off: 408 ERR_HOST_BODY_TIMEOUT', async () => {
    const { app, link } = setup(enclaveLike(), { minBodyRate: 10, bodyRateWindowMs: 200, bodyTimeoutMs: 600 })
    const { server, port } = await listen(app)
    try {
      // 50 bytes a second, five times the floor, for ever.
      const outcome = await openSlowBody({ port, mode: 'chunked', intervalMs: 20 }).outcome
      assert.deepEqual([outcome.status, outcome.code, outcome.closedByHost], [408, 'ERR_HOST_BODY_TIMEOUT', true], JSON.stringify(outcome))
      assert.equal(link.of('infer').length, 0)
    } finally {
      server.close()
    }
  })
  test('a body paused for the budget still ends at the body timeout, waits included, so it cannot hold its bytes longer', async () => {
    // The first request's body fills the budget and the enclave never answers it.
    const link = new FakeLink((call, options) => (call.op === 'infer' ? new Promise((_, reject) => options.signal?.addEventListener('abort', () => reject(options.signal!.reason))) : { models: MODELS, refused: [] }))
    const { app, metrics } = setup(link, { bodyBytes: 4096, bufferedBytes: 6000, bodyTimeoutMs: 400, requestTimeoutMs: 5_000 })
    const { server, port } = await listen(app)
    try {
      const post = (localAddress: string) => exchange(port, { localAddress, method: 'POST', path: '/v2/models/ppocr-cls/infer', headers: { 'content-type': SEALED_MEDIA_TYPE, 'vouch-key-id': 'kid-1' }, body })
      const first = post('127.0.4.1')
      await eventually(() => link.of('infer').length === 1, 3_000, 'the first body on the link')
      // The second arrives whole, but only 1904 bytes of it fit: it waits, paused, holding them, until the body timeout.
      const second = await post('127.0.4.2')
      assert.deepEqual([second.status, second.code], [408, 'ERR_HOST_BODY_TIMEOUT'])
      assert.equal(await gauge(metrics, 'vouch_request_body_bytes'), 4096)
      assert.equal((await first).status, 504)
    } finally {
      server.close()
    }
  })
  test('one client reads at most limits.clientBodies bodies at once; its others wait unread while another client is served', async () => {
    const { app, metrics } = setup(enclaveLike(), { clientBodies: 2, minBodyRate: 1024, bodyRateWindowMs: 1_000 })
    const { server, port } = await listen(app)
    const slow: SlowBody[] = []
    try {
      for (let i = 0; i < 3; i++) {
        slow.push(openSlowBody({ port, localAddress: '127.0.2.1', mode: 'declared', declared: 8192, intervalMs: 20 }))
        await slow.at(-1)!.opened
      }
      await eventually(async () => (await gauge(metrics, 'vouch_request_body_bytes')) === 2 * 4096, 3_000, 'two bodies being read')
      // All three send; only two are read (one 4 KiB block each), the third's bytes stay in its socket.
      await new Promise((resolve) => setTimeout(resolve, 200))
      assert.equal(await gauge(metrics, 'vouch_request_body_bytes'), 2 * 4096)
      const res = await exchange(port, { localAddress: '127.0.2.2', method: 'POST', path: '/v2/models/ppocr-cls/infer', headers: { 'content-type': SEALED_MEDIA_TYPE, 'vouch-key-id': 'kid-1' }, body })
      assert.equal(res.status, 200)
      // The first two are cut off; the third is read once it has a slot, and cut off in its turn.
      const outcomes = await Promise.all(slow.map((s) => s.outcome))
      assert.deepEqual(
        outcomes.map((o) => o.code),
        ['ERR_HOST_BODY_TOO_SLOW', 'ERR_HOST_BODY_TOO_SLOW', 'ERR_HOST_BODY_TOO_SLOW'],
      )
    } finally {
      for (const s of slow) s.close()
      server.close()
    }
  })
  test('a request the enclave does not answer in time is 504, and the link call is aborted', async () => {
    let signal: AbortSignal | undefined
    const link = new FakeLink((_call, options) => {
      signal = options.signal
      return new Promise(() => undefined)
    })
    const { app } = setup(link, { requestTimeoutMs: 150 })
    const started = Date.now()
    assertProblem(await sealed(app).send(body), 504, 'ERR_HOST_TIMEOUT')
    assert.ok(Date.now() - started < 2_000)
    assert.equal(signal?.aborted, true)
  })
})

describe('attestation', () => {
  test('unchallenged: the cached bundle, shareable for a short time, with an ETag', async () => {
    const { app, link } = setup()
    const res = await request(app).get('/v1/attestation').buffer(true).parse(binaryBody).expect(200)
    assert.equal(res.headers['content-type'], EVIDENCE_MEDIA_TYPE)
    assert.equal(res.headers['cache-control'], 'public, max-age=30')
    const etag = String(res.headers['etag'])
    assert.match(etag, /^"sha256-[A-Za-z0-9_-]{43}"$/)
    assert.deepEqual(Buffer.from(res.body as Buffer), Buffer.from(BUNDLE))
    assert.deepEqual(link.of('attest'), [{ op: 'attest', nonce: null }])
    await request(app).get('/v1/attestation').set('If-None-Match', etag).expect(304)
  })
  test('challenged: the nonce reaches the enclave as 32 bytes, and the answer is never stored', async () => {
    const { app, link } = setup()
    const nonce = 'ab'.repeat(32)
    const res = await request(app).get(`/v1/attestation?nonce=${nonce.toUpperCase()}`).buffer(true).parse(binaryBody).expect(200)
    assert.equal(res.headers['cache-control'], 'no-store')
    assert.equal(res.headers['etag'], undefined)
    const call = link.of('attest')[0]
    assert.ok(call?.op === 'attest')
    assert.deepEqual(Buffer.from(call.nonce!), Buffer.from(nonce, 'hex'))
  })
  test('a malformed nonce is 400', async () => {
    const { app, link } = setup()
    for (const q of ['nonce=abc', `nonce=${'zz'.repeat(32)}`, `nonce=${'ab'.repeat(33)}`, `nonce=${'ab'.repeat(32)}&nonce=${'cd'.repeat(32)}`, 'nonce=']) {
      assertProblem(await request(app).get(`/v1/attestation?${q}`), 400, 'ERR_HOST_NONCE_INVALID', '/v1/attestation')
    }
    assert.equal(link.calls.length, 0)
  })
  test('an unexpected failure is 500 ERR_HOST_INTERNAL; the enclave rate limit is relayed as 429', async () => {
    const { app } = setup(new FakeLink(() => Promise.reject(new (class extends Error {})())))
    assertProblem(await request(app).get('/v1/attestation'), 500, 'ERR_HOST_INTERNAL')
    const limited = setup(new FakeLink(async () => Promise.reject((await import('../src/errors.js')).toEnclaveRefusal({ code: 'ERR_ENCLAVE_ATTEST_RATE_LIMITED', status: 429, message: 'too many' }))))
    const res = await request(limited.app).get(`/v1/attestation?nonce=${'01'.repeat(32)}`)
    assertProblem(res, 429, 'ERR_ENCLAVE_ATTEST_RATE_LIMITED')
    assert.equal(res.headers['retry-after'], '1')
  })
})

describe('challenged attestations per client', () => {
  const challenge = (): string => `/v1/attestation?nonce=${'ab'.repeat(32)}`

  test('each client has its own budget; over it 429 ERR_HOST_ATTEST_RATE_LIMITED with Retry-After, never reaching the enclave, while others go through', async () => {
    const { app, link, metrics } = setup(enclaveLike(), { attestBurst: 2, attestPerMinute: 1 })
    const { server, port } = await listen(app)
    try {
      const from = (localAddress: string, path = challenge()) => exchange(port, { localAddress, path })
      assert.equal((await from('127.0.3.1')).status, 200)
      assert.equal((await from('127.0.3.1')).status, 200)
      const over = await from('127.0.3.1')
      assert.deepEqual([over.status, over.code], [429, 'ERR_HOST_ATTEST_RATE_LIMITED'])
      // One token a minute: the next one comes in about 60 s.
      assert.match(String(over.headers['retry-after']), /^(59|60)$/)
      assert.equal(link.of('attest').length, 2)
      // The cached, unchallenged bundle is not limited; other clients have their own budgets.
      assert.equal((await from('127.0.3.1', '/v1/attestation')).status, 200)
      assert.equal((await from('127.0.3.2')).status, 200)
      assert.match(await metrics.registry.metrics(), /vouch_attestation_requests_total\{kind="challenged",status="429"\} 1/)
    } finally {
      server.close()
    }
  })
  test('behind a proxy named in trustProxy, X-Forwarded-For names the client (IPv6 by /64); without trustProxy it is ignored', async () => {
    const xff = (app: Express, address: string) => request(app).get(challenge()).set('X-Forwarded-For', address)
    const trusting = setup(enclaveLike(), { attestBurst: 1, attestPerMinute: 1, trustProxy: ['loopback'] }).app
    assert.equal((await xff(trusting, '203.0.113.1')).status, 200)
    assertProblem(await xff(trusting, '203.0.113.1'), 429, 'ERR_HOST_ATTEST_RATE_LIMITED')
    assert.equal((await xff(trusting, '203.0.113.2')).status, 200)
    assert.equal((await xff(trusting, '2001:db8:1:2::1')).status, 200)
    assertProblem(await xff(trusting, '2001:db8:1:2:ffff::9'), 429, 'ERR_HOST_ATTEST_RATE_LIMITED')
    assert.equal((await xff(trusting, '2001:db8:1:3::1')).status, 200)
    const direct = setup(enclaveLike(), { attestBurst: 1, attestPerMinute: 1 }).app
    assert.equal((await xff(direct, '203.0.113.1')).status, 200)
    assertProblem(await xff(direct, '203.0.113.2'), 429, 'ERR_HOST_ATTEST_RATE_LIMITED')
  })
})

describe('routing and shutdown', () => {
  test('an unknown route is 404 problem details', async () => {
    assertProblem(await request(setup().app).get('/v3/whatever?x=1'), 404, 'ERR_HOST_NOT_FOUND', '/v3/whatever')
  })
  test('another method on a known route is 405 with Allow; OPTIONS answers Allow', async () => {
    const { app } = setup()
    const res = await request(app).delete('/v2/models/ppocr-cls')
    assertProblem(res, 405, 'ERR_HOST_METHOD_NOT_ALLOWED')
    assert.equal(res.headers['allow'], 'GET, HEAD')
    assertProblem(await request(app).get('/v2/models/ppocr-cls/infer'), 405, 'ERR_HOST_METHOD_NOT_ALLOWED')
    const options = await request(app).options('/v2/models/ppocr-cls/infer').expect(204)
    assert.equal(options.headers['allow'], 'POST')
  })
  test('while draining: new requests 503 with Connection: close, readiness fails, liveness holds', async () => {
    const lifecycle = new HostLifecycle()
    const { app } = setup(enclaveLike(), {}, lifecycle)
    lifecycle.draining = true
    const res = await request(app).get('/v2/models')
    assertProblem(res, 503, 'ERR_HOST_SHUTTING_DOWN')
    assert.equal(res.headers['connection'], 'close')
    assertProblem(await request(app).get('/v2/health/ready'), 503, 'ERR_HOST_SHUTTING_DOWN')
    await request(app).get('/v2/health/live').expect(200)
  })
  test('the lifecycle counts requests in progress', async () => {
    const lifecycle = new HostLifecycle()
    let release: () => void = () => undefined
    const link = new FakeLink((call) => (call.op === 'infer' ? new Promise((resolve) => (release = () => resolve(inferAnswer(Uint8Array.of(1))))) : { models: MODELS }))
    const { app } = setup(link, {}, lifecycle)
    const pending = sealed(app).send(Buffer.of(1, 2, 3)).then((r) => r)
    while (link.of('infer').length === 0) await new Promise((r) => setTimeout(r, 5))
    assert.equal(lifecycle.active, 1)
    let idle = false
    const idlePromise = lifecycle.idle().then(() => (idle = true))
    assert.equal(idle, false)
    release()
    assert.equal((await pending).status, 200)
    await idlePromise
    assert.equal(lifecycle.active, 0)
  })
})

describe('metrics', () => {
  test('counts and times requests per route, model and status; attestation by kind; bounded model labels', async () => {
    const { app, metrics } = setup()
    await request(app).get('/v2/models').expect(200)
    await sealed(app).send(Buffer.of(1)).expect(200)
    await sealed(app, '/v2/models/made-up-1/infer').set('Vouch-Key-Id', '').send(Buffer.of(1)).expect(400)
    await request(app).get('/v1/attestation').expect(200)
    await request(app).get(`/v1/attestation?nonce=${'00'.repeat(32)}`).expect(200)
    metrics.queue(3, 2)
    metrics.enclaveRestarted()
    const res = await request(app).get('/metrics').expect(200).expect('Content-Type', /^text\/plain/)
    const text = res.text
    assert.match(text, /vouch_http_requests_total\{method="POST",route="\/v2\/models\/:name\/infer",model="ppocr-cls",status="200"\} 1/)
    assert.match(text, /vouch_http_requests_total\{method="POST",route="\/v2\/models\/:name\/infer",model="\(unknown\)",status="400"\} 1/)
    assert.doesNotMatch(text, /made-up-1/)
    assert.match(text, /vouch_http_request_duration_seconds_bucket\{le="0.001",method="GET",route="\/v2\/models",model="",status="200"\}/)
    assert.match(text, /vouch_attestation_requests_total\{kind="unchallenged",status="200"\} 1/)
    assert.match(text, /vouch_attestation_requests_total\{kind="challenged",status="200"\} 1/)
    assert.match(text, /vouch_link_queue_depth 3/)
    assert.match(text, /vouch_link_in_flight 2/)
    assert.match(text, /vouch_enclave_restarts_total 1/)
    assert.match(text, /vouch_enclave_up 0/)
  })
})

/** POSTs a sealed body in chunks with `Transfer-Encoding: chunked` (no Content-Length) to the app on a loopback port. */
async function postChunked(app: Express, path: string, chunks: Buffer[]): Promise<{ status: number; text: string }> {
  const server = createServer(app)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  try {
    return await new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, method: 'POST', path, headers: { 'Content-Type': SEALED_MEDIA_TYPE, 'Vouch-Key-Id': 'kid-1' } }, (res) => {
        const parts: Buffer[] = []
        res.on('data', (c: Buffer) => parts.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }))
      })
      req.on('error', reject)
      for (const chunk of chunks) req.write(chunk)
      req.end()
    })
  } finally {
    server.closeAllConnections()
    server.close()
  }
}

