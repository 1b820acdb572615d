/**
 * Issue 12 items 3 and 4, and their Done-when: `vouch credits` on a log of at least 1,000 answers over both default
 * models matches `GET /v1/ledger` exactly, and an operator who edits one stored receipt or one manifest contributor
 * is caught. Everything is real but the hardware: the enclave (simulated SEV-SNP and H100, in this process, over its
 * socket) with both default models, the real `vouch-host` with its SQLite log, several `@vouch/client`s sending
 * concurrently, and the `vouch` CLI. The operator's edits are made in the SQLite file, as an operator could: with the
 * stored hashes and the checkpoint left as they were, and with both re-computed and re-signed with the log's key.
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { createClient, type ClientError, type VouchClient } from '@vouch/client'
import { loadConfig, startHost, type RunningHost } from '@vouch/host'
import {
  decodeBundle,
  decodeLogEntry,
  encodeBundle,
  encodeLogEntry,
  formatCheckpoint,
  generateNoteKey,
  oipJsonToTensor,
  signNote,
  storedHashesForRecord,
  toBase64Url,
  treeHash,
  type Hash,
  type HashReader,
  type Ledger,
  type OipJsonTensor,
  type TensorData,
} from '@vouch/protocol'
import { parsePolicy } from '@vouch/verifier'
import type { LogReader } from '@vouch/verifier/log'
import { main as vouch } from '../client/src/cli.js'
import { startEnclave } from '../client/test/helpers/enclave.js'
import { computeCredits } from '../client/src/credits.js'
import { checkpointKeeper } from '../client/src/log.js'
import { eventually, sink } from '../host/test/helpers/testkit.js'
import { defaultModels } from './helpers/models.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const DEV = join(root, 'policies/dev-simulated.yaml')
const policy = parsePolicy(readFileSync(DEV, 'utf8'), DEV)
const classifierInput = (JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: OipJsonTensor[] }).inputs.map((t) => oipJsonToTensor(t))
/** A 32×32 image for the detector: its answers cost little, so a thousand stay within the test's time. */
const detectorInput: TensorData[] = [{ name: 'x', datatype: 'FP32', shape: [1, 3, 32, 32], data: new Uint8Array(new Float32Array(3 * 32 * 32).fill(0.5).buffer) }]
type Model = 'ppocr-cls' | 'ppocr-det'
/** The version and the contributors each default model's attested manifest credits. */
const manifests = new Map(defaultModels().map((m) => [m.name, { version: m.version, contributors: m.manifest.contributors }]))

/** Runs the `vouch` CLI in this process: exit code, standard output, standard error. */
async function runVouch(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await vouch(argv, (t) => out.push(t), (t) => err.push(t))
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** The body of a GET over HTTPS to `host`, trusting its certificate. */
function get(host: RunningHost, path: string): Promise<{ status: number; text: string; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(new URL(path, host.url), { ca: host.tls.cert }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), body: new Uint8Array(Buffer.concat(chunks)) }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The expected rows: each contributor of each model's manifest, credited with that model's answers (sorted as the ledger sorts). */
function expectedRows(answers: Readonly<Record<string, number>>): Ledger['rows'] {
  const rows = Object.entries(answers).flatMap(([model, n]) => manifests.get(model)!.contributors.map((c) => ({ role: c.role, id: c.id, name: c.name, model, version: manifests.get(model)!.version, answers: n })))
  return rows.sort((a, b) => (a.role < b.role ? -1 : a.role > b.role ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : a.model < b.model ? -1 : a.model > b.model ? 1 : 0))
}

describe('the attribution ledger: vouch credits re-computes GET /v1/ledger from the log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-ledger-e2e-'))
  let stopEnclave: () => Promise<void>
  let socket: string
  const hosts: RunningHost[] = []
  const clients: VouchClient[] = []
  let host: RunningHost
  const sent = { 'ppocr-cls': 0, 'ppocr-det': 0 }

  /** A host on the enclave's socket, with its SQLite log at `logPath` (its key file `logKey`, else the development one). */
  const start = async (logPath: string, logKey?: string): Promise<RunningHost> => {
    const argv = ['--port', '0', '--enclave-socket', socket, '--no-collateral-fetch', '--log-level', 'silent', '--log-path', logPath, ...(logKey === undefined ? [] : ['--log-key', logKey])]
    const { config } = loadConfig(argv, { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
    const started = await startHost(config, { log: sink('silent').log, env: { ...process.env, VOUCH_CACHE_DIR: join(dir, 'cache') } })
    hosts.push(started)
    await eventually(() => started.pool.up, 30_000, 'the link to the enclave')
    return started
  }
  /** Sends `count` answers of `model` to `to` through one client, one after another. */
  const answer = async (to: RunningHost, model: Model, count: number): Promise<void> => {
    const client = createClient({ url: to.url, ca: to.tls.cert, policy })
    clients.push(client)
    for (let i = 0; i < count; i++) await client.infer(model, model === 'ppocr-cls' ? classifierInput : detectorInput)
    if (to === host) sent[model] += count
  }
  /** `vouch credits` against `to`, keeping its checkpoints in the state directory `state` (one per relying party). */
  const credits = (to: RunningHost, state: string, ...flags: string[]) =>
    runVouch('credits', '--url', to.url, '--ca', to.tls.trustFile, '--log-key', to.receiptLog!.verifierKey, '--policy', DEV, '--state-dir', join(dir, 'state', state), ...flags)

  before(async () => {
    socket = join(dir, 'enclave.sock')
    stopEnclave = await startEnclave(socket)
    host = await start(join(dir, 'main.sqlite'))
    // 1,000 answers over both models, from four clients at once.
    await Promise.all([answer(host, 'ppocr-cls', 250), answer(host, 'ppocr-cls', 250), answer(host, 'ppocr-det', 250), answer(host, 'ppocr-det', 250)])
  })
  after(async () => {
    for (const c of clients) c.close()
    for (const h of hosts) await h.close()
    await stopEnclave?.()
    rmSync(dir, { recursive: true, force: true })
  })

  test('on 1,000 answers over both models: vouch credits --json is GET /v1/ledger, byte for byte; each contributor of each manifest credited with its model’s answers', async () => {
    const { code, out, err } = await credits(host, 'main', '--json')
    assert.equal(code, 0, `${out}\n${err}`)
    const served = await get(host, '/v1/ledger')
    assert.equal(served.status, 200)
    assert.equal(out, served.text)
    const ledger = JSON.parse(out) as Ledger
    assert.deepEqual(ledger.flagged, [])
    assert.equal(ledger.from, 0)
    assert.equal(ledger.to, host.receiptLog!.latest().size)
    assert.equal(ledger.checkpoint, host.receiptLog!.latest().note)
    assert.deepEqual(ledger.rows, expectedRows(sent))
    assert.deepEqual(sent, { 'ppocr-cls': 500, 'ppocr-det': 500 })
    // The readable table says the same, and nothing is wrong.
    const table = await credits(host, 'main')
    assert.equal(table.code, 0, table.out)
    assert.match(table.out, /: OK\n/)
    assert.match(table.out, /1000 receipts, 1000 counted, 1000 verified; 0 entries flagged/)
  })

  test('--since an entry index or a time: only the answers from there', async () => {
    const size = host.receiptLog!.latest().size
    // The next whole second, so every answer after it was signed at or after it, and none before.
    const next = Math.ceil(Date.now() / 1000) * 1000 + 1000
    await new Promise((resolve) => setTimeout(resolve, next - Date.now()))
    await Promise.all([answer(host, 'ppocr-cls', 6), answer(host, 'ppocr-det', 4)])
    for (const since of [String(size), new Date(next).toISOString()]) {
      const { code, out, err } = await credits(host, `since-${since}`, '--json', '--since', since)
      assert.equal(code, 0, `${out}\n${err}`)
      const ledger = JSON.parse(out) as Ledger
      assert.equal(ledger.from, size, since)
      assert.deepEqual(ledger.rows, expectedRows({ 'ppocr-cls': 6, 'ppocr-det': 4 }))
      assert.equal(out, (await get(host, `/v1/ledger?from=${size}`)).text)
    }
    const usage = await credits(host, 'since-bad', '--json', '--since', 'yesterday')
    assert.equal(usage.code, 2)
    assert.match(usage.err, /--since must be an entry index or an RFC 3339 date/)
    assert.equal((await credits(host, 'since-past', '--json', '--since', String(size + 1000))).code, 2)
  })

  describe('an operator who edits the log is caught (a small log of its own)', () => {
    /** The small log as the host left it: entry 0 the evidence, 1 to 4 receipts (classifier, classifier, detector, detector). */
    const pristine = join(dir, 'small.sqlite')
    const keyFile = join(dir, 'small-log.key')
    const origin = 'localhost/vouch-log'
    const signerKey = generateNoteKey(origin).signerKey
    let edits = 0

    before(async () => {
      writeFileSync(keyFile, `${signerKey}\n`, { mode: 0o600 })
      const small = await start(pristine, keyFile)
      await answer(small, 'ppocr-cls', 2)
      await answer(small, 'ppocr-det', 2)
      // A relying party followed the log before the edits: it keeps the checkpoint it saw.
      const seen = await credits(small, 'before-edits', '--json')
      assert.equal(seen.code, 0, seen.err)
      await small.close()
    })

    /**
     * A host on a copy of the small log whose entry `index` the operator replaced with `edit(entry)`; with `resign`, the
     * stored hashes re-computed and a checkpoint of the edited tree signed with the log's key, as the operator can.
     */
    const edited = async (index: number, edit: (entry: Uint8Array) => Uint8Array, resign: boolean): Promise<RunningHost> => {
      const file = join(dir, `edited-${++edits}.sqlite`)
      copyFileSync(pristine, file)
      const db = new Database(file)
      const entries: Uint8Array[] = (db.prepare('SELECT data FROM vouch_log_entries ORDER BY idx').pluck().all() as Buffer[]).map((b) => new Uint8Array(b))
      entries[index] = edit(entries[index]!)
      db.prepare('UPDATE vouch_log_entries SET data = ? WHERE idx = ?').run(entries[index], index)
      if (resign) {
        const hashes: Hash[] = []
        const reader: HashReader = { readHashes: async (indexes) => indexes.map((i) => hashes[i]!) }
        for (const [n, data] of entries.entries()) hashes.push(...(await storedHashesForRecord(n, data, reader)))
        const update = db.prepare('UPDATE vouch_log_hashes SET hash = ? WHERE idx = ?')
        hashes.forEach((hash, i) => update.run(hash, i))
        const rootHash = await treeHash(entries.length, reader)
        db.prepare('INSERT INTO vouch_log_checkpoints (size, root, note) VALUES (?, ?, ?)').run(entries.length, rootHash, signNote(formatCheckpoint({ origin, size: entries.length, rootHash }), signerKey))
      }
      db.close()
      return start(file, keyFile)
    }
    /** A receipt entry whose payload credits someone else, its signature kept. */
    const creditImpostor = (data: Uint8Array): Uint8Array => {
      const entry = decodeLogEntry(data)
      assert.equal(entry.kind, 'receipt')
      const [header, payload, signature] = (entry as { receipt: string }).receipt.split('.') as [string, string, string]
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { attribution: { name: string }[] }
      claims.attribution[0]!.name = 'Impostor'
      return encodeLogEntry({ kind: 'receipt', receipt: `${header}.${toBase64Url(new TextEncoder().encode(JSON.stringify(claims)))}.${signature}` })
    }
    /** An evidence entry whose first model's manifest credits someone else. */
    const manifestImpostor = (data: Uint8Array): Uint8Array => {
      const entry = decodeLogEntry(data)
      assert.equal(entry.kind, 'evidence')
      const bundle = decodeBundle((entry as { bundle: Uint8Array }).bundle)
      assert.equal(bundle.v, 2)
      if (bundle.v === 2) bundle.models[0]!.manifest.contributors[0]!.name = 'Impostor'
      return encodeLogEntry({ kind: 'evidence', bundle: encodeBundle(bundle) })
    }
    const problems = (err: string): string[] => [...err.matchAll(/^vouch credits: (entry \d+|log): (ERR_[A-Z_]+)/gm)].map((m) => `${m[1]}: ${m[2]}`)

    test('a receipt edited, the tree left as it was: ERR_LOG_INCLUSION_INVALID at its index', async () => {
      const h = await edited(2, creditImpostor, false)
      const { code, out, err } = await credits(h, `edit-${edits}`, '--json')
      assert.equal(code, 1)
      assert.equal(out, '', 'no ledger: the entries after it cannot be counted')
      assert.deepEqual(problems(err), ['entry 2: ERR_LOG_INCLUSION_INVALID'])
      await h.close()
    })

    test('a receipt edited, hashes re-computed and the checkpoint re-signed: flagged ERR_LEDGER_SIGNATURE_INVALID at its index, its verification fails; a client that saw the log before proves the fork', async () => {
      const h = await edited(2, creditImpostor, true)
      const fresh = await credits(h, `edit-${edits}`, '--json')
      assert.equal(fresh.code, 1)
      const ledger = JSON.parse(fresh.out) as Ledger
      assert.deepEqual(ledger.flagged.map((f) => [f.index, f.code]), [[2, 'ERR_LEDGER_SIGNATURE_INVALID']])
      assert.deepEqual(ledger.rows, expectedRows({ 'ppocr-cls': 1, 'ppocr-det': 2 }), 'the edited receipt is not counted, for anyone')
      assert.deepEqual(problems(fresh.err), ['entry 2: ERR_RECEIPT_SIGNATURE_INVALID', 'entry 2: ERR_RECEIPT_ATTRIBUTION_MISMATCH'])
      assert.equal(fresh.out, (await get(h, '/v1/ledger')).text, "the host's own ledger flags it too")
      // The relying party that kept the checkpoint of the log as it was: two signed checkpoints of one size.
      const before = await credits(h, 'before-edits', '--json')
      assert.equal(before.code, 1)
      assert.match(before.out, /ERR_CLIENT_LOG_FORK/)
      const notes = [...before.out.matchAll(/^localhost\/vouch-log\n5\n/gm)]
      assert.equal(notes.length, 2, before.out)
      await h.close()
    })

    test("a host whose own ledger is not its log's: ERR_CLIENT_LEDGER_MISMATCH; one computed at a checkpoint of another history: ERR_CLIENT_LOG_FORK", async () => {
      const h = await edited(0, (data) => data, false)
      /** The host's log API as it is, but for its ledger, which `lie` rewrites. */
      const lying = (lie: (ledger: Ledger) => Ledger): LogReader => ({
        get: async (path) => {
          const { status, body } = await get(h, `/${path}`)
          if (!path.startsWith('v1/ledger')) return { status, body }
          return { status, body: new TextEncoder().encode(JSON.stringify(lie(JSON.parse(Buffer.from(body).toString('utf8')) as Ledger))) }
        },
      })
      const keys = [h.receiptLog!.verifierKey]
      const inflated = await computeCredits(lying((l) => ({ ...l, rows: l.rows.map((r, i) => (i === 0 ? { ...r, answers: r.answers + 1 } : r)) })), checkpointKeeper(undefined), keys, policy, undefined)
      assert.deepEqual(inflated.problems.map((p) => [p.index, p.code]), [[null, 'ERR_CLIENT_LEDGER_MISMATCH']])
      assert.deepEqual(inflated.ledger!.rows, expectedRows({ 'ppocr-cls': 2, 'ppocr-det': 2 }), 'the table printed is the one the log shows')
      const other = signNote(formatCheckpoint({ origin, size: 5, rootHash: new Uint8Array(32).fill(7) }), signerKey)
      await assert.rejects(computeCredits(lying((l) => ({ ...l, checkpoint: other })), checkpointKeeper(undefined), keys, policy, undefined), (error: ClientError) => {
        assert.equal(error.code, 'ERR_CLIENT_LOG_FORK')
        assert.deepEqual(error.checkpoints, [h.receiptLog!.latest().note, other])
        return true
      })
      await h.close()
    })

    test('a manifest contributor edited in the logged evidence: with the tree re-signed, every receipt flagged ERR_LEDGER_EVIDENCE_MISSING; without, ERR_LOG_INCLUSION_INVALID at the evidence', async () => {
      const resigned = await edited(0, manifestImpostor, true)
      const { code, out } = await credits(resigned, `edit-${edits}`, '--json')
      assert.equal(code, 1)
      const ledger = JSON.parse(out) as Ledger
      assert.deepEqual(ledger.rows, [], 'nobody is credited with what no logged evidence attests')
      assert.deepEqual(ledger.flagged.map((f) => [f.index, f.code]), [1, 2, 3, 4].map((i) => [i, 'ERR_LEDGER_EVIDENCE_MISSING']))
      await resigned.close()
      const kept = await edited(0, manifestImpostor, false)
      const inclusion = await credits(kept, `edit-${edits}`, '--json')
      assert.equal(inclusion.code, 1)
      assert.deepEqual(problems(inclusion.err), ['entry 0: ERR_LOG_INCLUSION_INVALID'])
      await kept.close()
    })
  })
})
