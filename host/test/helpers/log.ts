/**
 * Checks of a receipt log store for the tests, computed without the store's tree code: RFC 9162's Merkle tree hash
 * (MTH) bottom-up from the entries' bytes, every stored hash against the subtree it names, every checkpoint against
 * the MTH of the entries it covers, and the entries themselves (dense, each key once, each acknowledged entry at its
 * index).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import pg from 'pg'
import {
  checkTree,
  decodeLogEntry,
  formatCheckpoint,
  logEntryKey,
  openNote,
  parseCheckpoint,
  proveTree,
  signNote,
  storedHashCount,
  storedHashIndex,
  toBase64Url,
  treeHash,
} from '@vouch/protocol'
import { openPostgresLog } from '../../src/log/postgres.js'
import { openSqliteLog } from '../../src/log/sqlite.js'
import type { LogBackend, LogStore } from '../../src/log/store.js'
import { postgresSkipReason, startPostgres, type TestPostgres } from './postgres.js'

/** A backend the log tests run against: where it keeps logs, how to open one and reach its tables directly. */
export interface LogTarget {
  /** A new, empty log's location: a SQLite file in a scratch folder, or a new database on a throwaway server. */
  newLog(): Promise<string>
  open(location: string): Promise<LogBackend>
  /** Runs SQL on the log's tables, outside the store. */
  exec(location: string, sql: string): Promise<void>
}

/** The backends, and why one cannot run here. */
export const LOG_BACKENDS = [
  { name: 'sqlite', skip: false },
  { name: 'postgres', skip: postgresSkipReason },
] as const

/**
 * The {@link LogTarget} of backend `name` for the suite this is called in: its scratch folder (and server) are made
 * before the suite's tests and removed after them.
 */
export function useLogTarget(name: 'sqlite' | 'postgres'): LogTarget {
  let scratch = ''
  let server: TestPostgres | null = null
  let logs = 0
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'vouch-log-'))
    if (name === 'postgres') server = await startPostgres()
  }, { timeout: 90_000 })
  after(() => {
    server?.stop()
    rmSync(scratch, { recursive: true, force: true })
  })
  if (name === 'sqlite') {
    return {
      newLog: async () => join(scratch, `log${++logs}`, 'log.sqlite'),
      open: async (file) => openSqliteLog(file),
      exec: async (file, sql) => {
        const db = new Database(file)
        db.exec(sql)
        db.close()
      },
    }
  }
  return {
    newLog: () => server!.createDatabase(),
    open: (url) => openPostgresLog(url),
    exec: async (url, sql) => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      await client.query(sql)
      await client.end()
    },
  }
}

/** A receipt-shaped compact JWS named by `label` (the store checks the shape; nobody verifies it here). */
export function receiptFor(label: string): string {
  const part = (text: string): string => toBase64Url(new TextEncoder().encode(text))
  return `${part('{"alg":"EdDSA","typ":"vouch-receipt+jws"}')}.${part(`{"id":${JSON.stringify(label)}}`)}.${part(`signature of ${label}`)}`
}

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}
const leafHash = (data: Uint8Array): Buffer => sha256(Uint8Array.of(0), data)
/** The leaf hashes of entries (RFC 9162 §2.1.1: SHA-256 of 0x00 and the entry's bytes). */
export const leafHashes = (entries: readonly Uint8Array[]): Buffer[] => entries.map(leafHash)
const interior = (l: Uint8Array, r: Uint8Array): Buffer => sha256(Uint8Array.of(1), l, r)

/**
 * MTH(D[lo:hi]) of RFC 9162 §2.1.1, literally: split at the largest power of two below the size. `memo` keeps the
 * hashes of complete subtrees (the left halves) between calls over the same leaves.
 */
export function merkleTreeHash(leaves: readonly Buffer[], lo = 0, hi = leaves.length, memo = new Map<string, Buffer>()): Buffer {
  if (hi === lo) return sha256()
  if (hi - lo === 1) return leaves[lo]!
  let k = 1
  while (k * 2 < hi - lo) k *= 2
  const left = `${lo}:${lo + k}`
  if (!memo.has(left)) memo.set(left, merkleTreeHash(leaves, lo, lo + k, memo))
  return interior(memo.get(left)!, merkleTreeHash(leaves, lo + k, hi, memo))
}

/** Every complete subtree of `leaves`, level by level: `levels[l][k]` is the hash of leaves [k·2^l, (k+1)·2^l). */
function completeSubtrees(leaves: readonly Buffer[]): Buffer[][] {
  const levels = [leaves.slice()]
  for (let below = levels[0]!; below.length > 1; ) {
    const level: Buffer[] = []
    for (let k = 0; k + 1 < below.length; k += 2) level.push(interior(below[k]!, below[k + 1]!))
    levels.push(level)
    below = level
  }
  return levels
}

/** What an appender was told: the index acknowledged for each key. */
export type Acks = ReadonlyMap<string, number>

/** The log's test origin line. */
export const TEST_ORIGIN = 'vouch.test/log'

/** A checkpoint of the store's tree as it is now, signed with `signerKey` (a C2SP note signer key). */
export async function signedCheckpoint(store: LogStore, signerKey: string): Promise<string> {
  const size = await store.size()
  return signNote(formatCheckpoint({ origin: TEST_ORIGIN, size, rootHash: await treeHash(size, store) }), signerKey)
}

/**
 * Asserts the store holds a sound log: `size` dense entries, each decodable and with a key of its own; every
 * acknowledged key at its acknowledged index; every stored hash the hash of the subtree it names (and no more of them
 * than the size needs); every kept checkpoint's root the MTH of the entries it covers, and the tree now consistent
 * with it by an RFC 9162 consistency proof; with `verifierKey`, every kept note signed by it. Returns the keys.
 */
export async function assertSoundLog(store: LogStore, acks: Acks = new Map(), verifierKey?: string): Promise<string[]> {
  const size = await store.size()
  const entries = await store.readEntries(0, size)
  const keys = entries.map((e) => logEntryKey(decodeLogEntry(e)))
  assert.equal(new Set(keys).size, size, 'an entry is in the log twice')
  for (const [key, index] of acks) assert.equal(keys[index], key, `acknowledged ${key} is not at index ${index}`)
  // The lookup by key (how a receipt's proof is found), on a spread of the entries: each is a round trip.
  for (let i = 0; i < size; i += Math.max(1, Math.floor(size / 200))) assert.equal(await store.indexOf(keys[i]!), i)

  const leaves = leafHashes(entries)
  const levels = completeSubtrees(leaves)
  const want = new Map<number, Buffer>()
  for (const [level, hashes] of levels.entries()) for (const [k, hash] of hashes.entries()) want.set(storedHashIndex(level, k), hash)
  const count = storedHashCount(size)
  assert.equal(want.size, count)
  const stored = await store.readHashes(Array.from({ length: count }, (_, i) => i))
  for (const [i, hash] of stored.entries()) assert.deepEqual(Buffer.from(hash), want.get(i), `stored hash ${i}`)
  await assert.rejects(store.readHashes([count]), { code: 'ERR_HOST_LOG_INCONSISTENT' })

  const memo = new Map<string, Buffer>()
  const root = await treeHash(size, store)
  assert.deepEqual(Buffer.from(root), merkleTreeHash(leaves, 0, size, memo))
  for (const checkpoint of await store.checkpoints()) {
    assert.ok(checkpoint.size <= size)
    assert.deepEqual(Buffer.from(checkpoint.rootHash), merkleTreeHash(leaves, 0, checkpoint.size, memo), `checkpoint of size ${checkpoint.size}`)
    checkTree(await proveTree(size, checkpoint.size, store), size, root, checkpoint.size, checkpoint.rootHash)
    const text = verifierKey === undefined ? checkpoint.note.slice(0, checkpoint.note.indexOf('\n\n') + 1) : (await openNote(checkpoint.note, [verifierKey])).text
    const parsed = parseCheckpoint(text)
    assert.deepEqual([parsed.size, Buffer.from(parsed.rootHash)], [checkpoint.size, Buffer.from(checkpoint.rootHash)])
  }
  return keys
}

/** What `append-child.ts` is asked to do (see its doc). */
export interface ChildOptions {
  /** A SQLite file, or a PostgreSQL URL. */
  location: string
  /** A receipt is appended for each. */
  labels: string[]
  /** Appends in flight at once. */
  window: number
  batch: { entries: number; ms: number }
  /** A checkpoint is kept every this many acknowledgements. */
  checkpointEvery: number
  /** The note signer key its checkpoints are signed with. */
  signerKey: string
  /** Print `ready` once the log is open, and start at the first byte on stdin. */
  waitForGo?: boolean
  /** Print `appended` after the last acknowledgement, and wait for stdin before closing the log. */
  holdAtEnd?: boolean
}

/** A running `append-child.ts`. */
export interface Appender {
  /** What it acknowledged so far: key → index. */
  readonly acks: Map<string, number>
  /** Keys it acknowledged at two different indexes (never, in a sound log). */
  readonly conflicts: string[]
  /** Sizes of the checkpoints it kept. */
  readonly checkpoints: number[]
  /** Resolves once it printed `ready` (with `waitForGo`). */
  readonly ready: Promise<void>
  /** Starts it (with `waitForGo`). */
  go(): void
  /** Kills it with SIGKILL once it has acknowledged `count` entries (or at `appended`, with `holdAtEnd`). */
  killAfter(count: number): void
  /** Its exit: the code or the signal, and whether it printed `done`. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; done: boolean }>
}

/** Starts `append-child.ts` with `options` (its {@link ChildOptions}). */
export function startAppender(options: ChildOptions): Appender {
  const root = fileURLToPath(new URL('../../../', import.meta.url))
  const child = spawn(process.execPath, ['--conditions=@vouch/source', '--import', 'tsx', join(root, 'host/test/log/append-child.ts'), JSON.stringify(options)], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] })
  const acks = new Map<string, number>()
  const checkpoints: number[] = []
  const conflicts: string[] = []
  let killAt = Infinity
  let done = false
  let readied: () => void = () => undefined
  const ready = new Promise<void>((resolve) => (readied = resolve))
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [word, a, b] = line.split(' ')
    if (word === 'ack') {
      if ((acks.get(a!) ?? Number(b)) !== Number(b)) conflicts.push(a!)
      acks.set(a!, Number(b))
      if (acks.size >= killAt) child.kill('SIGKILL')
    } else if (word === 'checkpoint') checkpoints.push(Number(a))
    else if (word === 'ready') readied()
    // Every acknowledgement came before this line: a kill still due lands now, before the log is closed.
    else if (word === 'appended' && killAt !== Infinity) child.kill('SIGKILL')
    else if (word === 'done') done = true
  })
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; done: boolean }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, done })))
  return {
    acks,
    conflicts,
    checkpoints,
    ready,
    go: () => child.stdin.end('go\n'),
    killAfter(count) {
      killAt = count
      if (acks.size >= killAt) child.kill('SIGKILL')
    },
    exit,
  }
}
