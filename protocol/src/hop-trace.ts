/**
 * Opt-in timing of one request's hops, for bench/hops.bench.ts (issue 14): with `VOUCH_TRACE_HOPS` set to a file
 * path, each process (client, host, enclave, its session workers) appends one JSON line per traced request,
 * `{"part":"host","hops":[["receive",wallMs,cpuMs],...]}`, each hop's wall time and its process's CPU time (all
 * threads) since the hop before. Hop names are constants of the code: a line holds no request data, no id, no key.
 * Unset (production): {@link traceRequest} only calls its function and {@link hop} returns at its first test, so
 * the instrumentation costs nothing. The variable is read once, at the first traced request. This is the one place
 * `@vouch/protocol` writes a file, and only when asked to. Imported as `@vouch/protocol/hop-trace`, never through
 * the package's main entry, which the browser bundle uses.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { appendFileSync } from 'node:fs'

/** The environment variable naming the trace file; unset or empty: no tracing. */
export const HOP_TRACE_ENV = 'VOUCH_TRACE_HOPS'

/** Where a traced request's clock stood when it started: from {@link hopClock}. */
export interface HopClock {
  wall: number
  cpu: NodeJS.CpuUsage
}

/** Ends the hop running since the last one (or the start) under `name`. */
export type HopMark = (name: string) => void

interface Trace {
  last: HopClock
  hops: Array<[string, number, number]>
}

/** The trace file; undefined until read. */
let file: string | null | undefined
/** Created at the first traced request: an AsyncLocalStorage costs nothing until it is run. */
let storage: AsyncLocalStorage<Trace> | undefined

/** True when hops are traced (`VOUCH_TRACE_HOPS` names a file). */
export function tracingHops(): boolean {
  if (file === undefined) file = process.env[HOP_TRACE_ENV] || null
  return file !== null
}

/** Traces this process's requests to `path` from now on (null: stops), whatever `VOUCH_TRACE_HOPS` said: for a benchmark tracing its own client. */
export function traceHopsTo(path: string | null): void {
  file = path
}

/** Now, for a traced request that starts before it is known to be one (a link frame before its op is read); null when off. */
export function hopClock(): HopClock | null {
  return tracingHops() ? { wall: performance.now(), cpu: process.cpuUsage() } : null
}

function markOf(trace: Trace): HopMark {
  return (name) => {
    const now = { wall: performance.now(), cpu: process.cpuUsage() }
    const cpu = (now.cpu.user - trace.last.cpu.user + now.cpu.system - trace.last.cpu.system) / 1000
    trace.hops.push([name, now.wall - trace.last.wall, cpu])
    trace.last = now
  }
}

/**
 * Runs `fn` as one traced request of `part` (from `since`, else now) and, once it settles, appends its hops when it
 * marked any. `fn` gets the request's own mark (for callbacks outside its async context); code it calls marks with
 * {@link hop}. When tracing is off, only calls `fn` with a mark that does nothing.
 */
export function traceRequest<T>(part: string, fn: (mark: HopMark) => Promise<T>, since: HopClock | null = null): Promise<T> {
  if (!tracingHops()) return fn(ignore)
  storage ??= new AsyncLocalStorage()
  const trace: Trace = { last: since ?? { wall: performance.now(), cpu: process.cpuUsage() }, hops: [] }
  const write = (): void => {
    if (trace.hops.length > 0) appendFileSync(file!, `${JSON.stringify({ part, hops: trace.hops })}\n`)
  }
  const result = storage.run(trace, () => fn(markOf(trace)))
  result.then(write, write)
  return result
}

/** Ends the current hop of the traced request this code runs for; nothing when tracing is off or outside one. */
export function hop(name: string): void {
  if (storage === undefined) return
  const trace = storage.getStore()
  if (trace !== undefined) markOf(trace)(name)
}

function ignore(): void {}
