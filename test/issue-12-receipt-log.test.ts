/**
 * Issue 12, the receipt log in the host: an answered request's receipt, and once the evidence bundle it names, are in
 * the log and covered by a signed checkpoint before the answer is relayed (`Vouch-Log-Index`); an answer the log
 * cannot take is not relayed (503); an 8-GPU machine's bundle, too large for one entry, is logged in parts and joins
 * back. The enclave here is its real evidence service on simulated hardware, behind a scripted link.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import request from 'supertest'
import {
  assembleEvidence,
  checkRecord,
  checkTree,
  decodeEntryBundle,
  decodeLogEntry,
  generateNoteKey,
  keysetDigest,
  MAX_ENTRY_SIZE,
  openNote,
  parseCheckpoint,
  receiptCommitment,
  receiptDigest,
  recordHash,
  SEALED_MEDIA_TYPE,
  signReceipt,
  toBase64Url,
  treeHash,
  type BundleModel,
  type LinkCall,
} from '@vouch/protocol'
import { EvidenceService, type BuiltBundle } from '../enclave/src/service/evidence.js'
import { generateKeyset, type EnclaveKeyset } from '../enclave/src/service/keys.js'
import { createCpuTee, createGpuTee } from '../enclave/src/tee/device.js'
import { createApp } from '../host/src/app.js'
import { HostError } from '../host/src/errors.js'
import { createMetrics } from '../host/src/metrics.js'
import { ReceiptLog } from '../host/src/log/receipt-log.js'
import { openSqliteLog } from '../host/src/log/sqlite.js'
import { createLogStore, type LogStore } from '../host/src/log/store.js'
import { binaryBody as binary, FakeLink, sink } from '../host/test/helpers/testkit.js'
import { defaultModels } from './helpers/models.js'

const scratch = mkdtempSync(join(tmpdir(), 'vouch-receipt-log-'))
after(() => rmSync(scratch, { recursive: true, force: true }))
let logs = 0


/** A simulated enclave's keyset and unchallenged bundle, with `gpus` simulated GPUs. */
export async function simulatedEnclave(gpus: number): Promise<{ keyset: EnclaveKeyset; built: BuiltBundle; models: BundleModel[] }> {
  const models = defaultModels()
  const keyset = generateKeyset()
  const gpu = gpus === 0 ? null : await createGpuTee('simulated', { count: gpus })
  const built = await new EvidenceService(await createCpuTee('simulated'), gpu, keyset, models).unchallenged()
  return { keyset, built, models }
}

/** A receipt as the enclave signs it for an answer of `model`, naming `built`; `attribution` as given (else the manifest's). */
export async function receiptFor(enclave: { keyset: EnclaveKeyset; built: BuiltBundle; models: BundleModel[] }, model: 0 | 1, n: number, attribution?: Array<{ role: string; id: string; name: string }>): Promise<string> {
  const m = enclave.models[model]!
  const opening = new Uint8Array(32).fill(n % 256)
  return signReceipt(
    {
      v: 2,
      id: `req-${n}`,
      iat: Math.floor(Date.now() / 1000),
      model: { name: m.name, version: m.version, digest: m.digest },
      request: receiptCommitment(opening, new TextEncoder().encode(`request ${n}`)),
      response: receiptCommitment(opening, new TextEncoder().encode(`response ${n}`)),
      keyset: keysetDigest(enclave.keyset.public),
      evidence: enclave.built.digest,
      platform: enclave.built.bundle.platform,
      attribution: attribution ?? (m.manifest['contributors'] as Array<{ role: string; id: string; name: string }>).map((a) => ({ role: a.role, id: a.id, name: a.name })),
    },
    enclave.keyset.sigPrivateKey,
    enclave.keyset.public.kid,
  )
}

/** A new SQLite log in the scratch folder, group commit. */
export function newStore(): LogStore {
  return createLogStore(openSqliteLog(join(scratch, `log-${++logs}.sqlite`)), { entries: 256, ms: 0 })
}

/** An app over a scripted enclave that answers each request with the next of `receipts`, and serves `built`. */
async function setup(enclave: Awaited<ReturnType<typeof simulatedEnclave>>, receipts: string[], store: LogStore = newStore()) {
  const keys = generateNoteKey('test.example/log')
  const receiptLog = await ReceiptLog.open({ store, signerKey: keys.signerKey, origin: 'test.example/log' })
  let next = 0
  const link = new FakeLink((call: LinkCall) => {
    if (call.op === 'attest') return { bundle: enclave.built.bytes }
    if (call.op === 'infer') return { body: Uint8Array.of(1, 2, 3), receipt: receipts[next++]! }
    throw new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE')
  })
  const app = createApp({ link, log: sink().log, metrics: createMetrics(), receiptLog })
  return { app, link, receiptLog, keys, store }
}

function infer(app: Parameters<typeof request>[0], model = 'ppocr-cls') {
  return request(app).post(`/v2/models/${model}/infer`).set('Content-Type', SEALED_MEDIA_TYPE).set('Vouch-Key-Id', 'kid-1').send(Buffer.from([9, 9, 9]))
}

describe('the host logs every answer before relaying it', () => {
  test("an answer's receipt and its evidence are durable in the log before it is relayed; what the host serves next covers them", async () => {
    const enclave = await simulatedEnclave(1)
    const receipts = [await receiptFor(enclave, 0, 1), await receiptFor(enclave, 1, 2)]
    const { app, link, receiptLog, keys, store } = await setup(enclave, receipts)
    const first = await infer(app)
    assert.equal(first.status, 200, JSON.stringify(first.body))
    const second = await infer(app, 'ppocr-det')
    assert.equal(second.status, 200)
    // The evidence is logged once, before the first receipt; the enclave was asked for it once.
    assert.equal(link.of('attest').length, 1)
    const entries = (await store.readEntries(0, await store.size())).map(decodeLogEntry)
    assert.deepEqual(
      entries.map((e) => e.kind),
      ['evidence', 'receipt', 'receipt'],
    )
    assert.deepEqual(entries[0]!.kind === 'evidence' && entries[0]!.bundle, enclave.built.bytes)
    for (const [i, res] of [first, second].entries()) {
      const index = Number(res.headers['vouch-log-index'])
      assert.deepEqual(entries[index], { kind: 'receipt', receipt: receipts[i] })
      assert.equal(await store.indexOf(`receipt:${receiptDigest(receipts[i]!)}`), index)
    }
    // No answer paid for a checkpoint: the one signed at start-up is the only one, until somebody asks.
    assert.deepEqual((await store.checkpoints()).map((c) => c.size), [0])
    // Asked right away, the evidence and each answer's proof are served, under a checkpoint signed then that covers
    // both answers, signed by the log's key, naming the tree's root, and stored.
    const evidence = await request(app).get(`/v1/log/evidence/${enclave.built.digest}`).buffer(true).parse(binary).expect(200)
    assert.deepEqual(new Uint8Array(evidence.body as Buffer), enclave.built.bytes)
    for (const receipt of receipts) {
      const proof = (await request(app).get('/v1/log/proof').query({ receipt: receiptDigest(receipt) }).expect(200)).body as { size: number; checkpoint: string }
      assert.equal(proof.size, 3)
      assert.equal(proof.checkpoint, receiptLog.latest().note)
    }
    const { note, size } = receiptLog.latest()
    assert.equal(size, 3)
    const checkpoint = parseCheckpoint((await openNote(note, [keys.verifierKey])).text)
    assert.equal(checkpoint.origin, 'test.example/log')
    assert.deepEqual(checkpoint.rootHash, await treeHash(3, store))
    assert.deepEqual((await store.checkpoints()).map((c) => [c.size, c.note]), [[0, (await store.checkpoints())[0]!.note], [3, note]])
    await receiptLog.close()
  })

  test('an answer is logged in one transaction per batch and signs nothing; a checkpoint is signed when asked, once', async () => {
    const enclave = await simulatedEnclave(0)
    const backend = openSqliteLog(join(scratch, `log-${++logs}.sqlite`))
    const calls = { sequence: 0, insertCheckpoint: 0 }
    // Every call of the backend passes through, counted: a batch is one `sequence`, a checkpoint kept apart one `insertCheckpoint`.
    const counting = new Proxy(backend, {
      get(target, name) {
        const value = Reflect.get(target, name, target) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          if (name === 'sequence' || name === 'insertCheckpoint') calls[name]++
          return (value as (...a: unknown[]) => unknown).apply(target, args)
        }
      },
    })
    const store = createLogStore(counting, { entries: 256, ms: 0 })
    const keys = generateNoteKey('test.example/log')
    const receiptLog = await ReceiptLog.open({ store, signerKey: keys.signerKey, origin: 'test.example/log' })
    Object.assign(calls, { sequence: 0, insertCheckpoint: 0 })
    // The keyset's first answer: a batch for its evidence, one for its receipt; then one batch per answer.
    const first = await receiptLog.logAnswer(await receiptFor(enclave, 0, 1), async () => enclave.built.bytes)
    assert.deepEqual(calls, { sequence: 2, insertCheckpoint: 0 })
    const second = await receiptLog.logAnswer(await receiptFor(enclave, 1, 2), async () => enclave.built.bytes)
    assert.deepEqual(calls, { sequence: 3, insertCheckpoint: 0 })
    assert.deepEqual([first, second], [1, 2])
    assert.equal(receiptLog.latest().size, 0)
    // Asked by several readers at once (the checkpoint, proof, tile and ledger routes ask `current`): one signature,
    // one stored checkpoint covering both answers, the tree's.
    const asked = await Promise.all([receiptLog.current(), receiptLog.current(), receiptLog.current()])
    assert.deepEqual(calls, { sequence: 3, insertCheckpoint: 1 })
    const { note, size, rootHash } = receiptLog.latest()
    for (const c of asked) assert.equal(c.note, note)
    assert.equal(size, 3)
    assert.deepEqual(parseCheckpoint((await openNote(note, [keys.verifierKey])).text).rootHash, await treeHash(3, store))
    assert.deepEqual(Buffer.from(rootHash), Buffer.from(await treeHash(3, store)))
    assert.deepEqual((await store.checkpoints()).map((c) => c.size), [0, 3])
    await receiptLog.close()
  })

  test('an answer the log cannot take is not relayed: 503 ERR_HOST_LOG_UNAVAILABLE', async () => {
    const enclave = await simulatedEnclave(0)
    const store = newStore()
    const failing: LogStore = { ...store, append: () => Promise.reject(new Error('disk full')) }
    const { app, receiptLog } = await setup(enclave, [await receiptFor(enclave, 0, 1)], failing)
    const res = await infer(app)
    assert.equal(res.status, 503)
    assert.equal(res.body.code, 'ERR_HOST_LOG_UNAVAILABLE')
    assert.equal(res.headers['vouch-log-index'], undefined)
    assert.equal(await store.size(), 0)
    await receiptLog.close()
  })

  test('a receipt naming evidence the enclave no longer serves is not relayed (503)', async () => {
    const enclave = await simulatedEnclave(0)
    const other = await simulatedEnclave(0)
    const { app, receiptLog, store } = await setup(other, [await receiptFor(enclave, 0, 1)])
    const res = await infer(app)
    assert.equal(res.status, 503)
    assert.equal(res.body.code, 'ERR_HOST_LOG_UNAVAILABLE')
    assert.equal(await store.size(), 0)
    await receiptLog.close()
  })

  test('a receipt that names no evidence bundle is not logged, and its answer not relayed', async () => {
    const enclave = await simulatedEnclave(0)
    const good = await receiptFor(enclave, 0, 1)
    const [header, payload, signature] = good.split('.') as [string, string, string]
    const named = (evidence: unknown): string => `${header}.${toBase64Url(new TextEncoder().encode(JSON.stringify({ ...(JSON.parse(Buffer.from(payload, 'base64url').toString()) as object), evidence })))}.${signature}`
    for (const receipt of [named(undefined), named('sha256:1234'), `${header}.${signature}`]) {
      const { app, receiptLog, store } = await setup(enclave, [receipt])
      // The link checks the receipt beside an answer in full (ERR_LINK_MALFORMED, 502) before the log sees it; the log
      // reads only the evidence digest it names, and refuses a receipt that names none all the same.
      const res = await infer(app)
      assert.equal(res.status, 502)
      assert.equal(res.headers['vouch-log-index'], undefined)
      await assert.rejects(receiptLog.logAnswer(receipt, async () => enclave.built.bytes), (e: HostError) => e.code === 'ERR_HOST_LOG_UNAVAILABLE' && (e.cause as { code?: string }).code === 'ERR_RECEIPT_MALFORMED')
      assert.equal(await store.size(), 0)
      await receiptLog.close()
    }
  })

  test("an 8-GPU machine's bundle, too large for one entry, is logged in parts that join back to it", async () => {
    const enclave = await simulatedEnclave(8)
    assert.ok(enclave.built.bytes.length > MAX_ENTRY_SIZE, `an 8-GPU bundle of ${enclave.built.bytes.length} bytes`)
    const receipt = await receiptFor(enclave, 0, 1)
    const { app, receiptLog, store } = await setup(enclave, [receipt])
    const res = await infer(app)
    assert.equal(res.status, 200)
    const indexes = await receiptLog.evidenceIndexes(enclave.built.digest)
    assert.ok(indexes !== null && indexes.length >= 2)
    const parts = await Promise.all(indexes.map(async (i) => decodeLogEntry((await store.readEntries(i, i + 1))[0]!)))
    assert.deepEqual(assembleEvidence(parts), enclave.built.bytes)
    assert.ok((await receiptLog.current()).size >= Number(res.headers['vouch-log-index']) + 1)
    await receiptLog.close()
  })
})

describe("the log's read routes serve what a reader checks against the signed checkpoint", () => {
  const b64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'))

  test('checkpoint, key, inclusion and consistency proofs, tiles, entry bundles and evidence', async () => {
    const enclave = await simulatedEnclave(8)
    const receipts = await Promise.all([1, 2, 3].map((n) => receiptFor(enclave, (n % 2) as 0 | 1, n)))
    const { app, receiptLog, keys, store } = await setup(enclave, receipts)
    const early = receiptLog.latest()
    for (const model of ['ppocr-cls', 'ppocr-det', 'ppocr-cls']) assert.equal((await infer(app, model)).status, 200)

    const note = (await request(app).get('/v1/log/checkpoint').expect(200).expect('Content-Type', /text\/plain/)).text
    const checkpoint = parseCheckpoint((await openNote(note, [keys.verifierKey])).text)
    assert.equal(checkpoint.size, await store.size())
    assert.equal((await request(app).get('/v1/log/key').expect(200)).text.trim(), keys.verifierKey)

    // Every receipt: its entry's record hash, the proof and the checkpoint's root agree.
    const entries = decodeEntryBundle(
      new Uint8Array((await request(app).get(`/v1/log/tile/entries/000.p/${checkpoint.size}`).buffer(true).parse(binary).expect(200)).body as Buffer),
    )
    assert.equal(entries.length, checkpoint.size)
    for (const receipt of receipts) {
      const proof = (await request(app).get('/v1/log/proof').query({ receipt: receiptDigest(receipt) }).expect(200)).body as { index: number; size: number; rootHash: string; proof: string[]; checkpoint: string }
      assert.equal(proof.checkpoint, note)
      assert.deepEqual(decodeLogEntry(entries[proof.index]!), { kind: 'receipt', receipt })
      checkRecord(proof.proof.map(b64), proof.size, checkpoint.rootHash, proof.index, recordHash(entries[proof.index]!))
    }
    // The level-0 hash tile holds each entry's record hash.
    const tile = new Uint8Array((await request(app).get(`/v1/log/tile/0/000.p/${checkpoint.size}`).buffer(true).parse(binary).expect(200)).body as Buffer)
    entries.forEach((entry, i) => assert.deepEqual(tile.subarray(32 * i, 32 * i + 32), recordHash(entry)))
    // The tree at start-up grew into this one.
    const consistency = (await request(app).get('/v1/log/consistency').query({ from: early.size }).expect(200)).body as { from: number; to: number; proof: string[] }
    assert.deepEqual([consistency.from, consistency.to], [early.size, checkpoint.size])
    checkTree(consistency.proof.map(b64), checkpoint.size, checkpoint.rootHash, early.size, early.rootHash)
    // The 8-GPU bundle, logged in parts, comes back whole.
    const evidence = await request(app).get(`/v1/log/evidence/${enclave.built.digest}`).buffer(true).parse(binary).expect(200)
    assert.deepEqual(new Uint8Array(evidence.body as Buffer), enclave.built.bytes)

    // Refusals, each with its code.
    const codeOf = async (path: string, status: number): Promise<string> => ((await request(app).get(path).expect(status)).body as { code: string }).code
    assert.equal(await codeOf('/v1/log/proof?receipt=sha256:' + '0'.repeat(64), 404), 'ERR_HOST_LOG_ENTRY_NOT_FOUND')
    assert.equal(await codeOf('/v1/log/proof?receipt=abc', 400), 'ERR_HOST_BAD_REQUEST')
    assert.equal(await codeOf(`/v1/log/consistency?from=${checkpoint.size}&to=1`, 400), 'ERR_HOST_LOG_RANGE_INVALID')
    assert.equal(await codeOf(`/v1/log/consistency?from=0&to=${checkpoint.size + 1}`, 400), 'ERR_HOST_LOG_RANGE_INVALID')
    assert.equal(await codeOf('/v1/log/consistency?from=-1', 400), 'ERR_HOST_LOG_RANGE_INVALID')
    assert.equal(await codeOf(`/v1/log/tile/entries/000.p/${checkpoint.size + 1}`, 404), 'ERR_HOST_NOT_FOUND')
    assert.equal(await codeOf('/v1/log/tile/0/1', 404), 'ERR_HOST_NOT_FOUND')
    assert.equal(await codeOf('/v1/log/tile/../../etc', 404), 'ERR_HOST_NOT_FOUND')
    assert.equal(await codeOf(`/v1/log/evidence/sha256:${'1'.repeat(64)}`, 404), 'ERR_HOST_LOG_ENTRY_NOT_FOUND')
    await receiptLog.close()
  })

  test('without a receipt log the routes are not there', async () => {
    const app = createApp({ link: new FakeLink(() => ({})), log: sink().log, metrics: createMetrics() })
    assert.equal(((await request(app).get('/v1/log/checkpoint').expect(404)).body as { code: string }).code, 'ERR_HOST_NOT_FOUND')
  })
})
