/**
 * The receipt log store's contract, run against both backends (SQLite, and PostgreSQL on a throwaway server when it
 * is installed): dense indexes in append order, each receipt and each keyset's evidence once, the tree's stored
 * hashes and checkpoints as RFC 9162 computes them, batching, a failed batch that writes nothing, durability as
 * another connection sees it, and the logs that must not be opened.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { open as openFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { encodeBundle, encodeCbor, formatCheckpoint, generateNoteKey, sha256Digest, signNote, storedHashCount, type LogEntry } from '@vouch/protocol'
import { testBundle, testKeys } from '../../../protocol/test/helpers/fixtures.js'
import { describe } from '../../../test/helpers/suites.js'
import { defaultLogPath } from '../../src/log/open.js'
import { describePostgresUrl, openPostgresLog } from '../../src/log/postgres.js'
import { openSqliteLog } from '../../src/log/sqlite.js'
import { CommittedHashes, createLogStore, type LogBackend, type LogStore, type SequencingTransaction } from '../../src/log/store.js'
import { eventually } from '../helpers/testkit.js'
import { assertSoundLog, leafHashes, LOG_BACKENDS, merkleTreeHash, receiptFor, signedCheckpoint, TEST_ORIGIN, useLogTarget } from '../helpers/log.js'

/** `backend` with its `sequence` replaced (to count or break batches). */
function withSequence(backend: LogBackend, sequence: <T>(work: (tx: SequencingTransaction) => Promise<T>) => Promise<T>): LogBackend {
  return {
    name: backend.name,
    sequence,
    size: () => backend.size(),
    readEntries: (start, end) => backend.readEntries(start, end),
    readHashes: (indexes) => backend.readHashes(indexes),
    indexOf: (key) => backend.indexOf(key),
    insertCheckpoint: (checkpoint) => backend.insertCheckpoint(checkpoint),
    checkpoints: () => backend.checkpoints(),
    close: () => backend.close(),
  }
}

const receipt = (label: string): LogEntry => ({ kind: 'receipt', receipt: receiptFor(label) })
const evidence = (label: string, issuedAt = 1_764_000_000): LogEntry => ({ kind: 'evidence', bundle: encodeBundle({ ...testBundle(), keyset: testKeys(label).keyset, issuedAt }) })
/** Batches that start only when full, so a test says when they do. */
const FULL_ONLY = { entries: 4, ms: 60_000 }
const KEY = generateNoteKey(TEST_ORIGIN)

for (const { name, skip } of LOG_BACKENDS) {
  describe(`receipt log store (${name})`, { skip }, () => {
    const target = useLogTarget(name)
    const open = async (batching = { entries: 64, ms: 1 }, location?: string): Promise<{ store: LogStore; location: string }> => {
      const where = location ?? (await target.newLog())
      return { store: createLogStore(await target.open(where), batching), location: where }
    }

    test('appends get dense indexes in the order they are made, and read back byte for byte', async () => {
      const { store } = await open()
      const entries = [...Array.from({ length: 9 }, (_, i) => receipt(`r${i}`)), evidence('a')]
      const results = await Promise.all(entries.map((e) => store.append(e)))
      assert.deepEqual(results.map((r) => [r.index, r.appended]), entries.map((_, i) => [i, true]))
      assert.equal(results[9]!.key, `evidence:${sha256Digest((entries[9] as { bundle: Uint8Array }).bundle)}`)
      assert.equal(await store.size(), 10)
      assert.deepEqual(await store.readEntries(3, 5), [encodeCbor({ v: 1, kind: 'receipt', receipt: receiptFor('r3') }), encodeCbor({ v: 1, kind: 'receipt', receipt: receiptFor('r4') })])
      await assert.rejects(store.readEntries(8, 11), { code: 'ERR_HOST_LOG_INCONSISTENT' })
      await assertSoundLog(store, new Map(results.map((r) => [r.key, r.index])))
      await store.close()
    })

    test('an entry offered again keeps its index: each receipt once, each evidence bundle (one per keyset) once', async () => {
      const { store } = await open(FULL_ONLY)
      // One batch holding a receipt twice and one bundle twice: the first of each is appended.
      const first = await Promise.all([receipt('x'), evidence('k', 1), receipt('x'), evidence('k', 1)].map((e) => store.append(e)))
      assert.deepEqual(first.map((r) => [r.index, r.appended]), [[0, true], [1, true], [0, false], [1, false]])
      // A later batch: the same again, and a bundle of another keyset.
      const later = await Promise.all([evidence('k', 1), receipt('x'), evidence('other'), receipt('y')].map((e) => store.append(e)))
      assert.deepEqual(later.map((r) => [r.index, r.appended]), [[1, false], [0, false], [2, true], [3, true]])
      assert.equal(await store.size(), 4)
      assert.deepEqual((await store.readEntries(1, 2))[0], encodeCbor({ v: 1, kind: 'evidence', bundle: (evidence('k', 1) as { bundle: Uint8Array }).bundle }))
      await assertSoundLog(store)
      await store.close()
    })

    test('the stored hashes and checkpoints are RFC 9162\'s, batch after batch, and outlast a reopening', async () => {
      const { store, location } = await open({ entries: 7, ms: 0 })
      let appended = 0
      for (const burst of [1, 2, 3, 13, 64, 1, 130, 43]) {
        await Promise.all(Array.from({ length: burst }, () => store.append(receipt(`e${appended++}`))))
        await store.addCheckpoint(await signedCheckpoint(store, KEY.signerKey))
      }
      assert.equal(appended, 257)
      const keys = await assertSoundLog(store, new Map(), KEY.verifierKey)
      await store.close()
      const again = createLogStore(await target.open(location), FULL_ONLY)
      assert.deepEqual(await assertSoundLog(again, new Map(), KEY.verifierKey), keys)
      assert.deepEqual((await again.checkpoints()).map((c) => c.size), [1, 3, 6, 19, 83, 84, 214, 257])
      await again.close()
    })

    test('a batch starts once N entries wait, or once the oldest has waited T ms', async () => {
      const location = await target.newLog()
      const backend = await target.open(location)
      const batches: number[] = []
      const counting = withSequence(backend, (work) => backend.sequence((tx) => (batches.push(tx.size), work(tx))))
      const store = createLogStore(counting, { entries: 4, ms: 20 })
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.append(receipt(`b${i}`))))
      // Two full batches at once; the last two waited for the timer and went together.
      assert.deepEqual(batches, [0, 4, 8])
      assert.deepEqual(results.map((r) => r.index), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      await store.close()
    })

    test('a batch that fails writes nothing, rejects each of its appends with ERR_HOST_LOG_UNAVAILABLE, and the next one carries on', async () => {
      const location = await target.newLog()
      const backend = await target.open(location)
      let fail = false
      // The failure comes after the batch is integrated and before its commit: the worst moment.
      const failing = withSequence(backend, (work) =>
        backend.sequence(async (tx) => {
          const result = await work(tx)
          if (fail) throw new Error('disk full')
          return result
        }),
      )
      const store = createLogStore(failing, FULL_ONLY)
      await Promise.all([0, 1, 2, 3].map((i) => store.append(receipt(`ok${i}`))))
      fail = true
      const outcomes = await Promise.allSettled([0, 1, 2, 3].map((i) => store.append(receipt(`f${i}`))))
      for (const o of outcomes) assert.equal(o.status === 'rejected' && (o.reason as { code?: string }).code, 'ERR_HOST_LOG_UNAVAILABLE')
      assert.equal(await store.size(), 4)
      fail = false
      // Another host puts other entries at the failed batch's indexes; then this store appends records whose hashes
      // combine with theirs: nothing the failed batch computed may serve (it was never committed).
      const other = createLogStore(await target.open(location), FULL_ONLY)
      assert.deepEqual((await Promise.all([0, 1, 2, 3].map((i) => other.append(receipt(`other${i}`))))).map((r) => r.index), [4, 5, 6, 7])
      await other.close()
      const retried = await Promise.all([3, 2, 1, 0, 4, 5, 6, 7].map((i) => store.append(receipt(`f${i}`))))
      assert.deepEqual(retried.map((r) => [r.index, r.appended]), [8, 9, 10, 11, 12, 13, 14, 15].map((i) => [i, true]))
      await assertSoundLog(store)
      await store.close()
    })

    test('a batch reads back only the stored hashes its store has not committed or read before', async () => {
      const location = await target.newLog()
      const reads: number[][] = []
      const counting = async (): Promise<LogStore> => {
        const backend = await target.open(location)
        const wrapped = withSequence(backend, (work) =>
          backend.sequence((tx) => work({ size: tx.size, indexesOf: (keys) => tx.indexesOf(keys), append: (e, h) => tx.append(e, h), readHashes: (i) => (reads.push([...i]), tx.readHashes(i)) })),
        )
        return createLogStore(wrapped, { entries: 3, ms: 0 })
      }
      const store = await counting()
      for (let i = 0; i < 40; i++) await Promise.all([0, 1, 2].map((k) => store.append(receipt(`cached ${i} ${k}`))))
      assert.deepEqual(reads, [])
      await store.close()
      // A store that did not write them (another host) reads what the next records combine with, then no more.
      const other = await counting()
      for (let i = 0; i < 40; i++) await Promise.all([0, 1, 2].map((k) => other.append(receipt(`other ${i} ${k}`))))
      assert.ok(reads.length > 0)
      assert.equal(new Set(reads.flat()).size, reads.flat().length, 'a stored hash was read twice')
      assert.ok(reads.flat().every((i) => i < storedHashCount(120)), 'only hashes the other store wrote were read')
      await assertSoundLog(other)
      await other.close()
    })

    test('an acknowledged entry is committed: another connection to the log sees it', async () => {
      const { store, location } = await open({ entries: 1000, ms: 5 })
      const other = createLogStore(await target.open(location), FULL_ONLY)
      for (let i = 0; i < 5; i++) {
        const { index, key } = await store.append(receipt(`seen${i}`))
        assert.equal(await other.indexOf(key), index)
        assert.equal(await other.size(), index + 1)
      }
      await Promise.all([store.close(), other.close()])
    })

    test('checkpoints: each kept once, and one the tree contradicts is refused and not kept', async () => {
      const { store } = await open({ entries: 8, ms: 0 })
      const entries = await Promise.all(Array.from({ length: 8 }, (_, i) => store.append(receipt(`c${i}`))))
      const root5 = merkleTreeHash(leafHashes(await store.readEntries(0, 8)), 0, 5)
      const note = (size: number, rootHash = root5): string => signNote(formatCheckpoint({ origin: TEST_ORIGIN, size, rootHash }), KEY.signerKey)
      const added = await store.addCheckpoint(note(5))
      assert.deepEqual([added.size, Buffer.from(added.rootHash), added.note], [5, root5, note(5)])
      await store.addCheckpoint(note(5))
      await assert.rejects(store.addCheckpoint(note(6)), { code: 'ERR_HOST_LOG_INCONSISTENT' })
      await assert.rejects(store.addCheckpoint(note(9)), { code: 'ERR_HOST_LOG_INCONSISTENT' })
      await assert.rejects(store.addCheckpoint(formatCheckpoint({ origin: TEST_ORIGIN, size: 5, rootHash: root5 })), { code: 'ERR_TLOG_MALFORMED' })
      await assert.rejects(store.addCheckpoint(note(5).replace('\n5\n', '\nfive\n')), { code: 'ERR_TLOG_MALFORMED' })
      const kept = await store.checkpoints()
      assert.deepEqual(kept.map((c) => [c.size, c.note, Buffer.from(c.rootHash).equals(root5)]), [[5, note(5), true]])
      assert.equal(entries.length, 8)
      await store.close()
    })

    test('each batch is one transaction and writes no checkpoint: the log signs one only when asked (ReceiptLog.current)', async () => {
      const location = await target.newLog()
      const backend = await target.open(location)
      let sequenced = 0
      let keptApart = 0
      const counting: LogBackend = { ...withSequence(backend, (work) => (sequenced++, backend.sequence(work))), insertCheckpoint: (c) => (keptApart++, backend.insertCheckpoint(c)) }
      const store = createLogStore(counting, FULL_ONLY)
      const first = await Promise.all([0, 1, 2, 3].map((i) => store.append(receipt(`s${i}`))))
      const second = await Promise.all([receipt('s0'), receipt('s4'), receipt('s5'), receipt('s6')].map((e) => store.append(e)))
      assert.deepEqual([sequenced, keptApart], [2, 0], 'two batches, two transactions, no checkpoint written')
      assert.deepEqual([...first, ...second].map((r) => [r.index, r.appended]), [[0, true], [1, true], [2, true], [3, true], [0, false], [4, true], [5, true], [6, true]])
      assert.deepEqual(await store.checkpoints(), [])
      assert.equal(await store.size(), 7)
      await assertSoundLog(store, new Map(), KEY.verifierKey)
      await store.close()
    })

    test('close integrates what is queued, then refuses appends', async () => {
      const { store } = await open(FULL_ONLY)
      const queued = store.append(receipt('last'))
      await store.close()
      assert.equal((await queued).index, 0)
      await assert.rejects(store.append(receipt('after')), { code: 'ERR_HOST_LOG_UNAVAILABLE' })
    })

    test('an entry the log cannot hold is refused before it is queued', async () => {
      const { store, location } = await open(FULL_ONLY)
      await assert.rejects(store.append({ kind: 'receipt', receipt: 'not a JWS' }), { code: 'ERR_LOG_ENTRY_MALFORMED' })
      await assert.rejects(store.append({ kind: 'evidence', bundle: Uint8Array.of(1, 2, 3) }), { code: 'ERR_PROTOCOL_MALFORMED' })
      const bundle = testBundle()
      const huge = encodeBundle({ ...bundle, cpu: { ...bundle.cpu, crls: [Uint8Array.of(0x30, 0x82, 0xff, 0xfc, ...new Uint8Array(0xfffc))] } })
      await assert.rejects(store.append({ kind: 'evidence', bundle: huge }), { code: 'ERR_PROTOCOL_TOO_LARGE' })
      await store.close()
      const reopened = await target.open(location)
      assert.equal(await reopened.size(), 0)
      await reopened.close()
    })

    test('a log whose tables disagree with its size, or of another schema version, is not opened', async () => {
      for (const [damage, want] of [
        ['DELETE FROM vouch_log_hashes WHERE idx = (SELECT max(idx) FROM vouch_log_hashes)', /cannot be used: it holds stored hashes up to index 2; a log of 3 entries has 4/],
        ['DELETE FROM vouch_log_entries WHERE idx = 2', /entries up to index 1 but records a size of 3/],
        ['UPDATE vouch_log_state SET size = 4', /entries up to index 2 but records a size of 4/],
        ['UPDATE vouch_log_state SET schema = 2', /schema version 2; this host reads version 1/],
      ] as const) {
        const { store, location: where } = await open({ entries: 3, ms: 0 })
        await Promise.all([0, 1, 2].map((i) => store.append(receipt(`d${i}`))))
        await store.close()
        await target.exec(where, damage)
        await assert.rejects(target.open(where), (e: Error & { code?: string }) => e.code === 'ERR_HOST_LOG_OPEN_FAILED' && want.test(e.message))
      }
    })
  })
}

test('the committed hashes a store remembers: the newest learned, a hash learned again counting as new', () => {
  const committed = new CommittedHashes()
  const hash = (i: number): Uint8Array => new Uint8Array(32).fill(i % 256)
  committed.learn(Array.from({ length: CommittedHashes.LIMIT }, (_, i) => [i, hash(i)] as const))
  // Index 0 (the root's left subtree, read by every tree hash) is learned again before more arrive: 1 goes, not 0.
  committed.learn([[0, hash(0)]])
  committed.learn([[CommittedHashes.LIMIT, hash(1)]])
  assert.deepEqual([committed.get(0), committed.get(1), committed.get(2)], [hash(0), undefined, hash(2)])
})

describe('receipt log storage: where it is and what it refuses to open', () => {
  test('SQLite: by default log.sqlite beside the development certificate\'s folder; its folder is made, private, and it keeps a write-ahead log', () => {
    assert.equal(defaultLogPath({ VOUCH_CACHE_DIR: '/srv/vouch' }), '/srv/vouch/log.sqlite')
    assert.equal(defaultLogPath({ XDG_CACHE_HOME: '/home/u/.cache' }), '/home/u/.cache/vouch/log.sqlite')
    const dir = mkdtempSync(join(tmpdir(), 'vouch-log-'))
    try {
      const file = join(dir, 'a', 'b', 'log.sqlite')
      const backend = openSqliteLog(file)
      assert.equal(statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700)
      const raw = new Database(file, { readonly: true })
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal')
      raw.close()
      void backend.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  test('SQLite: a batch is acknowledged only once its WAL is fsynced, and the fsync runs off the event loop; one that fails is not acknowledged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-log-'))
    const file = join(dir, 'log.sqlite')
    // Every FileHandle's datasync, held until the test lets it go (or fails it), the file it was for recorded.
    const probe = await openFile(fileURLToPath(import.meta.url), 'r')
    const proto = Object.getPrototypeOf(probe) as { datasync(this: { fd: number }): Promise<void> }
    await probe.close()
    const real = proto.datasync
    const held: Array<{ release(): void; fail(error: Error): void }> = []
    const synced: string[] = []
    proto.datasync = function (this: { fd: number }) {
      synced.push(readlinkSync(`/proc/self/fd/${this.fd}`))
      return new Promise<void>((resolve, reject) => held.push({ release: () => void real.call(this).then(resolve, reject), fail: reject }))
    }
    const store = createLogStore(openSqliteLog(file), { entries: 1, ms: 0 })
    try {
      const raw = new Database(file, { readonly: true })
      // NORMAL: SQLite leaves the WAL's fsync at commit to the store (FULL would block the event loop on it).
      assert.equal(raw.pragma('synchronous', { simple: true }), 1)
      raw.close()
      let acknowledged = false
      const append = store.append(receipt('durable')).then((r) => ((acknowledged = true), r))
      await eventually(() => held.length === 1, 5_000, 'the fsync')
      // Committed, not yet on disk: the event loop runs on (timers fire) and the append waits.
      await new Promise((resolve) => setTimeout(resolve, 20))
      assert.equal(acknowledged, false)
      assert.deepEqual(synced, [`${file}-wal`])
      held.shift()!.release()
      assert.equal((await append).index, 0)
      // A batch whose fsync fails is not acknowledged; the next one carries on.
      const failed = store.append(receipt('lost'))
      await eventually(() => held.length === 1, 5_000, 'the second fsync')
      held.shift()!.fail(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }))
      await assert.rejects(failed, { code: 'ERR_HOST_LOG_UNAVAILABLE' })
      // Committed but never acknowledged: it keeps its index (appending it again finds it), the next entry follows.
      const next = store.append(receipt('next'))
      await eventually(() => held.length === 1, 5_000, 'the third fsync')
      held.shift()!.release()
      assert.equal((await next).index, 2)
    } finally {
      proto.datasync = real
      for (const h of held) h.release()
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('SQLite: a file that cannot be created, or is not a database, is ERR_HOST_LOG_OPEN_FAILED naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-log-'))
    try {
      writeFileSync(join(dir, 'file'), 'not a folder')
      writeFileSync(join(dir, 'garbage.sqlite'), 'x'.repeat(4096))
      for (const file of [join(dir, 'file', 'log.sqlite'), join(dir, 'garbage.sqlite')]) {
        assert.throws(() => openSqliteLog(file), (e: Error & { code?: string }) => e.code === 'ERR_HOST_LOG_OPEN_FAILED' && e.message.includes(file))
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  test('PostgreSQL: a database that cannot be reached is ERR_HOST_LOG_OPEN_FAILED, and the message never holds the password', async () => {
    const url = 'postgres://vouch:s3cret-pass@127.0.0.1:1/log?sslmode=disable'
    assert.equal(describePostgresUrl(url), 'postgres://vouch:***@127.0.0.1:1/log')
    await assert.rejects(openPostgresLog(url), (e: Error & { code?: string }) => e.code === 'ERR_HOST_LOG_OPEN_FAILED' && e.message.includes('127.0.0.1:1/log') && !e.message.includes('s3cret'))
  })
})
