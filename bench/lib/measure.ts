/** Timing helpers for the benchmarks: medians and tails of many runs, in milliseconds. */
import { readFileSync } from 'node:fs'
import { cpus, totalmem, type } from 'node:os'

/** Summary of one measured scenario. */
export interface Timing {
  runs: number
  median: number
  p99: number
  mean: number
}

/** Median, p99 and mean of `samples` (sorted in place). */
export function summarise(samples: number[]): Timing {
  samples.sort((a, b) => a - b)
  const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!
  return { runs: samples.length, median: at(0.5), p99: at(0.99), mean: samples.reduce((a, b) => a + b, 0) / samples.length }
}

/** Times `fn` `runs` times after `warmup` unmeasured runs. `before` runs untimed before each run. */
export async function measure(fn: () => unknown, opts: { runs: number; warmup?: number; before?: () => void }): Promise<Timing> {
  for (let i = 0; i < (opts.warmup ?? Math.min(100, opts.runs)); i++) {
    opts.before?.()
    await fn()
  }
  const samples: number[] = []
  for (let i = 0; i < opts.runs; i++) {
    opts.before?.()
    const start = process.hrtime.bigint()
    await fn()
    samples.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return summarise(samples)
}

/**
 * Times several functions in interleaved rounds (A B C, C B A, …: see {@link throughputInterleaved}), so a slow spell
 * of the machine touches all of them alike and their ratio stays meaningful on a busy 2-core box.
 */
export async function measureInterleaved(fns: ReadonlyArray<() => unknown>, opts: { runs: number; warmup?: number }): Promise<Timing[]> {
  for (let i = 0; i < (opts.warmup ?? Math.min(200, opts.runs)); i++) for (const fn of fns) await fn()
  const samples: number[][] = fns.map(() => [])
  for (let i = 0; i < opts.runs; i++) {
    for (const k of roundOrder(fns.length, i)) {
      const fn = fns[k]!
      const start = process.hrtime.bigint()
      await fn()
      samples[k]!.push(Number(process.hrtime.bigint() - start) / 1e6)
    }
  }
  return samples.map(summarise)
}

/** `0.712` style milliseconds. */
export function ms(value: number): string {
  return value < 1 ? value.toFixed(3) : value < 100 ? value.toFixed(2) : value.toFixed(0)
}

/** One line describing the machine, for the results file. */
export function machine(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU'
  return `${cpu}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ${type()}, Node ${process.version}`
}

/** A function measured for throughput: one request, resolved when it is answered. */
export type Call = () => Promise<unknown>

/** Requests completed in a measured span, over its seconds. */
export interface Throughput {
  requests: number
  seconds: number
  rps: number
  /** Requests per second of each window, in the order run. */
  windows: number[]
}

/**
 * `fn()`, sent once more when it failed on a kept-alive connection the server had just closed as idle (EPIPE):
 * client/src/http.ts retries that race only for ECONNRESET. Counted in `stale.retries`; expected to stay 0.
 */
export const stale = { retries: 0 }
export async function retryStale<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    const e = error as { code?: string; reused?: boolean; raw?: { code?: string } }
    if (e.code !== 'ERR_CLIENT_UNREACHABLE' || e.reused !== true || e.raw?.code !== 'EPIPE') throw error
    stale.retries++
    return await fn()
  }
}

/** Requests completed by `concurrency` loops calling `fn` until `windowMs` has passed, and the time until the last ended. */
async function sustained(fn: Call, concurrency: number, windowMs: number): Promise<{ requests: number; seconds: number }> {
  const start = performance.now()
  const deadline = start + windowMs
  let requests = 0
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await fn()
        requests++
      }
    }),
  )
  return { requests, seconds: (performance.now() - start) / 1000 }
}

/** The order of round `round` over `count` arms: forwards in even rounds, backwards in odd ones (A B C, C B A, …). */
export function roundOrder(count: number, round: number): number[] {
  const forwards = Array.from({ length: count }, (_, k) => k)
  return round % 2 === 0 ? forwards : forwards.reverse()
}

/**
 * Throughput at `concurrency` (that many loops, each sending its next request when its last one is answered) of each
 * function, in windows of `windowMs` run in interleaved rounds after one unmeasured window each, so a slow spell of
 * the machine touches all of them alike. Rounds alternate their order (A B C, C B A, …): this machine's speed drifts
 * by several percent over a minute, and in a fixed order the arm run last in every round gained that drift each round
 * (a second, identical host placed last measured 3 to 8 % faster than the first); alternating, each arm's average
 * position is the same. `windows` stay in round order.
 */
export async function throughputInterleaved(fns: readonly Call[], opts: { rounds: number; windowMs: number; concurrency: number }): Promise<Throughput[]> {
  for (const fn of fns) await sustained(fn, opts.concurrency, Math.min(1_000, opts.windowMs))
  const totals = fns.map(() => ({ requests: 0, seconds: 0, windows: [] as number[] }))
  for (let r = 0; r < opts.rounds; r++) {
    for (const k of roundOrder(fns.length, r)) {
      const fn = fns[k]!
      const w = await sustained(fn, opts.concurrency, opts.windowMs)
      totals[k]!.requests += w.requests
      totals[k]!.seconds += w.seconds
      totals[k]!.windows.push(w.requests / w.seconds)
    }
  }
  return totals.map((t) => ({ ...t, rps: t.requests / t.seconds }))
}

/**
 * Busy CPU time of the whole machine so far, all cores, in ms: user, nice, system, irq and softirq time from
 * /proc/stat (not idle, iowait or steal), in its clock ticks of 10 ms.
 */
export function machineBusyMs(): number {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number)
  return (user! + nice! + system! + irq! + softirq!) * 10
}

/** What {@link fixedRateInterleaved} measured of one function. */
export interface FixedRate {
  answers: number
  /** The whole machine's busy CPU time per answer over all its windows, ms. */
  machineCpuPerAnswer: number
  /** The same, per window, in the order run. */
  windows: number[]
}

/**
 * Each function called at a fixed rate, open loop (a request every `1 / rate` s whatever the answers, at most
 * `maxInFlight` waiting), in windows alternating between the functions as in {@link throughputInterleaved}, and the
 * whole machine's busy CPU time per answer in each. Below saturation, what an answer costs is read directly; a slow
 * spell of the machine moved it less than it moved a closed loop's throughput (in two runs of the receipt log's
 * benchmark, a host's fixed-rate windows spanned at most 27 % of their lowest, its closed-loop windows 40 to 100 %).
 */
export async function fixedRateInterleaved(fns: readonly Call[], opts: { rate: number; windowMs: number; rounds: number; maxInFlight?: number }): Promise<FixedRate[]> {
  const window = async (fn: Call): Promise<{ answers: number; busyMs: number }> => {
    const busyBefore = machineBusyMs()
    const start = performance.now()
    const waiting = new Set<Promise<unknown>>()
    let sent = 0
    let answers = 0
    for (let now = start; now - start < opts.windowMs; now = performance.now()) {
      const due = Math.floor(((now - start) / 1000) * opts.rate)
      for (; sent < due && waiting.size < (opts.maxInFlight ?? 64); sent++) {
        const answer: Promise<unknown> = fn().then(() => {
          answers++
          waiting.delete(answer)
        })
        waiting.add(answer)
      }
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await Promise.all(waiting)
    return { answers, busyMs: machineBusyMs() - busyBefore }
  }
  for (const fn of fns) await window(fn)
  const totals = fns.map(() => ({ answers: 0, busyMs: 0, windows: [] as number[] }))
  for (let r = 0; r < opts.rounds; r++) {
    for (const k of roundOrder(fns.length, r)) {
      const w = await window(fns[k]!)
      totals[k]!.answers += w.answers
      totals[k]!.busyMs += w.busyMs
      totals[k]!.windows.push(w.busyMs / w.answers)
    }
  }
  return totals.map((t) => ({ answers: t.answers, machineCpuPerAnswer: t.busyMs / t.answers, windows: t.windows }))
}
