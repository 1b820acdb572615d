/**
 * The availability attacks of issue 10, re-run against the real `vouch-host` and its enclave process on loopback,
 * with the figures printed as JSON lines. Not part of `npm run bench` (it measures refusals, not speed):
 * - `slow-declared`, `slow-chunked`, `slow-mixed`: N connections (`--count`, default 200; 2 for the original
 *   finding) open sealed requests and trickle their bodies one byte every 500 ms, declaring 16 MiB they never
 *   send, or chunked without end, or half of each; from 50 loopback addresses; with `--burst BYTES`, each sends that
 *   much at once before trickling. Once they are open a real client
 *   (the SDK, from 127.0.0.1) sends a sealed classifier request: the figure is how long it takes and how it ends,
 *   and what became of each attacker (status, code, when).
 * - `attest-flood`: one client (127.0.0.1) asks for challenged attestations from 4 loops as fast as answers come,
 *   for 10 s; meanwhile another client (127.0.0.2) attests (SDK `attest`) once a second. The figures: the
 *   flooder's statuses and the other client's successes and failures.
 * Run: node --conditions=@vouch/source --import tsx bench/attacks.ts SCENARIO [--count N] [--burst BYTES] [-- HOST FLAGS...]
 * (after `npm run build`).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpsRequest, Agent } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createClient, isClientError, loadPolicy } from '@vouch/client'
import { createLogger, loadConfig, startHost, type HostConfig } from '@vouch/host'
import { boundFetch, openSlowBody, type SlowOutcome } from '../test/helpers/attackers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const scenario = process.argv[2] ?? ''
const countAt = process.argv.indexOf('--count')
const count = countAt > 0 ? Number(process.argv[countAt + 1]) : 200
const burstAt = process.argv.indexOf('--burst')
const burst = burstAt > 0 ? Number(process.argv[burstAt + 1]) : 0
const dashes = process.argv.indexOf('--')
const hostFlags = dashes > 0 ? process.argv.slice(dashes + 1) : []
if (!['slow-declared', 'slow-chunked', 'slow-mixed', 'attest-flood'].includes(scenario)) {
  console.error('usage: bench/attacks.ts slow-declared|slow-chunked|slow-mixed|attest-flood [--count N] [--burst BYTES] [-- HOST FLAGS...]')
  process.exit(2)
}

const cache = mkdtempSync(join(tmpdir(), 'vouch-attacks-'))
const { config } = loadConfig(['--port', '0', '--log-level', 'silent', ...hostFlags], { env: {} }) as { help: false; config: HostConfig }
const host = await startHost(config, { log: createLogger('silent'), env: { ...process.env, VOUCH_CACHE_DIR: cache } })
const ca = host.tls.cert
const policy = loadPolicy(join(REPO, 'policies/dev-simulated.yaml'))
const sample = JSON.parse(readFileSync(join(REPO, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: Parameters<ReturnType<typeof createClient>['infer']>[1] }
const print = (value: Record<string, unknown>): void => console.log(JSON.stringify({ scenario, ...value }))

try {
  const until = Date.now() + 180_000
  while (!host.pool.up && Date.now() < until) await new Promise((r) => setTimeout(r, 100))
  if (scenario === 'attest-flood') await attestFlood()
  else await slowBodies(scenario === 'slow-declared' ? 'declared' : scenario === 'slow-chunked' ? 'chunked' : 'mixed')
} finally {
  await host.close()
  rmSync(cache, { recursive: true, force: true })
}

async function slowBodies(mode: 'declared' | 'chunked' | 'mixed'): Promise<void> {
  const honest = boundFetch('127.0.0.1', ca)
  const client = createClient({ url: host.url, policy, fetch: honest.fetch, timeoutMs: 120_000 })
  try {
    // Attested before the attack: the figure is the sealed request alone.
    await client.attest()
    await client.infer('ppocr-cls', sample.inputs)
    const attackers = Array.from({ length: count }, (_, i) =>
      openSlowBody({ port: host.port, ca, localAddress: `127.0.1.${1 + (i % 50)}`, mode: mode === 'mixed' ? (i % 2 === 0 ? 'declared' : 'chunked') : mode, burst, intervalMs: 500 }),
    )
    await Promise.all(attackers.map((a) => a.opened))
    await new Promise((r) => setTimeout(r, 200))
    const started = performance.now()
    let result: string
    try {
      await client.infer('ppocr-cls', sample.inputs)
      result = 'ok'
    } catch (error) {
      result = isClientError(error) ? `${error.code} ${error.status ?? ''} ${error.problem?.code ?? ''}`.trim() : String(error)
    }
    print({ attackers: count, burst, request: result, requestMs: Math.round(performance.now() - started), bodyBytesHeld: Number(/^vouch_request_body_bytes (\d+)$/m.exec(await host.metrics.registry.metrics())?.[1]) })
    const outcomes = await Promise.race([Promise.all(attackers.map((a) => a.outcome)), new Promise<null>((r) => setTimeout(() => r(null), 90_000))])
    for (const a of attackers) a.close()
    if (outcomes === null) print({ attackers: 'still open after 90 s' })
    else print({ attackers: summarize(outcomes) })
  } finally {
    client.close()
    honest.close()
  }
}

function summarize(outcomes: SlowOutcome[]): Record<string, unknown> {
  const byAnswer = new Map<string, number[]>()
  for (const o of outcomes) {
    const key = `${o.status ?? 'no answer'} ${o.code ?? ''}`.trim()
    byAnswer.set(key, [...(byAnswer.get(key) ?? []), o.atMs])
  }
  return Object.fromEntries([...byAnswer].map(([key, times]) => [key, { count: times.length, firstMs: Math.round(Math.min(...times)), lastMs: Math.round(Math.max(...times)) }]))
}

async function attestFlood(): Promise<void> {
  const agent = new Agent({ keepAlive: true, localAddress: '127.0.0.1', ca, maxSockets: 4 })
  const statuses = new Map<string, number>()
  const challenge = (): Promise<void> =>
    new Promise((resolve) => {
      const req = httpsRequest(`${host.url}/v1/attestation?nonce=${randomBytes(32).toString('hex')}`, { agent }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const code = res.statusCode === 200 ? '' : (/"code":"([A-Z0-9_]+)"/.exec(Buffer.concat(chunks).toString('utf8'))?.[1] ?? '')
          const key = `${res.statusCode} ${code}`.trim()
          statuses.set(key, (statuses.get(key) ?? 0) + 1)
          resolve()
        })
      })
      req.on('error', () => resolve())
      req.end()
    })
  const end = Date.now() + 10_000
  const flood = Array.from({ length: 4 }, async () => {
    while (Date.now() < end) await challenge()
  })
  const other = boundFetch('127.0.0.2', ca)
  const outcomes: Array<{ ok: boolean; ms: number; error?: string }> = []
  const attests = (async () => {
    while (Date.now() < end) {
      const client = createClient({ url: host.url, policy, fetch: other.fetch })
      const started = performance.now()
      try {
        await client.attest()
        outcomes.push({ ok: true, ms: Math.round(performance.now() - started) })
      } catch (error) {
        outcomes.push({ ok: false, ms: Math.round(performance.now() - started), error: isClientError(error) ? `${error.code} ${error.status ?? ''} ${error.problem?.code ?? ''}`.trim() : String(error) })
      }
      client.close()
      await new Promise((r) => setTimeout(r, 1_000))
    }
  })()
  await Promise.all([...flood, attests])
  agent.destroy()
  other.close()
  print({ flooder: Object.fromEntries(statuses), other: { attempts: outcomes.length, ok: outcomes.filter((o) => o.ok).length, failures: [...new Set(outcomes.filter((o) => !o.ok).map((o) => o.error))], okMs: outcomes.filter((o) => o.ok).map((o) => o.ms) } })
}
