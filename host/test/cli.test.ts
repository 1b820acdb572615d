/**
 * `vouch-host` from its command line: it prints the URL and the certificate fingerprint, relays to an enclave
 * that runs elsewhere (`--enclave-socket`, here a fake one), stops cleanly when told, exits 1 when the
 * enclave it supervises refuses its arguments, and relays answers unlogged only when told to (`--no-receipt-log`).
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync, X509Certificate } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import request from 'supertest'
import { KEY_ID_HEADER, receiptCommitment, SEALED_MEDIA_TYPE, sha256Digest, signReceipt } from '@vouch/protocol'
import { main, type ParentMessage } from '../src/cli.js'
import type { RunningHost } from '../src/server.js'
import { binaryBody, eventually, FakeEnclave, sink } from './helpers/testkit.js'

const cache = mkdtempSync(join(tmpdir(), 'vouch-host-cli-'))
after(() => rmSync(cache, { recursive: true, force: true }))

test('prints the URL and fingerprint, serves, and stops on its signal', async () => {
  const enclave = await FakeEnclave.start()
  const out: string[] = []
  const err: string[] = []
  let stop: () => void = () => undefined
  let running: RunningHost | undefined
  const told: ParentMessage[] = []
  const exit = main(['--port', '0', '--enclave-socket', enclave.path], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { VOUCH_CACHE_DIR: cache },
    log: sink('silent').log,
    stopSignal: new Promise((resolve) => (stop = () => resolve(undefined))),
    onStarted: (host) => (running = host),
    parent: { send: (message) => told.push(message) },
  })
  await eventually(() => running !== undefined, 10_000, 'the host to start')
  const host = running!
  const printed = out.join('\n')
  assert.match(printed, new RegExp(`serving ${host.url.replace(/[.:/]/g, '\\$&')} \\(TLS 1\\.3\\)`))
  assert.match(printed, /certificate SHA-256 fingerprint ([0-9A-F]{2}:){31}[0-9A-F]{2}/)
  const pem = readFileSync(join(cache, 'tls', 'localhost.pem'), 'utf8')
  assert.ok(printed.includes(new X509Certificate(pem.slice(pem.indexOf('-----BEGIN CERTIFICATE-----'))).fingerprint256), 'the fingerprint printed is the certificate’s')
  assert.match(printed, new RegExp(`relaying to the enclave at ${enclave.path}`))
  // Clients are told to trust the certificate alone: localhost.pem holds the private key too (issue 10, item 9).
  assert.ok(printed.includes(`clients trust ${join(cache, 'tls', 'localhost.crt')}`), printed)
  assert.doesNotMatch(printed, /localhost\.pem/)
  // The receipt log is on unless turned off: its file and key are made beside the certificate, its key printed.
  assert.match(printed, /receipt log localhost\/vouch-log \(sqlite\); checkpoints signed by localhost\/vouch-log\+/)
  assert.ok(existsSync(join(cache, 'log.sqlite')) && existsSync(join(cache, 'tls', 'log-signer.key')))
  await eventually(async () => (await request(host.url).get('/v2/health/ready').ca(host.tls.cert)).status === 200, 5_000, 'ready')
  // A parent (npm start) learns from the host itself that it listens, what to trust, and when the enclave is ready.
  await eventually(() => told.length === 2, 5_000, 'the parent to be told the host is ready')
  assert.deepEqual(told, [{ vouchHost: 'listening', url: host.url, certificate: join(cache, 'tls', 'localhost.crt'), fingerprint: host.tls.fingerprint256 }, { vouchHost: 'ready' }])
  stop()
  assert.equal(await exit, 0)
  assert.deepEqual(err, [])
  assert.equal(host.server.listening, false)
  await enclave.close()
})

test('exits 1 when the supervised enclave refuses its arguments', async () => {
  const err: string[] = []
  const code = await main(['--port', '0', '--enclave-command', `${process.execPath} -e process.exit(2) --`], {
    out: () => undefined,
    err: (l) => err.push(l),
    env: { VOUCH_CACHE_DIR: cache },
    log: sink('silent').log,
    stopSignal: new Promise(() => undefined),
  })
  assert.equal(code, 1)
  assert.match(err.join('\n'), /ERR_HOST_ENCLAVE_START: the enclave refused its arguments/)
})

test('the bin shim runs the built CLI', () => {
  const bin = fileURLToPath(new URL('../bin/vouch-host.js', import.meta.url))
  const result = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' })
  // `npm test` builds before it tests; run `npm run build` first when running this file alone.
  assert.equal(result.status, 0, result.stderr)
  assert.match(result.stdout, /^usage: vouch-host/)
})

/** A v2 receipt as an enclave signs it, naming evidence the fake enclave of the test below never serves. */
function fakeReceipt(): Promise<string> {
  const opening = new Uint8Array(32).fill(7)
  const digest = sha256Digest(Uint8Array.of(1))
  return signReceipt(
    { v: 2, id: 'req-1', iat: Math.floor(Date.now() / 1000), model: { name: 'm', version: '1', digest }, request: receiptCommitment(opening, Uint8Array.of(2)), response: receiptCommitment(opening, Uint8Array.of(3)), keyset: digest, evidence: digest, platform: 'simulated', attribution: [] },
    generateKeyPairSync('ed25519').privateKey,
    'fake-kid',
  )
}

test('--no-receipt-log (weaker) relays answers unlogged and says so; by default an answer the log cannot take is not relayed', async () => {
  const enclave = await FakeEnclave.start()
  const receipt = await fakeReceipt()
  enclave.onRequest = ({ request: r, answer, refuse }) => {
    if (r.op === 'infer') answer({ body: Uint8Array.of(1, 2, 3), receipt })
    else if (r.op === 'attest') refuse('ERR_ENCLAVE_UNAVAILABLE', 503)
    else return false
    return true
  }
  const run = async (argv: string[], cacheDir: string): Promise<{ printed: string; infer: request.Response; checkpoint: request.Response }> => {
    const out: string[] = []
    let stop: () => void = () => undefined
    let running: RunningHost | undefined
    const exit = main(['--port', '0', '--enclave-socket', enclave.path, ...argv], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      env: { VOUCH_CACHE_DIR: cacheDir },
      log: sink('silent').log,
      stopSignal: new Promise((resolve) => (stop = () => resolve(undefined))),
      onStarted: (host) => (running = host),
    })
    await eventually(() => running !== undefined, 10_000, 'the host to start')
    const host = running!
    await eventually(async () => (await request(host.url).get('/v2/health/ready').ca(host.tls.cert)).status === 200, 5_000, 'ready')
    const infer = await request(host.url).post('/v2/models/m/infer').ca(host.tls.cert).set('Content-Type', SEALED_MEDIA_TYPE).set(KEY_ID_HEADER, 'fake-kid').send(Buffer.from([9, 9])).buffer(true).parse(binaryBody)
    const checkpoint = await request(host.url).get('/v1/log/checkpoint').ca(host.tls.cert)
    stop()
    assert.equal(await exit, 0)
    return { printed: out.join('\n'), infer, checkpoint }
  }
  try {
    const off = await run(['--no-receipt-log'], join(cache, 'off'))
    assert.match(off.printed, /receipt log OFF \(--no-receipt-log, weaker\): answers are relayed unlogged/)
    assert.equal(off.infer.status, 200)
    assert.deepEqual(Buffer.from(off.infer.body as Buffer), Buffer.from([1, 2, 3]))
    assert.equal(off.infer.headers['vouch-log-index'], undefined)
    assert.equal(off.checkpoint.status, 404)
    assert.equal((off.checkpoint.body as { code: string }).code, 'ERR_HOST_NOT_FOUND')
    // Nothing of a log is made: no file, no key.
    assert.ok(!existsSync(join(cache, 'off', 'log.sqlite')) && !existsSync(join(cache, 'off', 'tls', 'log-signer.key')))
    // The same answer from the same enclave, the log on (the default): the evidence it names cannot be logged, so it is not relayed.
    const on = await run([], join(cache, 'on'))
    assert.equal(on.infer.status, 503)
    assert.equal((JSON.parse((on.infer.body as Buffer).toString('utf8')) as { code: string }).code, 'ERR_HOST_LOG_UNAVAILABLE')
    assert.equal(on.checkpoint.status, 200)
  } finally {
    await enclave.close()
  }
})
