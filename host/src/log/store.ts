/**
 * The receipt log's storage (issue 12, "Storage"): one append-only, linear history of entries (docs/protocol.md,
 * "Receipt log"), the stored hashes of its RFC 9162 tree, and every checkpoint the host served. Everything a
 * C2SP tlog-tiles reader fetches comes from here: entry bundles from {@link LogStore.readEntries}, hash tiles from
 * {@link LogStore.readHashes}, checkpoints from {@link LogStore.checkpoints}.
 *
 * Two backends implement {@link LogBackend}: SQLite (`sqlite.ts`, the default: one host, embedded) and PostgreSQL
 * (`postgres.ts`: several hosts, one log). What they share lives here: appends are batched ({@link AppendBatcher}),
 * and each batch is integrated by {@link integrateBatch} inside one backend transaction that holds the log's write
 * lock, so entries, their indexes and the tree's hashes are committed together or not at all, and the tree can
 * never disagree with the entries.
 */
import { encodeLogEntry, logEntryKey, parseCheckpoint, storedHashCount, storedHashesForRecord, treeHash, type Hash, type HashReader, type LogEntry } from '@vouch/protocol'
import { HostError } from '../errors.js'
import { AppendBatcher, type BatchOptions } from './batcher.js'

/** An entry appended to the log, or found there already. */
export interface LogAppend {
  /** The entry's index: its position in the log, 0-based. */
  index: number
  /** Its key ({@link logEntryKey}): the log holds at most one entry per key. */
  key: string
  /** False when an entry of this key was in the log already; `index` is then that entry's. */
  appended: boolean
}

/** A checkpoint the host served: the signed note, and the size and root hash it commits to. */
export interface StoredCheckpoint {
  size: number
  rootHash: Hash
  /** The C2SP signed note, as served. */
  note: string
}

/**
 * The receipt log's storage. An append resolves only once its entry is durable and sequenced; the log never
 * holds two entries with one key, and its indexes are dense from 0.
 */
export interface LogStore extends HashReader {
  /** `sqlite` or `postgres`. */
  readonly backend: LogBackend['name']
  /**
   * Appends `entry` (or finds the entry of its key) and resolves once it is durable, with its index. Throws
   * `ERR_LOG_ENTRY_MALFORMED` or `ERR_PROTOCOL_TOO_LARGE` (not logged) at once for an entry the log cannot hold;
   * rejects with `ERR_HOST_LOG_UNAVAILABLE` when its batch could not be committed (nothing of it was, unless the
   * connection broke during the commit itself: appending it again is safe either way).
   */
  append(entry: LogEntry): Promise<LogAppend>
  /** Entries in the log, committed. */
  size(): Promise<number>
  /** The bytes of entries `start` to `end − 1`, in order; `end` at most {@link size}. */
  readEntries(start: number, end: number): Promise<Uint8Array[]>
  /** The stored hashes at `indexes` (each below `storedHashCount(size)`), in the order asked. */
  readHashes(indexes: readonly number[]): Promise<Hash[]>
  /** The index of the entry with `key`, or null. */
  indexOf(key: string): Promise<number | null>
  /**
   * Keeps a checkpoint the host serves: its C2SP signed note, whose text is a C2SP checkpoint (`ERR_TLOG_MALFORMED`
   * otherwise; the signatures are the signer's business). Its root hash must be the tree's at its size (else
   * `ERR_HOST_LOG_INCONSISTENT`, and nothing is kept): the log never stores a checkpoint its own tree contradicts.
   * Storing one twice keeps one. Resolves to what was kept.
   */
  addCheckpoint(note: string): Promise<StoredCheckpoint>
  /** Every checkpoint kept, in the order they were kept. */
  checkpoints(): Promise<StoredCheckpoint[]>
  /** Integrates what is queued, then closes the storage; appends after this are refused. */
  close(): Promise<void>
}

/** An entry of a batch, encoded, with its key. */
export interface PendingEntry {
  key: string
  data: Uint8Array
}

/**
 * What a backend offers inside one transaction that holds the log's write lock: the size it holds the lock at, reads
 * of what is committed (and its own writes), and the writes, which it commits when the work resolves.
 */
export interface SequencingTransaction extends HashReader {
  /** Entries in the log when the lock was taken. */
  readonly size: number
  /** The index of each of `keys` already in the log. */
  indexesOf(keys: readonly string[]): Promise<Map<string, number>> | Map<string, number>
  /**
   * Appends `entries` at indexes `size`, `size + 1`, …, and `hashes` at stored-hash indexes from
   * `storedHashCount(size)`; the log's size becomes `size + entries.length`. Written at commit.
   */
  append(entries: readonly PendingEntry[], hashes: readonly Hash[]): void
}

/** Storage under a {@link LogStore}: a SQLite file or a PostgreSQL database. */
export interface LogBackend extends HashReader {
  readonly name: 'sqlite' | 'postgres'
  /**
   * Runs `work` in one transaction under the log's write lock (one linear history, whatever other processes append
   * to the same storage), then commits what it appended. Rejects, with nothing written, when `work` or the commit fails.
   */
  sequence<T>(work: (tx: SequencingTransaction) => Promise<T>): Promise<T>
  size(): Promise<number>
  readEntries(start: number, end: number): Promise<Uint8Array[]>
  readHashes(indexes: readonly number[]): Promise<Hash[]>
  indexOf(key: string): Promise<number | null>
  /** Keeps `checkpoint` unless a checkpoint with the same note is kept. */
  insertCheckpoint(checkpoint: StoredCheckpoint): Promise<void>
  checkpoints(): Promise<StoredCheckpoint[]>
  close(): Promise<void>
}

/**
 * Stored hashes known to be committed, by index, so a batch need not read them back: a stored hash never changes once
 * committed, whichever host wrote it. Holds the last {@link CommittedHashes.LIMIT} learned (the right edge of the tree,
 * which is what the next records combine with); the oldest go first.
 */
export class CommittedHashes {
  static readonly LIMIT = 4096
  readonly #hashes = new Map<number, Hash>()

  get(index: number): Hash | undefined {
    return this.#hashes.get(index)
  }

  /** Remembers hashes whose transaction has committed; a hash learned again counts as the newest. */
  learn(hashes: Iterable<readonly [number, Hash]>): void {
    for (const [index, hash] of hashes) {
      // Re-inserted, not overwritten: a Map keeps a key's first place, and the hashes every tree hash reads (the
      // left edge's large subtrees) would otherwise be the first to go.
      this.#hashes.delete(index)
      this.#hashes.set(index, hash)
    }
    for (const index of this.#hashes.keys()) {
      if (this.#hashes.size <= CommittedHashes.LIMIT) break
      this.#hashes.delete(index)
    }
  }
}

/** What {@link integrateBatch} found: each entry's index and whether it was appended, and the stored hashes it read or wrote. */
export interface IntegratedBatch {
  results: Array<{ index: number; appended: boolean }>
  /** Learn these into {@link CommittedHashes} once the transaction has committed, not before. */
  hashes: Array<readonly [number, Hash]>
}

/**
 * Sequences `batch` in `tx`: entries whose key is in the log already (or earlier in the batch) keep that index; the
 * others get the next indexes, and the stored hashes each one adds, read through the hashes this batch computed so
 * far, then `committed`, then the backend. Results are in batch order.
 *
 * No checkpoint is signed here: signing one per batch cost every answer a share of an Ed25519 signature, a tree hash
 * and a stored note (about half the log's CPU per batch), for checkpoints mostly nobody reads. The log signs one
 * when somebody asks (`ReceiptLog.current`, receipt-log.ts).
 */
export async function integrateBatch(tx: SequencingTransaction, batch: readonly PendingEntry[], committed = new CommittedHashes()): Promise<IntegratedBatch> {
  const indexes = new Map(await tx.indexesOf([...new Set(batch.map((e) => e.key))]))
  const known = new Set(indexes.keys())
  const fresh: PendingEntry[] = []
  for (const entry of batch) {
    if (indexes.has(entry.key)) continue
    indexes.set(entry.key, tx.size + fresh.length)
    fresh.push(entry)
  }
  const base = storedHashCount(tx.size)
  const hashes: Hash[] = []
  const read = new Map<number, Hash>()
  const reader: HashReader = {
    readHashes: async (wanted) => {
      const missing = wanted.filter((i) => i < base && committed.get(i) === undefined && !read.has(i))
      if (missing.length > 0) (await tx.readHashes(missing)).forEach((hash, k) => read.set(missing[k]!, hash))
      return wanted.map((i) => (i < base ? (committed.get(i) ?? read.get(i)!) : hashes[i - base]!))
    },
  }
  for (const [i, entry] of fresh.entries()) hashes.push(...(await storedHashesForRecord(tx.size + i, entry.data, reader)))
  tx.append(fresh, hashes)
  const firstOfKey = new Set<string>()
  const results = batch.map((entry) => {
    const appended = !known.has(entry.key) && !firstOfKey.has(entry.key)
    firstOfKey.add(entry.key)
    return { index: indexes.get(entry.key)!, appended }
  })
  return { results, hashes: [...read, ...hashes.map((hash, k) => [base + k, hash] as const)] }
}

/** The {@link LogStore} over `backend`, appending in batches. */
export function createLogStore(backend: LogBackend, batching: BatchOptions): LogStore {
  const committed = new CommittedHashes()
  const batcher = new AppendBatcher<PendingEntry, { index: number; appended: boolean }>(async (batch) => {
    const integrated = await backend.sequence((tx) => integrateBatch(tx, batch, committed))
    committed.learn(integrated.hashes)
    return integrated.results
  }, batching)
  return {
    backend: backend.name,
    async append(entry) {
      const pending = { data: encodeLogEntry(entry), key: logEntryKey(entry) }
      const { index, appended } = await batcher.add(pending)
      return { index, key: pending.key, appended }
    },
    size: () => backend.size(),
    readEntries: (start, end) => backend.readEntries(start, end),
    readHashes: (indexes) => backend.readHashes(indexes),
    indexOf: (key) => backend.indexOf(key),
    async addCheckpoint(note) {
      // The checkpoint is the note's text: everything up to the blank line before the signatures.
      const { size, rootHash } = parseCheckpoint(note.slice(0, note.indexOf('\n\n') + 1))
      const logSize = await backend.size()
      if (size > logSize) throw new HostError('ERR_HOST_LOG_INCONSISTENT', { cause: new Error(`a checkpoint of size ${size} for a log of ${logSize} entries`) })
      if (!Buffer.from(await treeHash(size, backend)).equals(rootHash)) {
        throw new HostError('ERR_HOST_LOG_INCONSISTENT', { cause: new Error(`the checkpoint of size ${size} names another root hash than the log's tree`) })
      }
      const checkpoint = { size, rootHash, note }
      await backend.insertCheckpoint(checkpoint)
      return checkpoint
    },
    checkpoints: () => backend.checkpoints(),
    async close() {
      await batcher.close()
      await backend.close()
    },
  }
}
