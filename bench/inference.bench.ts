/**
 * Inference in the enclave (DESIGN.md §10), for the PP-OCR classifier and detector with their samples:
 * - load: `loadModels` (read, SHA-256, one session per model on its worker thread, or on this thread for a model
 *   with short runs, the classifier) against bare
 *   `InferenceSession.create` from the same bytes;
 * - runs: `runModel` (validation, one copy of the inputs, the worker hop where there is a worker) against a bare `session.run` on this thread,
 *   interleaved; and `prepareRun` alone (validation and packing);
 * - event loop: the longest gap of a 1 ms timer during 4 concurrent detector runs, bare and through `runModel`;
 * - memory: RSS of a fresh process holding both models after one run each, enclave code (from dist) and bare.
 * Run alone: node --conditions=@vouch/source --import tsx bench/inference.bench.ts (after `npm run build`).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import ort from 'onnxruntime-node'
import { loadModel, loadModels, prepareRun, runModel, type LoadedModel } from '@vouch/enclave'
import { sessionOptions } from '../enclave/src/inference/session-options.js'
import type { TensorData } from '@vouch/protocol'
import { CLS_FILE, DET_FILE, MODELS_DIR, readSample } from '../enclave/test/inference/helpers/models.js'
import { measure, measureInterleaved, ms, type Timing } from './lib/measure.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))

function feedsOf(inputs: TensorData[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {}
  for (const i of inputs) feeds[i.name] = new ort.Tensor('float32', new Float32Array(i.data.slice().buffer), i.shape)
  return feeds
}

/** Longest gap (ms) of a 1 ms interval timer while `work` runs. */
async function longestGap(work: () => Promise<unknown>): Promise<number> {
  let maxGap = 0
  let last = performance.now()
  const timer = setInterval(() => {
    const now = performance.now()
    maxGap = Math.max(maxGap, now - last)
    last = now
  }, 1)
  await work()
  clearInterval(timer)
  return Math.max(maxGap, performance.now() - last)
}

/**
 * A fresh Node process running `code` (an ES module, ending with `${REPORT}`): its load time (ms), RSS and peak RSS (MB).
 * The peak is the child's own VmHWM: `resourceUsage().maxRSS` of a spawned child starts from its parent's peak on
 * Linux (the parent's high-water mark carries over the exec), so it would report this bench process instead.
 */
function child(code: string): { load: number; rss: number; peak: number } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: REPO, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`)
  const out = JSON.parse(r.stdout) as { load: number; rss: number; hwm: number }
  return { load: out.load, rss: out.rss / 2 ** 20, peak: out.hwm / 1024 }
}

const REPORT = `const hwm = Number(/VmHWM:\\s+(\\d+)/.exec((await import('node:fs')).readFileSync('/proc/self/status', 'utf8'))[1])
console.log(JSON.stringify({ load, rss: process.memoryUsage().rss, hwm }))`

const INPUTS = `const cls = { name: 'x', datatype: 'FP32', shape: [1, 3, 48, 192], data: new Uint8Array(3 * 48 * 192 * 4) }
const det = { name: 'x', datatype: 'FP32', shape: [1, 3, 640, 640], data: new Uint8Array(3 * 640 * 640 * 4) }`

/**
 * Runs of each model before memory is read. A bare process's resident memory still grows on the detector's second
 * run (onnxruntime's arena extends) and is steady from the third: 163, 221, 222, 224 MB on the runs of DESIGN.md's
 * machine. "After a run" is read at that steady state, which is DESIGN.md §10's "about 220 MB".
 */
const STEADY_RUNS = 3

const ENCLAVE_CHILD = `import { loadModels } from ${JSON.stringify(pathToFileURL(`${REPO}enclave/dist/inference/index.js`).href)}
${INPUTS}
const t = performance.now()
const { loaded: [c, d], refused } = await loadModels(${JSON.stringify(MODELS_DIR)})
if (refused.length > 0) throw refused[0].error
const load = performance.now() - t
for (let i = 0; i < ${STEADY_RUNS}; i++) { await c.run([cls]); await d.run([det]) }
${REPORT}
await c.close(); await d.close()`

/** A bare process: both sessions on the main thread, with onnxruntime's default options or the given ones. */
const bareChild = (options: object): string => `import ort from 'onnxruntime-node'
import { readFileSync } from 'node:fs'
${INPUTS}
const options = ${JSON.stringify(options)}
const t = performance.now()
const c = await ort.InferenceSession.create(readFileSync(${JSON.stringify(CLS_FILE)}), options)
const d = await ort.InferenceSession.create(readFileSync(${JSON.stringify(DET_FILE)}), options)
const load = performance.now() - t
for (let i = 0; i < ${STEADY_RUNS}; i++) {
  await c.run({ x: new ort.Tensor('float32', new Float32Array(cls.data.buffer), cls.shape) })
  await d.run({ x: new ort.Tensor('float32', new Float32Array(det.data.buffer), det.shape) })
}
${REPORT}`

/** {@link child} three times: the median of each figure. */
function fresh(code: string): { load: number; rss: number; peak: number } {
  const runs = [child(code), child(code), child(code)]
  const mid = (k: 'load' | 'rss' | 'peak'): number => runs.map((r) => r[k]).sort((a, b) => a - b)[1]!
  return { load: mid('load'), rss: mid('rss'), peak: mid('peak') }
}

/**
 * A fresh Node process holding bare onnxruntime sessions of both default models, created as anyone would
 * (`InferenceSession.create(bytes)`, default options), after {@link STEADY_RUNS} runs of each: its load time (ms),
 * RSS and peak RSS (MB), medians of 3 processes. The baseline of the enclave's memory (DESIGN.md §10). With
 * `enclaveOptions`, the sessions take the enclave's own options instead (for comparison: they use less memory).
 */
export function bareSessionsProcess(enclaveOptions = false): { load: number; rss: number; peak: number } {
  return fresh(bareChild(enclaveOptions ? sessionOptions() : {}))
}

/** The default models, every one of them: a refusal fails the benchmark. */
async function loadAll(): Promise<LoadedModel[]> {
  const { loaded, refused } = await loadModels(MODELS_DIR)
  if (refused[0] !== undefined) throw refused[0].error
  return loaded
}

export async function benchInference(log: (line: string) => void): Promise<string> {
  const clsBytes = readFileSync(CLS_FILE)
  const detBytes = readFileSync(DET_FILE)

  // Load.
  const loadBoth = await measure(async () => Promise.all((await loadAll()).map((m) => m.close())), { runs: 5, warmup: 1 })
  const loadCls = await measure(async () => (await loadModel(`${MODELS_DIR}/ppocr-cls.yaml`)).close(), { runs: 5, warmup: 1 })
  const loadDet = await measure(async () => (await loadModel(`${MODELS_DIR}/ppocr-det.yaml`)).close(), { runs: 5, warmup: 1 })
  const bareCls = await measure(async () => (await ort.InferenceSession.create(clsBytes)).release(), { runs: 5, warmup: 1 })
  const bareDet = await measure(async () => (await ort.InferenceSession.create(detBytes)).release(), { runs: 5, warmup: 1 })
  log(`inference load: both ${ms(loadBoth.median)} ms; cls ${ms(loadCls.median)} (bare ${ms(bareCls.median)}), det ${ms(loadDet.median)} (bare ${ms(bareDet.median)})`)

  // Runs.
  const models = await loadAll()
  const [cls, det] = [models[0]!, models[1]!] as [LoadedModel, LoadedModel]
  // The enclave's session options and each manifest's threads: what is compared is everything around session.run.
  const sessions = [
    await ort.InferenceSession.create(clsBytes, sessionOptions(cls.manifest.threads)),
    await ort.InferenceSession.create(detBytes, sessionOptions(det.manifest.threads)),
  ] as const
  const clsIn = readSample('ppocr-cls')
  const detIn = readSample('ppocr-det')
  const clsFeeds = feedsOf(clsIn)
  const detFeeds = feedsOf(detIn)
  const [clsBare, clsRun] = (await measureInterleaved([() => sessions[0].run(clsFeeds), () => runModel(cls, clsIn)], {
    runs: 2000,
  })) as [Timing, Timing]
  const [detBare, detRun] = (await measureInterleaved([() => sessions[1].run(detFeeds), () => runModel(det, detIn)], {
    runs: 40,
    warmup: 5,
  })) as [Timing, Timing]
  const clsPrep = await measure(() => prepareRun(cls.metadata, clsIn), { runs: 5000 })
  const detPrep = await measure(() => prepareRun(det.metadata, detIn), { runs: 300 })
  log(`inference cls: bare ${ms(clsBare.median)} ms, runModel ${ms(clsRun.median)} ms, prepareRun ${ms(clsPrep.median)} ms`)
  log(`inference det: bare ${ms(detBare.median)} ms, runModel ${ms(detRun.median)} ms, prepareRun ${ms(detPrep.median)} ms`)

  // Event loop during 4 concurrent detector runs.
  const gapBare = await longestGap(() => Promise.all([0, 1, 2, 3].map(() => sessions[1].run(detFeeds))))
  const gapOurs = await longestGap(() => Promise.all([0, 1, 2, 3].map(() => runModel(det, detIn))))
  log(`inference event loop, 4 concurrent detector runs: longest timer gap bare ${ms(gapBare)} ms, runModel ${ms(gapOurs)} ms`)
  await Promise.all([cls.close(), det.close(), sessions[0].release(), sessions[1].release()])

  // Cold load and memory, each in a fresh process (median of 3).
  const ours = fresh(ENCLAVE_CHILD)
  const bare = bareSessionsProcess()
  log(`inference fresh process: enclave load ${ms(ours.load)} ms, RSS ${ours.rss.toFixed(1)} MB (peak ${ours.peak.toFixed(1)})`)
  log(`inference fresh process: bare load ${ms(bare.load)} ms, RSS ${bare.rss.toFixed(1)} MB (peak ${bare.peak.toFixed(1)})`)

  const row = (name: string, b: Timing, r: Timing, p: Timing): string =>
    `| ${name} | ${ms(b.median)} | ${ms(r.median)} | ${ms(r.median - b.median)} | ${ms(p.median)} | ${ms(r.p99)} |`
  return `## Inference (enclave/src/inference, \`bench/inference.bench.ts\`)

Load (median of 5): both models ${ms(loadBoth.median)} ms (read, SHA-256, sessions created in parallel on their worker
threads); ppocr-cls ${ms(loadCls.median)} ms against a bare \`InferenceSession.create\` of ${ms(bareCls.median)} ms; ppocr-det
${ms(loadDet.median)} ms against ${ms(bareDet.median)} ms.

Runs on the samples in \`models/samples/\` (medians, ms; bare and \`runModel\` interleaved). \`runModel\` checks the inputs
against the metadata, copies them once into a buffer for the model's worker thread, runs there and returns the
outputs as raw bytes; \`prepareRun\` is the check and copy alone.

| model | bare \`session.run\` | \`runModel\` | added | \`prepareRun\` | \`runModel\` p99 |
|---|---|---|---|---|---|
${row('ppocr-cls 1×3×48×192', clsBare, clsRun, clsPrep)}
${row('ppocr-det 1×3×640×640', detBare, detRun, detPrep)}

Event loop during 4 concurrent detector runs, longest gap of a 1 ms timer: bare \`session.run\` ${ms(gapBare)} ms
(onnxruntime-node runs synchronously on the calling thread), \`runModel\` ${ms(gapOurs)} ms.

A fresh process (enclave code from dist) loading both models and running each ${STEADY_RUNS} times: load ${ms(ours.load)} ms, then RSS
${ours.rss.toFixed(1)} MB, peak ${ours.peak.toFixed(1)} MB. Bare onnxruntime-node with the same two sessions on the main thread
(default options, the same runs):
load ${ms(bare.load)} ms, RSS ${bare.rss.toFixed(1)} MB, peak ${bare.peak.toFixed(1)} MB (**${(ours.peak / bare.peak).toFixed(2)}×** peak;
medians of 3 processes).
`
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchInference((line) => console.log(line)))
