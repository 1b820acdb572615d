/**
 * A receipt log in memory, on @vouch/protocol's tlog functions exactly as the host's store uses them: entries,
 * stored hashes, signed checkpoints, inclusion and consistency proofs, tiles and entry bundles in the shapes the log's
 * HTTP API serves (docs/protocol.md, "Receipt log"). For the verifier's and the client's tests; it can also lie the
 * ways a hostile log would (fork, drop an entry), which the tests expect to be caught.
 */
import { createHash } from 'node:crypto'
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  decodeLogEntry,
  encodeEntryBundle,
  encodeLogEntry,
  formatCheckpoint,
  generateNoteKey,
  parseTilePath,
  proveRecord,
  proveTree,
  readTileData,
  recordHash,
  signNote,
  storedHashesForRecordHashes,
  toBase64,
  treeHash,
  type Hash,
  type HashReader,
  type HashTile,
  type LogEntry,
  type NoteKeys,
} from '@vouch/protocol'

/** A log of entries in memory, signed by its own note key. */
export class MemoryLog {
  readonly entries: Uint8Array[] = []
  readonly hashes: Hash[] = []
  readonly keys: NoteKeys

  constructor(
    readonly origin = 'vouch.test/log',
    keys?: NoteKeys,
  ) {
    this.keys = keys ?? generateNoteKey(origin)
  }

  get size(): number {
    return this.entries.length
  }

  get reader(): HashReader {
    return { readHashes: async (indexes: readonly number[]) => indexes.map((i) => this.hashes[i]!) }
  }

  /** Appends entries (a receipt's JWS text, or a LogEntry); resolves to the first one's index. */
  async append(...entries: (string | LogEntry | Uint8Array)[]): Promise<number> {
    const first = this.size
    const bytes = entries.map((e) => (e instanceof Uint8Array ? e : encodeLogEntry(typeof e === 'string' ? { kind: 'receipt', receipt: e } : e)))
    this.hashes.push(...(await storedHashesForRecordHashes(first, bytes.map(recordHash), this.reader)))
    this.entries.push(...bytes)
    return first
  }

  /** The signed checkpoint at `size` (default: the whole log). */
  async checkpoint(size = this.size): Promise<string> {
    return signNote(formatCheckpoint({ origin: this.origin, size, rootHash: await treeHash(size, this.reader) }), this.keys.signerKey)
  }

  /** `GET /v1/log/proof`'s body for the entry at `index`, at `size` (default: the whole log). */
  async proof(index: number, size = this.size): Promise<{ index: number; size: number; rootHash: string; proof: string[]; checkpoint: string }> {
    return {
      index,
      size,
      rootHash: toBase64(await treeHash(size, this.reader)),
      proof: (await proveRecord(size, index, this.reader)).map(toBase64),
      checkpoint: await this.checkpoint(size),
    }
  }

  /** `GET /v1/log/consistency`'s body from `from` to `to` (default: the whole log). */
  async consistency(from: number, to = this.size): Promise<{ from: number; to: number; proof: string[] }> {
    return { from, to, proof: (await proveTree(to, from, this.reader)).map(toBase64) }
  }

  /** The bytes of a hash tile. */
  async tile(tile: HashTile): Promise<Uint8Array> {
    return readTileData(tile, this.reader)
  }

  /** The bytes of entry bundle `n` of width `width`. */
  entryBundle(n: number, width: number): Uint8Array {
    return encodeEntryBundle(this.entries.slice(n * 256, n * 256 + width))
  }

  /** The index of the receipt entry `jws`, or -1. */
  indexOf(jws: string): number {
    const wanted = encodeLogEntry({ kind: 'receipt', receipt: jws })
    return this.entries.findIndex((e) => Buffer.compare(e, wanted) === 0)
  }

  /** A copy of this log (same key and origin) holding the entries for which `keep` is true: a log that dropped some. */
  async filtered(keep: (entry: Uint8Array, index: number) => boolean): Promise<MemoryLog> {
    const copy = new MemoryLog(this.origin, this.keys)
    await copy.append(...this.entries.filter(keep))
    return copy
  }
}

/** An HTTP answer of the log's API. */
export interface LogReply {
  status: number
  type: string
  body: Uint8Array
}

const reply = (status: number, type: string, body: string | Uint8Array): LogReply => ({ status, type, body: typeof body === 'string' ? Buffer.from(body) : body })
const problem = (status: number, code: string, detail: string): LogReply => reply(status, 'application/problem+json', JSON.stringify({ type: 'about:blank', title: detail, status, detail, code }))

/**
 * Answers a GET of the log's HTTP API (docs/protocol.md, "Receipt log"; paths from `/v1/log/`) from `log`, as the host
 * does; null for a path that is not the log's. Whoever holds the server can swap `log` for another: a fork.
 */
export async function answerLog(log: MemoryLog, url: URL): Promise<LogReply | null> {
  const path = url.pathname
  if (!path.startsWith('/v1/log/')) return null
  if (path === '/v1/log/checkpoint') return reply(200, 'text/plain; charset=utf-8', await log.checkpoint())
  if (path === '/v1/log/key') return reply(200, 'text/plain; charset=utf-8', log.keys.verifierKey)
  if (path === '/v1/log/proof') {
    const digest = url.searchParams.get('receipt') ?? ''
    const index = log.entries.findIndex((e) => `sha256:${createHash('sha256').update(receiptOf(e) ?? '').digest('hex')}` === digest)
    if (index < 0) return problem(404, 'ERR_HOST_LOG_ENTRY_NOT_FOUND', 'the log holds no such receipt')
    return reply(200, 'application/json', JSON.stringify(await log.proof(index)))
  }
  if (path === '/v1/log/consistency') {
    const from = Number(url.searchParams.get('from'))
    const to = url.searchParams.has('to') ? Number(url.searchParams.get('to')) : log.size
    if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to) || from < 0 || from > to || to > log.size) return problem(400, 'ERR_HOST_LOG_RANGE_INVALID', 'no such range')
    return reply(200, 'application/json', JSON.stringify(await log.consistency(from, to)))
  }
  if (path.startsWith('/v1/log/evidence/')) {
    const digest = path.slice('/v1/log/evidence/'.length)
    for (const e of log.entries) {
      const entry = decodeLogEntry(e)
      if (entry.kind === 'evidence' && `sha256:${createHash('sha256').update(entry.bundle).digest('hex')}` === digest) return reply(200, 'application/cbor', entry.bundle)
    }
    return problem(404, 'ERR_HOST_NOT_FOUND', 'no such evidence')
  }
  let tile: ReturnType<typeof parseTilePath>
  try {
    tile = parseTilePath(path.slice('/v1/log/'.length))
  } catch {
    return problem(404, 'ERR_HOST_NOT_FOUND', 'no such route')
  }
  const end = tile.level === 'entries' ? tile.n * 256 + tile.width : (tile.n * 256 + tile.width) * 256 ** tile.level
  if (end > log.size) return problem(404, 'ERR_HOST_NOT_FOUND', 'no such tile')
  return reply(200, 'application/octet-stream', tile.level === 'entries' ? log.entryBundle(tile.n, tile.width) : await log.tile(tile))
}

/** The receipt an entry holds, if it is a receipt entry. */
function receiptOf(entry: Uint8Array): string | null {
  const decoded = decodeLogEntry(entry)
  return decoded.kind === 'receipt' ? decoded.receipt : null
}

/** A plain-HTTP server on 127.0.0.1 answering the log's API from `server.log` (which a test may swap). */
export class LogServer {
  private constructor(
    readonly server: HttpServer,
    public log: MemoryLog,
  ) {}

  static async start(log: MemoryLog): Promise<LogServer> {
    const server = createHttpServer()
    const self = new LogServer(server, log)
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      answerLog(self.log, new URL(req.url ?? '/', 'http://log'))
        .then((r) => r ?? problem(404, 'ERR_HOST_NOT_FOUND', 'no such route'))
        .catch((error: unknown) => problem(500, 'ERR_HOST_INTERNAL', String(error)))
        .then((r) => {
          res.writeHead(r.status, { 'content-type': r.type })
          res.end(r.body)
        })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return self
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
