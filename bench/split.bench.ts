/**
 * The split's floor (issue 14): what any design pays, on this machine, for keeping the model in a process of its own
 * behind an untrusted host, measured with the least code that can do it, beside the plain binary server and Vouch.
 * Four paths, the client in this process, interleaved per round:
 * - *plain binary*: bench/lib/plain-server.ts, HTTPS, the model in the same process (bench/e2e.bench.ts's baseline);
 * - *bare split*: the same server's code behind bench/lib/bare-relay.ts (node:https, no framework, the body read
 *   into one buffer and relayed as one frame over a Unix socket, bench/lib/frames.ts): the client ↔ host ↔ model
 *   processes and nothing else;
 * - *bare confidential*: the bare split carrying what the protocol itself requires: the client seals the request
 *   (HPKE); the model process opens it in place, commits to request and outputs with the receipt opening, signs the
 *   receipt (Ed25519) and seals the answer; the client opens it, checks the signature and both commitments. No
 *   attestation, replay check, policy, log or worker thread;
 * - *Vouch*: `@vouch/client` against `vouch-host --tee simulated --gpu simulated`, as in bench/e2e.bench.ts.
 * Run alone: node --conditions=@vouch/source --import tsx bench/split.bench.ts (after `npm run build`).
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createClient, DEFAULT_TIMEOUT_MS, loadPolicy, type VouchClient } from '@vouch/client'
import { parseManifest } from '@vouch/enclave'
import {
  decodeCbor,
  decodeReceipt,
  decodeResponsePlaintext,
  encodeRequestPlaintext,
  encodeTensors,
  exportReceiptOpening,
  openResponse,
  receiptCommitment,
  sealRequest,
  SEALED_MEDIA_TYPE,
  verifyReceiptSignature,
  type Keyset,
  type TensorData,
} from '@vouch/protocol'
import { createHttpsTransport, type Transport } from '../client/src/http.js'
import { CLS_FILE, DET_FILE, MODELS_DIR, readSample } from '../enclave/test/inference/helpers/models.js'
import { ms, retryStale, throughputInterleaved, type Call, type Throughput, type Timing } from './lib/measure.js'
import { BINARY_MEDIA_TYPE, cpuTimeOf, latencyWithCpu, startBareRelay, startPlainServer, startVouchHost, type PathCpu, type ServerProcess } from './lib/servers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const PATHS = ['plain binary', 'bare split', 'bare confidential', 'Vouch'] as const
const LATENCY = { 'ppocr-cls': { runs: 600, warmup: 60 }, 'ppocr-det': { runs: 20, warmup: 3 } } as const
const THROUGHPUT = { rounds: 4, windowMs: 2_000, concurrency: 8 }
const MAX_RESPONSE_BYTES = 64 * 2 ** 20

type Model = keyof typeof LATENCY

const same = (a: readonly TensorData[], b: readonly TensorData[]): boolean => Buffer.from(encodeTensors(a)).equals(Buffer.from(encodeTensors(b)))

/** Runs the scenario; returns the markdown section for docs/benchmarks.md. */
export async function benchSplit(log: (line: string) => void): Promise<string> {
  const loadBefore = loadavg()[0]!
  const cacheDir = mkdtempSync(join(tmpdir(), 'vouch-bench-split-'))
  const servers: ServerProcess[] = []
  const transports: Transport[] = []
  let client: VouchClient | undefined
  try {
    const host = await startVouchHost(cacheDir)
    servers.push(host)
    const tlsDir = join(cacheDir, 'tls')
    const models = { 'ppocr-cls': CLS_FILE, 'ppocr-det': DET_FILE }
    const threads = Object.fromEntries(Object.keys(models).map((name) => [name, parseManifest(readFileSync(join(MODELS_DIR, `${name}.yaml`), 'utf8'), name).threads]))
    const keysetFile = join(cacheDir, 'bare-keyset.json')
    const [splitPath, sealedPath] = [join(cacheDir, 'split.sock'), join(cacheDir, 'sealed.sock')]
    const binaryServer = await startPlainServer({ mode: 'binary', models, threads, tlsDir })
    servers.push(binaryServer)
    const splitBack = await startPlainServer({ mode: 'link', models, threads, tlsDir, link: { path: splitPath } })
    servers.push(splitBack)
    const sealedBack = await startPlainServer({ mode: 'link', models, threads, tlsDir, link: { path: sealedPath, keysetOut: keysetFile } })
    servers.push(sealedBack)
    const keyset = JSON.parse(readFileSync(keysetFile, 'utf8')) as Keyset
    const splitRelay = await startBareRelay({ tlsDir, path: splitPath })
    servers.push(splitRelay)
    const sealedRelay = await startBareRelay({ tlsDir, path: sealedPath })
    servers.push(sealedRelay)
    log(`split: servers up: host ${host.url}, plain binary ${binaryServer.url}, bare split ${splitRelay.url}, bare confidential ${sealedRelay.url}`)

    client = createClient({ url: host.url, policy: loadPolicy(join(REPO, 'policies', 'dev-simulated.yaml')), ca: host.ca })
    await client.attest()
    const vouch = client
    const transport = (): Transport => {
      const t = createHttpsTransport({ ca: host.ca, timeoutMs: DEFAULT_TIMEOUT_MS })
      transports.push(t)
      return t
    }
    const [binaryTransport, splitTransport, sealedTransport] = [transport(), transport(), transport()]
    const inputs: Record<Model, TensorData[]> = { 'ppocr-cls': readSample('ppocr-cls'), 'ppocr-det': readSample('ppocr-det') }
    const plaintext = (model: Model): Uint8Array => encodeRequestPlaintext({ v: 1, id: randomUUID(), ts: Date.now(), model: { name: model }, inputs: inputs[model] })
    const post = async (t: Transport, base: string, model: Model, type: string, body: Uint8Array): Promise<Uint8Array> => {
      const res = await retryStale(() => t.request({ method: 'POST', url: new URL(`/v2/models/${model}/infer`, base), headers: { 'content-type': type, accept: type }, body, maxBytes: MAX_RESPONSE_BYTES }))
      if (res.status !== 200) throw new Error(`${base} ${model}: HTTP ${res.status}`)
      return res.body
    }
    const plainOutputs = (body: Uint8Array): TensorData[] => (decodeCbor(body, { maxBytes: MAX_RESPONSE_BYTES, maxDepth: 8 }) as { outputs: TensorData[] }).outputs
    const binary = async (model: Model): Promise<TensorData[]> => plainOutputs(await post(binaryTransport, binaryServer.url, model, BINARY_MEDIA_TYPE, plaintext(model)))
    const split = async (model: Model): Promise<TensorData[]> => plainOutputs(await post(splitTransport, splitRelay.url, model, BINARY_MEDIA_TYPE, plaintext(model)))
    const bareConfidential = async (model: Model): Promise<TensorData[]> => {
      const request = plaintext(model)
      const { body, context } = await sealRequest(keyset.enc, keyset.kid, request)
      const answer = decodeResponsePlaintext(await openResponse(context, await post(sealedTransport, sealedRelay.url, model, SEALED_MEDIA_TYPE, body)))
      await verifyReceiptSignature(answer.receipt, keyset.sig, { kid: keyset.kid })
      const { payload } = decodeReceipt(answer.receipt)
      const opening = await exportReceiptOpening(context)
      if (payload.request !== receiptCommitment(opening, request) || payload.response !== receiptCommitment(opening, encodeTensors(answer.outputs))) {
        throw new Error(`bare confidential ${model}: the receipt does not commit to this request and its outputs`)
      }
      return answer.outputs
    }
    const confidential = async (model: Model): Promise<TensorData[]> => (await retryStale(() => vouch.infer(model, inputs[model]))).outputs
    const calls = (model: Model): Array<() => Promise<TensorData[]>> => [() => binary(model), () => split(model), () => bareConfidential(model), () => confidential(model)]

    for (const model of ['ppocr-cls', 'ppocr-det'] as const) {
      const [expected, ...others] = await Promise.all(calls(model).map((call) => call()))
      for (const [k, outputs] of others.entries()) if (!same(expected!, outputs)) throw new Error(`split: ${PATHS[k + 1]} ${model} answers other outputs than plain binary`)
    }

    const serverPids = [[binaryServer.pid], [splitRelay.pid, splitBack.pid], [sealedRelay.pid, sealedBack.pid], [host.pid, host.enclavePid]]
    const latency = {} as Record<Model, Timing[]>
    const cpu = {} as Record<Model, PathCpu[]>
    for (const model of ['ppocr-cls', 'ppocr-det'] as const) {
      ;({ latency: latency[model], cpu: cpu[model] } = await latencyWithCpu(calls(model), serverPids, LATENCY[model]))
      log(`split ${model} latency (median / p99 ms): ${latency[model].map((t, k) => `${PATHS[k]} ${ms(t.median)} / ${ms(t.p99)}`).join(', ')}`)
    }

    const served = PATHS.map(() => 0)
    const countedCls: Call[] = calls('ppocr-cls').map((fn, k) => async () => {
      await fn()
      served[k]!++
    })
    const before = serverPids.map((pids) => pids.map(cpuTimeOf))
    const throughput: Throughput[] = await throughputInterleaved(countedCls, THROUGHPUT)
    const loadedCpu = serverPids.map((pids, k) => pids.map((pid, i) => (cpuTimeOf(pid) - before[k]![i]!) / served[k]!))
    log(`split ppocr-cls throughput at concurrency ${THROUGHPUT.concurrency} (req/s): ${throughput.map((t, k) => `${PATHS[k]} ${t.rps.toFixed(1)}`).join(', ')}`)

    const base = (model: Model): Timing => latency[model][0]!
    const latencyRows = (['ppocr-cls', 'ppocr-det'] as const).map((model) => {
      const cells = latency[model].map((t, k) => (k === 0 ? `${ms(t.median)} / ${ms(t.p99)}` : `${ms(t.median)} / ${ms(t.p99)} (+${ms(t.median - base(model).median)}, ${(t.median / base(model).median).toFixed(2)}×)`))
      return `| ${model} | ${LATENCY[model].runs} | ${cells.join(' | ')} |`
    })
    const cpuCell = (x: PathCpu): string => `${ms(x.client)} + ${x.servers.map(ms).join(' + ')} = **${ms(x.client + x.servers.reduce((a, v) => a + v, 0))}**`
    const cpuRows = (['ppocr-cls', 'ppocr-det'] as const).map((model) => `| ${model} | ${cpu[model].map(cpuCell).join(' | ')} |`)
    const rps = throughput.map((t) => t.rps)
    const tputCells = throughput.map((t, k) => `${t.rps.toFixed(1)} (${t.requests})${k === 0 ? '' : `, **${((100 * t.rps) / rps[0]!).toFixed(0)} %**`}`)
    const loadedCells = loadedCpu.map((servers) => servers.map(ms).join(' + '))
    // Each target of DESIGN.md §10 that a round trip can be held to, on the three split paths: met by none, the split
    // itself is the floor that holds it; met by the bare split only, the protocol's own work is.
    const cls = latency['ppocr-cls']
    const det = latency['ppocr-det']
    const targets: Array<{ target: string; values: string[]; met: boolean[] }> = [
      { target: 'ppocr-cls: at most 1 ms added at the median', values: cls.slice(1).map((t) => `+${ms(t.median - cls[0]!.median)} ms`), met: cls.slice(1).map((t) => t.median - cls[0]!.median <= 1) },
      { target: 'ppocr-det: at most 1.10× plain binary at the median', values: det.slice(1).map((t) => `${(t.median / det[0]!.median).toFixed(2)}×`), met: det.slice(1).map((t) => t.median / det[0]!.median <= 1.1) },
      { target: `ppocr-cls: throughput at concurrency ${THROUGHPUT.concurrency} at least 85 % of plain binary`, values: rps.slice(1).map((r) => `${((100 * r) / rps[0]!).toFixed(0)} %`), met: rps.slice(1).map((r) => r / rps[0]! >= 0.85) },
    ]
    // Vouch ahead of the bare confidential path (the detector: the bare client seals into a fresh buffer, faulted in
    // page by page) makes that path no floor for the target.
    const floorOf = (met: boolean[], vouchAhead: boolean): string =>
      !met[0] ? 'no: the bare split alone misses it' : met[1] ? 'yes' : vouchAhead ? 'not shown: Vouch is ahead of the bare confidential path, which is then no floor' : "no: the protocol's own work on top of the split misses it"
    const ahead = [cls[3]!.median < cls[2]!.median, det[3]!.median < det[2]!.median, rps[3]! > rps[2]!]
    const targetRows = targets.map((t, k) => `| ${t.target} | ${t.values.join(' | ')} | ${floorOf(t.met, ahead[k]!)} |`)
    log(`split: load average (1 min) ${loadBefore.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} now`)
    return `## The split's floor: a model behind a host process, with the least code (\`bench/split.bench.ts\`)

What any design pays here for keeping the model in a process of its own behind an untrusted host, measured with the
least code that can do it (issue 14's floors for the end-to-end targets; \`bench/floors.bench.ts\` has those of
single hops). Four paths, the client in the benchmark process, the same models, session options, inputs, TLS 1.3
certificate and client transport, interleaved per round: *plain binary* is bench/e2e.bench.ts's baseline (HTTPS,
the model in the server's process). *Bare split* is the same server code behind a bare relay
(\`bench/lib/bare-relay.ts\`: node:https, no framework, each body read into one buffer of its declared length and
relayed as one frame over a Unix socket, \`bench/lib/frames.ts\`). *Bare confidential* is the bare split doing what
the protocol itself requires: the client seals the request (HPKE); the model's process opens it in place, commits
to the request and the outputs under the receipt opening, signs the receipt (Ed25519) and seals the answer; the
client opens it and checks the signature and both commitments (no attestation, replay check, policy, log or worker
thread). *Vouch* is \`@vouch/client\` against \`vouch-host --tee simulated --gpu simulated\`, as in the end-to-end
section. The 1-minute load average was ${loadBefore.toFixed(2)} when the scenario started.

Latency, ms, median / p99 (added to plain binary at the median, and the ratio):

| model | rounds | plain binary | bare split | bare confidential | Vouch |
|---|---:|---:|---:|---:|---:|
${latencyRows.join('\n')}

CPU time per request during those rounds, ms: client + each server process (relay + model process; host + enclave).

| model | plain binary | bare split | bare confidential | Vouch |
|---|---:|---:|---:|---:|
${cpuRows.join('\n')}

Throughput of ppocr-cls at concurrency ${THROUGHPUT.concurrency}, requests per second (requests), windows of ${THROUGHPUT.windowMs / 1000} s, ${THROUGHPUT.rounds} per path,
interleaved in alternating order, and against plain binary; then each path's servers' CPU per request meanwhile (ms):

| | plain binary | bare split | bare confidential | Vouch |
|---|---:|---:|---:|---:|
| requests per second | ${tputCells.join(' | ')} |
| servers' CPU per request | ${loadedCells.join(' | ')} |

The targets of DESIGN.md §10 that hold the round trip, on the three split paths of this run: a target the bare split
misses is out of reach of any design that keeps the model behind a host process on this machine; one the bare
confidential path misses is out of reach of any that also does the protocol's own work (with Vouch's protocol
library: bench/floors.bench.ts has the bare operations).

| target | bare split | bare confidential | Vouch | reachable by a split here |
|---|---:|---:|---:|---|
${targetRows.join('\n')}
`
  } finally {
    client?.close()
    for (const t of transports) t.close()
    await Promise.allSettled(servers.map((s) => s.stop()))
    rmSync(cacheDir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchSplit((line) => console.log(line)))
