/**
 * Where the confidential round trip's time goes (issue 14, step 1): one classifier and one detector call, hop by
 * hop, wall and CPU, against the plain binary server (bench/lib/plain-server.ts). Every process traces its hops
 * (`VOUCH_TRACE_HOPS`, protocol/src/hop-trace.ts): this process's client and the plain client, the host, the
 * enclave and its session workers, the plain server. The two paths run interleaved (`measureInterleaved`); each
 * hop's figure is its median over the measured rounds, CPU its process's (all threads) over the hop. What happens
 * between two processes (TLS and the kernel, the link, the worker's message port) is not inside any one of them: it
 * is the caller's wait minus the callee's own time, medians subtracted.
 * Run alone: node --conditions=@vouch/source --import tsx bench/hops.bench.ts (after `npm run build`).
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createClient, DEFAULT_TIMEOUT_MS, loadPolicy, type VouchClient } from '@vouch/client'
import { parseManifest } from '@vouch/enclave'
import { decodeCbor, encodeRequestPlaintext, type TensorData } from '@vouch/protocol'
import { hop, HOP_TRACE_ENV, traceHopsTo, traceRequest } from '@vouch/protocol/hop-trace'
import { createHttpsTransport, type Transport } from '../client/src/http.js'
import { CLS_FILE, DET_FILE, MODELS_DIR, readSample } from '../enclave/test/inference/helpers/models.js'
import { measureInterleaved, ms, retryStale, type Timing } from './lib/measure.js'
import { BINARY_MEDIA_TYPE, startPlainServer, startVouchHost, type HostProcess, type ServerProcess } from './lib/servers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
/** Per model: measured rounds (each runs both paths once), after unmeasured (and untraced-in-the-figures) ones. */
const ROUNDS = { 'ppocr-cls': { runs: 300, warmup: 50 }, 'ppocr-det': { runs: 12, warmup: 3 } } as const
type Model = keyof typeof ROUNDS

/** One traced request as a process wrote it. */
interface TraceRecord {
  part: string
  hops: Array<[string, number, number]>
}

/** Each part's hops: name → wall and CPU samples, in first-seen order; and each record's total. */
type Hops = Map<string, { hops: Map<string, { wall: number[]; cpu: number[] }>; total: { wall: number[]; cpu: number[] } }>

const median = (values: number[]): number => {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

function group(records: TraceRecord[]): Hops {
  const parts: Hops = new Map()
  for (const r of records) {
    let p = parts.get(r.part)
    if (p === undefined) parts.set(r.part, (p = { hops: new Map(), total: { wall: [], cpu: [] } }))
    let wall = 0
    let cpu = 0
    for (const [name, w, c] of r.hops) {
      let h = p.hops.get(name)
      if (h === undefined) p.hops.set(name, (h = { wall: [], cpu: [] }))
      h.wall.push(w)
      h.cpu.push(c)
      wall += w
      cpu += c
    }
    p.total.wall.push(wall)
    p.total.cpu.push(cpu)
  }
  return parts
}

/** The traced requests appended to `file` since byte `from`. */
function recordsSince(file: string, from: number): TraceRecord[] {
  return readFileSync(file).subarray(from).toString('utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as TraceRecord)
}

const sizeOf = (file: string): number => {
  try {
    return statSync(file).size
  } catch {
    return 0
  }
}

export async function benchHops(log: (line: string) => void): Promise<string> {
  const loadBefore = loadavg()[0]!
  const cacheDir = mkdtempSync(join(tmpdir(), 'vouch-bench-hops-'))
  const traceFile = join(cacheDir, 'hops.jsonl')
  const env = { [HOP_TRACE_ENV]: traceFile }
  const servers: ServerProcess[] = []
  let client: VouchClient | undefined
  let transport: Transport | undefined
  try {
    const host: HostProcess = await startVouchHost(cacheDir, { env })
    servers.push(host)
    const models = { 'ppocr-cls': CLS_FILE, 'ppocr-det': DET_FILE }
    const threads = Object.fromEntries(Object.keys(models).map((name) => [name, parseManifest(readFileSync(join(MODELS_DIR, `${name}.yaml`), 'utf8'), name).threads]))
    const plain = await startPlainServer({ mode: 'binary', models, threads, tlsDir: join(cacheDir, 'tls') }, undefined, env)
    servers.push(plain)
    client = createClient({ url: host.url, policy: loadPolicy(join(REPO, 'policies', 'dev-simulated.yaml')), ca: host.ca })
    await client.attest()
    transport = createHttpsTransport({ ca: host.ca, timeoutMs: DEFAULT_TIMEOUT_MS })
    const inputs: Record<Model, TensorData[]> = { 'ppocr-cls': readSample('ppocr-cls'), 'ppocr-det': readSample('ppocr-det') }
    const confidential = (model: Model): Promise<unknown> => retryStale(() => client!.infer(model, inputs[model]))
    // The plain binary path as bench/e2e.bench.ts sends it, its client's hops traced like the confidential client's.
    const binary = (model: Model): Promise<unknown> =>
      traceRequest('plain-client', async () => {
        const body = encodeRequestPlaintext({ v: 1, id: randomUUID(), ts: Date.now(), model: { name: model }, inputs: inputs[model] })
        hop('encode')
        const url = new URL(`/v2/models/${model}/infer`, plain.url)
        const res = await retryStale(() => transport!.request({ method: 'POST', url, headers: { 'content-type': BINARY_MEDIA_TYPE, accept: BINARY_MEDIA_TYPE }, body, maxBytes: 64 * 2 ** 20 }))
        hop('http exchange')
        if (res.status !== 200) throw new Error(`plain binary ${model}: HTTP ${res.status}`)
        const outputs = decodeCbor(res.body, { maxBytes: 64 * 2 ** 20, maxDepth: 8 })
        hop('decode')
        return outputs
      })

    const sections: string[] = []
    for (const model of ['ppocr-cls', 'ppocr-det'] as const) {
      const { runs, warmup } = ROUNDS[model]
      for (let i = 0; i < warmup; i++) {
        await confidential(model)
        await binary(model)
      }
      traceHopsTo(traceFile)
      const from = sizeOf(traceFile)
      const [c, b] = (await measureInterleaved([() => confidential(model), () => binary(model)], { runs, warmup: 0 })) as [Timing, Timing]
      traceHopsTo(null)
      const parts = group(recordsSince(traceFile, from))
      const counts = [...parts].map(([part, p]) => `${part} ${p.total.wall.length}`).join(', ')
      log(`hops ${model}: confidential ${ms(c.median)} ms, plain binary ${ms(b.median)} ms (medians of ${runs}); records: ${counts}`)
      sections.push(table(model, parts, c, b))
      log(sections.at(-1)!)
    }
    return `## Per hop: where the confidential round trip's time goes (\`bench/hops.bench.ts\`)

One classifier and one detector call, hop by hop, against the plain binary server of \`bench/e2e.bench.ts\`
(same models, session options, inputs, certificate and client transport), the two paths interleaved per round.
Every process traces its own hops (\`${HOP_TRACE_ENV}\`, protocol/src/hop-trace.ts; off in production): wall time and
its process's CPU time (all threads: onnxruntime's and libuv's included) from the hop before, medians over the
measured rounds. Between two processes (TLS and the kernel, the enclave link, a worker's message port) no process
times anything: that row is the caller's wait minus the callee's own time, medians subtracted, and marked *derived*.
Tracing adds a file append per request per process (a few µs). The 1-minute load average was ${loadBefore.toFixed(2)}
when the scenario started.

${sections.join('\n')}`
  } finally {
    traceHopsTo(null)
    client?.close()
    transport?.close()
    await Promise.allSettled(servers.map((s) => s.stop()))
    rmSync(cacheDir, { recursive: true, force: true })
  }
}

/** The per-hop table of one model and the gap, group by group. */
function table(model: Model, parts: Hops, c: Timing, b: Timing): string {
  const wall = (part: string, name?: string): number => {
    const p = parts.get(part)
    return median((name === undefined ? p?.total : p?.hops.get(name))?.wall ?? [])
  }
  const cpu = (part: string, name?: string): number => {
    const p = parts.get(part)
    return median((name === undefined ? p?.total : p?.hops.get(name))?.cpu ?? [])
  }
  const names = (part: string): string[] => [...(parts.get(part)?.hops.keys() ?? [])]
  const f = (v: number): string => (Number.isNaN(v) ? '' : ms(v))
  const rows: string[] = []
  const row = (where: string, hopName: string, cw: number, cc: number, pw: number, pc: number): void => {
    rows.push(`| ${where} | ${hopName} | ${f(cw)} | ${f(cc)} | ${f(pw)} | ${f(pc)} |`)
  }
  // The client's hops.
  const clientHops = names('client')
  for (const name of clientHops) {
    const plainHas = parts.get('plain-client')?.hops.has(name) ?? false
    row('client', name, wall('client', name), cpu('client', name), plainHas ? wall('plain-client', name) : NaN, plainHas ? cpu('plain-client', name) : NaN)
  }
  const toFront = wall('client', 'http exchange') - wall('host')
  const toPlain = wall('plain-client', 'http exchange') - wall('plain-server')
  row('client ↔ server', '*derived*: TLS, kernel, HTTP parsing, both ways', toFront, NaN, toPlain, NaN)
  for (const name of names('host')) row('host', name, wall('host', name), cpu('host', name), NaN, NaN)
  for (const name of names('plain-server')) row('plain server', name, NaN, NaN, wall('plain-server', name), cpu('plain-server', name))
  const link = wall('host', 'enclave (link round trip)') - wall('enclave')
  row('host ↔ enclave', '*derived*: the link both ways (frame I/O, wake-ups)', link, NaN, NaN, NaN)
  for (const name of names('enclave')) row('enclave', name, wall('enclave', name), cpu('enclave', name), NaN, NaN)
  // A model on a worker thread: from the post (the end of the hand-off) to the outputs back, the request's commitment
  // and the run, against the worker's own time. On the enclave's thread (a short model) there is no worker and no port.
  const onWorker = parts.has('worker')
  const port = onWorker ? wall('enclave', 'commit request') + wall('enclave', 'run (wall)') - wall('worker') : 0
  if (onWorker) row('enclave ↔ worker', '*derived*: message port both ways, wake-ups', port, NaN, NaN, NaN)
  for (const name of names('worker')) row('worker', name, wall('worker', name), cpu('worker', name), NaN, NaN)

  // The gap, group by group: confidential minus plain.
  const sum = (part: string, hopNames: string[]): number => hopNames.reduce((s, n) => s + (parts.get(part)?.hops.has(n) ? wall(part, n) : 0), 0)
  const clientOwn = sum('client', clientHops.filter((n) => n !== 'http exchange')) - sum('plain-client', names('plain-client').filter((n) => n !== 'http exchange'))
  const front = sum('host', ['receive', 'send']) - sum('plain-server', ['receive', 'send'])
  const enclaveCrypto =
    sum('enclave', ['open', 'decode', 'replay check', 'receipt (commit outputs, sign)', 'seal']) - sum('plain-server', ['decode', 'encode'])
  const linkAll = sum('host', ['relay (link write)']) + link + sum('enclave', ['read frame', 'model slot', 'answer (link write)'])
  const handOff = sum('enclave', ['hand-off (check, pack, post)']) + (onWorker ? port + sum('worker', ['feeds', 'outputs']) : sum('enclave', ['commit request']))
  const run = (onWorker ? sum('worker', ['session.run']) : sum('enclave', ['run (wall)'])) - sum('plain-server', ['session.run'])
  const logged = sum('host', ['receipt log'])
  const gaps: Array<[string, number]> = [
    ['client: seal, open, verify (beyond encode and decode)', clientOwn],
    ['client ↔ front server (TLS, kernel, HTTP)', toFront - toPlain],
    ['front server: receive and send (host against plain server)', front],
    ['host ↔ enclave: relay write, link both ways, frame read, slot, answer write', linkAll],
    ['enclave: open, decode, replay, receipt, seal (against the plain decode and encode)', enclaveCrypto],
    onWorker
      ? ['enclave ↔ worker: pack, post, message port both ways (the request\'s commitment meanwhile), feeds, outputs', handOff]
      : ["enclave: pack, the request's commitment (the model runs on the enclave's thread: no worker)", handOff],
    [`model run (${onWorker ? 'worker' : "enclave's thread"} against plain server)`, run],
    ['host: receipt log append (durable, checkpoint signed)', logged],
  ]
  const explained = gaps.reduce((s, [, v]) => s + v, 0)
  const biggest = [...gaps].sort((x, y) => y[1] - x[1])[0]!
  return `### ${model}

Round trip, median of the interleaved rounds: confidential ${ms(c.median)} ms, plain binary ${ms(b.median)} ms,
**${ms(c.median - b.median)} ms** added. Per hop, ms (median; CPU of the hop's process, all threads):

| where | hop | confidential wall | CPU | plain wall | CPU |
|---|---|---:|---:|---:|---:|
${rows.join('\n')}

The gap, group by group (confidential minus plain, sums of medians; ${ms(explained)} ms of the ${ms(c.median - b.median)} ms
measured): the largest is **${biggest[0]}, ${ms(biggest[1])} ms**.

| group | added, ms |
|---|---:|
${gaps.map(([name, v]) => `| ${name} | ${ms(v)} |`).join('\n')}
`
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchHops((line) => console.log(line)))
