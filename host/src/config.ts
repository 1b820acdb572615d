/**
 * The host's configuration: one table of settings, each readable from a flag, an environment variable
 * (`VOUCH_HOST_` and the key in upper snake case) and a file (`--config FILE`, YAML or JSON, keys as below),
 * with precedence flags > environment > file > defaults. Everything is validated at start; every problem is
 * reported at once, each naming its source (the flag, the variable, or the file with line and column) and
 * its key. Relative paths in a file are relative to the file.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isRecord, parseCommandLine, textPositions, type OptionTable } from '@vouch/protocol'
import { parseDocument, visit, type Alias } from 'yaml'
import { HostStartupError } from './errors.js'

/** The validated configuration. Paths are absolute. */
export interface HostConfig {
  /** TCP port of the HTTPS server (0: any free port). */
  port: number
  /** Address the HTTPS server listens on. */
  host: string
  /**
   * Proxies whose `X-Forwarded-For` names the client (addresses, CIDR blocks, or `loopback`, `linklocal`,
   * `uniquelocal`), for the per-client limits; empty: the TCP peer is the client.
   */
  trustProxy: string[]
  tls: {
    /** PEM certificate chain file; null with `key` null: the cached development certificate. */
    cert: string | null
    /** PEM private key file. */
    key: string | null
  }
  enclave: {
    tee: 'simulated' | 'sev-snp'
    gpu: 'none' | 'simulated' | 'nvidia'
    /** Simulated GPUs; null: the enclave's default (1). */
    gpuCount: number | null
    /** Folder of model manifests; null: the enclave's default (the repository's `models/`). */
    models: string | null
    /** The enclave's socket (a path or `tcp://HOST:PORT`); null: a fresh path in a temporary folder. */
    socket: string | null
    /** Start, watch and restart the enclave; false: connect to one that runs elsewhere at `socket`. */
    supervise: boolean
    /** Program and first arguments that start the enclave. */
    command: string[]
    /** More arguments for the enclave, after those the host builds. */
    args: string[]
  }
  limits: {
    /** Largest request body. */
    bodyBytes: number
    /** Bytes of request bodies held at once (read, queued or in flight); requests beyond wait, bodies unread. */
    bufferedBytes: number
    /** Requests waiting for the enclave link before new ones are refused with 503. */
    queueDepth: number
    /** Requests in flight on the enclave link. */
    inFlight: number
    /** Bytes of request bodies in flight on the enclave link (one request is always let through). */
    inFlightBytes: number
    /** Largest link frame (the supervised enclave gets the same limit). */
    frameBytes: number
    /** Request bodies one client address has being read at once; its others wait unread. */
    clientBodies: number
    /** Slowest arrival of a request body, in bytes per second, over each `timeouts.bodyRateWindowMs` of reading (0: none). */
    minBodyRate: number
    /** Challenged attestations one client may ask for back to back. */
    attestBurst: number
    /** Challenged attestations per minute a client's budget refills with. */
    attestPerMinute: number
  }
  timeouts: {
    /** Time to serve one HTTP request before 504. */
    requestMs: number
    /** Time the enclave has to answer a ping. */
    pingMs: number
    /** Time between heartbeat pings. */
    heartbeatMs: number
    /** Time a request body may take from the start of reading, waits for the body budget included, before 408 (in effect only when shorter than `requestMs`). */
    bodyMs: number
    /** Reading time over which `limits.minBodyRate` is measured, window after window. */
    bodyRateWindowMs: number
    /** Time a supervised enclave has to become ready before it is restarted. */
    enclaveStartMs: number
    /** Time in-flight requests have to finish at shutdown. */
    shutdownMs: number
    /** Time the enclave's model list is cached. */
    modelsCacheMs: number
  }
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' }
}

type Kind =
  | { type: 'integer'; min: number; max: number }
  | { type: 'bytes'; min: number; max: number }
  | { type: 'string' }
  | { type: 'path' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'boolean' }
  | { type: 'argv' }

interface Field {
  /** Dotted key in the file and in {@link HostConfig}. */
  key: string
  /** Long flag without dashes. */
  flag: string
  kind: Kind
  /** What the setting does and what happens when it is unset. */
  doc: string
  /** The default; `null` means unset (the doc says what that means). */
  fallback: unknown
}

const MiB = 1024 * 1024
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** `node <repo>/enclave/bin/vouch-enclave.js`: the enclave next to this host. */
export const DEFAULT_ENCLAVE_COMMAND: readonly string[] = [process.execPath, resolve(REPO_ROOT, 'enclave/bin/vouch-enclave.js')]

/** Every setting. The order is the order of `--help`. */
export const CONFIG_FIELDS: readonly Field[] = [
  { key: 'port', flag: 'port', kind: { type: 'integer', min: 0, max: 65535 }, fallback: 8443, doc: 'HTTPS port (0: any free port)' },
  { key: 'host', flag: 'host', kind: { type: 'string' }, fallback: '127.0.0.1', doc: 'address to listen on' },
  {
    key: 'trustProxy',
    flag: 'trust-proxy',
    kind: { type: 'string' },
    fallback: null,
    doc: 'comma-separated addresses or CIDR blocks (or loopback, linklocal, uniquelocal) of reverse proxies whose X-Forwarded-For names the client, for the per-client limits; weaker if clients can reach the host without the proxy (they could name any address); unset: the TCP peer is the client, so behind a proxy all clients share one budget',
  },
  { key: 'tls.cert', flag: 'tls-cert', kind: { type: 'path' }, fallback: null, doc: 'PEM certificate (chain) file; unset: a cached self-signed development certificate' },
  { key: 'tls.key', flag: 'tls-key', kind: { type: 'path' }, fallback: null, doc: 'PEM private key file (with --tls-cert)' },
  { key: 'enclave.tee', flag: 'tee', kind: { type: 'enum', values: ['simulated', 'sev-snp'] }, fallback: 'simulated', doc: 'CPU TEE of the supervised enclave' },
  { key: 'enclave.gpu', flag: 'gpu', kind: { type: 'enum', values: ['none', 'simulated', 'nvidia'] }, fallback: 'none', doc: 'GPUs of the supervised enclave' },
  { key: 'enclave.gpuCount', flag: 'gpu-count', kind: { type: 'integer', min: 1, max: 64 }, fallback: null, doc: "simulated GPUs; unset: the enclave's default (1)" },
  { key: 'enclave.models', flag: 'models', kind: { type: 'path' }, fallback: null, doc: "folder of model manifests; unset: the enclave's default (models/)" },
  {
    key: 'enclave.socket',
    flag: 'enclave-socket',
    kind: { type: 'string' },
    fallback: null,
    doc: 'enclave socket path or tcp://HOST:PORT; set: connect to an enclave running there, without supervision',
  },
  { key: 'enclave.supervise', flag: 'supervise', kind: { type: 'boolean' }, fallback: null, doc: 'start and restart the enclave (--no-supervise: do not); unset: true unless --enclave-socket is set' },
  { key: 'enclave.command', flag: 'enclave-command', kind: { type: 'argv' }, fallback: DEFAULT_ENCLAVE_COMMAND, doc: 'program and first arguments that start the enclave (space-separated)' },
  { key: 'enclave.args', flag: 'enclave-arg', kind: { type: 'argv' }, fallback: [], doc: 'one more argument for the enclave (repeatable; write --enclave-arg=--flag for one that starts with a dash)' },
  { key: 'limits.bodyBytes', flag: 'max-body-bytes', kind: { type: 'bytes', min: 1024, max: 1024 * MiB }, fallback: 16 * MiB, doc: 'largest request body (413 beyond); accepts KiB/MiB suffixes' },
  {
    key: 'limits.bufferedBytes',
    flag: 'max-buffered-bytes',
    kind: { type: 'bytes', min: 1024, max: 16 * 1024 * MiB },
    fallback: 24 * MiB,
    doc: 'bytes of request bodies the host holds at once (read, queued or in flight); requests beyond wait with their bodies unread; at least limits.bodyBytes',
  },
  { key: 'limits.queueDepth', flag: 'max-queue', kind: { type: 'integer', min: 1, max: 100_000 }, fallback: 256, doc: 'requests waiting for the enclave before 503' },
  { key: 'limits.inFlight', flag: 'max-in-flight', kind: { type: 'integer', min: 1, max: 64 }, fallback: 32, doc: 'requests in flight on the enclave link' },
  {
    key: 'limits.inFlightBytes',
    flag: 'max-in-flight-bytes',
    kind: { type: 'bytes', min: 64 * 1024, max: 1024 * MiB },
    fallback: 16 * MiB,
    doc: "bytes of request bodies in flight on the enclave link (the rest wait in the host's queue, where they already are); one request always goes",
  },
  { key: 'limits.frameBytes', flag: 'max-frame-bytes', kind: { type: 'bytes', min: 64 * 1024, max: 1024 * MiB }, fallback: 32 * MiB, doc: 'largest enclave link frame' },
  {
    key: 'limits.clientBodies',
    flag: 'max-client-bodies',
    kind: { type: 'integer', min: 1, max: 10_000 },
    fallback: 16,
    doc: "request bodies one client address has being read at once; its others wait unread (they hold no body bytes)",
  },
  {
    key: 'limits.minBodyRate',
    flag: 'min-body-rate',
    kind: { type: 'bytes', min: 0, max: 1024 * MiB },
    fallback: 16 * 1024,
    doc: 'slowest rate, in bytes per second, at which a request body may arrive, measured over each timeouts.bodyRateWindowMs of reading (408 ERR_HOST_BODY_TOO_SLOW below it); 0: no floor; accepts KiB/MiB suffixes',
  },
  { key: 'limits.attestBurst', flag: 'attest-burst', kind: { type: 'integer', min: 1, max: 100_000 }, fallback: 5, doc: 'challenged attestations one client may ask for back to back (429 ERR_HOST_ATTEST_RATE_LIMITED beyond)' },
  { key: 'limits.attestPerMinute', flag: 'attest-per-minute', kind: { type: 'integer', min: 1, max: 6_000_000 }, fallback: 60, doc: "challenged attestations per minute that refill a client's burst" },
  { key: 'timeouts.requestMs', flag: 'request-timeout-ms', kind: { type: 'integer', min: 100, max: 3_600_000 }, fallback: 65_000, doc: 'time to serve a request before 504' },
  {
    key: 'timeouts.bodyMs',
    flag: 'body-timeout-ms',
    kind: { type: 'integer', min: 100, max: 3_600_000 },
    fallback: 30_000,
    doc: "time a request body may take to arrive from the start of reading, waits for the host's body budget included, so none holds its bytes longer (408 ERR_HOST_BODY_TIMEOUT); in effect only when shorter than timeouts.requestMs (504 covers the rest)",
  },
  {
    key: 'timeouts.bodyRateWindowMs',
    flag: 'body-rate-window-ms',
    kind: { type: 'integer', min: 100, max: 3_600_000 },
    fallback: 5_000,
    doc: 'reading time over which limits.minBodyRate is measured, window after window (a body that stalls is cut off within two windows)',
  },
  { key: 'timeouts.pingMs', flag: 'ping-timeout-ms', kind: { type: 'integer', min: 10, max: 600_000 }, fallback: 5_000, doc: 'time the enclave has to answer a ping' },
  { key: 'timeouts.heartbeatMs', flag: 'heartbeat-ms', kind: { type: 'integer', min: 10, max: 600_000 }, fallback: 2_000, doc: 'time between heartbeat pings to the enclave' },
  { key: 'timeouts.enclaveStartMs', flag: 'enclave-start-timeout-ms', kind: { type: 'integer', min: 100, max: 3_600_000 }, fallback: 180_000, doc: 'time a started enclave has to become ready' },
  { key: 'timeouts.shutdownMs', flag: 'shutdown-timeout-ms', kind: { type: 'integer', min: 0, max: 3_600_000 }, fallback: 30_000, doc: 'time in-flight requests have to finish at shutdown' },
  { key: 'timeouts.modelsCacheMs', flag: 'models-cache-ms', kind: { type: 'integer', min: 0, max: 3_600_000 }, fallback: 5_000, doc: "time the enclave's model list is cached" },
  { key: 'log.level', flag: 'log-level', kind: { type: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, fallback: 'info', doc: 'log level' },
]

/** Environment variable of a key: `VOUCH_HOST_` + the key in upper snake case (`limits.bodyBytes` → `VOUCH_HOST_LIMITS_BODY_BYTES`). */
export function envName(key: string): string {
  return `VOUCH_HOST_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase()}`
}

/** Environment variable naming the configuration file (as `--config`). */
export const CONFIG_FILE_ENV = 'VOUCH_HOST_CONFIG'

/** Where a value came from, for error messages. */
type Source = { kind: 'flag'; name: string } | { kind: 'env'; name: string } | { kind: 'file'; file: string; line: number; col: number }

function where(source: Source, key: string): string {
  switch (source.kind) {
    case 'flag':
      return `--${source.name} (${key})`
    case 'env':
      return `${source.name} (${key})`
    case 'file':
      return `${source.file}:${source.line}:${source.col}: ${key}`
  }
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: MiB, gib: 1024 * MiB, kb: 1000, mb: 1_000_000, gb: 1_000_000_000 }

/** Parses one raw value (a flag or variable string, or a file value of any type); returns the value or a problem. */
function convert(field: Field, raw: unknown, base: string): { value: unknown } | { problem: string } {
  const got = JSON.stringify(raw) ?? String(raw)
  const kind = field.kind
  switch (kind.type) {
    case 'integer':
    case 'bytes': {
      let n = Number.NaN
      if (typeof raw === 'number') n = raw
      else if (typeof raw === 'string') {
        const m = kind.type === 'bytes' ? /^\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(raw) : /^\s*(\d+)\s*()$/.exec(raw)
        const unit = m === null ? undefined : BYTE_UNITS[m[2]!.toLowerCase()]
        if (m !== null && unit !== undefined) n = Number(m[1]) * unit
      }
      if (!Number.isSafeInteger(n) || n < kind.min || n > kind.max) {
        const unit = kind.type === 'bytes' ? ' (bytes, or with a KiB/MiB/GiB suffix)' : ''
        return { problem: `must be an integer from ${kind.min} to ${kind.max}${unit}, got ${got}` }
      }
      return { value: n }
    }
    case 'string':
      if (typeof raw !== 'string' || raw.length === 0) return { problem: `must be a non-empty string, got ${got}` }
      return { value: raw }
    case 'path':
      if (typeof raw !== 'string' || raw.length === 0) return { problem: `must be a path, got ${got}` }
      return { value: resolve(base, raw) }
    case 'enum':
      if (typeof raw !== 'string' || !kind.values.includes(raw)) return { problem: `must be one of ${kind.values.join(', ')}, got ${got}` }
      return { value: raw }
    case 'boolean':
      if (raw === true || raw === 'true' || raw === '1' || raw === 'yes') return { value: true }
      if (raw === false || raw === 'false' || raw === '0' || raw === 'no') return { value: false }
      return { problem: `must be true or false, got ${got}` }
    case 'argv': {
      const list = typeof raw === 'string' ? raw.split(/\s+/).filter((s) => s.length > 0) : raw
      if (!Array.isArray(list) || !list.every((s): s is string => typeof s === 'string' && s.length > 0)) {
        return { problem: `must be a list of non-empty strings (or one space-separated string), got ${got}` }
      }
      return { value: list }
    }
  }
}

/** Options of {@link loadConfig}: where it reads from (tests pass their own). */
export interface LoadConfigOptions {
  /** Environment variables. Unset: `process.env`. */
  env?: NodeJS.ProcessEnv
  /** Folder relative flag and variable paths start from. Unset: `process.cwd()`. */
  cwd?: string
  /** Reads the configuration file. Unset: reads at most {@link MAX_CONFIG_FILE_BYTES}, and refuses a larger file. */
  readFile?: (path: string) => string
}

/**
 * The parsed command line: the configuration, or a request for information instead of a run (`help`: the usage,
 * with `version` set: the version).
 */
export type ParsedCommandLine = { help: true; version?: true } | { help: false; config: HostConfig }

/** The flags of `vouch-host`: one per setting of {@link CONFIG_FIELDS}, and `--config`, `--help`, `--version`; {@link usage} lists them all. */
export function commandLineOptions(): OptionTable {
  const options: OptionTable = { config: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' }, 'no-supervise': { type: 'boolean' } }
  for (const f of CONFIG_FIELDS) options[f.flag] = f.kind.type === 'boolean' ? { type: 'boolean' } : f.flag === 'enclave-arg' ? { type: 'string', multiple: true } : { type: 'string' }
  return options
}

function parseFlags(argv: readonly string[]): { values: Record<string, string | boolean | string[] | undefined>; problems: string[] } {
  try {
    const { values } = parseCommandLine(argv, { options: commandLineOptions() })
    return { values: values as Record<string, string | boolean | string[] | undefined>, problems: [] }
  } catch (error) {
    return { values: {}, problems: [(error as Error).message] }
  }
}

/**
 * Reads the configuration from `argv` (flags), the environment and the file named by `--config` or
 * `VOUCH_HOST_CONFIG`; throws `ERR_HOST_CONFIG_INVALID` listing every problem, one per line.
 */
export function loadConfig(argv: readonly string[], options: LoadConfigOptions = {}): ParsedCommandLine {
  const env = options.env ?? process.env
  const cwd = options.cwd ?? process.cwd()
  const readFile = options.readFile ?? readConfigText
  const problems: string[] = []
  const { values: flags, problems: flagProblems } = parseFlags(argv)
  problems.push(...flagProblems)
  if (flags['help'] === true) return { help: true }
  if (flags['version'] === true) return { help: true, version: true }

  const chosen = new Map<string, { value: unknown; source: Source }>()
  const take = (field: Field, raw: unknown, source: Source, base: string): void => {
    const converted = convert(field, raw, base)
    if ('problem' in converted) problems.push(`${where(source, field.key)}: ${converted.problem}`)
    else chosen.set(field.key, { value: converted.value, source })
  }

  // File first, then environment, then flags: each later source replaces the earlier.
  const fileFlag = flags['config']
  const file = typeof fileFlag === 'string' ? resolve(cwd, fileFlag) : env[CONFIG_FILE_ENV] ? resolve(cwd, env[CONFIG_FILE_ENV]) : null
  if (file !== null) readConfigFile(file, readFile, problems, take)

  const known = new Set([...CONFIG_FIELDS.map((f) => envName(f.key)), CONFIG_FILE_ENV])
  for (const name of Object.keys(env)) {
    if (name.startsWith('VOUCH_HOST_') && !known.has(name)) problems.push(`${name}: unknown setting (known: ${[...known].sort().join(', ')})`)
  }
  for (const field of CONFIG_FIELDS) {
    const name = envName(field.key)
    const raw = env[name]
    if (raw !== undefined && raw !== '') take(field, raw, { kind: 'env', name }, cwd)
  }

  for (const field of CONFIG_FIELDS) {
    const raw = flags[field.flag]
    if (raw !== undefined) take(field, raw, { kind: 'flag', name: field.flag }, cwd)
  }
  if (flags['no-supervise'] === true) {
    if (flags['supervise'] === true) problems.push('--supervise and --no-supervise: give one of them')
    else chosen.set('enclave.supervise', { value: false, source: { kind: 'flag', name: 'no-supervise' } })
  }

  const value = (key: string): unknown => (chosen.has(key) ? chosen.get(key)!.value : CONFIG_FIELDS.find((f) => f.key === key)!.fallback)
  const named = (key: string): string => {
    const c = chosen.get(key)
    return c === undefined ? `${key} (default)` : where(c.source, key)
  }

  // Rules across fields.
  if ((value('tls.cert') === null) !== (value('tls.key') === null)) problems.push(`${named(value('tls.cert') === null ? 'tls.key' : 'tls.cert')}: tls.cert and tls.key go together`)
  const socket = value('enclave.socket') as string | null
  const supervise = (value('enclave.supervise') as boolean | null) ?? socket === null
  if (!supervise && socket === null) problems.push(`${named('enclave.supervise')}: without supervision the host needs enclave.socket (--enclave-socket)`)
  if (supervise && socket !== null && socket.startsWith('tcp://')) problems.push(`${named('enclave.socket')}: a supervised enclave serves a Unix socket path, not ${socket}`)
  if ((value('limits.bodyBytes') as number) > (value('limits.bufferedBytes') as number)) {
    problems.push(`${named('limits.bufferedBytes')}: must be at least limits.bodyBytes (${value('limits.bodyBytes') as number})`)
  }
  const trustProxy = parseTrustProxy(value('trustProxy') as string | null)
  if (typeof trustProxy === 'string') problems.push(`${named('trustProxy')}: ${trustProxy}`)
  if ((value('limits.bodyBytes') as number) + 1024 > (value('limits.frameBytes') as number)) {
    problems.push(`${named('limits.bodyBytes')}: must be at least 1024 bytes below limits.frameBytes (${value('limits.frameBytes') as number})`)
  }

  if (problems.length > 0) throw new HostStartupError('ERR_HOST_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`)

  return {
    help: false,
    config: {
      port: value('port') as number,
      host: value('host') as string,
      trustProxy: trustProxy as string[],
      tls: { cert: value('tls.cert') as string | null, key: value('tls.key') as string | null },
      enclave: {
        tee: value('enclave.tee') as HostConfig['enclave']['tee'],
        gpu: value('enclave.gpu') as HostConfig['enclave']['gpu'],
        gpuCount: value('enclave.gpuCount') as number | null,
        models: value('enclave.models') as string | null,
        socket,
        supervise,
        command: [...(value('enclave.command') as string[])],
        args: [...(value('enclave.args') as string[])],
      },
      limits: {
        bodyBytes: value('limits.bodyBytes') as number,
        bufferedBytes: value('limits.bufferedBytes') as number,
        queueDepth: value('limits.queueDepth') as number,
        inFlight: value('limits.inFlight') as number,
        inFlightBytes: value('limits.inFlightBytes') as number,
        frameBytes: value('limits.frameBytes') as number,
        clientBodies: value('limits.clientBodies') as number,
        minBodyRate: value('limits.minBodyRate') as number,
        attestBurst: value('limits.attestBurst') as number,
        attestPerMinute: value('limits.attestPerMinute') as number,
      },
      timeouts: {
        requestMs: value('timeouts.requestMs') as number,
        bodyMs: value('timeouts.bodyMs') as number,
        bodyRateWindowMs: value('timeouts.bodyRateWindowMs') as number,
        pingMs: value('timeouts.pingMs') as number,
        heartbeatMs: value('timeouts.heartbeatMs') as number,
        enclaveStartMs: value('timeouts.enclaveStartMs') as number,
        shutdownMs: value('timeouts.shutdownMs') as number,
        modelsCacheMs: value('timeouts.modelsCacheMs') as number,
      },
      log: { level: value('log.level') as HostConfig['log']['level'] },
    },
  }
}

/** Largest configuration file read: it holds a few dozen settings. */
export const MAX_CONFIG_FILE_BYTES = 64 * 1024

/** Reads a configuration file of at most {@link MAX_CONFIG_FILE_BYTES}; a larger one is not read past that. */
function readConfigText(path: string): string {
  const fd = openSync(path, 'r')
  try {
    const buffer = Buffer.alloc(MAX_CONFIG_FILE_BYTES + 1)
    let length = 0
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null)
    if (length > MAX_CONFIG_FILE_BYTES) throw new RangeError(`over ${MAX_CONFIG_FILE_BYTES} bytes, more than a configuration needs`)
    return buffer.toString('utf8', 0, length)
  } finally {
    closeSync(fd)
  }
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])

/** The `trustProxy` list (comma-separated): each entry a name of {@link PROXY_NAMES}, an address or a CIDR block; or what is wrong with it. */
function parseTrustProxy(raw: string | null): string[] | string {
  if (raw === null) return []
  const entries = raw.split(',').map((e) => e.trim())
  for (const entry of entries) {
    if (PROXY_NAMES.has(entry)) continue
    const [address = '', prefix, extra] = entry.split('/')
    const family = isIP(address)
    const bits = family === 4 ? 32 : 128
    if (family === 0 || extra !== undefined || (prefix !== undefined && !(/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits))) {
      return `must list addresses, CIDR blocks or ${[...PROXY_NAMES].join(', ')}, separated by commas; got ${JSON.stringify(entry)}`
    }
  }
  return entries
}

/** Reads the configuration file: YAML or JSON, nested keys as in {@link HostConfig}; unknown keys are problems. */
function readConfigFile(file: string, readFile: (path: string) => string, problems: string[], take: (field: Field, raw: unknown, source: Source, base: string) => void): void {
  let text: string
  try {
    text = readFile(file)
  } catch (error) {
    problems.push(`${file}: cannot read the configuration file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`)
    return
  }
  const position = textPositions(text)
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true })
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = position(e.pos[0])
      problems.push(`${file}:${pos.line}:${pos.column}: ${e.message.split('\n')[0]}`)
    }
    return
  }
  // Settings have no use for aliases, and expanding them is how a few hundred bytes become gigabytes.
  let alias: Alias | undefined
  visit(doc, {
    Alias(_, node) {
      alias = node
      return visit.BREAK
    },
  })
  if (alias !== undefined) {
    const pos = position(alias.range?.[0] ?? 0)
    problems.push(`${file}:${pos.line}:${pos.column}: aliases (*${alias.source}) are not allowed in a configuration file; write the value out`)
    return
  }
  const root: unknown = doc.toJS()
  if (root === null || root === undefined) return
  const base = dirname(file)
  const at = (path: string[]): Source => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined
    const pos = position(node?.range?.[0] ?? 0)
    return { kind: 'file', file, line: pos.line, col: pos.column }
  }
  if (!isRecord(root)) {
    problems.push(`${file}:1:1: the configuration must be a map of settings`)
    return
  }
  const groups = new Set(CONFIG_FIELDS.filter((f) => f.key.includes('.')).map((f) => f.key.split('.')[0]!))
  for (const [name, item] of Object.entries(root)) {
    if (groups.has(name)) {
      if (!isRecord(item)) {
        const s = at([name])
        problems.push(`${where(s, name)}: must be a map`)
        continue
      }
      for (const [sub, raw] of Object.entries(item)) {
        const key = `${name}.${sub}`
        const field = CONFIG_FIELDS.find((f) => f.key === key)
        if (field === undefined) problems.push(`${where(at([name, sub]), key)}: unknown setting`)
        else if (raw !== null) take(field, raw, at([name, sub]), base)
      }
    } else {
      const field = CONFIG_FIELDS.find((f) => f.key === name)
      if (field === undefined) problems.push(`${where(at([name]), name)}: unknown setting`)
      else if (item !== null) take(field, item, at([name]), base)
    }
  }
}

/** The `--help` text, from {@link CONFIG_FIELDS}. */
export function usage(): string {
  const rows = CONFIG_FIELDS.map((f) => {
    const flag = f.kind.type === 'boolean' ? `--${f.flag}, --no-${f.flag}` : `--${f.flag} ${f.kind.type === 'enum' ? f.kind.values.join('|') : f.kind.type === 'path' ? 'PATH' : 'VALUE'}`
    const fallback = f.fallback === null || (Array.isArray(f.fallback) && f.fallback.length === 0) ? '' : ` (default ${Array.isArray(f.fallback) ? f.fallback.join(' ') : String(f.fallback)})`
    return `  ${flag}\n      ${f.doc}${fallback}\n      env ${envName(f.key)}, file key ${f.key}`
  })
  return `usage: vouch-host [options]

The untrusted relay in front of a Vouch enclave: HTTPS (TLS 1.3) with the Open Inference Protocol v2 routes,
sealed requests relayed to the enclave, attestation, health, metrics. Precedence: flags > environment >
--config file (YAML or JSON) > defaults.

  --config FILE
      configuration file (env ${CONFIG_FILE_ENV})
  -h, --help
      this text
  --version
      the version
${rows.join('\n')}`
}
