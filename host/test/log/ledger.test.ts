/**
 * `GET /v1/ledger`: the shared tally over the host's log at its latest checkpoint, for any range, read incrementally
 * as the log grows (the counts kept at tile boundaries); bad ranges refused by code; no log, no ledger.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import request from 'supertest'
import { encodeBundle, generateNoteKey, keysetDigest, LedgerTally, sha256Digest, signReceipt, type Ledger, type LogEntry } from '@vouch/protocol'
import { testBundleV2, testKeys, testReceiptPayload } from '../../../protocol/test/helpers/fixtures.js'
import { createApp } from '../../src/app.js'
import { createMetrics } from '../../src/metrics.js'
import { HostLedger } from '../../src/log/ledger.js'
import { ReceiptLog } from '../../src/log/receipt-log.js'
import { openSqliteLog } from '../../src/log/sqlite.js'
import { createLogStore } from '../../src/log/store.js'
import { FakeLink, sink } from '../helpers/testkit.js'

const scratch = mkdtempSync(join(tmpdir(), 'vouch-ledger-'))
after(() => rmSync(scratch, { recursive: true, force: true }))

const bundle = testBundleV2()
const evidence = encodeBundle(bundle)
const keys = testKeys()

/** Receipt `n`: model n % 2, credited as attested, except every 7th, which credits someone else. */
function receipt(n: number): Promise<string> {
  const model = bundle.models[n % 2]!
  const attribution = n % 7 === 6 ? [{ role: 'model-author', id: 'github:impostor', name: 'Impostor' }] : model.manifest.contributors
  const payload = { ...testReceiptPayload(), id: `req-${n}`, model: { name: model.name, version: model.version, digest: model.digest }, keyset: keysetDigest(bundle.keyset), evidence: sha256Digest(evidence), attribution }
  return signReceipt(payload, keys.sig, bundle.keyset.kid)
}

async function newLog(name: string) {
  const store = createLogStore(openSqliteLog(join(scratch, `${name}.sqlite`)), { entries: 256, ms: 0 })
  const receiptLog = await ReceiptLog.open({ store, signerKey: generateNoteKey('test.example/log').signerKey, origin: 'test.example/log' })
  const app = createApp({ link: new FakeLink(() => ({})), log: sink().log, metrics: createMetrics(), receiptLog })
  /** Appends receipts `first` to `first + count − 1` (the evidence before them when `first` is 0) and signs a checkpoint. */
  const append = async (first: number, count: number): Promise<void> => {
    const entries: LogEntry[] = first === 0 ? [{ kind: 'evidence', bundle: evidence }] : []
    for (let n = first; n < first + count; n++) entries.push({ kind: 'receipt', receipt: await receipt(n) })
    // Queued together: one batch, in this order.
    await Promise.all(entries.map((entry) => store.append(entry)))
    await receiptLog.checkpoint(await store.size())
  }
  return { store, receiptLog, app, append }
}

/** A fresh tally of `entries`, in one pass, and its running counts at every size: the ledger of any range. */
async function afresh(entries: readonly Uint8Array[], checkpoint: string): Promise<(from: number, to: number) => Ledger> {
  const tally = new LedgerTally()
  const counts = [tally.counts()]
  for (const data of entries) {
    await tally.add(data)
    counts.push(tally.counts())
  }
  return (from, to) => tally.toLedger(checkpoint, from, to, counts[from]!, counts[to]!)
}

describe('GET /v1/ledger', () => {
  test('any range at the latest checkpoint equals the tally afresh, as the log grows; deterministic JSON', async () => {
    const { store, receiptLog, app, append } = await newLog('ranges')
    await append(0, 300)
    let want = await afresh(await store.readEntries(0, 301), receiptLog.latest().note)
    const check = async (from: number, to: number): Promise<Ledger> => {
      const res = await request(app).get('/v1/ledger').query({ from, to }).expect(200).expect('Content-Type', /application\/json/)
      assert.equal(res.text, JSON.stringify(want(from, to)), `[${from}, ${to})`)
      return res.body as Ledger
    }
    const all = await check(0, 301)
    const impostors = Array.from({ length: 300 }, (_, n) => n).filter((n) => n % 7 === 6).length
    assert.deepEqual([all.rows.length, all.flagged.length], [4, impostors])
    assert.ok(all.flagged.every((f) => f.code === 'ERR_LEDGER_ATTRIBUTION_MISMATCH'))
    assert.equal(all.rows.reduce((n, r) => n + r.answers, 0), 2 * (300 - impostors))
    for (const [from, to] of [[0, 0], [1, 256], [255, 257], [100, 200], [256, 301], [300, 301]] as const) await check(from, to)
    // The log grows past the next tile: only the new entries are read, and old ranges stay as they were.
    await append(300, 250)
    want = await afresh(await store.readEntries(0, 551), receiptLog.latest().note)
    for (const [from, to] of [[0, 551], [256, 512], [100, 513], [510, 551]] as const) await check(from, to)
    // Without from and to: the whole log at the latest checkpoint.
    const whole = (await request(app).get('/v1/ledger').expect(200)).body as Ledger
    assert.deepEqual([whole.from, whole.to, whole.checkpoint], [0, 551, receiptLog.latest().note])
    await receiptLog.close()
  })

  test('a range outside the latest checkpoint, or not decimal: 400 ERR_HOST_LOG_RANGE_INVALID', async () => {
    const { receiptLog, app, append } = await newLog('bad-ranges')
    await append(0, 3)
    for (const query of [{ from: 3, to: 2 }, { to: 5 }, { from: 5 }, { from: -1 }, { from: '01' }, { to: 'x' }, { from: '1e3' }]) {
      const res = await request(app).get('/v1/ledger').query(query)
      assert.equal(res.status, 400, JSON.stringify(query))
      assert.equal(res.body.code, 'ERR_HOST_LOG_RANGE_INVALID')
    }
    await receiptLog.close()
  })

  test('a host without a receipt log has no ledger: 404', async () => {
    const app = createApp({ link: new FakeLink(() => ({})), log: sink().log, metrics: createMetrics() })
    const res = await request(app).get('/v1/ledger')
    assert.equal(res.status, 404)
    assert.equal(res.body.code, 'ERR_HOST_NOT_FOUND')
  })

  test('a store that fails fails the ledger asked, and the next one reads on from where the tally is', async () => {
    const { store, receiptLog, append } = await newLog('failing')
    await append(0, 10)
    const readEntries = store.readEntries.bind(store)
    let fail = true
    store.readEntries = (start, end) => (fail ? Promise.reject(Object.assign(new Error('disk gone'), { code: 'ERR_HOST_LOG_UNAVAILABLE' })) : readEntries(start, end))
    const ledger = new HostLedger(receiptLog)
    await assert.rejects(ledger.ledger(0, undefined), /disk gone/)
    fail = false
    const got = await ledger.ledger(0, undefined)
    assert.equal(JSON.stringify(got), JSON.stringify((await afresh(await readEntries(0, 11), receiptLog.latest().note))(0, 11)))
    await assert.rejects(ledger.ledger(5, 4), RangeError)
    await receiptLog.close()
  })
})
