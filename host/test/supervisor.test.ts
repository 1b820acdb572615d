/**
 * The whole host over HTTPS with the real enclave as its child process (simulated TEE and GPU; the enclave
 * runs from `enclave/dist`, so build first): a sealed round trip that only the client can open, then the
 * enclave killed (`process.kill`) — readiness and every enclave-bound route answer 503 — and brought back by
 * the supervisor, a restart counted, the old key refused with 409 until the client attests again. The host's
 * log, which carries the enclave's lines too, never holds the plaintext or the sealed bodies. Last, a graceful
 * shutdown that lets a request in flight finish and stops the enclave.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import request from 'supertest'
import {
  bundleNonces,
  decodeBundle,
  decodeResponsePlaintext,
  encodeRequestPlaintext,
  oipJsonToTensor,
  openResponse,
  sealRequest,
  SEALED_MEDIA_TYPE,
  type EvidenceBundle,
  type TensorData,
} from '@vouch/protocol'
import { loadConfig } from '../src/config.js'
import type { HostStartupError } from '../src/errors.js'
import { startHost, type RunningHost } from '../src/server.js'
import { EnclaveSupervisor } from '../src/supervisor.js'
import { binaryBody, eventually, sink } from './helpers/testkit.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const sample = JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: unknown[] }
const sampleInputs = (): TensorData[] => sample.inputs.map((t, i) => oipJsonToTensor(t, `inputs[${i}]`))


describe('vouch-host supervising the real enclave', () => {
  const cache = mkdtempSync(join(tmpdir(), 'vouch-host-e2e-'))
  const logs = sink('debug')
  let host: RunningHost
  const sent: Buffer[] = []
  const plaintextIds: string[] = []
  let sampleBytes: Buffer

  const get = (path: string) => request(host.url).get(path).ca(host.tls.cert)
  const attest = async (nonce?: Uint8Array): Promise<EvidenceBundle> => {
    const res = await get(`/v1/attestation${nonce ? `?nonce=${Buffer.from(nonce).toString('hex')}` : ''}`).buffer(true).parse(binaryBody).expect(200)
    return decodeBundle(res.body as Buffer)
  }
  const infer = async (bundle: EvidenceBundle, model = 'ppocr-cls') => {
    const id = randomUUID()
    plaintextIds.push(id)
    const sealed = await sealRequest(bundle.keyset.enc, bundle.keyset.kid, encodeRequestPlaintext({ v: 1, id, ts: Date.now(), model: { name: model }, inputs: sampleInputs() }))
    const body = Buffer.from(sealed.body)
    sent.push(body)
    const res = await request(host.url).post(`/v2/models/${model}/infer`).ca(host.tls.cert).set('Content-Type', SEALED_MEDIA_TYPE).set('Vouch-Key-Id', bundle.keyset.kid).buffer(true).parse(binaryBody).send(body)
    return { res, sealed, id }
  }

  before(async () => {
    sampleBytes = Buffer.from(sampleInputs()[0]!.data)
    const { config } = loadConfig(['--port', '0', '--gpu', 'simulated', '--log-level', 'debug', '--heartbeat-ms', '200'], { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
    host = await startHost(config, { log: logs.log, env: { ...process.env, VOUCH_CACHE_DIR: cache } })
    await eventually(async () => (await get('/v2/health/ready')).status === 200, 90_000, 'the enclave to be ready')
  })
  after(async () => {
    await host?.close()
    rmSync(cache, { recursive: true, force: true })
  })

  test('serves TLS 1.3 with its development certificate, and the OIP v2 metadata', async () => {
    assert.equal(host.tls.origin, 'development')
    const res = await get('/v2/models/ppocr-cls').expect(200)
    assert.match(res.body.digest, /^sha256:[0-9a-f]{64}$/)
    const models = await get('/v2/models').expect(200)
    assert.deepEqual(models.body.models.map((m: { name: string }) => m.name).sort(), ['ppocr-cls', 'ppocr-det'])
  })

  test('a sealed round trip through the host: only the client can open the answer', async () => {
    const nonce = randomBytes(32)
    const challenged = await attest(nonce)
    assert.deepEqual(bundleNonces(challenged).map((n) => Buffer.from(n)), [nonce])
    const bundle = await attest()
    assert.deepEqual(bundleNonces(bundle), [])
    const { res, sealed, id } = await infer(bundle)
    assert.equal(res.status, 200, String(res.body))
    assert.equal(res.headers['content-type'], SEALED_MEDIA_TYPE)
    const response = decodeResponsePlaintext(await openResponse(sealed.context, res.body as Buffer))
    assert.equal(response.id, id)
    assert.equal(response.model.name, 'ppocr-cls')
    assert.equal(response.outputs[0]?.name, 'softmax_0.tmp_0')
    assert.match(response.receipt, /^ey[\w-]+\.[\w-]+\.[\w-]+$/)
  })

  test('the enclave killed: 503 while it is down, then restarted; the old key gets 409 until the client attests again', async () => {
    const before = await attest()
    const pid = host.supervisor!.pid!
    process.kill(pid, 'SIGKILL')
    await eventually(async () => (await get('/v2/health/ready')).status === 503, 5_000, 'readiness to fail')
    const down = await get('/v2/health/ready')
    assert.equal(down.body.code, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    if (!host.pool.up) {
      const refused = await request(host.url).post('/v2/models/ppocr-cls/infer').ca(host.tls.cert).set('Content-Type', SEALED_MEDIA_TYPE).set('Vouch-Key-Id', before.keyset.kid).send(Buffer.alloc(64))
      assert.equal(refused.status, 503)
      assert.equal(refused.body.code, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
      assert.equal((await get('/v1/attestation')).status, 503)
    }
    await eventually(async () => (await get('/v2/health/ready')).status === 200, 90_000, 'the enclave to come back')
    assert.notEqual(host.supervisor!.pid, pid)
    assert.equal(host.supervisor!.restarts, 1)
    assert.match(await host.metrics.registry.metrics(), /vouch_enclave_restarts_total 1/)

    const stale = await infer(before)
    assert.equal(stale.res.status, 409)
    assert.equal(JSON.parse(String(stale.res.body)).code, 'ERR_ENCLAVE_UNKNOWN_KID')
    const fresh = await attest()
    assert.notEqual(fresh.keyset.kid, before.keyset.kid)
    const again = await infer(fresh)
    assert.equal(again.res.status, 200)
    decodeResponsePlaintext(await openResponse(again.sealed.context, again.res.body as Buffer))
  })

  test("the log holds the enclave's lines, and never a plaintext, a tensor or a sealed body", () => {
    const text = logs.text()
    assert.ok(logs.entries.filter((e) => e['component'] === 'enclave' && e['msg'] === 'enclave ready').length >= 2)
    assert.ok(logs.entries.some((e) => e['msg'] === 'enclave exited; restarting it'))
    assert.ok(plaintextIds.length >= 3 && sent.length >= 3)
    for (const id of plaintextIds) assert.ok(!text.includes(id), 'a request id from inside the plaintext is in the log')
    const forms = (b: Buffer) => [b.subarray(0, 24).toString('hex'), b.subarray(0, 24).toString('base64'), b.subarray(32, 56).toString('base64url')]
    for (const form of [...forms(sampleBytes), ...sent.flatMap(forms)]) assert.ok(!text.includes(form), `the log holds ${form}`)
  })

  test('graceful shutdown: a request in flight finishes, new ones are refused, the enclave stops', async () => {
    const bundle = await attest()
    const pid = host.supervisor!.pid!
    const arrived = once(host.server, 'request')
    const inFlight = infer(bundle, 'ppocr-cls')
    await arrived
    const closing = host.close()
    await assert.rejects(get('/v2/health/live'), /ECONNREFUSED/)
    const { res } = await inFlight
    assert.equal(res.status, 200)
    await closing
    assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the enclave process has exited')
    assert.ok(logs.entries.some((e) => e['msg'] === 'host stopped'))
  })
})

/** A stand-in for the link: the supervisor only watches `up` and its events. */
class StubLink extends EventEmitter {
  up = false
  reconnects = 0
  reconnectNow(): void {
    this.reconnects++
  }
}

describe('the supervisor with stand-in enclaves', () => {
  const node = (code: string): string[] => [process.execPath, '-e', code]

  test('an enclave that exits is restarted with backoff, each restart counted', async () => {
    const link = new StubLink()
    let counted = 0
    const supervisor = new EnclaveSupervisor({ command: node('process.exit(1)'), args: [], link, log: sink('silent').log, onRestart: () => counted++, backoffMs: { min: 10, max: 40 } })
    supervisor.start()
    await eventually(() => supervisor.restarts >= 3, 5_000, 'three restarts')
    await supervisor.stop()
    assert.equal(counted, supervisor.restarts)
  })

  test("its JSON lines are re-logged at their level; 'enclave ready' makes the link connect at once", async () => {
    const link = new StubLink()
    const logs = sink('debug')
    const lines = [
      { level: 30, time: 1, pid: 1, hostname: 'h', name: 'vouch-enclave', msg: 'enclave ready', socket: '/s' },
      { level: 40, time: 1, pid: 1, msg: 'link connection error', err: { code: 'EPIPE' } },
    ]
    const script = `${lines.map((l) => `console.log(${JSON.stringify(JSON.stringify(l))})`).join(';')};console.error('plain text on stderr');setTimeout(()=>{},10000)`
    const supervisor = new EnclaveSupervisor({ command: node(script), args: [], link, log: logs.log })
    supervisor.start()
    await eventually(() => logs.entries.some((e) => e['msg'] === 'enclave output'), 5_000, 'the lines')
    await supervisor.stop()
    const ready = logs.entries.find((e) => e['msg'] === 'enclave ready')
    assert.equal(ready?.['level'], 30)
    assert.equal(ready?.['component'], 'enclave')
    assert.equal(ready?.['socket'], '/s')
    assert.equal(logs.entries.find((e) => e['msg'] === 'link connection error')?.['level'], 40)
    assert.equal(logs.entries.find((e) => e['msg'] === 'enclave output')?.['line'], 'plain text on stderr')
    assert.equal(link.reconnects, 1)
  })

  test('exit code 2 (the enclave refused its arguments) and a missing program are fatal, not restarted', async () => {
    for (const command of [node('process.exit(2)'), ['/nonexistent/vouch-enclave']]) {
      const supervisor = new EnclaveSupervisor({ command, args: [], link: new StubLink(), log: sink('silent').log, backoffMs: { min: 10, max: 10 } })
      const fatal = once(supervisor, 'fatal')
      supervisor.start()
      const [error] = (await fatal) as [HostStartupError]
      assert.equal(error.code, 'ERR_HOST_ENCLAVE_START')
      await new Promise((r) => setTimeout(r, 50))
      assert.equal(supervisor.restarts, 0)
      await supervisor.stop()
    }
  })

  test('an enclave that never becomes ready is killed and restarted', async () => {
    const supervisor = new EnclaveSupervisor({ command: node('setTimeout(()=>{},60000)'), args: [], link: new StubLink(), log: sink('silent').log, startTimeoutMs: 100, backoffMs: { min: 10, max: 10 } })
    supervisor.start()
    await eventually(() => supervisor.restarts >= 1, 5_000, 'a restart')
    await supervisor.stop()
  })

  test('a ready enclave that stops answering is killed after the hang timeout', async () => {
    const link = new StubLink()
    const supervisor = new EnclaveSupervisor({ command: node('setTimeout(()=>{},60000)'), args: [], link, log: sink('silent').log, hangTimeoutMs: 100, backoffMs: { min: 10, max: 10 } })
    supervisor.start()
    await eventually(() => supervisor.pid !== undefined, 5_000, 'the process')
    link.up = true
    link.emit('up')
    link.up = false
    link.emit('down')
    await eventually(() => supervisor.restarts >= 1, 5_000, 'a restart')
    await supervisor.stop()
  })
})
