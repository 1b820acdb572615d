/**
 * The receipt log's cost on the host (issue 12), in two parts, one run:
 * - *store*: the host's own code (host/src/log: `createLogStore`, `ReceiptLog`) on SQLite and on PostgreSQL (a
 *   throwaway server started here, as the host's log tests start theirs; skipped when PostgreSQL is not installed),
 *   on a log of {@link PREFILL} receipts: a durable append, a checkpoint signed when asked, a whole answer's logging
 *   alone and at concurrency {@link CONCURRENCY} (group commit), and an inclusion proof as `GET /v1/log/proof` serves it;
 * - *host*: the confidential round trip and the throughput at concurrency {@link CONCURRENCY} through real `vouch-host`
 *   processes (each with its enclave) with the log on (SQLite; PostgreSQL when installed) and off
 *   (`--no-receipt-log`), windows alternating between them, so the loss the log causes is read off one run.
 * Run alone: node --conditions=@vouch/source --import tsx bench/receipt-log.bench.ts (after `npm run build`).
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createClient, loadPolicy, type VouchClient } from '@vouch/client'
import { formatCheckpoint, generateNoteKey, keysetDigest, proveRecord, receiptCommitment, receiptDigest, signNote, signReceipt, treeHash, type Attribution, type TensorData } from '@vouch/protocol'
import { EvidenceService } from '../enclave/src/service/evidence.js'
import { generateKeyset } from '../enclave/src/service/keys.js'
import { createCpuTee, createGpuTee } from '../enclave/src/tee/device.js'
import { readSample } from '../enclave/test/inference/helpers/models.js'
import { postgresSkipReason, startPostgres, type TestPostgres } from '../host/test/helpers/postgres.js'
import { openPostgresLog } from '../host/src/log/postgres.js'
import { ReceiptLog } from '../host/src/log/receipt-log.js'
import { openSqliteLog } from '../host/src/log/sqlite.js'
import { createLogStore, type LogBackend } from '../host/src/log/store.js'
import { defaultModels } from '../test/helpers/models.js'
import { fixedRateInterleaved, measureInterleaved, ms, retryStale, stale, throughputInterleaved, type FixedRate, type Throughput, type Timing } from './lib/measure.js'
import { cpuTimeOf, startVouchHost, type HostProcess } from './lib/servers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
/** Receipts in the log before anything is measured (the proofs and tree hashes read that deep). */
const PREFILL = 10_000
const CONCURRENCY = 8
/** Store part: samples of each one-at-a-time figure; the length of the concurrent run. */
const RUNS = 200
const CONCURRENT_MS = 3_000
/** Host part: round trips per host (interleaved), throughput rounds (each a window per host) and window length. */
const ROUND_TRIPS = { runs: 200, warmup: 20 }
const THROUGHPUT = { rounds: 8, windowMs: 1_500 }
/** Host part, fixed rate: windows per host (alternating) and their length; the rate is this share of the log-off host's throughput. */
const FIXED_RATE = { rounds: 4, windowMs: 2_000, share: 0.6 }
/** The most throughput the log may cost at concurrency 8 (issue 12). */
const TARGET_LOSS = 0.03
const ORIGIN = 'bench.example/log'
const CONTROL = 'log off again (control: a second host like the first)'

type Backend = 'sqlite' | 'postgres'

/**
 * Answers as the enclave signs them: v2 receipts of ppocr-cls under a simulated enclave's keyset, all naming its
 * unchallenged evidence bundle (simulated SEV-SNP and one H100).
 */
async function answerFactory(): Promise<{ evidence: Uint8Array; next: () => Promise<string> }> {
  const models = defaultModels()
  const model = models[0]!
  const attribution = (model.manifest['contributors'] as Attribution[]).map((a) => ({ role: a.role, id: a.id, name: a.name }))
  const keyset = generateKeyset()
  const built = await new EvidenceService(await createCpuTee('simulated'), await createGpuTee('simulated'), keyset, models).unchallenged()
  const keysetId = keysetDigest(keyset.public)
  let n = 0
  return {
    evidence: built.bytes,
    next: () => {
      const opening = randomBytes(32)
      return signReceipt(
        {
          v: 2,
          id: `bench-${n++}`,
          iat: Math.floor(Date.now() / 1000),
          model: { name: model.name, version: model.version, digest: model.digest },
          request: receiptCommitment(opening, randomBytes(64)),
          response: receiptCommitment(opening, randomBytes(64)),
          keyset: keysetId,
          evidence: built.digest,
          platform: built.bundle.platform,
          attribution,
        },
        keyset.sigPrivateKey,
        keyset.public.kid,
      )
    },
  }
}

/** `count` answers' receipts, signed before any timing starts. */
async function receipts(next: () => Promise<string>, count: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < count; i++) out.push(await next())
  return out
}

/** A one-at-a-time figure: wall time (median, p99) and CPU time of this process (mean), in ms. */
interface Cost extends Timing {
  cpu: number
}

/** Times `fn` after `before` each run, `before` untimed (it may be async, unlike `measure`'s); its CPU time too. */
async function timed(runs: number, before: () => Promise<unknown>, fn: () => Promise<unknown>): Promise<Cost> {
  const samples: number[] = []
  let cpu = 0
  for (let i = 0; i < runs; i++) {
    await before()
    const used = process.cpuUsage()
    const start = process.hrtime.bigint()
    await fn()
    samples.push(Number(process.hrtime.bigint() - start) / 1e6)
    const { user, system } = process.cpuUsage(used)
    cpu += (user + system) / 1000
  }
  samples.sort((x, y) => x - y)
  return { runs, median: samples[Math.floor(runs / 2)]!, p99: samples[Math.min(runs - 1, Math.floor(0.99 * runs))]!, mean: samples.reduce((x, y) => x + y, 0) / runs, cpu: cpu / runs }
}

/** The store part's figures for one backend: each operation's name and cost, and the concurrent run. */
interface StoreCosts {
  backend: Backend
  rows: Array<{ what: string; cost: Cost }>
  /** Answers logged by {@link CONCURRENCY} loops for {@link CONCURRENT_MS}: their count, seconds, batches, CPU ms. */
  concurrent: { answers: number; seconds: number; batches: number; cpuMs: number }
  /** Length of a receipt logged. */
  receiptBytes: number
}

/** The operations of the store part, in the order of the table's rows. */
const STORE_ROWS = [
  "append alone: sequenced, stored hashes, durable commit (the host's append; it signs no checkpoint)",
  'a checkpoint signed and kept (tree hash, note signed, a commit of its own): what `GET /v1/log/checkpoint` or a proof pays once the log grew',
  'an answer alone, `ReceiptLog.logAnswer` (what it waits for before it is relayed)',
  "an inclusion proof, `GET /v1/log/proof`'s work (index by key, RFC 9162 proof)",
] as const

/** The store part on `backend` (see the file's doc). */
async function storeCosts(name: Backend, open: () => Promise<LogBackend>, log: (line: string) => void): Promise<StoreCosts> {
  const backend = await open()
  // Batches counted as the store runs them: one backend transaction each.
  let batches = 0
  const counted = new Proxy(backend, {
    get(target, name) {
      if (name === 'sequence') return (work: Parameters<LogBackend['sequence']>[0]) => (batches++, target.sequence(work))
      const value = Reflect.get(target, name, target) as unknown
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
  const store = createLogStore(counted, { entries: 256, ms: 0 })
  const answers = await answerFactory()
  const evidence = async (): Promise<Uint8Array> => answers.evidence
  const noteKey = generateNoteKey(ORIGIN)
  try {
    const prefill = await receipts(answers.next, PREFILL)
    await Promise.all(prefill.map((receipt) => store.append({ kind: 'receipt', receipt })))
    const pool = await receipts(answers.next, 5 * RUNS)
    const take = (): string => pool.pop()!
    const bare = await timed(RUNS, async () => undefined, () => store.append({ kind: 'receipt', receipt: take() }))
    const apart = await timed(
      RUNS,
      () => store.append({ kind: 'receipt', receipt: take() }),
      async () => {
        const size = await store.size()
        await store.addCheckpoint(signNote(formatCheckpoint({ origin: ORIGIN, size, rootHash: await treeHash(size, store) }), noteKey.signerKey))
      },
    )
    const receiptLog = await ReceiptLog.open({ store, signerKey: noteKey.signerKey, origin: ORIGIN })
    // The evidence the receipts name: logged with the first answer, then known.
    await receiptLog.logAnswer(await answers.next(), evidence)
    const answer = await timed(RUNS, async () => undefined, () => receiptLog.logAnswer(take(), evidence))

    const many = await receipts(answers.next, 20_000)
    const batchesBefore = batches
    const cpuBefore = process.cpuUsage()
    const start = performance.now()
    const deadline = start + CONCURRENT_MS
    let logged = 0
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline && many.length > 0) {
          await receiptLog.logAnswer(many.pop()!, evidence)
          logged++
        }
      }),
    )
    const seconds = (performance.now() - start) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const concurrent = { answers: logged, seconds, batches: batches - batchesBefore, cpuMs: (cpu.user + cpu.system) / 1000 }

    const size = receiptLog.latest().size
    const proof = await timed(
      RUNS,
      async () => undefined,
      async () => {
        const index = await store.indexOf(`receipt:${receiptDigest(prefill[Math.floor(Math.random() * prefill.length)]!)}`)
        await proveRecord(size, index!, store)
      },
    )
    const rows = [bare, apart, answer, proof].map((cost, k) => ({ what: STORE_ROWS[k]!, cost }))
    log(
      `receipt log ${name}: ${rows.map((r) => `${r.what.split(/[,:(]/)[0]!.trim()} ${ms(r.cost.median)} ms (CPU ${ms(r.cost.cpu)})`).join('; ')}; ` +
        `${logged} answers at concurrency ${CONCURRENCY} in ${seconds.toFixed(1)} s (${(logged / seconds).toFixed(0)}/s, ${(logged / Math.max(1, concurrent.batches)).toFixed(1)} per batch, ` +
        `${((1000 * concurrent.cpuMs) / logged).toFixed(0)} µs CPU each)`,
    )
    return { backend: name, rows, concurrent, receiptBytes: prefill[0]!.length }
  } finally {
    await store.close()
  }
}

interface HostArm {
  name: string
  host: HostProcess
  client: VouchClient
}

/** The host part (see the file's doc): round trips and throughput per arm, and each host's CPU per answer. */
async function hostCosts(arms: HostArm[], inputs: TensorData[], log: (line: string) => void): Promise<{ roundTrip: Timing[]; throughput: Throughput[]; cpuPerAnswer: number[]; rate: number; fixedRate: FixedRate[] }> {
  const calls = arms.map((arm) => () => retryStale(() => arm.client.infer('ppocr-cls', inputs)))
  const roundTrip = await measureInterleaved(calls, ROUND_TRIPS)
  const cpuBefore = arms.map((arm) => cpuTimeOf(arm.host.pid))
  const served = arms.map(() => 0)
  const counted = calls.map((call, k) => () => call().then(() => served[k]!++))
  const throughput = await throughputInterleaved(counted, { ...THROUGHPUT, concurrency: CONCURRENCY })
  const cpuPerAnswer = arms.map((arm, k) => (cpuTimeOf(arm.host.pid) - cpuBefore[k]!) / served[k]!)
  // Below saturation (a share of what the log-off host served), so every host answers all it is sent.
  const rate = Math.max(10, Math.round((FIXED_RATE.share * throughput[0]!.rps) / 10) * 10)
  const fixedRate = await fixedRateInterleaved(calls, { rate, windowMs: FIXED_RATE.windowMs, rounds: FIXED_RATE.rounds })
  for (const [k, arm] of arms.entries()) {
    log(
      `receipt log host, ${arm.name}: round trip ${ms(roundTrip[k]!.median)} / ${ms(roundTrip[k]!.p99)} ms, throughput ${throughput[k]!.rps.toFixed(1)} req/s ` +
        `(windows ${throughput[k]!.windows.map((w) => w.toFixed(0)).join(', ')}), host CPU ${ms(cpuPerAnswer[k]!)} ms per answer, ` +
        `machine CPU ${ms(fixedRate[k]!.machineCpuPerAnswer)} ms per answer at ${rate} req/s (windows ${fixedRate[k]!.windows.map(ms).join(', ')})`,
    )
  }
  return { roundTrip, throughput, cpuPerAnswer, rate, fixedRate }
}

/** The loss of `on` against `off` in each round (their windows ran one after the other), the median of the rounds. */
function medianRoundLoss(on: Throughput, off: Throughput): number {
  const losses = on.windows.map((w, r) => 1 - w / off.windows[r]!).sort((x, y) => x - y)
  const mid = losses.length / 2
  return losses.length % 2 === 1 ? losses[Math.floor(mid)]! : (losses[mid - 1]! + losses[mid]!) / 2
}

const verdict = (met: boolean): string => (met ? 'met' : '**not met**')
const pct = (x: number): string => `${(100 * x).toFixed(1)} %`

/** Runs the scenario; returns the markdown section for docs/benchmarks.md. */
export async function benchReceiptLog(log: (line: string) => void): Promise<string> {
  const loadBefore = loadavg()[0]!
  stale.retries = 0
  const scratch = mkdtempSync(join(tmpdir(), 'vouch-bench-log-'))
  let postgres: TestPostgres | null = null
  const hosts: HostProcess[] = []
  const clients: VouchClient[] = []
  try {
    if (postgresSkipReason === false) postgres = await startPostgres()
    const pgSkipped = postgres === null ? 'skipped: PostgreSQL not installed' : null
    if (pgSkipped !== null) log(`receipt log postgres: ${pgSkipped} (${postgresSkipReason})`)

    const costs: StoreCosts[] = [await storeCosts('sqlite', async () => openSqliteLog(join(scratch, 'store', 'log.sqlite')), log)]
    if (postgres !== null) costs.push(await storeCosts('postgres', async () => openPostgresLog(await postgres!.createDatabase()), log))

    // The hosts, started together: log off, SQLite, PostgreSQL (when installed). Each has its own cache folder
    // (certificate, log file, log key) and enclave.
    const pgUrl = postgres === null ? null : await postgres.createDatabase()
    const specs: Array<{ name: string; args: string[] }> = [
      { name: 'log off (--no-receipt-log)', args: ['--no-receipt-log'] },
      // The host's default log file: log.sqlite in its cache folder (VOUCH_CACHE_DIR).
      { name: 'log on, SQLite', args: [] },
      ...(pgUrl === null ? [] : [{ name: 'log on, PostgreSQL', args: ['--log-url', pgUrl] }]),
      // Two hosts that differ in nothing: the spread between them is what this machine's noise alone makes of a loss.
      { name: CONTROL, args: ['--no-receipt-log'] },
    ]
    const started = await Promise.allSettled(specs.map((spec, k) => startVouchHost(join(scratch, `host-${k}`), { hostArgs: spec.args })))
    for (const s of started) if (s.status === 'fulfilled') hosts.push(s.value)
    for (const s of started) if (s.status === 'rejected') throw s.reason
    const policy = loadPolicy(join(REPO, 'policies', 'dev-simulated.yaml'))
    const arms = specs.map((spec, k) => {
      const client = createClient({ url: hosts[k]!.url, policy, ca: hosts[k]!.ca })
      clients.push(client)
      return { name: spec.name, host: hosts[k]!, client }
    })
    for (const arm of arms) await arm.client.attest()
    const { roundTrip, throughput, cpuPerAnswer, rate, fixedRate } = await hostCosts(arms, readSample('ppocr-cls'), log)
    log(`receipt log: load average (1 min) ${loadBefore.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} now; stale keep-alive retries ${stale.retries}`)

    const [off] = throughput as [Throughput]
    const cell = (c: Cost): string => `${ms(c.median)} / ${ms(c.p99)} | ${ms(c.cpu)}`
    const storeRows = STORE_ROWS.map((what, k) => `| ${what} | ${costs.map((c) => cell(c.rows[k]!.cost)).join(' | ')} |`)
    const storePerBatch = (c: StoreCosts): string => (c.concurrent.answers / Math.max(1, c.concurrent.batches)).toFixed(1)
    storeRows.push(
      `| answers at concurrency ${CONCURRENCY}, group commit: per answer (answers per second; per batch) | ${costs.map((c) => `${ms((1000 * c.concurrent.seconds) / c.concurrent.answers)} (${(c.concurrent.answers / c.concurrent.seconds).toFixed(0)}/s; ${storePerBatch(c)}) | ${ms(c.concurrent.cpuMs / c.concurrent.answers)}`).join(' | ')} |`,
    )
    const storeHeader = `| operation | ${costs.map((c) => `${c.backend} wall, median / p99 | ${c.backend} CPU`).join(' | ')} |\n|---|${costs.map(() => '---:|---:|').join('')}`
    const hostRows = arms.map((arm, k) => {
      const t = throughput[k]!
      const loss = 1 - t.rps / off.rps
      const machine = fixedRate[k]!.machineCpuPerAnswer
      const added = machine - fixedRate[0]!.machineCpuPerAnswer
      return `| ${arm.name} | ${ms(roundTrip[k]!.median)} / ${ms(roundTrip[k]!.p99)} | ${k === 0 ? '' : `${roundTrip[k]!.median - roundTrip[0]!.median >= 0 ? '+' : ''}${ms(roundTrip[k]!.median - roundTrip[0]!.median)}`} | ${t.rps.toFixed(1)} (${t.requests}) | ${t.windows.map((w) => w.toFixed(0)).join(', ')} | ${k === 0 ? '' : `**${pct(loss)}**`} | ${k === 0 ? '' : pct(medianRoundLoss(t, off))} | ${ms(cpuPerAnswer[k]!)} | ${ms(machine)}${k === 0 ? '' : ` (${added >= 0 ? '+' : ''}${ms(added)}, ${added >= 0 ? '+' : ''}${pct(added / fixedRate[0]!.machineCpuPerAnswer)})`} |`
    })
    const targetRows = arms.slice(1, -1).map((arm, j) => {
      const loss = 1 - throughput[j + 1]!.rps / off.rps
      return `| throughput at concurrency ${CONCURRENCY}, ${arm.name}: at most ${pct(TARGET_LOSS)} below the log off | ${pct(loss)} | ${verdict(loss <= TARGET_LOSS)} |`
    })

    const addedCpu = (k: number): string => {
      const added = fixedRate[k]!.machineCpuPerAnswer - fixedRate[0]!.machineCpuPerAnswer
      return `${added >= 0 ? '+' : ''}${ms(added)} ms (${added >= 0 ? '+' : ''}${pct(added / fixedRate[0]!.machineCpuPerAnswer)})`
    }
    const costSentence =
      `The same cost as CPU, at a fixed ${rate} requests per second: the log adds to each answer's ${ms(fixedRate[0]!.machineCpuPerAnswer)} ms ` +
      `of the machine's CPU ${arms
        .slice(1, -1)
        .map((arm, j) => `${addedCpu(j + 1)} on ${arm.name.replace(/^log on, /, '')}`)
        .join(' and ')}; the control (a second host with the log off) differed by ${addedCpu(arms.length - 1)}.`

    return `## Receipt log: its cost per answer on the host (\`bench/receipt-log.bench.ts\`)

What the host pays to log every answer (issue 12). **Store**: the host's own log code (\`host/src/log\`) in the
benchmark process, on a log of ${PREFILL.toLocaleString('en')} receipts (v2, ${costs[0]!.receiptBytes} bytes each, under a simulated enclave's
keyset), SQLite (a file on this machine's disk: write-ahead log, an fdatasync of it per commit, off the event loop)
${pgSkipped === null ? 'and PostgreSQL (a throwaway local server the benchmark starts, `synchronous_commit` on; its own CPU is not in the CPU\ncolumns)' : `(PostgreSQL ${pgSkipped})`}.
One operation at a time unless said: wall time in ms (median / p99), and the CPU time of the benchmark process (user and
system, mean) in ms. A batch of one is the worst case; at concurrency ${CONCURRENCY}, ${CONCURRENCY} loops log answers for ${CONCURRENT_MS / 1000} s with group commit
(\`--log-batch-ms 0\`); the host signs no checkpoint per batch, only when one is asked for.

${storeHeader}
${storeRows.join('\n')}

**Host**: the confidential ppocr-cls round trip (\`@vouch/client\` \`infer\`, as in the end-to-end section) through
real \`vouch-host\` processes, each with its enclave, the same build and settings but the log: off
(\`--no-receipt-log\`), on with SQLite (the default)${postgres === null ? '' : ', on with PostgreSQL (`--log-url`, the server above, whose own CPU shares the same cores)'}, and off once more as a
control: its "loss" against the first is what this machine's noise alone makes of two identical hosts. Round trips
interleaved (${ROUND_TRIPS.runs} per host); then throughput at concurrency ${CONCURRENCY} in windows of ${THROUGHPUT.windowMs / 1000} s alternating between the hosts,
${THROUGHPUT.rounds} rounds, each round in the order opposite to the one before (each host's windows listed in round order, requests per second); the loss is of all windows' requests, and also the
median of each round's (a round's windows ran back to back, so a slow spell of the machine touches them alike).
Host CPU: the host process's (all threads,
\`/proc\`, 10 ms ticks) over the throughput windows, per answer it served. Last, each host at a fixed ${rate} requests per
second (open loop: a request every ${ms(1000 / rate)} ms whatever the answers; ${FIXED_RATE.share * 100} % of what the log-off host served, so
every host keeps up), ${FIXED_RATE.rounds} windows of ${FIXED_RATE.windowMs / 1000} s each, alternating as above: the whole machine's busy CPU time
(\`/proc/stat\`: client, host, enclave, PostgreSQL and the kernel) per answer: what an answer costs, read directly (at
concurrency ${CONCURRENCY} the machine is saturated, so the throughput lost is about the CPU added), and less moved by this machine's
speed than a closed loop's windows. It shares their weakness: each kind of host is one pair of processes, and the control
shows how far two identical pairs differ. Everything shares ${cpus().length} cores: the
1-minute load average was ${loadBefore.toFixed(2)} when the scenario started.

| host | round trip, ms (median / p99) | added (median) | throughput, req/s (requests) | windows | loss vs log off | median of the rounds' losses | host CPU ms per answer | machine CPU ms per answer at ${rate} req/s (added) |
|---|---:|---:|---:|---|---:|---:|---:|---:|
${hostRows.join('\n')}

Target (issue 12):

| target | measured | |
|---|---|---|
${targetRows.join('\n')}

${costSentence}
`
  } finally {
    for (const c of clients) c.close()
    await Promise.allSettled(hosts.map((h) => h.stop()))
    postgres?.stop()
    rmSync(scratch, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchReceiptLog((line) => console.log(line)))
