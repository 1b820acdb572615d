/**
 * `vouch-host` from its command line: it prints the URL and the certificate fingerprint, relays to an enclave
 * that runs elsewhere (`--enclave-socket`, here a fake one), stops cleanly when told, and exits 1 when the
 * enclave it supervises refuses its arguments.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import request from 'supertest'
import { main, type ParentMessage } from '../src/cli.js'
import type { RunningHost } from '../src/server.js'
import { eventually, FakeEnclave, sink } from './helpers/testkit.js'

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
