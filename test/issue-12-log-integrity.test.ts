/**
 * Issue 12, "Done when", end to end against real hosts (`startHost`, each relaying to one enclave on simulated TEE
 * and GPU over its socket, with the receipt log of its configuration):
 * - a host that serves two different checkpoints of the same size, or drops an entry, is caught by
 *   `vouch-verify log audit` and by the client, with the two signed checkpoints as evidence. The operator controls the
 *   host and its log key, so the lies are told the way an operator would: (a) the SQLite log copied at some size, the
 *   original and the copy each given other answers by two hosts that share the log key (`--log-key`); (b) a log
 *   rebuilt without one entry (a new SQLite file fed the others in order through the store's API) and served under
 *   the same key;
 * - two hosts on one PostgreSQL log, both taking traffic (4 clients × 50 answers, through both at once): one linear
 *   history that every checkpoint either host signed is consistent with, every answer's receipt in the log once at the
 *   index announced, nothing lost or duplicated, and a clean audit of the whole log from either host.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { createClient, type InferResult, type VouchClient } from '@vouch/client'
import { loadConfig, startHost, type RunningHost } from '@vouch/host'
import { decodeLogEntry, generateNoteKey, oipJsonToTensor, type OipJsonTensor } from '@vouch/protocol'
import { parsePolicy, verifyLogInclusion, type SignedCheckpoint } from '@vouch/verifier'
import { httpLogReader } from '@vouch/verifier/log'
import { main as vouch } from '../client/src/cli.js'
import { openSqliteLog } from '../host/src/log/sqlite.js'
import { openPostgresLog } from '../host/src/log/postgres.js'
import { createLogStore } from '../host/src/log/store.js'
import { startEnclave } from '../client/test/helpers/enclave.js'
import { rejectsWith } from '../client/test/helpers/rejects.js'
import { postgresSkipReason, startPostgres, type TestPostgres } from '../host/test/helpers/postgres.js'
import { eventually, sink } from '../host/test/helpers/testkit.js'
import { describe as describeSkippable } from './helpers/suites.js'
import { main as vouchVerify } from '../verifier/src/cli/main.js'
import { fetchCheckpoint, fetchConsistency } from '../verifier/src/log/follow.js'
import { verifyLogConsistency } from '../verifier/src/log/consistency.js'
import { openCheckpoint } from '../verifier/src/log/inclusion.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const DEV = join(root, 'policies/dev-simulated.yaml')
const dev = parsePolicy(readFileSync(DEV, 'utf8'), DEV)
const SAMPLE = join(root, 'models/samples/ppocr-cls.json')
const sample = (JSON.parse(readFileSync(SAMPLE, 'utf8')) as { inputs: OipJsonTensor[] }).inputs.map((t) => oipJsonToTensor(t))
const ORIGIN = 'vouch.test/integrity'

/** Runs a CLI's `main` in this process; its output and errors together. */
async function runCli(main: typeof vouch, ...argv: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = []
  const code = await main(argv, (t) => out.push(t), (t) => out.push(t))
  return { code, out: out.join('\n') }
}

/** One enclave (simulated SEV-SNP and H100) on a socket in `dir`, and the hosts a test starts in front of it. */
function useEnclave(dir: string): { socket: string; startHost(name: string, ...logFlags: string[]): Promise<RunningHost> } {
  const socket = join(dir, 'enclave.sock')
  const hosts: RunningHost[] = []
  let stop: (() => Promise<void>) | undefined
  before(async () => {
    stop = await startEnclave(socket)
  })
  after(async () => {
    await Promise.all(hosts.map((h) => h.close()))
    await stop?.()
  })
  return {
    socket,
    /** A host named `name` (its TLS certificate in a folder of its own) relaying to the enclave, with the log of `logFlags`. */
    async startHost(name, ...logFlags) {
      const argv = ['--port', '0', '--enclave-socket', socket, '--no-collateral-fetch', '--log-level', 'silent', '--log-name', ORIGIN, ...logFlags]
      const { config } = loadConfig(argv, { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
      const host = await startHost(config, { log: sink('silent').log, env: { ...process.env, VOUCH_CACHE_DIR: join(dir, name) } })
      hosts.push(host)
      await eventually(() => host.pool.up, 30_000, `the link of host ${name} to the enclave`)
      return host
    },
  }
}

/** The log key file every host of a suite shares (as an operator's hosts share their configuration), and its verifier key. */
function writeLogKey(dir: string): { file: string; verifierKey: string } {
  const keys = generateNoteKey(ORIGIN)
  const file = join(dir, 'log-signer.key')
  writeFileSync(file, `${keys.signerKey}\n`, { mode: 0o600 })
  return { file, verifierKey: keys.verifierKey }
}

describe('a host that forks its log is caught by the auditor and the client, with both signed checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-log-fork-'))
  const enclave = useEnclave(dir)
  const key = writeLogKey(dir)
  const clients: VouchClient[] = []
  after(() => {
    for (const c of clients) c.close()
    rmSync(dir, { recursive: true, force: true })
  })
  /** A client of `host` that keeps the checkpoints it sees in `state` (a folder under the suite's). */
  const clientOf = (host: RunningHost, state: string): VouchClient => {
    const c = createClient({ url: host.url, ca: host.tls.cert, policy: dev, log: { keys: [key.verifierKey], stateDir: join(dir, state), waitMs: 0 } })
    clients.push(c)
    return c
  }
  const answer = (host: RunningHost, state: string): Promise<InferResult> => clientOf(host, state).infer('ppocr-cls', sample, { log: true })
  /** `vouch-verify log audit` of `host` from the checkpoint stored in `state`; the report, and the exit code. */
  const audit = async (host: RunningHost, state: string, ...flags: string[]) => {
    const { code, out } = await runCli(vouchVerify, 'log', 'audit', '--url', host.url, '--ca', host.tls.trustFile, '--log-key', key.verifierKey, '--state', join(dir, state), '--policy', DEV, '--json', ...flags)
    assert.notEqual(code, 2, out)
    return { code, report: JSON.parse(out) as { entries: number; receipts: number; verified: number; problems: { code: string }[]; fork: [string, string] | null; forkFile: string | null } }
  }
  const opened = (note: string): Promise<SignedCheckpoint> => openCheckpoint(note, [key.verifierKey])
  /** Asserts `notes` are a fork's proof: two checkpoints of the log, each opening with the log key, that differ. */
  const assertForkProof = async (notes: readonly string[] | null | undefined, first: string): Promise<[SignedCheckpoint, SignedCheckpoint]> => {
    assert.ok(notes !== null && notes !== undefined && notes.length === 2)
    const [a, b] = (await Promise.all(notes.map(opened))) as [SignedCheckpoint, SignedCheckpoint]
    assert.deepEqual([a.origin, b.origin], [ORIGIN, ORIGIN])
    assert.equal(notes[0], first, 'the checkpoint seen first comes first')
    assert.throws(() => verifyLogConsistency(a, b, []), { code: 'ERR_LOG_FORK' })
    return [a, b]
  }

  let a: RunningHost
  const answered: InferResult[] = []
  before(async () => {
    a = await enclave.startHost('a', '--log-key', key.file, '--log-path', join(dir, 'a.sqlite'))
    for (let i = 0; i < 3; i++) answered.push(await answer(a, 'client-a'))
  })

  test('(a) the log copied at one size, each copy given other answers: two checkpoints of one size, caught by the audit (CLI) and the client', async () => {
    // The operator copies the log as it is, and serves the copy from a second host under the same key.
    const copy = join(dir, 'b.sqlite')
    const db = new Database(join(dir, 'a.sqlite'), { readonly: true })
    db.prepare('VACUUM INTO ?').run(copy)
    db.close()
    const b = await enclave.startHost('b', '--log-key', key.file, '--log-path', copy)
    assert.equal(b.receiptLog!.latest().note, a.receiptLog!.latest().note, 'the copy starts where the original stood')
    // An auditor and a client each see the original take an answer; another client sees the copy take another.
    assert.equal((await audit(a, 'auditor-a')).code, 0)
    const onA = await answer(a, 'seen-a')
    const onB = await answer(b, 'seen-b')
    assert.equal(onA.log!.checkpoint.size, onB.log!.checkpoint.size)
    assert.notEqual(onA.log!.checkpoint.note, onB.log!.checkpoint.note)

    // The auditor that saw the original audits the copy: ERR_LOG_FORK, the two signed checkpoints written out.
    const auditedA = await audit(a, 'auditor-a')
    assert.equal(auditedA.code, 0, JSON.stringify(auditedA.report.problems))
    const forkOut = join(dir, 'a-b.fork.json')
    const forked = await audit(b, 'auditor-a', '--fork-out', forkOut)
    assert.equal(forked.code, 1)
    assert.deepEqual(forked.report.problems.map((p) => p.code), ['ERR_LOG_FORK'])
    const proof = JSON.parse(readFileSync(forkOut, 'utf8')) as { origin: string; checkpoints: string[] }
    assert.equal(proof.origin, ORIGIN)
    const [seen, served] = await assertForkProof(proof.checkpoints, onA.log!.checkpoint.note)
    assert.equal(seen.size, served.size, 'two checkpoints of the same size')
    assert.equal(proof.checkpoints[1], onB.log!.checkpoint.note)

    // The client that saw the original asks the copy for the proof of the copy's answer: ERR_CLIENT_LOG_FORK.
    const error = await rejectsWith(clientOf(b, 'seen-a').logProof(onB.receipt), 'ERR_CLIENT_LOG_FORK')
    await assertForkProof(error.checkpoints, onA.log!.checkpoint.note)
    // And `vouch infer --log --state-dir` after the original, against the copy: refused, exit 1, both checkpoints shown.
    const infer = (host: RunningHost, state: string) =>
      runCli(vouch, 'infer', '--url', host.url, '--ca', host.tls.trustFile, '--policy', DEV, '--model', 'ppocr-cls', '--input', SAMPLE, '--log', '--log-key', key.verifierKey, '--state-dir', join(dir, state))
    const first = await infer(a, 'cli')
    assert.equal(first.code, 0, first.out)
    const refused = await infer(b, 'cli')
    assert.equal(refused.code, 1, refused.out)
    assert.match(refused.out, /ERR_CLIENT_LOG_FORK/)
    assert.equal(refused.out.split(`— ${ORIGIN} `).length - 1, 2, 'both signed checkpoints are printed')
    // The checkpoint kept is the original's: the fork is not forgotten by accepting the copy's history.
    assert.equal(readFileSync(join(dir, 'cli', `${encodeURIComponent(ORIGIN)}.checkpoint`), 'utf8'), a.receiptLog!.latest().note)
  })

  test('(b) the log rebuilt without one answer and served under the same key: caught by the audit (CLI) and the client', async () => {
    // A client and the auditor follow the original up to now.
    const last = await answer(a, 'seen-b2')
    assert.equal((await audit(a, 'auditor-b')).code, 0)
    const audited = a.receiptLog!.latest()
    const size = audited.size
    // The operator rebuilds the log without the first answer's receipt, every other entry in order, and serves it.
    const dropped = answered[0]!
    const rebuiltFile = join(dir, 'rebuilt.sqlite')
    const rebuilt = createLogStore(openSqliteLog(rebuiltFile), { entries: 256, ms: 0 })
    const kept = (await a.receiptLog!.store.readEntries(0, size)).map(decodeLogEntry).filter((e) => !(e.kind === 'receipt' && e.receipt === dropped.receipt))
    assert.equal(kept.length, size - 1)
    for (const entry of kept) await rebuilt.append(entry)
    await rebuilt.close()
    const d = await enclave.startHost('d', '--log-key', key.file, '--log-path', rebuiltFile)
    // The rebuilt log takes answers on: two, so it is longer than the original the auditor saw.
    const later = [await answer(d, 'fresh-d-1'), await answer(d, 'fresh-d-2')]
    assert.ok(later[1]!.log!.checkpoint.size > size)

    const forked = await audit(d, 'auditor-b')
    assert.equal(forked.code, 1)
    assert.deepEqual(forked.report.problems.map((p) => p.code), ['ERR_LOG_FORK'])
    assert.ok(forked.report.forkFile !== null)
    const proof = JSON.parse(readFileSync(forked.report.forkFile, 'utf8')) as { checkpoints: string[] }
    const [seen, served] = await assertForkProof(proof.checkpoints, audited.note)
    assert.equal(seen.size, size)
    assert.ok(served.size > size)

    // The client that saw the original: the dropped answer is not in the rebuilt log, and any other's proof is a fork.
    await rejectsWith(clientOf(d, 'seen-b2').logProof(dropped.receipt), 'ERR_CLIENT_LOG_ENTRY_MISSING')
    const error = await rejectsWith(clientOf(d, 'seen-b2').logProof(last.receipt), 'ERR_CLIENT_LOG_FORK')
    const [before, now] = await assertForkProof(error.checkpoints, last.log!.checkpoint.note)
    assert.deepEqual([before.size, now.size], [size, later[1]!.log!.checkpoint.size])
    // `vouch infer --log` with the state of a client that followed the original: refused, exit 1.
    const refused = await runCli(vouch, 'infer', '--url', d.url, '--ca', d.tls.trustFile, '--policy', DEV, '--model', 'ppocr-cls', '--input', SAMPLE, '--log', '--log-key', key.verifierKey, '--state-dir', join(dir, 'seen-b2'))
    assert.equal(refused.code, 1, refused.out)
    assert.match(refused.out, /ERR_CLIENT_LOG_FORK/)
    // The proof each client kept of an answer the rebuilt log still holds verifies offline: nothing else was changed.
    assert.equal((await verifyLogInclusion(last.receipt, last.log!.proof, [key.verifierKey])).index, last.log!.index)
  })
})

describeSkippable('two hosts on one PostgreSQL log, both taking traffic', { skip: postgresSkipReason }, () => {
  const CLIENTS = 4
  const ANSWERS = 50
  const dir = mkdtempSync(join(tmpdir(), 'vouch-log-pg-'))
  const enclave = useEnclave(dir)
  const key = writeLogKey(dir)
  let server: TestPostgres | undefined
  before(async () => {
    server = await startPostgres()
  }, { timeout: 90_000 })
  after(() => {
    server?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  test(`${CLIENTS} clients × ${ANSWERS} answers through both hosts at once: one linear history, every receipt once at its index, a clean audit from either host`, { timeout: 120_000 }, async () => {
    const url = await server!.createDatabase()
    const hosts = await Promise.all(['p', 'q'].map((name) => enclave.startHost(name, '--log-key', key.file, '--log-url', url)))
    // Two clients per host, all at once; each checks every answer's inclusion proof, at the index the host announced,
    // and each checkpoint against the ones it saw before (its own state directory).
    const perClient = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const host = hosts[c % 2]!
        const client = createClient({ url: host.url, ca: host.tls.cert, policy: dev, log: { keys: [key.verifierKey], stateDir: join(dir, `client-${c}`), waitMs: 0 } })
        try {
          const results: InferResult[] = []
          for (let i = 0; i < ANSWERS; i++) results.push(await client.infer('ppocr-cls', sample, { log: true }))
          return results
        } finally {
          client.close()
        }
      }),
    )
    const answers = perClient.flat()
    assert.equal(answers.length, CLIENTS * ANSWERS)

    // The log as stored: every answer's receipt once, at the index its proof (and the host's Vouch-Log-Index) gave.
    const store = createLogStore(await openPostgresLog(url), { entries: 1, ms: 0 })
    try {
      const size = await store.size()
      const entries = (await store.readEntries(0, size)).map(decodeLogEntry)
      const receipts = new Map<string, number>()
      entries.forEach((e, i) => {
        if (e.kind !== 'receipt') return
        assert.equal(receipts.has(e.receipt), false, `a receipt twice, at ${receipts.get(e.receipt)} and ${i}`)
        receipts.set(e.receipt, i)
      })
      assert.equal(receipts.size, answers.length, 'no receipt lost, none that was not answered')
      assert.deepEqual(entries.filter((e) => e.kind !== 'receipt').map((e) => e.kind), ['evidence'], 'the evidence once, whichever host logged it first')
      for (const answer of answers) {
        assert.equal(receipts.get(answer.receipt), answer.log!.index)
        assert.equal((await verifyLogInclusion(answer.receipt, answer.log!.proof, [key.verifierKey])).index, answer.log!.index)
      }
      // Both hosts took traffic at once: their answers interleave in the one history.
      const [onP, onQ] = [0, 1].map((h) => perClient.filter((_, c) => c % 2 === h).flat().map((r) => r.log!.index))
      assert.ok(Math.min(...onP!) < Math.max(...onQ!) && Math.min(...onQ!) < Math.max(...onP!), "the two hosts' answers interleave")

      // Either host proves the last answer, whichever logged it (the other signs a checkpoint over it).
      const last = answers.reduce((a, b) => (a.log!.index > b.log!.index ? a : b))
      for (const host of hosts) {
        const other = createClient({ url: host.url, ca: host.tls.cert, policy: dev, log: { keys: [key.verifierKey], stateDir: join(dir, 'client-0'), waitMs: 0 } })
        assert.equal((await other.logProof(last.receipt)).index, size - 1)
        other.close()
      }

      // One linear history: each host's checkpoint covers the whole log, and every checkpoint either host signed
      // (every one either served) is consistent with it, by the verifier's consistency check.
      const readers = hosts.map((h) => httpLogReader(h.url, { ca: h.tls.cert }))
      const [finalP, finalQ] = await Promise.all(readers.map((r) => fetchCheckpoint(r, [key.verifierKey])))
      assert.deepEqual([finalP!.size, finalQ!.size], [size, size], 'each host serves a checkpoint of the whole log')
      verifyLogConsistency(finalP!, finalQ!, [])
      const signed = await store.checkpoints()
      const notes = new Set(signed.map((c) => c.note))
      for (const answer of answers) assert.ok(notes.has(answer.log!.checkpoint.note), 'every checkpoint served is one signed and kept')
      for (const { note } of signed) {
        const checkpoint = await openCheckpoint(note, [key.verifierKey])
        verifyLogConsistency(checkpoint, finalP!, checkpoint.size === size ? [] : await fetchConsistency(readers[0]!, checkpoint.size, size))
      }
    } finally {
      await store.close()
    }

    // vouch-verify log audit of the whole log, from either host: clean.
    for (const [i, host] of hosts.entries()) {
      const { code, out } = await runCli(vouchVerify, 'log', 'audit', '--url', host.url, '--ca', host.tls.trustFile, '--log-key', key.verifierKey, '--state', join(dir, `auditor-${i}`), '--policy', DEV, '--json')
      assert.equal(code, 0, out)
      const report = JSON.parse(out) as { entries: number; receipts: number; verified: number }
      assert.deepEqual([report.receipts, report.verified], [answers.length, answers.length])
      assert.equal(report.entries, answers.length + 1)
    }
  })
})
