/**
 * The receipt log in one SQLite file (better-sqlite3): the default, embedded, nothing to set up. Write-ahead log, and
 * a commit has reached the disk (the WAL is fsynced) before an append is acknowledged, so a process killed at any
 * moment, or the machine losing power, leaves the last acknowledged batch in place. The fsync is not SQLite's own
 * (`synchronous = FULL` would run it inside COMMIT, on the host's one JavaScript thread, which relays nothing while
 * the disk flushes: 2 to 10 ms a batch here, most of what logging cost the host's throughput): SQLite commits with
 * `synchronous = NORMAL`, which in WAL mode differs from FULL only by that fsync of the WAL after each commit, and the
 * same fsync (`fdatasync` of the `-wal` file) runs on libuv's thread pool before the batch is acknowledged. A batch is sequenced under
 * `BEGIN IMMEDIATE`, SQLite's write lock, so two processes on one file still write one linear history (each waits
 * up to {@link BUSY_TIMEOUT_MS} for the other); several hosts belong on PostgreSQL, though.
 */
import { mkdirSync } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { storedHashCount, type Hash } from '@vouch/protocol'
import Database from 'better-sqlite3'
import { HostError, HostStartupError } from '../errors.js'
import { LOG_SCHEMA_VERSION, checkOpenedLog, toStoredCheckpoint, type CheckpointRow } from './schema.js'
import type { LogBackend, PendingEntry, SequencingTransaction, StoredCheckpoint } from './store.js'

/** How long a writer waits for another process's write lock before its batch fails. */
export const BUSY_TIMEOUT_MS = 10_000

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vouch_log_state (id INTEGER PRIMARY KEY CHECK (id = 1), schema INTEGER NOT NULL, size INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS vouch_log_entries (idx INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS vouch_log_hashes (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL CHECK (length(hash) = 32));
CREATE TABLE IF NOT EXISTS vouch_log_checkpoints (id INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL UNIQUE);
`

const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

/** Wraps a storage failure (disk full, a lock held past the timeout, a file gone) for the caller. */
function unavailable(error: unknown): unknown {
  return error instanceof HostError ? error : new HostError('ERR_HOST_LOG_UNAVAILABLE', { cause: error })
}

/** Opens (creating when absent) the SQLite receipt log at `file`; throws `ERR_HOST_LOG_OPEN_FAILED`. */
export function openSqliteLog(file: string): LogBackend {
  let db: Database.Database
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 })
    db = new Database(file)
    // WAL: readers never block the writer; NORMAL: a commit writes the WAL without fsyncing it, which `SqliteLog`
    // does off the event loop before it acknowledges (see the file's doc). Checkpoints of the WAL fsync as ever.
    if (db.pragma('journal_mode = WAL', { simple: true }) !== 'wal') throw new Error('the file system does not support write-ahead logging')
    db.pragma('synchronous = NORMAL')
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    db.exec('BEGIN IMMEDIATE')
    try {
      db.exec(SCHEMA)
      db.prepare('INSERT OR IGNORE INTO vouch_log_state (id, schema, size) VALUES (1, ?, 0)').run(LOG_SCHEMA_VERSION)
      db.exec('COMMIT')
    } catch (error) {
      db.exec('ROLLBACK')
      throw error
    }
    const state = db.prepare('SELECT schema, size FROM vouch_log_state WHERE id = 1').get() as { schema: number; size: number }
    const last = (table: string): number | null => (db.prepare(`SELECT max(idx) AS last FROM ${table}`).get() as { last: number | null }).last
    checkOpenedLog({ ...state, lastEntry: last('vouch_log_entries'), lastHash: last('vouch_log_hashes') })
  } catch (error) {
    throw new HostStartupError('ERR_HOST_LOG_OPEN_FAILED', `receipt log ${file}: ${(error as Error).message}`, { cause: error })
  }
  return new SqliteLog(db, `${file}-wal`)
}

class SqliteLog implements LogBackend {
  readonly name = 'sqlite' as const
  readonly #db: Database.Database
  readonly #statements
  /**
   * The connection's writes, one at a time: a checkpoint written while a batch's transaction is open would join that
   * transaction, and go if it rolled back.
   */
  #writes: Promise<unknown> = Promise.resolve()
  /** The `-wal` file, fsynced after each commit; opened at the first (the WAL exists once anything was written). */
  readonly #walPath: string
  #wal: FileHandle | null = null

  constructor(db: Database.Database, walPath: string) {
    this.#db = db
    this.#walPath = walPath
    this.#statements = {
      size: db.prepare('SELECT size FROM vouch_log_state WHERE id = 1').pluck(),
      setSize: db.prepare('UPDATE vouch_log_state SET size = ? WHERE id = 1'),
      entry: db.prepare('INSERT INTO vouch_log_entries (idx, key, data) VALUES (?, ?, ?)'),
      hash: db.prepare('INSERT INTO vouch_log_hashes (idx, hash) VALUES (?, ?)'),
      readHash: db.prepare('SELECT hash FROM vouch_log_hashes WHERE idx = ?').pluck(),
      readEntries: db.prepare('SELECT data FROM vouch_log_entries WHERE idx >= ? AND idx < ? ORDER BY idx').pluck(),
      indexOf: db.prepare('SELECT idx FROM vouch_log_entries WHERE key = ?').pluck(),
      checkpoint: db.prepare('INSERT OR IGNORE INTO vouch_log_checkpoints (size, root, note) VALUES (?, ?, ?)'),
      checkpoints: db.prepare('SELECT size, root, note FROM vouch_log_checkpoints ORDER BY id'),
    }
  }

  /** Runs `write` once the writes before it have settled. */
  #serialized<T>(write: () => Promise<T>): Promise<T> {
    const result = this.#writes.then(write)
    this.#writes = result.catch(() => undefined)
    return result
  }

  sequence<T>(work: (tx: SequencingTransaction) => Promise<T>): Promise<T> {
    return this.#serialized(() => this.#sequence(work))
  }

  async #sequence<T>(work: (tx: SequencingTransaction) => Promise<T>): Promise<T> {
    const s = this.#statements
    try {
      this.#db.exec('BEGIN IMMEDIATE')
    } catch (error) {
      throw unavailable(error)
    }
    let result: T
    try {
      const size = s.size.get() as number
      const writes: Array<{ entries: readonly PendingEntry[]; hashes: readonly Hash[] }> = []
      result = await work({
        size,
        indexesOf: (keys) => new Map(keys.flatMap((key) => {
          const index = s.indexOf.get(key) as number | undefined
          return index === undefined ? [] : [[key, index] as const]
        })),
        readHashes: (indexes) => this.#readHashes(indexes),
        append: (entries, hashes) => void writes.push({ entries, hashes }),
      })
      // The writes and the commit run in one turn of the event loop: no other caller of this connection can read
      // between them and see what is not committed.
      let [entryAt, hashAt] = [size, storedHashCount(size)]
      for (const { entries, hashes } of writes) {
        for (const e of entries) s.entry.run(entryAt++, e.key, e.data)
        for (const h of hashes) s.hash.run(hashAt++, h)
      }
      s.setSize.run(entryAt)
      this.#db.exec('COMMIT')
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK')
      throw unavailable(error)
    }
    // Committed, and durable once the WAL is on disk: only then is the batch acknowledged. This connection's readers
    // see it already, but nothing is served from it before a checkpoint covers it, and checkpoints wait for this.
    await this.#syncWal()
    return result
  }

  /**
   * Makes every commit so far durable: `fdatasync` of the WAL, on libuv's thread pool (what `synchronous = FULL` would
   * do in COMMIT, blocking). Rejects with `ERR_HOST_LOG_UNAVAILABLE` when the disk refuses.
   */
  async #syncWal(): Promise<void> {
    try {
      this.#wal ??= await open(this.#walPath, 'r')
      await this.#wal.datasync()
    } catch (error) {
      throw unavailable(error)
    }
  }

  #readHashes(indexes: readonly number[]): Hash[] {
    return indexes.map((i) => {
      const hash = this.#statements.readHash.get(i) as Buffer | undefined
      if (hash === undefined) throw new HostError('ERR_HOST_LOG_INCONSISTENT', { cause: new Error(`no stored hash at index ${i}`) })
      return bytes(hash)
    })
  }

  async size(): Promise<number> {
    return this.#run(() => this.#statements.size.get() as number)
  }

  async readEntries(start: number, end: number): Promise<Uint8Array[]> {
    const rows = this.#run(() => this.#statements.readEntries.all(start, end) as Buffer[])
    if (rows.length !== end - start) throw new HostError('ERR_HOST_LOG_INCONSISTENT', { cause: new Error(`entries ${start} to ${end - 1}: ${rows.length} found`) })
    return rows.map(bytes)
  }

  async readHashes(indexes: readonly number[]): Promise<Hash[]> {
    return this.#run(() => this.#readHashes(indexes))
  }

  async indexOf(key: string): Promise<number | null> {
    return this.#run(() => (this.#statements.indexOf.get(key) as number | undefined) ?? null)
  }

  insertCheckpoint(c: StoredCheckpoint): Promise<void> {
    return this.#serialized(async () => {
      this.#run(() => this.#statements.checkpoint.run(c.size, c.rootHash, c.note))
      await this.#syncWal()
    })
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    return this.#run(() => (this.#statements.checkpoints.all() as Array<CheckpointRow<Buffer>>).map((row) => toStoredCheckpoint({ ...row, root: bytes(row.root) })))
  }

  async close(): Promise<void> {
    await this.#writes
    await this.#wal?.close()
    this.#db.close()
  }

  #run<T>(read: () => T): T {
    try {
      return read()
    } catch (error) {
      throw unavailable(error)
    }
  }
}
