/** Timing helpers for the benchmarks: medians and tails of many runs, in milliseconds. */
import { cpus, totalmem, type } from 'node:os'

/** Summary of one measured scenario. */
export interface Timing {
  runs: number
  median: number
  p99: number
  mean: number
}

function summarise(samples: number[]): Timing {
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
 * Times several functions in interleaved rounds (A, B, C, A, B, C, ...), so a slow spell of the
 * machine touches all of them alike and their ratio stays meaningful on a busy 2-core box.
 */
export async function measureInterleaved(fns: ReadonlyArray<() => unknown>, opts: { runs: number; warmup?: number }): Promise<Timing[]> {
  for (let i = 0; i < (opts.warmup ?? Math.min(200, opts.runs)); i++) for (const fn of fns) await fn()
  const samples: number[][] = fns.map(() => [])
  for (let i = 0; i < opts.runs; i++) {
    for (const [k, fn] of fns.entries()) {
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
