/**
 * Server processes for bench/e2e.bench.ts: the real `vouch-host` (which supervises the real enclave process)
 * and the plain baselines of `plain-server.ts`; readiness; memory read from /proc; and a stop that leaves no
 * process behind, also when the benchmark fails or the bench process exits early.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { ENCLAVE_ALLOCATOR_ENV, HOST_NODE_FLAGS } from '@vouch/host'
import { measureInterleaved, type Timing } from './measure.js'

const REPO = fileURLToPath(new URL('../..', import.meta.url))

/** What bench/lib/plain-server.ts takes as its one argument (JSON). */
export interface PlainServerConfig {
  /** `link`: behind the bare relay (bench/lib/bare-relay.ts), on a Unix socket, no HTTPS. */
  mode: 'binary' | 'json' | 'link'
  /** Model name → ONNX file. */
  models: Record<string, string>
  /** Model name → intra-op threads, as its manifest sets them (the enclave's sessions take them too). */
  threads: Record<string, number | undefined>
  /** The host's development certificate folder (`$VOUCH_CACHE_DIR/tls`). */
  tlsDir: string
  /**
   * `link` mode: the socket's path, and with `keysetOut` requests and answers are sealed (see plain-server.ts) under a
   * keyset whose public half is written there; without it, plain.
   */
  link?: { path: string; keysetOut?: string }
}

/** What bench/lib/bare-relay.ts takes as its one argument (JSON). */
export interface BareRelayConfig {
  /** The development certificate folder to serve with. */
  tlsDir: string
  /** The Unix socket of the plain server in `link` mode. */
  path: string
}

/** What bench/lib/echo-server.ts takes as its one argument (JSON). */
export interface EchoServerConfig {
  mode: 'unix' | 'https'
  /** Bytes of each answer. */
  responseBytes: number
  /** `unix`: the socket's path. */
  path?: string
  /** `https`: the development certificate folder to serve with. */
  certDir?: string
}

/** Media type of the plain binary server's bodies. */
export const BINARY_MEDIA_TYPE = 'application/cbor'

/** A server process started here. */
export interface ServerProcess {
  readonly name: string
  readonly pid: number
  /** `https://127.0.0.1:PORT`. */
  readonly url: string
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process (and, for the host, its enclave) is gone. */
  stop(): Promise<void>
}

/** The host, with its enclave child. */
export interface HostProcess extends ServerProcess {
  readonly enclavePid: number
  /** PEM of the host's development certificate, for clients to trust. */
  readonly ca: string
}

// Whatever happens to the benchmark, no server outlives this process.
const live = new Set<number>()
process.once('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
})

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Starts `node ...args` and resolves with the first stdout line matching `ready`; rejects if it exits first or takes longer than `timeoutMs`. */
function start(name: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, timeoutMs: number): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
  if (child.pid !== undefined) live.add(child.pid)
  const tail: string[] = []
  const keep = (line: string): void => {
    tail.push(line)
    if (tail.length > 40) tail.shift()
  }
  createInterface({ input: child.stderr! }).on('line', keep)
  const lines = createInterface({ input: child.stdout! })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${name} was not ready in ${timeoutMs} ms:\n${tail.join('\n')}`))
    }, timeoutMs)
    const onExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer)
      reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${tail.join('\n')}`))
    }
    child.once('exit', onExit)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    lines.on('line', (line) => {
      keep(line)
      const match = ready.exec(line)
      if (match === null) return
      clearTimeout(timer)
      child.off('exit', onExit)
      resolve({ child, match })
    })
  })
}

/** SIGTERM, then SIGKILL after `graceMs`. */
async function terminate(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const kill = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(kill)
}

/** Process ids of `pid`'s children (every thread's `children` list). */
export function childPids(pid: number): number[] {
  const pids: number[] = []
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      pids.push(...readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number))
    } catch {
      // the thread ended meanwhile
    }
  }
  return pids
}

/** Resident set size now and its high-water mark (VmHWM) since start or since {@link resetPeak}, in MB. */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN)
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 }
}

/** CPU time `pid` has used so far, all its threads, user and system, in ms (from /proc, in clock ticks of 10 ms). */
export function cpuTimeOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** Each path's CPU time per request, ms: the client's (this process, counted around each call) and each of its server processes'. */
export interface PathCpu {
  client: number
  servers: number[]
}

/**
 * {@link measureInterleaved} of `calls`, and the CPU time each path costs per request: the client's, counted around
 * each call, and that of each process in `serverPids[k]` (all its threads, from /proc), which serve path k alone.
 */
export async function latencyWithCpu(calls: ReadonlyArray<() => Promise<unknown>>, serverPids: ReadonlyArray<readonly number[]>, opts: { runs: number; warmup?: number }): Promise<{ latency: Timing[]; cpu: PathCpu[] }> {
  const clientCpu = calls.map(() => 0)
  const count = calls.map(() => 0)
  const counted = calls.map((fn, k) => async () => {
    const before = process.cpuUsage()
    await fn()
    const used = process.cpuUsage(before)
    clientCpu[k]! += (used.user + used.system) / 1000
    count[k]!++
  })
  const before = serverPids.map((pids) => pids.map(cpuTimeOf))
  const latency = await measureInterleaved(counted, opts)
  const cpu = serverPids.map((pids, k) => ({ client: clientCpu[k]! / count[k]!, servers: pids.map((pid, i) => (cpuTimeOf(pid) - before[k]![i]!) / count[k]!) }))
  return { latency, cpu }
}

/** Resets `pid`'s VmHWM to its current RSS (Linux `clear_refs` 5), so the next peak read covers what follows. */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5')
}

/** The status of `GET url` over TLS 1.3 trusting `ca`, or 0 when the request fails. */
function status(url: string, ca: string): Promise<number> {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { ca, minVersion: 'TLSv1.3', agent: false, timeout: 2_000 }, (res) => {
      res.resume()
      res.once('end', () => resolve(res.statusCode ?? 0))
    })
    req.once('error', () => resolve(0))
    req.once('timeout', () => req.destroy())
    req.end()
  })
}

/**
 * Starts `node host/bin/vouch-host.js --port 0 --tee simulated --gpu simulated --log-level warn` with
 * `VOUCH_CACHE_DIR=cacheDir` and waits until `/v2/health/ready` answers 200 (the enclave is up, models loaded).
 * `nodeArgs` go before the script and `hostArgs` after it (to profile: `--cpu-prof`, and an `--enclave-command`); `env`
 * adds to this process's environment (the enclave inherits it).
 */
export async function startVouchHost(cacheDir: string, options: { nodeArgs?: string[]; hostArgs?: string[]; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<HostProcess> {
  const started = performance.now()
  const timeoutMs = options.timeoutMs ?? 180_000
  // The host as shipped: with its V8 options (host/src/node-flags.ts), as `npm start` and the Kubernetes pods run it.
  const args = [...HOST_NODE_FLAGS, ...(options.nodeArgs ?? []), 'host/bin/vouch-host.js', '--port', '0', '--tee', 'simulated', '--gpu', 'simulated', '--log-level', 'warn', ...(options.hostArgs ?? [])]
  const { child, match } = await start('vouch-host', args, { ...process.env, ...options.env, VOUCH_CACHE_DIR: cacheDir }, /serving (https:\/\/\S+) \(TLS 1\.3\)/, timeoutMs)
  const pid = child.pid!
  const url = match[1]!
  let enclavePid: number | undefined
  const stop = async (): Promise<void> => {
    // The host stops its enclave on SIGTERM (SIGKILL after 10 s); anything left is killed here.
    await terminate(child, 15_000)
    live.delete(pid)
    if (enclavePid !== undefined) {
      if (alive(enclavePid)) process.kill(enclavePid, 'SIGKILL')
      live.delete(enclavePid)
    }
  }
  try {
    const ca = readFileSync(join(cacheDir, 'tls', 'localhost.crt'), 'utf8')
    while ((await status(`${url}/v2/health/ready`, ca)) !== 200) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error('vouch-host exited while its enclave started')
      if (performance.now() - started > timeoutMs) throw new Error(`vouch-host was not ready in ${timeoutMs} ms`)
      await sleep(200)
    }
    enclavePid = childPids(pid).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('vouch-enclave')
      } catch {
        return false
      }
    })
    if (enclavePid === undefined) throw new Error(`vouch-host (${pid}) is ready but no vouch-enclave child was found`)
    live.add(enclavePid)
    return { name: 'vouch-host', pid, url, enclavePid, ca, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

/** Starts `node --import tsx bench/lib/<script>` with its config (JSON) as its one argument: the process once it prints `ready`, whose first group is its address. */
async function startScript(name: string, script: string, config: unknown, ready: RegExp, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ServerProcess> {
  const { child, match } = await start(name, ['--import', 'tsx', `bench/lib/${script}`, JSON.stringify(config)], env, ready, timeoutMs)
  const pid = child.pid!
  return {
    name,
    pid,
    url: match[1]!,
    stop: async () => {
      await terminate(child, 5_000)
      live.delete(pid)
    },
  }
}

/** Starts bench/lib/echo-server.ts (see there). */
export function startEchoServer(config: EchoServerConfig): Promise<ServerProcess> {
  return startScript(`echo server (${config.mode})`, 'echo-server.ts', config, /echo-server: listening (\S+)/, process.env, 60_000)
}

/** Starts bench/lib/plain-server.ts in `mode` (see there) with the host's certificate from `tlsDir`; `env` adds to this process's environment. */
export function startPlainServer(config: PlainServerConfig, timeoutMs = 120_000, env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  // The enclave's allocator settings too: the comparison is of what confidentiality adds, not of malloc tuning.
  return startScript(`plain ${config.mode} server`, 'plain-server.ts', config, /serving (\S+)/, { ...ENCLAVE_ALLOCATOR_ENV, ...process.env, ...env }, timeoutMs)
}

/** Starts bench/lib/bare-relay.ts (see there) in front of a plain server in `link` mode. */
export function startBareRelay(config: BareRelayConfig): Promise<ServerProcess> {
  return startScript('bare relay', 'bare-relay.ts', config, /bare-relay: serving (\S+)/, process.env, 60_000)
}
