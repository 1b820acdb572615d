/**
 * Following a receipt log over its HTTP API (docs/protocol.md, "Receipt log"): its signed checkpoint, consistency
 * proofs, and the last checkpoint seen of each log kept on disk, so every later one is checked against it. For
 * `@vouch/client` (each answer's proof) and `vouch-verify log audit`; the checks themselves are the pure ones.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { Agent, request, type Dispatcher } from 'undici'
import { VerificationError } from '../errors.js'
import { parseTreeProof, verifyLogConsistency } from './consistency.js'
import { openCheckpoint, type SignedCheckpoint } from './inclusion.js'

/** One answer of the log's HTTP API. */
export interface LogResponse {
  status: number
  body: Uint8Array
}

/** How the log is read: a GET of a path under the host's URL (`v1/log/checkpoint`), at most `maxBytes` of body. */
export interface LogReader {
  get(path: string, accept: string, maxBytes: number): Promise<LogResponse>
}

/** Largest checkpoint note read (a checkpoint is ~100 bytes; C2SP allows up to 100 signatures). */
const MAX_NOTE_BYTES = 64 * 1024
/** Largest JSON proof read (a path is at most 63 hashes). */
const MAX_PROOF_BYTES = 64 * 1024

/** How {@link httpLogReader} reads. */
export interface HttpLogReaderOptions {
  /**
   * PEM certificate(s) the log's HTTPS certificate must chain to, instead of Node's default CAs (for a host with a
   * private CA, or a development host's self-signed certificate). Unset: the default CAs (and `NODE_EXTRA_CA_CERTS`).
   */
  ca?: string | Uint8Array
  /** A fetch-compatible function to read with instead of undici; excludes `ca` (configure TLS in it). */
  fetch?: typeof fetch
  /** Longest one GET may take, from connecting to the body's last byte, in ms. Unset: 30 s. */
  timeoutMs?: number
}

/**
 * GET `url` with undici (the library Node's own fetch is built on, here so a CA can be given: the verifier imports no
 * node:http or node:https, DESIGN.md §2), at most `maxBytes` of body (the connection is dropped past it).
 */
async function undiciGet(url: URL, accept: string, maxBytes: number, dispatcher: Dispatcher | undefined, timeoutMs: number): Promise<LogResponse> {
  const response = await request(url, { method: 'GET', headers: { accept }, signal: AbortSignal.timeout(timeoutMs), ...(dispatcher !== undefined && { dispatcher }) })
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBytes) {
      response.body.destroy()
      throw new Error(`more than the ${maxBytes} bytes expected`)
    }
    chunks.push(chunk)
  }
  return { status: response.statusCode, body: new Uint8Array(Buffer.concat(chunks)) }
}

/**
 * A {@link LogReader} for the log at `url` (its host's base URL), over undici (trusting `options.ca` for HTTPS when
 * given) or `options.fetch`. A network or TLS failure, or a body past the size asked for, is
 * `ERR_LOG_UNAVAILABLE`; answers of any status are returned for the caller to judge.
 */
export function httpLogReader(url: string | URL, options: HttpLogReaderOptions = {}): LogReader {
  if (options.fetch !== undefined && options.ca !== undefined) throw new TypeError('httpLogReader: ca configures the undici connections; with fetch, configure TLS in the fetch function')
  const base = new URL(url)
  if (!base.pathname.endsWith('/')) base.pathname += '/'
  const doFetch = options.fetch
  const timeoutMs = options.timeoutMs ?? 30_000
  // One connection pool per reader: the CA, when given, replaces the default ones for this log only.
  const dispatcher = options.ca === undefined ? undefined : new Agent({ connect: { ca: typeof options.ca === 'string' ? options.ca : Buffer.from(options.ca) } })
  const viaFetch = async (target: URL, accept: string): Promise<LogResponse> => {
    const response = await doFetch!(target, { headers: { accept }, signal: AbortSignal.timeout(timeoutMs) })
    return { status: response.status, body: new Uint8Array(await response.arrayBuffer()) }
  }
  return {
    async get(path, accept, maxBytes) {
      const target = new URL(path, base)
      let response: LogResponse
      try {
        response = doFetch === undefined ? await undiciGet(target, accept, maxBytes, dispatcher, timeoutMs) : await viaFetch(target, accept)
      } catch (cause) {
        const error = cause as Error & { cause?: Error }
        throw new VerificationError('ERR_LOG_UNAVAILABLE', `GET ${target.href}: ${error.message}${error.cause?.message === undefined ? '' : ` (${error.cause.message})`}`, { cause })
      }
      if (response.body.length > maxBytes) throw new VerificationError('ERR_LOG_UNAVAILABLE', `GET /${path}: ${response.body.length} bytes exceed the ${maxBytes} expected`)
      return response
    },
  }
}

/** The body of a 200 answer to GET `path`, else `ERR_LOG_UNAVAILABLE` with the status and any problem code. */
export async function readLog(reader: LogReader, path: string, accept: string, maxBytes: number): Promise<Uint8Array> {
  const response = await reader.get(path, accept, maxBytes)
  if (response.status !== 200) {
    let code = ''
    try {
      const problem = JSON.parse(Buffer.from(response.body).toString('utf8')) as { code?: unknown }
      if (typeof problem.code === 'string') code = `: ${problem.code}`
    } catch {
      // no problem document: the status says it
    }
    throw new VerificationError('ERR_LOG_UNAVAILABLE', `GET /${path.split('?')[0]}: HTTP ${response.status}${code}`)
  }
  return response.body
}

/** The log's latest checkpoint, opened with the pinned `logKeys` (`ERR_LOG_CHECKPOINT_UNTRUSTED` when none signed it). */
export async function fetchCheckpoint(reader: LogReader, logKeys: readonly string[]): Promise<SignedCheckpoint> {
  const body = await readLog(reader, 'v1/log/checkpoint', 'text/plain', MAX_NOTE_BYTES)
  return openCheckpoint(Buffer.from(body).toString('utf8'), logKeys)
}

/** The consistency proof from tree size `from` to `to`, as `GET /v1/log/consistency` serves it. */
export async function fetchConsistency(reader: LogReader, from: number, to: number): Promise<Uint8Array[]> {
  const body = await readLog(reader, `v1/log/consistency?from=${from}&to=${to}`, 'application/json', MAX_PROOF_BYTES)
  let value: { from?: unknown; to?: unknown; proof?: unknown }
  try {
    value = JSON.parse(Buffer.from(body).toString('utf8')) as typeof value
  } catch (cause) {
    throw new VerificationError('ERR_LOG_PROOF_MALFORMED', 'the consistency proof is not JSON', { cause })
  }
  if (value.from !== from || value.to !== to) throw new VerificationError('ERR_LOG_PROOF_MALFORMED', `asked for the consistency proof from ${from} to ${to}, got one from ${String(value.from)} to ${String(value.to)}`)
  return parseTreeProof(value.proof)
}

/**
 * The default directory of the last checkpoints seen: `$VOUCH_STATE_DIR/log`, else `$XDG_STATE_HOME/vouch/log`, else
 * `~/.local/state/vouch/log`. State, not cache: deleting it forgets what a log showed, so a fork across it goes unseen.
 */
export function defaultCheckpointDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const explicit = env['VOUCH_STATE_DIR']
  if (explicit !== undefined && explicit !== '') return join(resolve(explicit), 'log')
  const xdg = env['XDG_STATE_HOME']
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'vouch', 'log')
  return join(home, '.local', 'state', 'vouch', 'log')
}

/**
 * The last checkpoint seen of each log, one file per origin (`<origin, URI-encoded>.checkpoint`, the signed note as
 * served), in `dir`. Each is reopened with the log keys when read: a file edited by hand is not trusted either.
 */
export class CheckpointStore {
  constructor(readonly dir: string) {}

  #path(origin: string): string {
    return join(this.dir, `${encodeURIComponent(origin)}.checkpoint`)
  }

  /** The stored checkpoint of `origin`, or null when none is stored. */
  async load(origin: string, logKeys: readonly string[]): Promise<SignedCheckpoint | null> {
    let note: string
    try {
      note = readFileSync(this.#path(origin), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
    const checkpoint = await openCheckpoint(note, logKeys)
    if (checkpoint.origin !== origin) throw new VerificationError('ERR_LOG_PROOF_MALFORMED', `${this.#path(origin)} holds a checkpoint of ${checkpoint.origin}`)
    return checkpoint
  }

  /** Stores `checkpoint` as its origin's latest (written whole, then renamed into place). */
  save(checkpoint: SignedCheckpoint): void {
    mkdirSync(this.dir, { recursive: true })
    const path = this.#path(checkpoint.origin)
    writeFileSync(`${path}.tmp`, checkpoint.note, { mode: 0o644 })
    renameSync(`${path}.tmp`, path)
  }
}

/**
 * Checks `seen` (a checkpoint of the log read through `reader`, opened with `logKeys`) against the one `store` holds
 * for its origin, with a consistency proof from the log when their sizes differ, and stores the larger. The first
 * checkpoint of a log is stored as it is. Throws `LogForkError` (`ERR_LOG_FORK`, both signed notes) when the two
 * cannot be one history; the stored one is then kept. Resolves to the latest checkpoint known.
 */
export async function advanceCheckpoint(reader: LogReader, store: Pick<CheckpointStore, 'load' | 'save'>, logKeys: readonly string[], seen: SignedCheckpoint): Promise<SignedCheckpoint> {
  const stored = await store.load(seen.origin, logKeys)
  const latest = await checkConsistent(reader, stored, seen)
  if (latest !== stored) store.save(latest)
  return latest
}

/**
 * Checks that `seen` and `stored` (a checkpoint kept earlier of the same log, or null for none) can be one history,
 * with a consistency proof from the log read through `reader` when their sizes differ. Throws `LogForkError`
 * (`ERR_LOG_FORK`, both signed notes) when they cannot. Resolves to the later (larger) of the two, `seen` when none is
 * stored.
 */
export async function checkConsistent(reader: LogReader, stored: SignedCheckpoint | null, seen: SignedCheckpoint): Promise<SignedCheckpoint> {
  if (stored === null) return seen
  const proof = stored.size === seen.size ? [] : await fetchConsistency(reader, Math.min(stored.size, seen.size), Math.max(stored.size, seen.size))
  return verifyLogConsistency(stored, seen, proof)
}
