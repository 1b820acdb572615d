/**
 * The client's HTTP on its own, against bare servers: TLS trust (the given CA, none, insecure), TLS 1.3
 * only, unreachable hosts, deadlines, the response size cap, and the fetch option.
 */
import assert from 'node:assert/strict'
import { createServer as createHttpServer, type ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parsePolicy } from '@vouch/verifier'
import { createClient, type FetchLike } from '../src/index.js'
import { createFetchTransport, createHttpsTransport, failedBeforeResponse, parseRetryAfter, sendWithRetry, type HttpResponse, type RetryEnvironment, type Transport } from '../src/http.js'
import { selfSignedCertificate, type TlsIdentity } from './helpers/tls.js'
import { rejectsWith } from './helpers/rejects.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const policy = parsePolicy(readFileSync(join(root, 'policies/dev-simulated.yaml'), 'utf8'), 'policies/dev-simulated.yaml')


const MODELS = JSON.stringify({ models: [{ name: 'm', versions: ['1'] }] })

describe('HTTP', () => {
  let tls: TlsIdentity
  let server: Server
  let tls12: Server
  let url: string
  const routes: Record<string, (res: ServerResponse) => void> = {
    '/v2/models': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(MODELS),
    '/slow/v2/models': () => undefined, // never answers
    '/big/v2/models': (res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(2 * 1024 * 1024) }).end(Buffer.alloc(2 * 1024 * 1024)),
    '/chunked/v2/models': (res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024, 0x20))
      res.end()
    },
    '/prefix/v2/models': (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ models: [{ name: 'prefixed' }] })),
    '/text/v2/models': (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>'),
    '/hangup': (res) => res.socket!.destroy(),
    '/midway': (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' })
      res.write('{"models":')
      setTimeout(() => res.socket!.destroy(), 20)
    },
    '/stale/v2/models': (res) => {
      // A connection that served before the mark is one the server is closing: it hangs up on the request.
      if (served.get(res.socket!)! <= staleAfter) res.socket!.destroy()
      else res.writeHead(200, { 'content-type': 'application/json' }).end(MODELS)
    },
  }
  /** Each connection, numbered in the order it was opened; connections numbered up to `staleAfter` hang up. */
  const served = new Map<object, number>()
  let staleAfter = 0
  before(async () => {
    tls = await selfSignedCertificate()
    server = createServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.3' }, (req, res) => {
      if (!served.has(req.socket)) served.set(req.socket, served.size + 1)
      const route = routes[req.url ?? '']
      if (route === undefined) res.writeHead(404).end()
      else route(res)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`
    tls12 = createServer({ key: tls.key, cert: tls.cert, maxVersion: 'TLSv1.2' }, (_, res) => res.end(MODELS))
    await new Promise<void>((resolve) => tls12.listen(0, '127.0.0.1', resolve))
  })
  after(async () => {
    server.closeAllConnections()
    tls12.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await new Promise((resolve) => tls12.close(resolve))
  })

  test('the given CA authenticates the host; a path prefix is kept', async () => {
    const c = createClient({ url, policy, ca: tls.cert })
    assert.deepEqual((await c.models()).models.map((m) => m.name), ['m'])
    const prefixed = createClient({ url: `${url}/prefix`, policy, ca: Buffer.from(tls.cert) })
    assert.deepEqual((await prefixed.models()).models.map((m) => m.name), ['prefixed'])
    c.close()
    assert.equal((await c.models()).models.length, 1, 'a closed client opens new connections')
    c.close()
    prefixed.close()
  })
  test('without the CA, an untrusted certificate is a TLS error; insecureTls accepts it', async () => {
    const strict = createClient({ url, policy })
    await rejectsWith(strict.models(), 'ERR_CLIENT_TLS')
    const other = await selfSignedCertificate()
    await rejectsWith(createClient({ url, policy, ca: other.cert }).models(), 'ERR_CLIENT_TLS')
    const insecure = createClient({ url, policy, insecureTls: true })
    assert.equal((await insecure.models()).models.length, 1)
    insecure.close()
  })
  test('a server that offers only TLS 1.2 is refused', async () => {
    const c = createClient({ url: `https://127.0.0.1:${(tls12.address() as AddressInfo).port}`, policy, ca: tls.cert })
    await rejectsWith(c.models(), 'ERR_CLIENT_TLS')
  })
  test('nobody listening: unreachable', async () => {
    const probe = createHttpServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const port = (probe.address() as AddressInfo).port
    await new Promise((resolve) => probe.close(resolve))
    await rejectsWith(createClient({ url: `https://127.0.0.1:${port}`, policy }).models(), 'ERR_CLIENT_UNREACHABLE')
  })
  test('no answer within the deadline: timeout', async () => {
    const c = createClient({ url: `${url}/slow`, policy, ca: tls.cert, timeoutMs: 200 })
    await rejectsWith(c.models(), 'ERR_CLIENT_TIMEOUT')
    c.close()
  })
  test('a body over the limit: too large, whether announced or streamed', async () => {
    await rejectsWith(createClient({ url: `${url}/big`, policy, ca: tls.cert }).models(), 'ERR_CLIENT_RESPONSE_TOO_LARGE')
    await rejectsWith(createClient({ url: `${url}/chunked`, policy, ca: tls.cert }).models(), 'ERR_CLIENT_RESPONSE_TOO_LARGE')
  })
  test('an answer that is not what the route returns: invalid', async () => {
    await rejectsWith(createClient({ url: `${url}/text`, policy, ca: tls.cert }).models(), 'ERR_CLIENT_RESPONSE_INVALID')
  })
  test('onSent is called once the body is handed to the connection, before the answer', async () => {
    const transport = createHttpsTransport({ timeoutMs: 5_000, ca: tls.cert })
    const events: string[] = []
    try {
      const response = await transport.request({ method: 'POST', url: new URL('/v2/models', url), headers: {}, maxBytes: 1024, body: new Uint8Array(300_000), onSent: () => events.push('sent') })
      events.push(`answered ${response.status}`)
      assert.deepEqual(events, ['sent', `answered ${response.status}`])
    } finally {
      transport.close()
    }
  })

  test('a request on kept-alive connections the server is closing is retried on a new one, however many are stale', async () => {
    const transport = createHttpsTransport({ timeoutMs: 5_000, ca: tls.cert })
    const request = { method: 'GET' as const, url: new URL('/stale/v2/models', url), headers: {}, maxBytes: 1024 }
    try {
      // Three connections opened together and kept alive, then all closed by the server as the next request arrives.
      await Promise.all([1, 2, 3].map(() => transport.request(request)))
      staleAfter = served.size
      const response = await transport.request(request)
      assert.equal(response.status, 200)
    } finally {
      transport.close()
      staleAfter = 0
    }
  })

  test('a connection refused or hung up before any byte of an answer is told apart from one lost mid-answer, and from a timeout', async () => {
    const probe = createHttpServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const closed = `https://127.0.0.1:${(probe.address() as AddressInfo).port}`
    await new Promise((resolve) => probe.close(resolve))
    const transport = createHttpsTransport({ timeoutMs: 300, ca: tls.cert })
    const cases: Array<[string, string, boolean]> = [
      ['refused', `${closed}/v2/models`, true],
      ['hung up before answering (on a new connection)', `${url}/hangup`, true],
      ['lost mid-answer', `${url}/midway`, false],
      ['no answer in time', `${url}/slow/v2/models`, false],
    ]
    try {
      for (const [name, at, unanswered] of cases) {
        const error = await transport.request({ method: 'POST', url: new URL(at), headers: {}, maxBytes: 1024, body: new Uint8Array(1), fresh: true }).then(
          () => assert.fail(`${name}: answered`),
          (e: unknown) => e,
        )
        assert.equal(failedBeforeResponse(error), unanswered, `${name}: ${String(error)}`)
      }
    } finally {
      transport.close()
    }
    assert.equal(failedBeforeResponse(new Error('ECONNRESET')), false, 'only the transport says so')
    // A fetch function: its own rejection is before the answer (undici puts the code in `cause`), reading the body is not.
    const refused: FetchLike = async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })
    }
    const midway: FetchLike = async () => ({
      status: 200,
      headers: new Headers({ 'content-type': 'application/json' }),
      arrayBuffer: async () => {
        throw Object.assign(new TypeError('terminated'), { cause: Object.assign(new Error('other side closed'), { code: 'ECONNRESET' }) })
      },
    })
    const request = { method: 'GET' as const, url: new URL('http://vouch.test/v2/models'), headers: {}, maxBytes: 1024 }
    assert.equal(failedBeforeResponse(await createFetchTransport(refused, { timeoutMs: 1000 }).request(request).catch((e: unknown) => e)), true)
    assert.equal(failedBeforeResponse(await createFetchTransport(midway, { timeoutMs: 1000 }).request(request).catch((e: unknown) => e)), false)
  })
  test('fresh: a request on a new connection, not the kept-alive one', async () => {
    const transport = createHttpsTransport({ timeoutMs: 5_000, ca: tls.cert })
    const request = { method: 'GET' as const, url: new URL('/v2/models', url), headers: {}, maxBytes: 1024 }
    try {
      await transport.request(request)
      const opened = served.size
      await transport.request(request)
      assert.equal(served.size, opened, 'kept alive')
      await transport.request({ ...request, fresh: true })
      assert.equal(served.size, opened + 1, 'a new one')
    } finally {
      transport.close()
    }
  })

  test('options that cannot work are TypeErrors', () => {
    assert.throws(() => createClient({ url: 'http://127.0.0.1:1', policy }), TypeError)
    assert.throws(() => createClient({ url: 'not a url', policy }), TypeError)
    assert.throws(() => createClient({ url, policy: {} as never }), TypeError)
    assert.throws(() => createClient({ url, policy, fetch: (() => undefined) as unknown as FetchLike, ca: tls.cert }), TypeError)
  })
  test('a fetch function carries the requests instead (global fetch fits the type)', async () => {
    const seen: string[] = []
    const fetch: FetchLike = async (u, init) => {
      seen.push(`${init.method} ${u} ${init.headers['accept']}`)
      return new Response(MODELS, { status: 200, headers: { 'content-type': 'application/json' } })
    }
    const c = createClient({ url: 'http://vouch.test/base', policy, fetch })
    assert.equal((await c.models()).models[0]?.name, 'm')
    assert.deepEqual(seen, ['GET http://vouch.test/base/v2/models application/json'])
    const failing = createClient({ url: 'https://vouch.test', policy, fetch: async () => Promise.reject(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED', message: 'refused' } })) })
    await rejectsWith(failing.models(), 'ERR_CLIENT_UNREACHABLE')
    const typed: FetchLike = globalThis.fetch
    assert.equal(typeof typed, 'function')
  })
})

describe('retry on 429 and 503', () => {
  /** A transport answering `statuses` in turn (then 200), and a clock that only moves when slept on. */
  const scripted = (statuses: Array<[number, string?]>) => {
    let clock = 0
    const waits: number[] = []
    const sent: number[] = []
    const transport: Transport = {
      request: async () => {
        sent.push(clock)
        const [status, retryAfter] = statuses.shift() ?? [200]
        const response: HttpResponse = { status, mediaType: '', headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter }, body: new Uint8Array() }
        return response
      },
      close: () => undefined,
    }
    const environment = (random: number): RetryEnvironment => ({ now: () => clock, sleep: async (ms) => void (waits.push(ms), (clock += ms)), random: () => random })
    return { transport, environment, waits, sent }
  }
  const request = { method: 'GET' as const, url: new URL('https://h/v1/attestation'), headers: {}, maxBytes: 1024 }

  test('backoff doubles from the base to the cap, each wait a random part of it plus Retry-After', async () => {
    const s = scripted([[503], [429, '2'], [503], [503], [503], [503]])
    const response = await sendWithRetry(s.transport, request, { attempts: 10, baseDelayMs: 100, maxDelayMs: 500, totalMs: 60_000 }, s.environment(0.5))
    assert.equal(response.status, 200)
    assert.deepEqual(s.waits, [50, 2_000 + 100, 200, 250, 250, 250])
  })

  test('at most `attempts` tries; no wait that would end past `totalMs`; other statuses are answers', async () => {
    const always = (): Array<[number]> => Array.from({ length: 10 }, (): [number] => [429])
    let s = scripted(always())
    assert.equal((await sendWithRetry(s.transport, request, { attempts: 3 }, s.environment(1))).status, 429)
    assert.equal(s.sent.length, 3)
    s = scripted(always())
    await sendWithRetry(s.transport, request, { attempts: 10, baseDelayMs: 1_000, maxDelayMs: 1_000, totalMs: 2_500 }, s.environment(1))
    assert.deepEqual(s.sent, [0, 1_000, 2_000])
    s = scripted([[429, '60']])
    assert.equal((await sendWithRetry(s.transport, request, {}, s.environment(0))).status, 429)
    assert.deepEqual(s.waits, [])
    for (const status of [400, 409, 500, 502, 504]) {
      s = scripted([[status]])
      assert.equal((await sendWithRetry(s.transport, request, {}, s.environment(0))).status, status)
      assert.equal(s.sent.length, 1)
    }
  })

  test('Retry-After: seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    assert.equal(parseRetryAfter('3', now), 3_000)
    assert.equal(parseRetryAfter(' 0 ', now), 0)
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5_000)
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0)
    assert.equal(parseRetryAfter('soon', now), null)
    assert.equal(parseRetryAfter('-1', now), null)
    assert.equal(parseRetryAfter(undefined, now), null)
  })
})
