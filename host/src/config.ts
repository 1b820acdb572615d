/**
 * The host's configuration: the settings declared in `settings.ts`, each readable from a flag, an environment variable
 * (`VOUCH_HOST_` and the key in upper snake case) and a file (`--config FILE`, YAML or JSON, keys as nested there),
 * with precedence flags > environment > file > defaults. Everything is validated at start; every problem is
 * reported at once, each naming its source (the flag, the variable, or the file with line and column) and
 * its key. Relative paths in a file are relative to the file.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, resolve } from 'node:path'
import { isRecord, parseCommandLine, parseLinkAddress, textPositions, type OptionTable } from '@vouch/protocol'
import { parseDocument, visit, type Alias } from 'yaml'
import { HostStartupError } from './errors.js'
import { parseDnsAddress } from './fleet/dns.js'
import { CONFIG_FIELDS, toSettingValues, type Field, type HostConfig, type SettingKey, type SettingValue } from './settings.js'

export { CONFIG_FIELDS, DEFAULT_ENCLAVE_COMMAND, SETTINGS, type HostConfig, type SettingKey } from './settings.js'

const MiB = 1024 * 1024

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
    case 'proxies': {
      if (typeof raw !== 'string' || raw.length === 0) return { problem: `must be a non-empty string, got ${got}` }
      const list = parseTrustProxy(raw)
      return typeof list === 'string' ? { problem: list } : { value: list }
    }
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
  const options: OptionTable = { config: { type: 'string' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' } }
  for (const f of CONFIG_FIELDS) options[f.flag] = f.kind.type === 'boolean' ? { type: 'boolean' } : f.repeatable ? { type: 'string', multiple: true } : { type: 'string' }
  // Every on/off setting also has its --no- flag, as --help lists it.
  for (const f of CONFIG_FIELDS) if (f.kind.type === 'boolean') options[`no-${f.flag}`] = { type: 'boolean' }
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

/** The value each setting was given, and where; a setting given nowhere has its default. */
class Chosen {
  readonly #values = new Map<SettingKey, { value: unknown; source: Source }>()

  set(key: SettingKey, value: unknown, source: Source): void {
    this.#values.set(key, { value, source })
  }

  /** The value of `key`: as given, converted by its kind, or its default. */
  value<K extends SettingKey>(key: K): SettingValue<K> {
    const given = this.#values.get(key)
    return (given === undefined ? CONFIG_FIELDS.find((f) => f.key === key)!.fallback : given.value) as SettingValue<K>
  }

  /** Where `key` was given, for a problem about it. */
  named(key: SettingKey): string {
    const given = this.#values.get(key)
    return given === undefined ? `${key} (default)` : where(given.source, key)
  }
}

/**
 * Reads every source into `chosen`, the file first, then the environment, then the flags: each later source
 * replaces the earlier. Problems with single values go to `problems`.
 */
function readSources(flags: Record<string, unknown>, env: NodeJS.ProcessEnv, cwd: string, readFile: (path: string) => string, chosen: Chosen, problems: string[]): void {
  const take = (field: Field, raw: unknown, source: Source, base: string): void => {
    const converted = convert(field, raw, base)
    if ('problem' in converted) problems.push(`${where(source, field.key)}: ${converted.problem}`)
    else chosen.set(field.key, converted.value, source)
  }

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
  for (const field of CONFIG_FIELDS) {
    if (field.kind.type !== 'boolean' || flags[`no-${field.flag}`] !== true) continue
    if (flags[field.flag] === true) problems.push(`--${field.flag} and --no-${field.flag}: give one of them`)
    else chosen.set(field.key, false, { kind: 'flag', name: `no-${field.flag}` })
  }
}

/** What is wrong with an `enclave.addresses` entry, or null. */
function enclaveAddressProblem(address: string): string | null {
  if (address.startsWith('vsock://')) {
    return `${address}: Node.js has no vsock sockets; bridge the port to a Unix socket (socat UNIX-LISTEN:/run/vouch/enclave.sock,fork VSOCK-CONNECT:CID:PORT) and give unix:/run/vouch/enclave.sock`
  }
  if (address.startsWith('dns://')) return parseDnsAddress(address) === null ? `${address}: expected dns://NAME:PORT` : null
  try {
    parseLinkAddress(address)
    return null
  } catch (error) {
    return (error as Error).message
  }
}

/** Checks the rules across settings into `problems`; returns whether the enclave is supervised. */
function checkRules(chosen: Chosen, problems: string[]): boolean {
  const [cert, key] = [chosen.value('tls.cert'), chosen.value('tls.key')]
  if ((cert === null) !== (key === null)) problems.push(`${chosen.named(cert === null ? 'tls.key' : 'tls.cert')}: tls.cert and tls.key go together`)
  const socket = chosen.value('enclave.socket')
  const addresses = chosen.value('enclave.addresses')
  const supervise = chosen.value('enclave.supervise') ?? (socket === null && addresses.length === 0)
  if (!supervise && socket === null && addresses.length === 0) problems.push(`${chosen.named('enclave.supervise')}: without supervision the host needs enclave.addresses (--enclave) or enclave.socket (--enclave-socket)`)
  if (supervise && socket !== null && socket.startsWith('tcp://')) problems.push(`${chosen.named('enclave.socket')}: a supervised enclave serves a Unix socket path, not ${socket}`)
  if (supervise && addresses.length > 0) problems.push(`${chosen.named('enclave.addresses')}: enclaves that run elsewhere are not supervised; drop --supervise`)
  if (socket !== null && addresses.length > 0) problems.push(`${chosen.named('enclave.socket')}: give the enclaves with enclave.addresses (--enclave) alone`)
  if (chosen.value('enclave.count') > 1 && (!supervise || socket !== null)) problems.push(`${chosen.named('enclave.count')}: several enclaves are supervised with fresh sockets; without supervision list them with --enclave`)
  for (const address of addresses) {
    const problem = enclaveAddressProblem(address)
    if (problem !== null) problems.push(`${chosen.named('enclave.addresses')}: ${problem}`)
  }
  const [body, buffered, frame] = [chosen.value('limits.bodyBytes'), chosen.value('limits.bufferedBytes'), chosen.value('limits.frameBytes')]
  if (body > buffered) problems.push(`${chosen.named('limits.bufferedBytes')}: must be at least limits.bodyBytes (${body})`)
  if (body + 1024 > frame) problems.push(`${chosen.named('limits.bodyBytes')}: must be at least 1024 bytes below limits.frameBytes (${frame})`)
  const [logPath, logUrl] = [chosen.value('receiptLog.path'), chosen.value('receiptLog.url')]
  if (logPath !== null && logUrl !== null) problems.push(`${chosen.named('receiptLog.url')}: receiptLog.url and receiptLog.path name two logs; give one of them`)
  // The URL may hold a password: a problem names its scheme only.
  if (logUrl !== null && !/^postgres(ql)?:\/\//.test(logUrl)) problems.push(`${chosen.named('receiptLog.url')}: must be a postgres:// or postgresql:// URL, got one starting ${JSON.stringify(logUrl.split(':')[0])}`)
  return supervise
}

/**
 * Reads the configuration from `argv` (flags), the environment and the file named by `--config` or
 * `VOUCH_HOST_CONFIG`; throws `ERR_HOST_CONFIG_INVALID` listing every problem, one per line.
 */
export function loadConfig(argv: readonly string[], options: LoadConfigOptions = {}): ParsedCommandLine {
  const { values: flags, problems } = parseFlags(argv)
  if (flags['help'] === true) return { help: true }
  if (flags['version'] === true) return { help: true, version: true }
  const chosen = new Chosen()
  readSources(flags, options.env ?? process.env, options.cwd ?? process.cwd(), options.readFile ?? readConfigText, chosen, problems)
  const supervise = checkRules(chosen, problems)
  if (problems.length > 0) throw new HostStartupError('ERR_HOST_CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`)
  const settings = toSettingValues((key) => chosen.value(key))
  return { help: false, config: { ...settings, enclave: { ...settings.enclave, supervise } } }
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
function parseTrustProxy(raw: string): string[] | string {
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
