/**
 * End to end (DESIGN.md §10): the confidential round trip through the real `vouch-host` and its enclave
 * process, against two plain HTTPS Express + onnxruntime-node servers (bench/lib/plain-server.ts) with the same
 * model files, inputs, certificate and client transport, all in one run:
 * - *confidential*: `@vouch/client` `infer` (encode, HPKE seal, HTTPS, host relay over the link, enclave open,
 *   replay check, model (on its worker or the enclave's thread), receipt, seal; client open, receipt verification), attested once;
 * - *plain binary*: the same CBOR request plaintext (`encodeRequestPlaintext`), unsealed; the outputs' CBOR back;
 * - *plain JSON*: KServe v2 JSON (`JSON.stringify` of the sample) in and out.
 * Latency: the three paths interleaved per round (`measureInterleaved`). Throughput: 8 concurrent loops per
 * path, windows interleaved in rounds. Memory: peak RSS (VmHWM) of the host and the enclave per phase, against a
 * bare Node process holding the same two sessions after runs of each (bench/inference.bench.ts).
 * Run alone: node --conditions=@vouch/source --import tsx bench/e2e.bench.ts (after `npm run build`).
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { createClient, DEFAULT_TIMEOUT_MS, isClientError, loadPolicy, type VouchClient } from '@vouch/client'
import { parseManifest } from '@vouch/enclave'
import { assertTensorData, decodeCbor, encodeRequestPlaintext, type TensorData } from '@vouch/protocol'
import { createHttpsTransport, type Transport } from '../client/src/http.js'
import { CLS_FILE, DET_FILE, MODELS_DIR, readSample } from '../enclave/test/inference/helpers/models.js'
import { bareSessionsProcess } from './inference.bench.js'
import { ms, retryStale, stale, throughputInterleaved, type Call, type Throughput, type Timing } from './lib/measure.js'
import { BINARY_MEDIA_TYPE, latencyWithCpu, memoryOf, resetPeak, startPlainServer, startVouchHost, type HostProcess, type PathCpu, type ServerProcess } from './lib/servers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const PATHS = ['confidential', 'plain binary', 'plain JSON'] as const
/** Per model: latency rounds (each round runs all three paths once), warm-up rounds. */
const LATENCY = { 'ppocr-cls': { runs: 1000, warmup: 100 }, 'ppocr-det': { runs: 30, warmup: 3 } } as const
const CONCURRENCY = 8
/**
 * Throughput at {@link CONCURRENCY}: rounds of one window per path; the detector's JSON path is left out (bound by
 * the client's JSON encoding, and slow). Windows are short enough that no path's connections idle 5 s while the
 * others run: the servers (the host too) close kept-alive connections idle that long.
 */
const THROUGHPUT = { 'ppocr-cls': { rounds: 5, windowMs: 2_000, paths: 3 }, 'ppocr-det': { rounds: 3, windowMs: 3_000, paths: 2 } } as const
const BURST = 200
/** Largest response read by the plain clients (the JSON detector answer is about 8 MB). */
const MAX_RESPONSE_BYTES = 64 * 2 ** 20

type Model = keyof typeof LATENCY

/** The sample request of `models/samples/` as parsed JSON (what a KServe client sends). */
function sampleJson(model: Model): unknown {
  const file = join(MODELS_DIR, 'samples', model === 'ppocr-det' ? 'ppocr-det.json.gz' : `${model}.json`)
  const raw = readFileSync(file)
  return JSON.parse((file.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8')) as unknown
}

/** Throws unless both answers carry the same outputs (names, shapes, values within float noise). */
function assertSameOutputs(what: string, expected: readonly TensorData[], actual: ReadonlyArray<{ name: string; shape: number[]; values: ArrayLike<number> }>): void {
  if (expected.length !== actual.length) throw new Error(`${what}: ${actual.length} outputs, expected ${expected.length}`)
  for (const [i, e] of expected.entries()) {
    const a = actual[i]!
    const values = new Float32Array(e.data.slice().buffer)
    if (a.name !== e.name || a.shape.join() !== e.shape.join() || a.values.length !== values.length) {
      throw new Error(`${what}: output ${a.name} [${a.shape.join()}] differs from ${e.name} [${e.shape.join()}]`)
    }
    for (let j = 0; j < values.length; j++) {
      if (Math.abs(values[j]! - a.values[j]!) > 1e-4) throw new Error(`${what}: output ${a.name}[${j}] is ${a.values[j]}, expected ${values[j]}`)
    }
  }
}

/** `client.attest()`, retried after the host's `Retry-After` second while the enclave answers 429 (rate-limited). */
async function attestPaced(client: VouchClient): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await client.attest()
      return
    } catch (error) {
      if (!isClientError(error) || error.status !== 429 || attempt >= 20) throw error
      await new Promise((resolve) => setTimeout(resolve, 1_000))
    }
  }
}

interface Peak {
  phase: string
  host: number
  enclave: number
}

const verdict = (met: boolean): string => (met ? 'met' : '**not met**')
const mb = (value: number): string => value.toFixed(1)

export async function benchE2e(log: (line: string) => void): Promise<string> {
  // Other work on this machine skews every path, the confidential one (four processes and threads) the most.
  const loadBefore = loadavg()[0]!
  stale.retries = 0
  // The baseline of the enclave's memory, measured before any server runs.
  const bare = bareSessionsProcess()
  const bareEnclaveOptions = bareSessionsProcess(true)
  log(`e2e bare onnxruntime process, both sessions after runs of each: peak ${mb(bare.peak)} MB with default options, ${mb(bareEnclaveOptions.peak)} MB with the enclave's`)

  const cacheDir = mkdtempSync(join(tmpdir(), 'vouch-bench-e2e-'))
  const servers: ServerProcess[] = []
  const transports: Transport[] = []
  const clients: VouchClient[] = []
  try {
    // The host first: it creates the development certificate the plain servers reuse.
    const started = performance.now()
    const host: HostProcess = await startVouchHost(cacheDir)
    const tlsDir = join(cacheDir, 'tls')
    servers.push(host)
    const models = { 'ppocr-cls': CLS_FILE, 'ppocr-det': DET_FILE }
    const threads = Object.fromEntries(Object.keys(models).map((name) => [name, parseManifest(readFileSync(join(MODELS_DIR, `${name}.yaml`), 'utf8'), name).threads]))
    const plain = await Promise.allSettled([startPlainServer({ mode: 'binary', models, threads, tlsDir }), startPlainServer({ mode: 'json', models, threads, tlsDir })])
    for (const p of plain) if (p.status === 'fulfilled') servers.push(p.value)
    for (const p of plain) if (p.status === 'rejected') throw p.reason
    const [binaryServer, jsonServer] = servers.slice(1) as [ServerProcess, ServerProcess]
    log(`e2e servers up in ${ms(performance.now() - started)} ms: host ${host.url} (pid ${host.pid}, enclave pid ${host.enclavePid}), binary ${binaryServer.url}, JSON ${jsonServer.url}`)

    const policy = loadPolicy(join(REPO, 'policies', 'dev-simulated.yaml'))
    const newClient = (): VouchClient => {
      const client = createClient({ url: host.url, policy, ca: host.ca })
      clients.push(client)
      return client
    }
    const client = newClient()
    await client.attest()
    // The plain clients send with the confidential client's own transport: node:https, TLS 1.3, one keep-alive agent.
    const newTransport = (): Transport => {
      const transport = createHttpsTransport({ ca: host.ca, timeoutMs: DEFAULT_TIMEOUT_MS })
      transports.push(transport)
      return transport
    }
    const binaryTransport = newTransport()
    const jsonTransport = newTransport()

    const inputs: Record<Model, TensorData[]> = { 'ppocr-cls': readSample('ppocr-cls'), 'ppocr-det': readSample('ppocr-det') }
    const samples: Record<Model, unknown> = { 'ppocr-cls': sampleJson('ppocr-cls'), 'ppocr-det': sampleJson('ppocr-det') }

    const confidential = (model: Model): Promise<TensorData[]> => retryStale(() => client.infer(model, inputs[model])).then((r) => r.outputs)
    const binary = async (model: Model): Promise<TensorData[]> => {
      const body = encodeRequestPlaintext({ v: 1, id: randomUUID(), ts: Date.now(), model: { name: model }, inputs: inputs[model] })
      const url = new URL(`/v2/models/${model}/infer`, binaryServer.url)
      const res = await retryStale(() => binaryTransport.request({ method: 'POST', url, headers: { 'content-type': BINARY_MEDIA_TYPE, accept: BINARY_MEDIA_TYPE }, body, maxBytes: MAX_RESPONSE_BYTES }))
      if (res.status !== 200) throw new Error(`plain binary ${model}: HTTP ${res.status}: ${Buffer.from(res.body).toString('utf8')}`)
      const outputs = (decodeCbor(res.body, { maxBytes: MAX_RESPONSE_BYTES, maxDepth: 8 }) as { outputs: TensorData[] }).outputs
      for (const t of outputs) assertTensorData(t)
      return outputs
    }
    const json = async (model: Model): Promise<Array<{ name: string; shape: number[]; values: number[] }>> => {
      const url = new URL(`/v2/models/${model}/infer`, jsonServer.url)
      const body = Buffer.from(JSON.stringify(samples[model]))
      const res = await retryStale(() => jsonTransport.request({ method: 'POST', url, headers: { 'content-type': 'application/json', accept: 'application/json' }, body, maxBytes: MAX_RESPONSE_BYTES }))
      if (res.status !== 200) throw new Error(`plain JSON ${model}: HTTP ${res.status}: ${Buffer.from(res.body).toString('utf8')}`)
      const answer = JSON.parse(Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength).toString('utf8')) as { outputs: Array<{ name: string; shape: number[]; data: number[] }> }
      return answer.outputs.map((o) => ({ name: o.name, shape: o.shape, values: o.data }))
    }
    const calls = (model: Model): Call[] => [() => confidential(model), () => binary(model), () => json(model)]

    // The three paths must do the same work: same outputs for the same input.
    for (const model of ['ppocr-cls', 'ppocr-det'] as const) {
      const expected = await confidential(model)
      assertSameOutputs(`plain binary ${model}`, expected, (await binary(model)).map((t) => ({ name: t.name, shape: t.shape, values: new Float32Array(t.data.slice().buffer) })))
      assertSameOutputs(`plain JSON ${model}`, expected, await json(model))
    }

    // Memory phases: VmHWM of host and enclave, reset between phases; the first covers start-up and attestation.
    const peaks: Peak[] = []
    const phaseEnd = (phase: string): void => {
      const h = memoryOf(host.pid)
      const e = memoryOf(host.enclavePid)
      peaks.push({ phase, host: h.peak, enclave: e.peak })
      log(`e2e memory, ${phase}: host peak ${mb(h.peak)} MB (now ${mb(h.rss)}), enclave peak ${mb(e.peak)} MB (now ${mb(e.rss)})`)
      resetPeak(host.pid)
      resetPeak(host.enclavePid)
    }
    phaseEnd('start-up, attestation, one request per path and model')

    // The concurrency test (DESIGN.md §10's host memory bound): a burst of 200 concurrent confidential classifier
    // requests, on the host as it starts serving. one client keeps at most 16 connections, so the
    // burst is spread over enough clients (each attested first) that all 200 are on the wire at once.
    // The enclave rate-limits challenged attestations (10 back to back, then 2 per second): one at a time, waiting out a 429.
    const burstClients = Array.from({ length: Math.ceil(BURST / 16) }, newClient)
    for (const c of burstClients) await attestPaced(c)
    const burstStart = performance.now()
    await Promise.all(Array.from({ length: BURST }, (_, i) => retryStale(() => burstClients[i % burstClients.length]!.infer('ppocr-cls', inputs['ppocr-cls']))))
    const burstMs = performance.now() - burstStart
    log(`e2e burst: ${BURST} concurrent confidential ppocr-cls requests over ${burstClients.length} clients in ${ms(burstMs)} ms`)
    phaseEnd(`burst of ${BURST} concurrent ppocr-cls requests`)

    // Latency, and the CPU time each path costs per request: the client's (this process, counted around each call)
    // and its servers' (each server process serves one path; all threads, from /proc).
    const latency = {} as Record<Model, Timing[]>
    const cpu = {} as Record<Model, PathCpu[]>
    const serverPids = [[host.pid, host.enclavePid], [binaryServer.pid], [jsonServer.pid]] as const
    for (const model of ['ppocr-cls', 'ppocr-det'] as const) {
      ;({ latency: latency[model], cpu: cpu[model] } = await latencyWithCpu(calls(model), serverPids, LATENCY[model]))
      const [c, b, j] = latency[model] as [Timing, Timing, Timing]
      log(`e2e ${model} latency (median / p99 ms): confidential ${ms(c.median)} / ${ms(c.p99)}, plain binary ${ms(b.median)} / ${ms(b.p99)}, plain JSON ${ms(j.median)} / ${ms(j.p99)}; added ${ms(c.median - b.median)} ms (${(c.median / b.median).toFixed(2)}× binary, ${(c.median / j.median).toFixed(2)}× JSON)`)
      log(`e2e ${model} CPU per request (ms): ${cpu[model].map((x, k) => `${PATHS[k]} client ${ms(x.client)} + server ${x.servers.map(ms).join(' + ')}`).join('; ')}`)
    }
    phaseEnd('latency (one request at a time)')

    // Throughput at concurrency 8.
    const throughput = {} as Record<Model, Throughput[]>
    for (const model of ['ppocr-cls', 'ppocr-det'] as const) {
      const t = THROUGHPUT[model]
      throughput[model] = await throughputInterleaved(calls(model).slice(0, t.paths), { rounds: t.rounds, windowMs: t.windowMs, concurrency: CONCURRENCY })
      log(`e2e ${model} throughput at concurrency ${CONCURRENCY} (req/s): ${throughput[model].map((x, i) => `${PATHS[i]} ${x.rps.toFixed(1)} (${x.requests} in ${x.seconds.toFixed(1)} s)`).join(', ')}; confidential/binary ${((100 * throughput[model][0]!.rps) / throughput[model][1]!.rps).toFixed(0)} %`)
    }
    phaseEnd(`throughput, concurrency ${CONCURRENCY}`)


    log(`e2e: load average (1 min) ${loadBefore.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} now; stale keep-alive retries ${stale.retries}`)

    // Results.
    const latencyRows: string[] = []
    const targetRows: string[] = []
    for (const model of ['ppocr-cls', 'ppocr-det'] as const) {
      const [c, b, j] = latency[model] as [Timing, Timing, Timing]
      latencyRows.push(
        `| ${model} | ${LATENCY[model].runs} | ${ms(c.median)} / ${ms(c.p99)} | ${ms(b.median)} / ${ms(b.p99)} | ${ms(j.median)} / ${ms(j.p99)} | **${ms(c.median - b.median)}** | **${(c.median / b.median).toFixed(2)}×** | ${(c.median / j.median).toFixed(2)}× |`,
      )
    }
    const cpuRows = (['ppocr-cls', 'ppocr-det'] as const).map((model) => {
      const [c, b, j] = cpu[model] as [{ client: number; servers: number[] }, { client: number; servers: number[] }, { client: number; servers: number[] }]
      const total = (x: { client: number; servers: number[] }): number => x.client + x.servers.reduce((a, v) => a + v, 0)
      return `| ${model} | ${ms(c.client)} | ${ms(c.servers[0]!)} | ${ms(c.servers[1]!)} | **${ms(total(c))}** | ${ms(b.client)} | ${ms(b.servers[0]!)} | **${ms(total(b))}** | ${ms(j.client)} | ${ms(j.servers[0]!)} | **${ms(total(j))}** |`
    })
    const [cls, det] = [latency['ppocr-cls'], latency['ppocr-det']] as [Timing[], Timing[]]
    const added = cls[0]!.median - cls[1]!.median
    const detRatio = det[0]!.median / det[1]!.median
    targetRows.push(`| ppocr-cls: at most 1 ms added at the median against plain binary | ${added >= 0 ? '+' : ''}${ms(added)} ms | ${verdict(added <= 1)} |`)
    targetRows.push(`| ppocr-det: at most 1.10× plain binary at the median | ${detRatio.toFixed(2)}× | ${verdict(detRatio <= 1.1)} |`)
    for (const [model, t] of [['ppocr-cls', cls], ['ppocr-det', det]] as const) {
      targetRows.push(`| ${model}: at least as fast as plain JSON (median) | ${ms(t[0]!.median)} against ${ms(t[2]!.median)} ms (${(t[0]!.median / t[2]!.median).toFixed(2)}×) | ${verdict(t[0]!.median <= t[2]!.median)} |`)
    }
    const throughputRows: string[] = []
    for (const model of ['ppocr-cls', 'ppocr-det'] as const) {
      const [c, b, j] = throughput[model] as [Throughput, Throughput, Throughput | undefined]
      const share = c.rps / b.rps
      throughputRows.push(`| ${model} | ${c.rps.toFixed(1)} (${c.requests}) | ${b.rps.toFixed(1)} (${b.requests}) | ${j === undefined ? 'not run' : `${j.rps.toFixed(1)} (${j.requests})`} | **${(100 * share).toFixed(0)} %** |`)
      targetRows.push(`| ${model}: throughput at concurrency ${CONCURRENCY} at least 85 % of plain binary | ${(100 * share).toFixed(0)} % | ${verdict(share >= 0.85)} |`)
    }
    const [, burstPeak, latencyPeak, throughputPeak] = peaks as [Peak, Peak, Peak, Peak]
    const hostOverall = Math.max(...peaks.map((p) => p.host))
    const enclaveOverall = Math.max(...peaks.map((p) => p.enclave))
    const enclaveSequential = Math.max(peaks[0]!.enclave, latencyPeak.enclave)
    targetRows.push(
      `| host peak RSS under the concurrency test (${BURST} in flight) at most 150 MB | ${mb(burstPeak.host)} MB (throughput at concurrency ${CONCURRENCY}, detector included: ${mb(throughputPeak.host)} MB; whole run ${mb(hostOverall)} MB) | ${verdict(burstPeak.host <= 150)} |`,
    )
    targetRows.push(
      `| enclave peak RSS at most 1.3× bare onnxruntime with the same two sessions (${mb(bare.peak)} MB) | ${mb(enclaveOverall)} MB, ${(enclaveOverall / bare.peak).toFixed(2)}× (one request at a time: ${mb(enclaveSequential)} MB, ${(enclaveSequential / bare.peak).toFixed(2)}×) | ${verdict(enclaveOverall <= 1.3 * bare.peak)} |`,
    )

    return `## End to end: confidential against plain servers (\`bench/e2e.bench.ts\`)

Three paths on this machine, the client in the benchmark process, each server in its own process:
*confidential* is \`@vouch/client\` \`infer\` against the real \`vouch-host\` (\`--tee simulated --gpu simulated\`),
which relays to the real enclave process it supervises: the client encodes and seals the request (HPKE), sends it
over HTTPS, the host relays it over the link, the enclave opens it, checks replay, runs the model (on its worker
thread; the classifier, whose runs are short, on the enclave's own), signs the receipt and seals the answer; the client opens it and verifies the receipt (attested once
before). *Plain binary* is HTTPS Express 5 + onnxruntime-node (\`bench/lib/plain-server.ts\`) taking the same
CBOR request plaintext unsealed and answering the outputs' CBOR, no receipt. *Plain JSON* is the same server
taking KServe v2 JSON (\`JSON.stringify\` of the sample) and answering JSON. Same model files, session options,
inputs (\`models/samples/\`), TLS 1.3 certificate and client transport (node:https, one keep-alive agent);
the three paths' outputs are checked equal first. The 1-minute load average was ${loadBefore.toFixed(2)} when the
scenario started (other work on the machine: it slows the confidential path, with its four processes and threads
taking turns on ${cpus().length} cores, the most). Requests retried after a kept-alive connection closed under them: ${stale.retries}.

Latency, milliseconds, median / p99, the three paths interleaved per round:

| model | rounds | confidential | plain binary | plain JSON | added vs binary (median) | × binary | × JSON |
|---|---:|---:|---:|---:|---:|---:|---:|
${latencyRows.join('\n')}

CPU time per request during those rounds, ms: the client's (this process, measured around each call) and each
server process's (all its threads, from \`/proc/PID/stat\` in 10 ms ticks, divided by the requests it served,
warm-up included). onnxruntime's own threads count here (every server sets \`force_spinning_stop\`, so they stop
spinning when a run ends; without it they burnt about 40 ms of CPU after each classifier run). The client figure is
process-wide, so it also holds garbage collection that the other paths' calls left behind, on V8's helper threads:
for the detector it overstates the confidential client (the JSON path parses 10 MB per call). Measured alone,
thread by thread, a confidential detector call costs the client about 30 ms (encode 3.4, seal 4.8, request digest
4.4, the TLS write, then open, decode and the receipt's checks).

| model | confidential client | host | enclave | total | binary client | server | total | JSON client | server | total |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${cpuRows.join('\n')}

Throughput at concurrency ${CONCURRENCY} (${CONCURRENCY} loops, each sending its next request when its last one is answered),
requests per second (requests completed), windows of ${THROUGHPUT['ppocr-cls'].windowMs / 1000} s (classifier,
${THROUGHPUT['ppocr-cls'].rounds} per path) and ${THROUGHPUT['ppocr-det'].windowMs / 1000} s (detector, ${THROUGHPUT['ppocr-det'].rounds} per path) interleaved
across the paths. Client, host, enclave and the plain servers share the same ${cpus().length} cores, so this is the throughput of
the whole system on one machine. The detector's JSON path is not run (its cost is the client's JSON encoding).

| model | confidential | plain binary | plain JSON | confidential / binary |
|---|---:|---:|---:|---:|
${throughputRows.join('\n')}

Peak RSS (VmHWM, MB) of the host and of its enclave, reset to the current RSS at the start of each phase (so a
phase's peak includes what earlier phases left resident). The burst sends ${BURST}
concurrent confidential ppocr-cls requests through ${burstClients.length} attested clients (a client keeps at most 16
connections), so all are on the wire at once; it took ${ms(burstMs)} ms. It comes right after start-up, as the concurrency test
of DESIGN.md's host bound; the latency and throughput phases (the detector at concurrency ${CONCURRENCY} included) follow. Baseline: a bare Node process holding the same two
onnxruntime sessions (\`InferenceSession.create(bytes)\`, default options) after runs of each until its memory is steady,
${mb(bare.peak)} MB peak (median of 3 processes, \`bench/inference.bench.ts\`; DESIGN.md's "about 220 MB"). With the enclave's
own session options (no memory pattern) the same bare process peaks at ${mb(bareEnclaveOptions.peak)} MB: the enclave's
own cost beyond its sessions (its code, its worker thread, requests in flight) is the difference to that.

| phase | host | enclave | enclave / bare |
|---|---:|---:|---:|
${peaks.map((p) => `| ${p.phase} | ${mb(p.host)} | ${mb(p.enclave)} | ${(p.enclave / bare.peak).toFixed(2)}× |`).join('\n')}

Targets (DESIGN.md §10):

| target | measured | |
|---|---|---|
${targetRows.join('\n')}
`
  } finally {
    for (const c of clients) c.close()
    for (const t of transports) t.close()
    await Promise.allSettled(servers.map((s) => s.stop()))
    rmSync(cacheDir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchE2e((line) => console.log(line)))
