/**
 * The link client against a fake enclave socket: ids and out-of-order answers, per-request timeouts, the
 * bounded queue, backpressure, garbage on the stream, a dropped connection, reconnection, heartbeats.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { encodeFrame } from '@vouch/protocol'
import { EnclaveRefusal, HostError } from '../src/errors.js'
import { EnclaveLinkClient, type LinkClientOptions } from '../src/link-client.js'
import { createMetrics } from '../src/metrics.js'
import { eventually, FakeEnclave, inferAnswer, RECEIPT, sink, type Received } from './helpers/testkit.js'

const clients: EnclaveLinkClient[] = []
const enclaves: FakeEnclave[] = []

/** A link client to a fake enclave. No heartbeat unless a test asks for one: a ping in flight would count among the requests a test counts. */
async function setup(options: Partial<LinkClientOptions> = {}) {
  const enclave = await FakeEnclave.start()
  enclaves.push(enclave)
  const logs = sink('debug')
  const metrics = createMetrics({ processMetrics: false })
  const client = new EnclaveLinkClient({ address: enclave.path, log: logs.log, metrics, reconnectMs: { min: 10, max: 50 }, heartbeatMs: 60_000, ...options })
  clients.push(client)
  client.start()
  assert.ok(await client.waitUntilUp(3_000), 'the link came up')
  return { enclave, client, logs, metrics }
}

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise
    return 'resolved'
  } catch (error) {
    return (error as HostError | EnclaveRefusal).code
  }
}

after(async () => {
  for (const c of clients) await c.close()
  for (const e of enclaves) await e.close()
})

describe('the enclave link client', () => {
  test('is up once the enclave answers ping; answers are matched by id, in any order', async () => {
    const { enclave, client } = await setup()
    assert.equal(client.up, true)
    const held: Received[] = []
    enclave.onRequest = (r) => {
      if (r.request.op !== 'infer') return false
      held.push(r)
      if (held.length === 3) for (const h of held.reverse()) h.answer(inferAnswer(h.request.op === 'infer' ? h.request.body : new Uint8Array()))
      return true
    }
    const bodies = [1, 2, 3].map((n) => Uint8Array.of(n, n, n))
    const answers = await Promise.all(bodies.map((body) => client.request('infer', { kid: 'k', model: 'm', version: null, body })))
    assert.deepEqual(answers.map((a) => [...(a['body'] as Uint8Array)]), [[1, 1, 1], [2, 2, 2], [3, 3, 3]])
    const ids = enclave.received.filter((r) => r.op === 'infer').map((r) => r.id)
    assert.equal(new Set(ids).size, 3)
  })

  test("relays the enclave's refusal, and refuses to relay one that is not of the link's shape", async () => {
    const { enclave, client } = await setup()
    enclave.onRequest = (r) => {
      if (r.request.op !== 'attest') return false
      if (r.request.nonce === null) r.refuse('ERR_ENCLAVE_UNKNOWN_KID', 409, 'attest again')
      else r.refuse('not a code', 200, 'x')
      return true
    }
    await assert.rejects(client.request('attest', { nonce: null }), (e: unknown) => e instanceof EnclaveRefusal && e.code === 'ERR_ENCLAVE_UNKNOWN_KID' && e.status === 409 && e.message === 'attest again')
    assert.equal(await codeOf(client.request('attest', { nonce: new Uint8Array(32) })), 'ERR_HOST_BAD_GATEWAY')
    assert.equal(client.up, true, 'a refusal is an answer: the link stays up')
  })

  test('a well-formed coded refusal is relayed whatever its message: made one printable line of at most 512 characters', async () => {
    const { enclave, client } = await setup()
    const messages = ['onnxruntime refused the run:\n  Non-zero status code\r\n\tin node Concat', 'x'.repeat(5_000), '\n\u0000\u2028']
    let next = 0
    enclave.onRequest = (r) => {
      if (r.request.op !== 'infer') return false
      r.refuse('ERR_INFERENCE_RUNTIME', 500, messages[next++]!)
      return true
    }
    const refusals: EnclaveRefusal[] = []
    for (let i = 0; i < messages.length; i++) {
      await assert.rejects(client.request('infer', { kid: 'k', model: 'm', version: null, body: Uint8Array.of(1) }), (e: unknown) => {
        assert.ok(e instanceof EnclaveRefusal, String(e))
        refusals.push(e)
        return true
      })
    }
    assert.deepEqual(refusals.map((e) => [e.code, e.status]), messages.map(() => ['ERR_INFERENCE_RUNTIME', 500]))
    assert.equal(refusals[0]!.message, 'onnxruntime refused the run: Non-zero status code in node Concat')
    assert.equal(refusals[1]!.message.length, 512)
    assert.equal(refusals[2]!.message, 'the enclave refused the request')
    // eslint-disable-next-line no-control-regex
    for (const e of refusals) assert.ok(!/[\u0000-\u001f\u2028]/.test(e.message), JSON.stringify(e.message))
  })

  test('a slow answer times out; the late answer is dropped; the request counts as in flight until answered', async () => {
    const { enclave, client, logs } = await setup()
    let late: Received | undefined
    enclave.onRequest = (r) => {
      if (r.request.op !== 'models') return false
      late = r
      return true
    }
    const started = Date.now()
    assert.equal(await codeOf(client.request('models', {}, { timeoutMs: 100 })), 'ERR_HOST_TIMEOUT')
    assert.ok(Date.now() - started < 1_000)
    assert.equal(client.inFlight, 1)
    late!.answer({ models: [] })
    await eventually(() => client.inFlight === 0, 2_000, 'the late answer')
    assert.ok(logs.entries.some((e) => e['msg'] === 'enclave link: late answer dropped'))
    assert.equal(client.up, true)
  })

  test('an aborted request leaves the queue at once', async () => {
    const { enclave, client } = await setup({ maxInFlight: 1 })
    enclave.onRequest = (r) => r.request.op === 'models'
    const first = codeOf(client.request('models', {}, { timeoutMs: 5_000 }))
    const controller = new AbortController()
    const second = client.request('models', {}, { signal: controller.signal })
    assert.equal(client.queueDepth, 1)
    controller.abort(new HostError('ERR_HOST_TIMEOUT'))
    assert.equal(await codeOf(second), 'ERR_HOST_TIMEOUT')
    assert.equal(client.queueDepth, 0)
    enclave.dropAll()
    assert.equal(await first, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
  })

  test('the queue is bounded: past it, 503 ERR_HOST_QUEUE_FULL at once; metrics see the depth', async () => {
    const { enclave, client, metrics } = await setup({ maxInFlight: 2, maxQueue: 3 })
    const held: Received[] = []
    enclave.onRequest = (r) => {
      if (r.request.op !== 'infer') return false
      held.push(r)
      return true
    }
    const call = () => client.request('infer', { kid: 'k', model: 'm', version: null, body: new Uint8Array(100) })
    const pending = Array.from({ length: 5 }, call)
    await eventually(() => held.length === 2, 2_000, 'two requests in flight')
    assert.equal(client.inFlight, 2)
    assert.equal(client.queueDepth, 3)
    assert.equal(await codeOf(call()), 'ERR_HOST_QUEUE_FULL')
    const text = await metrics.registry.metrics()
    assert.match(text, /vouch_link_queue_depth 3/)
    assert.match(text, /vouch_link_in_flight 2/)
    // Answering the first two lets the queued ones through; those are answered as they arrive.
    enclave.onRequest = (r) => {
      if (r.request.op !== 'infer') return false
      r.answer(inferAnswer(Uint8Array.of(1)))
      return true
    }
    for (const h of held.splice(0)) h.answer(inferAnswer(Uint8Array.of(1)))
    const results = await Promise.all(pending.map(codeOf))
    assert.deepEqual(results, ['resolved', 'resolved', 'resolved', 'resolved', 'resolved'])
  })

  test('bodies in flight are bounded in bytes: the rest wait in the queue; one request always goes, whatever its size', async () => {
    const { enclave, client } = await setup({ maxInFlight: 32, maxInFlightBytes: 250 * 1024 })
    const held: Received[] = []
    enclave.onRequest = (r) => {
      if (r.request.op !== 'infer') return false
      held.push(r)
      return true
    }
    const call = (bytes: number) => client.request('infer', { kid: 'k', model: 'm', version: null, body: new Uint8Array(bytes) })
    const pending = Array.from({ length: 4 }, () => codeOf(call(100 * 1024)))
    await eventually(() => held.length === 2, 2_000, 'two requests in flight')
    await new Promise((r) => setTimeout(r, 50))
    assert.deepEqual([held.length, client.inFlight, client.queueDepth], [2, 2, 2])
    held.shift()!.answer(inferAnswer(Uint8Array.of(1)))
    await eventually(() => held.length === 2, 2_000, 'the next request written once bytes are free')
    assert.deepEqual([client.inFlight, client.queueDepth], [2, 1])
    for (const h of held.splice(0)) h.answer(inferAnswer(Uint8Array.of(1)))
    await eventually(() => held.length === 1, 2_000, 'the last request written')
    held.shift()!.answer(inferAnswer(Uint8Array.of(1)))
    assert.deepEqual(await Promise.all(pending), ['resolved', 'resolved', 'resolved', 'resolved'])
    // Larger than the bound on its own: written once nothing else is in flight.
    const big = codeOf(call(400 * 1024))
    await eventually(() => held.length === 1, 2_000, 'the large request written')
    held.shift()!.answer(inferAnswer(Uint8Array.of(1)))
    assert.equal(await big, 'resolved')
  })

  test('a body over the queue byte bound, or over the frame size, is refused', async () => {
    const { client } = await setup({ maxFrameSize: 64 * 1024 })
    assert.equal(await codeOf(client.request('infer', { kid: 'k', model: 'm', version: null, body: new Uint8Array(64 * 1024) })), 'ERR_HOST_BODY_TOO_LARGE')
  })

  test('backpressure: nothing more is written while the socket buffer is full; writing resumes on drain', async () => {
    const { enclave, client } = await setup({ maxInFlight: 64, maxInFlightBytes: 64 * 1024 * 1024 })
    // The enclave stops reading: the kernel buffers fill and socket.write says so.
    for (const s of enclave.sockets) s.pause()
    const body = new Uint8Array(1024 * 1024)
    const pending = Array.from({ length: 24 }, () => client.request('infer', { kid: 'k', model: 'm', version: null, body }, { timeoutMs: 20_000 }).then(() => 'ok', (e: HostError) => e.code))
    await new Promise((r) => setTimeout(r, 200))
    assert.ok(client.queueDepth > 0, `expected queued requests, got ${client.queueDepth} queued and ${client.inFlight} in flight`)
    assert.ok(client.inFlight < 24)
    enclave.onRequest = (r) => {
      if (r.request.op !== 'infer') return false
      r.answer(inferAnswer(Uint8Array.of(1)))
      return true
    }
    for (const s of enclave.sockets) s.resume()
    assert.deepEqual(await Promise.all(pending), Array.from({ length: 24 }, () => 'ok'))
    assert.equal(client.queueDepth, 0)
  })

  test('garbage on the stream: what was in flight fails with 502, the link reconnects and comes back up', async () => {
    const { enclave, client, logs } = await setup()
    enclave.onRequest = (r) => {
      if (r.request.op !== 'models') return false
      r.socket.write(Uint8Array.from([0, 0, 0, 3, 0xff, 0xfe, 0xfd]))
      return true
    }
    assert.equal(await codeOf(client.request('models', {})), 'ERR_HOST_BAD_GATEWAY')
    assert.ok(logs.entries.some((e) => e['msg'] === 'enclave link: malformed answer; reconnecting'))
    enclave.onRequest = () => false
    assert.ok(await client.waitUntilUp(3_000))
    // An answer to an id never sent is as bad as garbage.
    enclave.onRequest = (r) => {
      if (r.request.op !== 'models') return false
      r.socket.write(encodeFrame({ id: 999_999, ok: true, result: {} }))
      return true
    }
    assert.equal(await codeOf(client.request('models', {})), 'ERR_HOST_BAD_GATEWAY')
    enclave.onRequest = () => false
    assert.ok(await client.waitUntilUp(3_000))
  })

  test("an answer that is not its op's result fails that request with 502, ERR_LINK_MALFORMED as its cause; the link stays up", async () => {
    const { enclave, client } = await setup()
    // The receipt beside the answer is checked for form too: junk, a v1 receipt or none at all is the enclave's fault.
    const [h, p, s] = RECEIPT.split('.') as [string, string, string]
    const v1 = `${h}.${Buffer.from(JSON.stringify({ ...(JSON.parse(Buffer.from(p, 'base64url').toString()) as object), v: 1 })).toString('base64url')}.${s}`
    const answers: Record<string, unknown>[] = [
      { body: 'plain', receipt: RECEIPT },
      { body: new Uint8Array(0), receipt: RECEIPT },
      {},
      { body: Uint8Array.of(7) },
      { body: Uint8Array.of(7), receipt: '\u0000junk\uffff' },
      { body: Uint8Array.of(7), receipt: Uint8Array.of(1, 2, 3) },
      { body: Uint8Array.of(7), receipt: 'a'.repeat(70_000) },
      { body: Uint8Array.of(7), receipt: v1 },
    ]
    const count = answers.length
    enclave.onRequest = (r) => {
      if (r.request.op !== 'infer') return false
      r.answer(answers.shift() ?? inferAnswer(Uint8Array.of(7)))
      return true
    }
    const infer = () => client.request('infer', { kid: 'k', model: 'm', version: null, body: Uint8Array.of(1) })
    for (let i = 0; i < count; i++) {
      await assert.rejects(infer(), (e: unknown) => e instanceof HostError && e.code === 'ERR_HOST_BAD_GATEWAY' && (e.cause as { code?: string }).code === 'ERR_LINK_MALFORMED')
    }
    assert.equal(client.up, true)
    assert.deepEqual(await infer(), { body: Uint8Array.of(7), receipt: RECEIPT })
  })

  test('requests and results are typed by the op map: an unknown op, a missing field or a wrong result field does not compile', () => {
    // Never called: the compiler checks it (`npm run lint` type-checks the tests).
    const typed = async (link: EnclaveLinkClient): Promise<void> => {
      // @ts-expect-error: not an op of the link
      await link.request('shutdown', {})
      // @ts-expect-error: an infer request carries a body
      await link.request('infer', { kid: 'k', model: 'm', version: null })
      ;(await link.request('attest', { nonce: null })).bundle satisfies Uint8Array
      // @ts-expect-error: an attest result has no body
      void (await link.request('attest', { nonce: null })).body
    }
    assert.equal(typeof typed, 'function')
  })

  test('a frame header over the limit ends the connection too', async () => {
    const { enclave, client } = await setup({ maxFrameSize: 64 * 1024 })
    enclave.onRequest = (r) => {
      if (r.request.op !== 'models') return false
      const header = Buffer.alloc(4)
      header.writeUInt32BE(1 << 30)
      r.socket.write(header)
      return true
    }
    assert.equal(await codeOf(client.request('models', {})), 'ERR_HOST_BAD_GATEWAY')
  })

  test('a dropped connection: in flight fails with 503, requests are refused while down, then it reconnects', async () => {
    const { enclave, client } = await setup()
    enclave.onRequest = (r) => r.request.op === 'models'
    const inFlight = codeOf(client.request('models', {}))
    await eventually(() => enclave.received.some((r) => r.op === 'models'), 2_000, 'the request')
    enclave.dropAll()
    assert.equal(await inFlight, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    assert.equal(client.up, false)
    assert.equal(await codeOf(client.request('models', {})), 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    assert.ok(await client.waitUntilUp(3_000))
    enclave.onRequest = () => false
  })

  test('an enclave that is not there yet: down, then up once it listens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-link-later-'))
    const path = join(dir, 'enclave.sock')
    const logs = sink('silent')
    const client = new EnclaveLinkClient({ address: path, log: logs.log, reconnectMs: { min: 10, max: 40 } })
    clients.push(client)
    client.start()
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(client.up, false)
    assert.equal(await codeOf(client.request('ping', {})), 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    const enclave = await FakeEnclave.start(path)
    enclaves.push(enclave)
    assert.ok(await client.waitUntilUp(3_000))
    await client.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('a missed heartbeat marks the link down without dropping it; answered pings bring it back', async () => {
    const { enclave, client, metrics } = await setup({ timeoutsMs: { ping: 100 }, heartbeatMs: 50 })
    let silent = true
    enclave.onRequest = (r) => r.request.op === 'ping' && silent
    await eventually(() => !client.up, 2_000, 'the link to go down')
    assert.match(await metrics.registry.metrics(), /vouch_enclave_up 0/)
    assert.equal(enclave.sockets.size, 1, 'the connection is kept')
    silent = false
    await eventually(() => client.up, 2_000, 'the link to come back')
    assert.match(await metrics.registry.metrics(), /vouch_enclave_up 1/)
  })

  test('close fails what is pending and stops reconnecting', async () => {
    const { enclave, client } = await setup()
    enclave.onRequest = (r) => r.request.op === 'models'
    const pending = codeOf(client.request('models', {}))
    await eventually(() => enclave.received.some((r) => r.op === 'models'), 2_000, 'the request')
    await client.close()
    assert.equal(await pending, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    assert.equal(client.up, false)
    await new Promise((r) => setTimeout(r, 100))
    assert.equal(enclave.sockets.size, 0)
  })
})
