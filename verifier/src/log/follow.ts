/**
 * Following a receipt log over its HTTP API (docs/protocol.md, "Receipt log"): its signed checkpoint, consistency
 * proofs, and the last checkpoint seen of each log kept on disk, so every later one is checked against it. For
 * `@vouch/client` (each answer's proof) and `vouch-verify log audit`; the checks themselves are the pure ones.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
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

/**
 * A {@link LogReader} over `fetch` (global unless given) for the log at `url` (its host's base URL). A network failure
 * is `ERR_LOG_UNAVAILABLE`; answers of any status are returned for the caller to judge.
 */
export function httpLogReader(url: string | URL, options: { fetch?: typeof fetch; timeoutMs?: number } = {}): LogReader {
  const base = new URL(url)
  if (!base.pathname.endsWith('/')) base.pathname += '/'
  const doFetch = options.fetch ?? fetch
  return {
    async get(path, accept, maxBytes) {
      let response: Response
      try {
        response = await doFetch(new URL(path, base), { headers: { accept }, signal: AbortSignal.timeout(options.timeoutMs ?? 30_000) })
      } catch (cause) {
        throw new VerificationError('ERR_LOG_UNAVAILABLE', `GET ${new URL(path, base).href}: ${(cause as Error).message}`, { cause })
      }
      const body = new Uint8Array(await response.arrayBuffer())
      if (body.length > maxBytes) throw new VerificationError('ERR_LOG_UNAVAILABLE', `GET /${path}: ${body.length} bytes exceed the ${maxBytes} expected`)
      return { status: response.status, body }
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
  load(origin: string, logKeys: readonly string[]): SignedCheckpoint | null {
    let note: string
    try {
      note = readFileSync(this.#path(origin), 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw error
    }
    const checkpoint = openCheckpoint(note, logKeys)
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
  const stored = store.load(seen.origin, logKeys)
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
