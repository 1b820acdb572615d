/**
 * The receipt log in PostgreSQL (`pg`), for several hosts that share one log (`--log-url postgres://…`).
 *
 * Sequencing: each batch runs in one transaction that first locks the log's state row
 * (`SELECT size … FOR UPDATE`), reads the size there, appends at the indexes that follow, advances the size and
 * commits. The row lock, not an advisory lock, because the lock and the value it protects are one thing: whoever
 * holds the row has read the size every other writer must wait for, the lock goes at commit or rollback (or when the
 * connection dies) with no session state to leak, it works through a transaction-pooling proxy, and no lock number
 * has to be agreed between deployments. A second host's batch waits on the row, then reads the size the first one
 * committed (READ COMMITTED re-reads a locked row once it is released), so the hosts write one linear history; and
 * were a writer ever to skip the lock, the primary key on the entries' index would refuse its rows instead of
 * letting the history fork. Commits are durable as PostgreSQL's are (`synchronous_commit`, on by default).
 */
import { storedHashCount, type Hash } from '@vouch/protocol'
import pg from 'pg'
import { HostError, HostStartupError } from '../errors.js'
import { LOG_SCHEMA_VERSION, checkOpenedLog, toStoredCheckpoint, type CheckpointRow } from './schema.js'
import type { LogBackend, PendingEntry, SequencingTransaction, StoredCheckpoint } from './store.js'

/** How long a batch waits for another host's lock on the log (and for a connection) before it fails. */
export const LOCK_TIMEOUT_MS = 10_000
/** Connections each host keeps to the database: one batch writes at a time, the rest serve reads. */
const POOL_SIZE = 4
/** Serializes two hosts creating the tables at once (`CREATE TABLE IF NOT EXISTS` alone can race). */
const SCHEMA_LOCK = 0x766f7563 // "vouc"

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vouch_log_state (id smallint PRIMARY KEY CHECK (id = 1), schema integer NOT NULL, size bigint NOT NULL);
CREATE TABLE IF NOT EXISTS vouch_log_entries (idx bigint PRIMARY KEY, key text NOT NULL UNIQUE, data bytea NOT NULL);
CREATE TABLE IF NOT EXISTS vouch_log_hashes (idx bigint PRIMARY KEY, hash bytea NOT NULL CHECK (length(hash) = 32));
CREATE TABLE IF NOT EXISTS vouch_log_checkpoints (id bigserial PRIMARY KEY, size bigint NOT NULL, root bytea NOT NULL, note text NOT NULL UNIQUE);
`

/** `bigint` columns as numbers: every index and size is far below 2^53, and one that is not is refused. */
function parseBigint(text: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new RangeError(`a bigint of the receipt log is past 2^53: ${text}`)
  return n
}
const types: pg.CustomTypesConfig = { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === pg.types.builtins.INT8 ? parseBigint : pg.types.getTypeParser(oid, format))) as pg.CustomTypesConfig['getTypeParser'] }

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

/** Wraps a database failure (unreachable, a lock held past the timeout, a broken connection) for the caller. */
function unavailable(error: unknown): unknown {
  return error instanceof HostError ? error : new HostError('ERR_HOST_LOG_UNAVAILABLE', { cause: error })
}

/** `url` without its password, for messages and logs. */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    u.search = ''
    return u.toString()
  } catch {
    return 'a PostgreSQL URL that cannot be parsed'
  }
}

/** Opens the receipt log in the database at `url`, creating its tables when absent; throws `ERR_HOST_LOG_OPEN_FAILED`. */
export async function openPostgresLog(url: string): Promise<LogBackend> {
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, types, connectionTimeoutMillis: LOCK_TIMEOUT_MS, application_name: 'vouch-host' })
  // An idle connection that breaks (the server restarted) is dropped by the pool; the next query opens another.
  pool.on('error', () => undefined)
  try {
    await transaction(pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK])
      await client.query(SCHEMA)
      await client.query('INSERT INTO vouch_log_state (id, schema, size) VALUES (1, $1, 0) ON CONFLICT (id) DO NOTHING', [LOG_SCHEMA_VERSION])
    })
    const { rows } = await pool.query<{ schema: number; size: number; lastEntry: number | null; lastHash: number | null }>(
      'SELECT schema, size, (SELECT max(idx) FROM vouch_log_entries) AS "lastEntry", (SELECT max(idx) FROM vouch_log_hashes) AS "lastHash" FROM vouch_log_state WHERE id = 1',
    )
    checkOpenedLog(rows[0]!)
  } catch (error) {
    await pool.end().catch(() => undefined)
    throw new HostStartupError('ERR_HOST_LOG_OPEN_FAILED', `receipt log ${describePostgresUrl(url)}: ${(error as Error).message}`, { cause: error })
  }
  return new PostgresLog(pool)
}

/**
 * Runs `work` in a transaction on one connection of `pool`, opened by `begin` (statements without parameters, sent as
 * one round trip; `work` gets the rows of the last); rolls back and drops the connection when anything fails.
 */
async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient, rows: unknown[]) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const client = await pool.connect()
  try {
    const begun = (await client.query(begin)) as pg.QueryResult | pg.QueryResult[]
    const result = await work(client, (Array.isArray(begun) ? begun.at(-1)! : begun).rows)
    await client.query('COMMIT')
    client.release()
    return result
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    // The connection may be broken or mid-statement: it is not handed out again.
    client.release(true)
    throw error
  }
}

async function readHashes(db: pg.Pool | pg.PoolClient, indexes: readonly number[]): Promise<Hash[]> {
  const { rows } = await db.query<{ idx: number; hash: Buffer }>('SELECT idx, hash FROM vouch_log_hashes WHERE idx = ANY($1::bigint[])', [indexes])
  const found = new Map(rows.map((r) => [r.idx, bytes(r.hash)]))
  return indexes.map((i) => {
    const hash = found.get(i)
    if (hash === undefined) throw new HostError('ERR_HOST_LOG_INCONSISTENT', { cause: new Error(`no stored hash at index ${i}`) })
    return hash
  })
}

class PostgresLog implements LogBackend {
  readonly name = 'postgres' as const
  readonly #pool: pg.Pool

  constructor(pool: pg.Pool) {
    this.#pool = pool
  }

  async sequence<T>(work: (tx: SequencingTransaction) => Promise<T>): Promise<T> {
    try {
      // Each round trip is the host's CPU and the server's, per batch: the transaction opens, sets its lock timeout
      // and takes the log's lock (reading the size) in one, and writes everything in one (write below).
      return await transaction(this.#pool, async (client, locked) => {
        const size = (locked as Array<{ size: number }>)[0]!.size
        const entries: PendingEntry[] = []
        const hashes: Hash[] = []
        const result = await work({
          size,
          indexesOf: async (keys) => {
            const found = await client.query<{ key: string; idx: number }>('SELECT key, idx FROM vouch_log_entries WHERE key = ANY($1::text[])', [keys])
            return new Map(found.rows.map((r) => [r.key, r.idx]))
          },
          readHashes: (indexes) => readHashes(client, indexes),
          append: (e, h) => void (entries.push(...e), hashes.push(...h)),
        })
        if (entries.length > 0) await write(client, size, entries, hashes)
        return result
      }, `BEGIN; SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}; SELECT size FROM vouch_log_state WHERE id = 1 FOR UPDATE`)
    } catch (error) {
      throw unavailable(error)
    }
  }

  async size(): Promise<number> {
    return this.#query(async () => (await this.#pool.query<{ size: number }>('SELECT size FROM vouch_log_state WHERE id = 1')).rows[0]!.size)
  }

  async readEntries(start: number, end: number): Promise<Uint8Array[]> {
    const rows = await this.#query(async () => (await this.#pool.query<{ data: Buffer }>('SELECT data FROM vouch_log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx', [start, end])).rows)
    if (rows.length !== end - start) throw new HostError('ERR_HOST_LOG_INCONSISTENT', { cause: new Error(`entries ${start} to ${end - 1}: ${rows.length} found`) })
    return rows.map((r) => bytes(r.data))
  }

  readHashes(indexes: readonly number[]): Promise<Hash[]> {
    return this.#query(() => readHashes(this.#pool, indexes))
  }

  async indexOf(key: string): Promise<number | null> {
    return this.#query(async () => (await this.#pool.query<{ idx: number }>('SELECT idx FROM vouch_log_entries WHERE key = $1', [key])).rows[0]?.idx ?? null)
  }

  async insertCheckpoint(c: StoredCheckpoint): Promise<void> {
    await this.#query(() => insertCheckpoint(this.#pool, c))
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    const rows = await this.#query(async () => (await this.#pool.query<CheckpointRow<Buffer>>('SELECT size, root, note FROM vouch_log_checkpoints ORDER BY id')).rows)
    return rows.map((row) => toStoredCheckpoint({ ...row, root: bytes(row.root) }))
  }

  async close(): Promise<void> {
    await this.#pool.end()
  }

  async #query<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read()
    } catch (error) {
      throw unavailable(error)
    }
  }
}

/** Keeps checkpoint `c` unless one with the same note is kept. */
async function insertCheckpoint(db: pg.Pool | pg.PoolClient, c: StoredCheckpoint): Promise<void> {
  await db.query('INSERT INTO vouch_log_checkpoints (size, root, note) VALUES ($1, $2, $3) ON CONFLICT (note) DO NOTHING', [c.size, Buffer.from(c.rootHash), c.note])
}

/**
 * Writes a batch's entries and stored hashes after `size`, and the new size, in the transaction of `client`, in one
 * statement (data-modifying CTEs: all of them run, or none).
 */
async function write(client: pg.PoolClient, size: number, entries: readonly PendingEntry[], hashes: readonly Hash[]): Promise<void> {
  const firstHash = storedHashCount(size)
  const buffer = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  await client.query(
    `WITH entries AS (INSERT INTO vouch_log_entries (idx, key, data) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[])),
      hashes AS (INSERT INTO vouch_log_hashes (idx, hash) SELECT * FROM unnest($4::bigint[], $5::bytea[]))
    UPDATE vouch_log_state SET size = $6 WHERE id = 1`,
    [
      entries.map((_, i) => size + i),
      entries.map((e) => e.key),
      entries.map((e) => buffer(e.data)),
      hashes.map((_, i) => firstHash + i),
      hashes.map(buffer),
      size + entries.length,
    ],
  )
}
