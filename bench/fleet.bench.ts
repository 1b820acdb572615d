/**
 * The fleet (issue 13): what routing by key and verifying many enclaves cost.
 * - Round trip and throughput at concurrency 8 of the classifier through 1 host + 1 enclave and 1 host + 2 enclaves
 *   (`vouch-host --enclaves 2`), interleaved; on 2 cores no speed-up is expected (the enclaves share them).
 * - The routing itself: the time `EnclavePool.route(kid)` takes per request with 1, 2 and 16 enclaves (what the host
 *   adds per sealed request over a single link), and the host's CPU per request in both set-ups.
 * - The client's cost of verifying a fleet attestation of N = 1, 4, 16 enclaves: `client.attest()` against a loopback
 *   HTTPS server answering the fleet document of N simulated enclaves (a challenged and an unchallenged bundle each).
 * Run alone: node --conditions=@vouch/source --import tsx bench/fleet.bench.ts (after `npm run build`).
 */
import { EventEmitter } from 'node:events'
import { createServer } from 'node:https'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createClient, loadPolicy } from '@vouch/client'
import { encodeFleet, FLEET_MEDIA_TYPE, oipJsonToTensor, type OipJsonTensor } from '@vouch/protocol'
import { EvidenceService } from '../enclave/src/service/evidence.js'
import { generateKeyset } from '../enclave/src/service/keys.js'
import { createSimulatedCpuTee, createSimulatedGpuTee } from '../enclave/src/tee/simulated/devices.js'
import { EnclavePool } from '../host/src/fleet/pool.js'
import type { EnclaveLinkClient } from '../host/src/link-client.js'
import { defaultModels } from '../test/helpers/models.js'
import { measure, measureInterleaved, ms, retryStale, throughputInterleaved } from './lib/measure.js'
import { cpuTimeOf, startVouchHost, type HostProcess } from './lib/servers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const CONCURRENCY = 8
const LATENCY = { runs: 400, warmup: 50 }
const THROUGHPUT = { rounds: 5, windowMs: 2_000 }

/** `EnclavePool.route` per call, in microseconds, with `size` members that are up (the kid asked for is the last's). */
async function routeCost(size: number): Promise<number> {
  const pool = new EnclavePool()
  for (let i = 0; i < size; i++) {
    const link = Object.assign(new EventEmitter(), { up: true, probe: async () => ({}), close: async () => undefined }) as unknown as EnclaveLinkClient
    pool.add(`tcp://10.0.0.${i + 1}:7000`, link).kid = `kid-${i}`
  }
  const kid = `kid-${size - 1}`
  const runs = 200_000
  const timing = await measure(
    async () => {
      for (let i = 0; i < 1000; i++) await pool.route(kid)
    },
    { runs: runs / 1000, warmup: 20 },
  )
  // Microseconds per call: the median batch of 1,000 calls, in ms, is µs per call.
  return timing.median
}

/** A loopback HTTPS server answering every challenge with the fleet document of `n` simulated enclaves. */
async function fleetServer(n: number, tlsDir: string): Promise<{ url: string; close(): Promise<void> }> {
  const models = defaultModels()
  const services = await Promise.all(
    Array.from({ length: n }, async () => new EvidenceService(createSimulatedCpuTee(), createSimulatedGpuTee({ count: 1 }), generateKeyset(), models, { burst: 1_000_000, perSecond: 1_000_000 }, Date.now)),
  )
  const server = createServer({ cert: readFileSync(join(tlsDir, 'localhost.crt')), key: readFileSync(join(tlsDir, 'localhost.pem')) }, (req, res) => {
    const nonce = /nonce=([0-9a-f]{64})/.exec(req.url ?? '')?.[1]
    if (nonce === undefined) {
      res.writeHead(404).end()
      return
    }
    const challenge = Buffer.from(nonce, 'hex')
    void Promise.all(services.map(async (s) => ({ challenged: (await s.challenged(challenge)).bytes, unchallenged: (await s.unchallenged()).bytes }))).then((enclaves) => {
      res.writeHead(200, { 'content-type': FLEET_MEDIA_TYPE }).end(encodeFleet({ v: 1, nonce: challenge, archived: false, enclaves }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `https://localhost:${(server.address() as { port: number }).port}`, close: () => new Promise((resolve) => server.close(() => resolve())) }
}

export async function benchFleet(log: (line: string) => void): Promise<string> {
  const policy = loadPolicy(join(REPO, 'policies/dev-simulated.yaml'))
  const sample = (JSON.parse(readFileSync(join(REPO, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: OipJsonTensor[] }).inputs.map((t) => oipJsonToTensor(t))
  const cache = mkdtempSync(join(tmpdir(), 'vouch-bench-fleet-'))
  const hosts: HostProcess[] = []
  try {
    log('fleet: routing cost per request (EnclavePool.route)')
    const route = { 1: await routeCost(1), 2: await routeCost(2), 16: await routeCost(16) }

    log('fleet: 1 host + 1 enclave against 1 host + 2 enclaves')
    hosts.push(await startVouchHost(cache))
    hosts.push(await startVouchHost(cache, { hostArgs: ['--enclaves', '2'] }))
    const clients = hosts.map((h) => createClient({ url: h.url, policy, ca: h.ca }))
    await Promise.all(clients.map((c) => c.attest()))
    const calls = clients.map((c) => () => retryStale(() => c.infer('ppocr-cls', sample)))
    const [one, two] = await measureInterleaved(calls, LATENCY)
    const cpuBefore = hosts.map((h) => cpuTimeOf(h.pid))
    const [tOne, tTwo] = await throughputInterleaved(calls, { ...THROUGHPUT, concurrency: CONCURRENCY })
    const cpuPerRequest = hosts.map((h, i) => (cpuTimeOf(h.pid) - cpuBefore[i]!) / [tOne!, tTwo!][i]!.requests)
    const kidsServed = new Set<string>()
    for (let i = 0; i < 20; i++) kidsServed.add((await clients[1]!.infer('ppocr-cls', sample)).attestation.keyset.kid)
    for (const c of clients) c.close()

    log('fleet: verifying the attestation of N enclaves')
    const verify: Array<[number, number]> = []
    for (const n of [1, 4, 16]) {
      const server = await fleetServer(n, join(cache, 'tls'))
      try {
        const client = createClient({ url: server.url, policy, ca: readFileSync(join(cache, 'tls', 'localhost.crt')) })
        const timing = await measure(() => client.attest(), { runs: n === 16 ? 10 : 30, warmup: 2 })
        const accepted = (await client.attest()).fleet.length
        if (accepted !== n) throw new Error(`fleet of ${n}: the client accepted ${accepted}`)
        client.close()
        verify.push([n, timing.median])
      } finally {
        await server.close()
      }
    }

    return `## The fleet: routing by key, and verifying many enclaves (\`bench/fleet.bench.ts\`)

The classifier (\`ppocr-cls\`) through the real \`vouch-host\` (simulated SEV-SNP and GPU), with its enclave, or with two
(\`--enclaves 2\`: each request goes to the enclave holding the key it is sealed to; the client spreads its requests over
both, ${kidsServed.size} of 2 enclaves served the last 20). Round trip: ${LATENCY.runs} interleaved rounds; throughput:
${CONCURRENCY} concurrent loops, ${THROUGHPUT.rounds} interleaved windows of ${THROUGHPUT.windowMs / 1000} s. On 2 cores the
enclaves share the same two cores, so two of them cannot be faster: the point is what routing costs.

| set-up | round trip median | p99 | throughput at ${CONCURRENCY} | host CPU per request |
| --- | --- | --- | --- | --- |
| 1 host + 1 enclave | ${ms(one!.median)} ms | ${ms(one!.p99)} ms | ${tOne!.rps.toFixed(0)} req/s | ${ms(cpuPerRequest[0]!)} ms |
| 1 host + 2 enclaves | ${ms(two!.median)} ms | ${ms(two!.p99)} ms | ${tTwo!.rps.toFixed(0)} req/s | ${ms(cpuPerRequest[1]!)} ms |

Routing itself (\`EnclavePool.route\`, the kid's enclave looked up among those the host knows): ${route[1].toFixed(3)} µs
per request with 1 enclave, ${route[2].toFixed(3)} µs with 2, ${route[16].toFixed(3)} µs with 16 (target: at most 0.2 ms = 200 µs).
Against one enclave, two add ${ms(Math.max(0, cpuPerRequest[1]! - cpuPerRequest[0]!))} ms of host CPU per request and
${ms(two!.median - one!.median)} ms to the median round trip (both within this machine's noise).

The client's cost of verifying the fleet attestation (\`client.attest()\`: one challenge, then each enclave's challenged
and unchallenged bundles verified under the policy, in parallel), against a loopback server answering the fleet
document of N simulated enclaves:

| enclaves | attest and verify, median |
| --- | --- |
${verify.map(([n, t]) => `| ${n} | ${ms(t)} ms |`).join('\n')}
`
  } finally {
    for (const h of hosts) await h.stop()
    rmSync(cache, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchFleet((line) => console.log(line)))
