/**
 * The host in front of several enclaves (issue 13): routing by `Vouch-Key-Id`, the fleet attestation document, the
 * admin API (drain, rotate), `dns://` addresses re-resolved, and what a request learns when its enclave goes away.
 * The enclaves are fakes speaking the link protocol (helpers/testkit.ts), one kid each.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import request from 'supertest'
import { decodeFleet, FLEET_MEDIA_TYPE, KEY_ID_HEADER, SEALED_MEDIA_TYPE } from '@vouch/protocol'
import { loadConfig } from '../src/config.js'
import { DnsMembers } from '../src/fleet/dns.js'
import { startHost, type RunningHost } from '../src/server.js'
import { EnclaveLinkClient } from '../src/link-client.js'
import { binaryBody, eventually, FakeEnclave, inferAnswer, sink } from './helpers/testkit.js'

const dir = mkdtempSync(join(tmpdir(), 'vouch-fleet-host-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A fake enclave whose pings name `kid` (and say whether it drains), and which answers bundles and inference. */
async function enclaveWith(kid: string): Promise<FakeEnclave & { kid: string; draining: boolean; served: number }> {
  const enclave = Object.assign(await FakeEnclave.start(), { kid, draining: false, served: 0 })
  enclave.onRequest = (r) => {
    const { request } = r
    switch (request.op) {
      case 'ping':
        r.answer({ ready: true, platform: 'simulated', kid: enclave.kid, models: 1, draining: enclave.draining })
        return true
      case 'attest':
        r.answer({ bundle: new TextEncoder().encode(`${enclave.kid}:${request.nonce === null ? 'unchallenged' : Buffer.from(request.nonce).toString('hex')}`) })
        return true
      case 'infer':
        if (request.kid !== enclave.kid) r.refuse('ERR_ENCLAVE_UNKNOWN_KID', 409)
        else {
          enclave.served++
          r.answer(inferAnswer(new TextEncoder().encode(`answer from ${enclave.kid}`)))
        }
        return true
      case 'models':
        r.answer({ models: [], refused: [] })
        return true
      case 'drain':
        enclave.draining = true
        r.answer({ draining: true })
        return true
      case 'rotate':
        enclave.kid = `${enclave.kid}-rotated`
        r.answer({ kid: enclave.kid })
        return true
      default:
        return false
    }
  }
  return enclave
}

async function hostFor(enclaves: readonly FakeEnclave[], ...flags: string[]): Promise<RunningHost> {
  const argv = ['--port', '0', '--no-receipt-log', '--no-collateral-fetch', '--admin-port', '0', '--heartbeat-ms', '100', ...enclaves.flatMap((e) => ['--enclave', `unix:${e.path}`]), ...flags]
  const { config } = loadConfig(argv, { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
  const host = await startHost(config, { log: sink('silent').log, env: { VOUCH_CACHE_DIR: join(dir, 'cache') } })
  await eventually(() => host.pool.members.filter((m) => m.serving).length === enclaves.length, 5_000, 'every enclave up')
  return host
}

function infer(host: RunningHost, kid: string): request.Test {
  return request(host.server)
    .post('/v2/models/ppocr-cls/infer')
    .trustLocalhost()
    .set('content-type', SEALED_MEDIA_TYPE)
    .set(KEY_ID_HEADER, kid)
    .send(Buffer.from('sealed'))
    .buffer(true)
    .parse(binaryBody)
}

describe('a host in front of several enclaves', () => {
  test('each sealed request goes to the enclave holding its key, and only there; an unknown key is 409 after asking them all', async () => {
    const enclaves = await Promise.all(['kid-a', 'kid-b', 'kid-c'].map(enclaveWith))
    const host = await hostFor(enclaves)
    try {
      for (const e of enclaves) {
        const res = await infer(host, e.kid)
        assert.equal(res.status, 200)
        assert.equal(Buffer.from(res.body as Buffer).toString(), `answer from ${e.kid}`)
      }
      assert.deepEqual(
        enclaves.map((e) => e.served),
        [1, 1, 1],
      )
      // A kid renewed since the last heartbeat: the host asks every enclave again before it says 409.
      enclaves[1]!.kid = 'kid-b2'
      const pingsBefore = enclaves[0]!.received.filter((r) => r.op === 'ping').length
      assert.equal((await infer(host, 'kid-b2')).status, 200)
      assert.equal(enclaves[1]!.served, 2)
      const unknown = await infer(host, 'kid-nobody')
      assert.equal(unknown.status, 409)
      assert.equal(JSON.parse(Buffer.from(unknown.body as Buffer).toString()).code, 'ERR_ENCLAVE_UNKNOWN_KID')
      assert.ok(enclaves[0]!.received.filter((r) => r.op === 'ping').length > pingsBefore, 'asked again')
      assert.equal(
        enclaves.reduce((n, e) => n + e.received.filter((r) => r.op === 'infer').length, 0),
        4,
        'no enclave was sent a request sealed to another',
      )
    } finally {
      await host.close()
      await Promise.all(enclaves.map((e) => e.close()))
    }
  })

  test('GET /v1/attestation for a fleet: one challenged and one unchallenged bundle per enclave, answering the one nonce; others get one bundle', async () => {
    const enclaves = await Promise.all(['kid-a', 'kid-b'].map(enclaveWith))
    const host = await hostFor(enclaves)
    try {
      const nonce = 'ab'.repeat(32)
      const res = await request(host.server).get(`/v1/attestation?nonce=${nonce}`).trustLocalhost().set('accept', `${FLEET_MEDIA_TYPE}, application/vnd.vouch.evidence+cbor;q=0.5`).buffer(true).parse(binaryBody)
      assert.equal(res.status, 200)
      assert.equal(res.headers['content-type'], FLEET_MEDIA_TYPE)
      assert.equal(res.headers['cache-control'], 'no-store')
      const fleet = decodeFleet(res.body as Buffer)
      assert.equal(Buffer.from(fleet.nonce).toString('hex'), nonce)
      assert.equal(fleet.archived, false)
      const text = (b: Uint8Array): string => Buffer.from(b).toString()
      assert.deepEqual(fleet.enclaves.map((m) => [text(m.challenged), text(m.unchallenged)]).sort(), [
        [`kid-a:${nonce}`, 'kid-a:unchallenged'],
        [`kid-b:${nonce}`, 'kid-b:unchallenged'],
      ])
      // A client that does not ask for the fleet gets one enclave's bundle, as before.
      const single = await request(host.server).get(`/v1/attestation?nonce=${nonce}`).trustLocalhost().buffer(true).parse(binaryBody)
      assert.equal(single.headers['content-type'], 'application/vnd.vouch.evidence+cbor')
      // A draining enclave is left out.
      enclaves[0]!.draining = true
      await eventually(() => host.pool.members.filter((m) => m.serving).length === 1, 2_000, 'the heartbeat to see the drain')
      const fewer = await request(host.server).get(`/v1/attestation?nonce=${nonce}`).trustLocalhost().set('accept', FLEET_MEDIA_TYPE).buffer(true).parse(binaryBody)
      assert.deepEqual(decodeFleet(fewer.body as Buffer).enclaves.map((m) => text(m.unchallenged)), ['kid-b:unchallenged'])
    } finally {
      await host.close()
      await Promise.all(enclaves.map((e) => e.close()))
    }
  })

  test('admin API: lists the enclaves; drain stops routing to one at once (503 ERR_ENCLAVE_DRAINING); rotate gives it a new key (the old one is 409)', async () => {
    const enclaves = await Promise.all(['kid-a', 'kid-b'].map(enclaveWith))
    const host = await hostFor(enclaves)
    try {
      const admin = host.adminUrl!
      assert.match(admin, /^http:\/\/127\.0\.0\.1:\d+$/)
      const listed = (await (await fetch(`${admin}/admin/enclaves`)).json()) as { enclaves: Array<{ address: string; kid: string; up: boolean; draining: boolean }> }
      assert.deepEqual(
        listed.enclaves.map((e) => [e.address, e.kid, e.up, e.draining]),
        enclaves.map((e) => [`unix:${e.path}`, e.kid, true, false]),
      )

      const drained = await fetch(`${admin}/admin/enclaves/1/drain`, { method: 'POST' })
      assert.equal(drained.status, 202)
      assert.equal(enclaves[0]!.draining, true)
      const refused = await infer(host, 'kid-a')
      assert.equal(refused.status, 503)
      assert.equal(JSON.parse(Buffer.from(refused.body as Buffer).toString()).code, 'ERR_ENCLAVE_DRAINING')
      assert.equal(enclaves[0]!.received.filter((r) => r.op === 'infer').length, 0, 'not sent to the draining enclave')

      const rotated = await fetch(`${admin}/admin/enclaves/${encodeURIComponent(`unix:${enclaves[1]!.path}`)}/rotate`, { method: 'POST' })
      assert.deepEqual([rotated.status, await rotated.json()], [200, { address: `unix:${enclaves[1]!.path}`, kid: 'kid-b-rotated', before: 'kid-b' }])
      assert.equal((await infer(host, 'kid-b-rotated')).status, 200)
      assert.equal((await infer(host, 'kid-b')).status, 409)

      assert.equal((await fetch(`${admin}/admin/enclaves/kid-nobody/drain`, { method: 'POST' })).status, 404)
      assert.equal((await fetch(`${admin}/admin/enclaves/1/drain`)).status, 405)
      assert.equal((await fetch(`${admin}/admin/other`)).status, 404)
    } finally {
      await host.close()
      await Promise.all(enclaves.map((e) => e.close()))
    }
  })

  test('an enclave that goes away: the requests it held fail as lost (502), those queued for it and later ones as unavailable (503); the others go on', async () => {
    const enclaves = await Promise.all(['kid-a', 'kid-b'].map(enclaveWith))
    const host = await hostFor(enclaves, '--max-in-flight', '1', '--shutdown-timeout-ms', '1000')
    try {
      const handler = enclaves[0]!.onRequest
      enclaves[0]!.onRequest = (r) => r.request.op === 'infer' || handler(r)
      const held = infer(host, 'kid-a').then((res) => res)
      await eventually(() => enclaves[0]!.received.some((r) => r.op === 'infer'), 2_000, 'the request to reach the enclave')
      const queued = infer(host, 'kid-a').then((res) => res)
      await eventually(() => host.pool.members[0]!.link.queueDepth === 1, 2_000, 'the second request to wait in the queue')
      enclaves[0]!.dropAll()
      await enclaves[0]!.close()
      const [lost, waiting] = await Promise.all([held, queued])
      assert.deepEqual([lost.status, JSON.parse(Buffer.from(lost.body as Buffer).toString()).code], [502, 'ERR_HOST_ENCLAVE_LOST'])
      assert.deepEqual([waiting.status, JSON.parse(Buffer.from(waiting.body as Buffer).toString()).code], [503, 'ERR_HOST_ENCLAVE_UNAVAILABLE'])
      const later = await infer(host, 'kid-a')
      assert.deepEqual([later.status, JSON.parse(Buffer.from(later.body as Buffer).toString()).code], [503, 'ERR_HOST_ENCLAVE_UNAVAILABLE'])
      assert.equal((await infer(host, 'kid-b')).status, 200)
      assert.equal((await request(host.server).get('/v2/health/ready').trustLocalhost()).status, 200, 'ready while one enclave serves')
      assert.match(await host.metrics.registry.metrics(), /vouch_enclave_up 1/)
    } finally {
      await host.close()
      await enclaves[1]!.close()
    }
  })
})

describe('dns:// addresses', () => {
  test('every address the name resolves to is an enclave; those that appear are added, those gone removed; a failed resolution keeps them', async () => {
    const answers: Array<string[] | Error> = [['10.0.0.1', '10.0.0.2'], ['10.0.0.2', 'fd00::3'], new Error('SERVFAIL'), []]
    const added: string[] = []
    const removed: string[] = []
    const group = new DnsMembers({
      address: 'dns://vouch-enclave:7000',
      intervalMs: 10,
      log: sink('silent').log,
      add: (a) => added.push(a),
      remove: (a) => removed.push(a),
      resolve: async () => {
        const next = answers.shift() ?? []
        if (next instanceof Error) throw next
        return next
      },
    })
    await group.start()
    await eventually(() => answers.length === 0 && removed.length === 3, 2_000, 'four resolutions')
    group.close()
    assert.deepEqual(added, ['tcp://10.0.0.1:7000', 'tcp://10.0.0.2:7000', 'tcp://[fd00::3]:7000'])
    assert.deepEqual(removed, ['tcp://10.0.0.1:7000', 'tcp://10.0.0.2:7000', 'tcp://[fd00::3]:7000'])
    assert.throws(() => new DnsMembers({ address: 'dns://name', intervalMs: 10, log: sink('silent').log, add: () => undefined, remove: () => undefined }), RangeError)
  })

  test('a host given dns://localhost:PORT reaches the enclave listening there', async () => {
    const { startLinkServer } = await import('../../enclave/src/link/server.js')
    const served = await startLinkServer(
      'tcp://127.0.0.1:0',
      {
        ping: async () => ({ ready: true, platform: 'simulated', kid: 'kid-tcp', models: 1, draining: false }),
        attest: async () => ({ bundle: new Uint8Array([1]) }),
        models: async () => ({ models: [], refused: [] }),
        infer: async () => inferAnswer(new Uint8Array([2])),
        drain: async () => ({ draining: true }),
        rotate: async () => ({ kid: 'kid-tcp' }),
      },
      sink('silent').log,
    )
    const port = /:(\d+)$/.exec(served.address)![1]
    const { config } = loadConfig(['--port', '0', '--no-receipt-log', '--no-collateral-fetch', '--enclave', `dns://localhost:${port}`], { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
    const host = await startHost(config, { log: sink('silent').log, env: { VOUCH_CACHE_DIR: join(dir, 'cache') } })
    try {
      await eventually(() => host.pool.members.some((m) => m.serving), 5_000, 'the enclave found by name')
      assert.ok(host.pool.members.every((m) => /^tcp:\/\/(127\.0\.0\.1|\[::1\]):\d+$/.test(m.address)))
      assert.equal((await infer(host, 'kid-tcp')).status, 200)
    } finally {
      await host.close()
      await served.close()
    }
  })
})

test('a link client reaches an enclave given as unix:PATH', async () => {
  const enclave = await FakeEnclave.start()
  const client = new EnclaveLinkClient({ address: `unix:${enclave.path}`, log: sink('silent').log })
  client.start()
  try {
    assert.ok(await client.waitUntilUp(3_000))
  } finally {
    await client.close()
    await enclave.close()
  }
})
