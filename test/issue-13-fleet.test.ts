/**
 * Issue 13, "Done when", on this machine: 2 hosts and 4 enclaves (simulated SEV-SNP and GPU), each enclave its own
 * `vouch-enclave` process listening on TCP, each host a real `startHost` routing to all four (`--enclave tcp://…`),
 * the hosts behind a loopback TCP balancer standing in for a Kubernetes Service; 8 clients sending sealed requests.
 * - Every answer verifies, every enclave served some, and no request reached an enclave other than the one its key
 *   belongs to (the hosts' link counters hold no ERR_ENCLAVE_UNKNOWN_KID from an enclave).
 * - Under traffic: one enclave killed with SIGKILL, another drained (SIGTERM), a host restarted, an enclave's keys
 *   rotated (admin API). The only failed requests are those the killed enclave held (ERR_HOST_ENCLAVE_LOST, never a
 *   wrong answer), and an answer follows each event within 2 s.
 * - A host pointed at an enclave whose evidence the client's policy rejects: that enclave never gets a request; a
 *   policy requiring 3 enclaves refuses a fleet of 2.
 * Runs the enclave from its `dist/`, so build first (`npm test` does).
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createClient, type InferResult, type VouchClient } from '@vouch/client'
import { loadConfig, startHost, type RunningHost } from '@vouch/host'
import { oipJsonToTensor, type OipJsonTensor } from '@vouch/protocol'
import { parsePolicy } from '@vouch/verifier'
import { rejectsWith } from '../client/test/helpers/rejects.js'
import { eventually, sink } from '../host/test/helpers/testkit.js'
import { freePort } from './helpers/net.js'
import { startTcpBalancer, type TcpBalancer } from './helpers/tcp-balancer.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const DEV = join(root, 'policies/dev-simulated.yaml')
/** The development policy, requiring a GPU: an enclave started without one is rejected. */
const POLICY_TEXT = readFileSync(DEV, 'utf8').replace(/^(\s*)required: false$/m, '$1required: true')
assert.notEqual(POLICY_TEXT, readFileSync(DEV, 'utf8'), 'the policy requires a GPU')
const policy = parsePolicy(POLICY_TEXT, 'fleet-test.yaml')
const atLeast3 = parsePolicy(`${POLICY_TEXT}\nfleet:\n  minEnclaves: 3\n`, 'fleet-min-3.yaml')
const SAMPLE = join(root, 'models/samples/ppocr-cls.json')
const sample = (JSON.parse(readFileSync(SAMPLE, 'utf8')) as { inputs: OipJsonTensor[] }).inputs.map((t) => oipJsonToTensor(t))

/** A `vouch-enclave` process listening on a loopback TCP port, its log lines parsed as they come. */
interface EnclaveProcess {
  readonly child: ChildProcess
  readonly address: string
  readonly lines: Array<Record<string, unknown>>
  readonly exited: Promise<void>
}

async function spawnEnclave(...flags: string[]): Promise<EnclaveProcess> {
  const child = spawn(process.execPath, [join(root, 'enclave/bin/vouch-enclave.js'), '--socket', 'tcp://127.0.0.1:0', '--tee', 'simulated', ...flags], { stdio: ['ignore', 'pipe', 'inherit'] })
  const lines: Array<Record<string, unknown>> = []
  let rest = ''
  child.stdout!.on('data', (d: Buffer) => {
    const parts = (rest + d.toString('utf8')).split('\n')
    rest = parts.pop()!
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>)
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`vouch-enclave exited (${child.exitCode}) before it was ready`)
      return lines.some((l) => l['msg'] === 'enclave ready')
    },
    120_000,
    'the enclave to be ready',
  )
  return { child, address: lines.find((l) => l['msg'] === 'enclave ready')!['socket'] as string, lines, exited }
}

/** The link requests a host counted whose outcome is `code`. */
async function linkOutcomes(host: RunningHost, code: string): Promise<number> {
  const metric = (await host.metrics.registry.getSingleMetric('vouch_link_requests_total')!.get()).values
  return metric.filter((v) => v.labels['outcome'] === code).reduce((sum, v) => sum + v.value, 0)
}

const dir = mkdtempSync(join(tmpdir(), 'vouch-fleet-'))
const env = { VOUCH_CACHE_DIR: join(dir, 'cache') }
after(() => rmSync(dir, { recursive: true, force: true }))

/** Starts a host on `port` (0: any) routing to `enclaves`, with its own receipt log; the two hosts share the dev certificate and log key. */
async function startFleetHost(name: string, port: number, enclaves: readonly EnclaveProcess[], ...flags: string[]): Promise<RunningHost> {
  // The 8 clients share one address, so the per-client challenge budget is the test's, not one client's.
  const argv = ['--port', String(port), '--no-collateral-fetch', '--attest-burst', '1000', '--attest-per-minute', '60000', '--log-path', join(dir, `${name}.sqlite`), '--log-level', 'silent', ...enclaves.flatMap((e) => ['--enclave', e.address]), ...flags]
  const { config } = loadConfig(argv, { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
  const host = await startHost(config, { log: sink('silent').log, env })
  await eventually(() => host.pool.members.filter((m) => m.serving).length === enclaves.length, 30_000, `${name} to reach its ${enclaves.length} enclaves`)
  return host
}

describe('issue 13: 2 hosts, 4 enclaves, 8 clients', { timeout: 300_000 }, () => {
  const enclaves: EnclaveProcess[] = []
  let hostA: RunningHost
  let hostB: RunningHost
  let portA: number
  let balancer: TcpBalancer
  const clients: VouchClient[] = []
  const newClient = (p = policy): VouchClient => {
    const client = createClient({ url: `https://localhost:${balancer.port}`, policy: p, ca: readFileSync(join(dir, 'cache/tls/localhost.crt')) })
    clients.push(client)
    return client
  }

  before(async () => {
    enclaves.push(...(await Promise.all([0, 1, 2, 3].map(() => spawnEnclave('--gpu', 'simulated')))))
    portA = await freePort()
    hostA = await startFleetHost('a', portA, enclaves, '--admin-port', '0')
    hostB = await startFleetHost('b', 0, enclaves, '--admin-port', '0')
    balancer = await startTcpBalancer([portA, hostB.port])
  })

  after(async () => {
    for (const c of clients) c.close()
    await balancer?.close()
    await Promise.all([hostA?.close(), hostB?.close()])
    for (const e of enclaves) e.child.kill('SIGKILL')
  })

  test('every answer verifies, every enclave served some, each request reached only the enclave its key belongs to', async () => {
    const fleet = Array.from({ length: 8 }, () => newClient())
    const results: InferResult[] = (await Promise.all(fleet.map(async (c) => Promise.all(Array.from({ length: 6 }, () => c.infer('ppocr-cls', sample)))))).flat()
    assert.equal(results.length, 48)
    for (const r of results) assert.equal(r.result.verdict, 'accepted')
    const kids = new Set(results.map((r) => r.attestation.keyset.kid))
    const attested = (await fleet[0]!.attest()).fleet.map((a) => a.keyset.kid)
    assert.equal(attested.length, 4, 'the client accepted all four enclaves')
    assert.deepEqual([...kids].sort(), [...attested].sort(), 'every enclave served some')
    // An enclave given a request sealed to another's key refuses it with this code; the hosts never sent one.
    assert.equal((await linkOutcomes(hostA, 'ERR_ENCLAVE_UNKNOWN_KID')) + (await linkOutcomes(hostB, 'ERR_ENCLAVE_UNKNOWN_KID')), 0)
    assert.ok(balancer.connections.get(portA)! > 0 && balancer.connections.get(hostB.port)! > 0, 'through both hosts')
  })

  test('kill -9 an enclave, drain another, restart a host, rotate keys: only the killed enclave’s requests fail, clearly; service within 2 s of each', async () => {
    const fleet = Array.from({ length: 8 }, () => newClient())
    await Promise.all(fleet.map((c) => c.attest()))
    const successes: number[] = []
    const failures: Array<{ at: number; code: string | undefined; status: number | undefined }> = []
    let running = true
    const loops = fleet.map(async (client) => {
      while (running) {
        try {
          const r = await client.infer('ppocr-cls', sample)
          assert.equal(r.result.verdict, 'accepted')
          successes.push(performance.now())
        } catch (error) {
          const e = error as { code?: string; status?: number; problem?: { code?: string } }
          failures.push({ at: performance.now(), code: e.problem?.code ?? e.code, status: e.status })
        }
      }
    })
    const events: Array<{ what: string; at: number }> = []
    const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
    await pause(1_000)

    events.push({ what: 'kill -9', at: performance.now() })
    enclaves[0]!.child.kill('SIGKILL')
    await enclaves[0]!.exited
    await pause(1_500)

    events.push({ what: 'drain', at: performance.now() })
    enclaves[1]!.child.kill('SIGTERM')
    await enclaves[1]!.exited
    await pause(1_000)

    events.push({ what: 'host restart', at: performance.now() })
    await hostA.close()
    hostA = await startFleetHost('a', portA, enclaves.slice(2))
    await pause(1_500)

    events.push({ what: 'rotate', at: performance.now() })
    const rotated = await fetch(`${hostB.adminUrl}/admin/enclaves/${encodeURIComponent(enclaves[2]!.address)}/rotate`, { method: 'POST' })
    assert.equal(rotated.status, 200)
    await pause(2_500)
    running = false
    await Promise.all(loops)

    // Failed: only requests the killed enclave held when it died, each with its own clear code; none afterwards.
    for (const f of failures) assert.deepEqual([f.status, f.code], [502, 'ERR_HOST_ENCLAVE_LOST'], JSON.stringify(f))
    assert.ok(failures.length <= 8, `${failures.length} failed: at most one per client, those in flight on the killed enclave`)
    // Reported before the next event: the host fails them the moment the link drops; the client may see it later on a busy machine.
    for (const f of failures) assert.ok(f.at < events[1]!.at, `failed ${Math.round(f.at - events[0]!.at)} ms after the kill, not before the drain ${Math.round(events[1]!.at - events[0]!.at)} ms after it`)
    for (const { what, at } of events) assert.ok(successes.some((s) => s > at && s - at <= 2_000), `an answer within 2 s of the ${what}`)
    assert.ok(successes.length > 40, `${successes.length} answers`)
  })

  test('an enclave whose evidence the policy rejects never gets a request; a policy requiring 3 enclaves refuses a fleet of 2', async () => {
    const rejected = await spawnEnclave('--gpu', 'none', '--log-level', 'debug')
    enclaves.push(rejected)
    const hostC = await startFleetHost('c', 0, [enclaves[2]!, enclaves[3]!, rejected])
    try {
      const client = createClient({ url: hostC.url, policy, ca: readFileSync(join(dir, 'cache/tls/localhost.crt')) })
      clients.push(client)
      const attestation = await client.attest()
      assert.equal(attestation.fleet.length, 2)
      assert.equal(attestation.rejected.length, 1)
      const results = await Promise.all(Array.from({ length: 20 }, () => client.infer('ppocr-cls', sample)))
      assert.equal(new Set(results.map((r) => r.attestation.keyset.kid)).size, 2)
      const served = rejected.lines.filter((l) => l['msg'] === 'link request served' && l['op'] === 'infer').length
      assert.equal(served, 0, 'the rejected enclave ran nothing')
      assert.ok(rejected.lines.some((l) => l['msg'] === 'link request served' && l['op'] === 'attest'), 'it was asked for its evidence')

      const strict = createClient({ url: hostC.url, policy: atLeast3, ca: readFileSync(join(dir, 'cache/tls/localhost.crt')) })
      clients.push(strict)
      await rejectsWith(strict.attest(), 'ERR_CLIENT_FLEET_TOO_SMALL')
      await rejectsWith(strict.infer('ppocr-cls', sample), 'ERR_CLIENT_FLEET_TOO_SMALL')
    } finally {
      await hostC.close()
    }
  })
})
