/**
 * Issue 12 item 5 and its Done-when: `vouch-verify log audit` follows a receipt log from the checkpoint it stored,
 * and catches a host that serves two different checkpoints of the same size, or drops an entry, with the two signed
 * checkpoints as evidence; it also catches entries served other than the tree commits to, and a logged receipt that
 * does not verify against its logged evidence. The receipts are real (an in-process enclave, simulated TEE and GPU,
 * behind the client tests' host, which logs each receipt before answering); the log is tests' in-memory one, on the
 * same tlog functions as the host's store, served over plain HTTP on loopback.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { encodeLogEntry, oipJsonToTensor, openNote, parseCheckpoint, type OipJsonTensor } from '@vouch/protocol'
import { parsePolicy } from '@vouch/verifier'
import { auditLog, CheckpointStore, httpLogReader } from '@vouch/verifier/log'
import { createClient, type VouchClient } from '@vouch/client'
import { startEnclave } from '../client/test/helpers/enclave.js'
import { FakeHost, linkBackend } from '../client/test/helpers/fake-host.js'
import { selfSignedCertificate } from '../client/test/helpers/tls.js'
import { main as vouchVerify } from '../verifier/src/cli/main.js'
import { LinkClient } from './helpers/link-client.js'
import { LogServer, MemoryLog } from './helpers/receipt-log.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const DEV = join(root, 'policies/dev-simulated.yaml')
const sample = (JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: OipJsonTensor[] }).inputs.map((t) => oipJsonToTensor(t))

interface Audit {
  code: number
  report: { entries: number; receipts: number; verified: number; problems: { index: number | null; code: string }[]; fork: [string, string] | null; forkFile: string | null }
}

describe('vouch-verify log audit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-log-audit-'))
  let stop: () => Promise<void>
  let link: LinkClient
  let host: FakeHost
  let server: LogServer
  let client: VouchClient
  let tls: Awaited<ReturnType<typeof selfSignedCertificate>>
  const log = new MemoryLog()
  let n = 0

  /** Runs the audit CLI against the log server; `state` names the auditor's own state directory. */
  const audit = async (state: string, ...flags: string[]): Promise<Audit> => {
    const out: string[] = []
    const code = await vouchVerify(['log', 'audit', '--url', server.url, '--log-key', log.keys.verifierKey, '--state', join(dir, state), '--policy', DEV, '--json', ...flags], (t) => out.push(t), (t) => out.push(t))
    return { code, report: code === 2 ? (assert.fail(out.join('\n')) as never) : (JSON.parse(out.join('\n')) as Audit['report']) }
  }
  const answer = async (count: number): Promise<void> => {
    for (let i = 0; i < count; i++) await client.infer('ppocr-cls', sample, { log: true })
  }
  /** A copy of the log so far, under its key, whose entries a test may change. */
  const copy = async (change: (entries: Uint8Array[]) => Uint8Array[]): Promise<MemoryLog> => {
    const other = new MemoryLog(log.origin, log.keys)
    await other.append(...change([...log.entries]))
    return other
  }
  const sizes = (notes: readonly string[]): Promise<number[]> => Promise.all(notes.map(async (note) => parseCheckpoint((await openNote(note, [log.keys.verifierKey])).text).size))

  before(async () => {
    const socket = join(dir, 'enclave.sock')
    stop = await startEnclave(socket)
    link = await LinkClient.connect(socket)
    tls = await selfSignedCertificate()
    host = await FakeHost.start(linkBackend(link), tls)
    host.log = log
    server = await LogServer.start(log)
    client = createClient({ url: host.url, ca: tls.cert, policy: parsePolicy(readFileSync(DEV, 'utf8'), DEV), log: { keys: [log.keys.verifierKey], stateDir: join(dir, 'client') } })
    await answer(3)
  })
  after(async () => {
    client?.close()
    await server?.close()
    await host?.close()
    link?.close()
    await stop?.()
    rmSync(dir, { recursive: true, force: true })
  })

  test('an honest log: every entry proven, every receipt verified against its logged evidence; then only what is new', async () => {
    const first = await audit(`honest-${++n}`)
    assert.equal(first.code, 0, JSON.stringify(first.report.problems))
    assert.deepEqual([first.report.entries, first.report.receipts, first.report.verified], [4, 3, 3])
    await answer(2)
    const second = await audit(`honest-${n}`)
    assert.equal(second.code, 0, JSON.stringify(second.report.problems))
    assert.deepEqual([second.report.entries, second.report.receipts, second.report.verified], [2, 2, 2])
    // The library gives the same report; and with nothing new, an audit checks nothing and finds nothing.
    const again = await auditLog({ reader: httpLogReader(server.url), store: new CheckpointStore(join(dir, `honest-${n}`)), logKeys: [log.keys.verifierKey], policy: parsePolicy(readFileSync(DEV, 'utf8'), DEV) })
    assert.deepEqual([again.entries, again.problems], [0, []])
  })

  test('two different checkpoints of the same size: ERR_LOG_FORK, both signed checkpoints written as proof', async () => {
    const state = `fork-size-${++n}`
    assert.equal((await audit(state)).code, 0)
    // The same number of entries, one of them changed: another history under the same key.
    server.log = await copy((entries) => entries.map((e, i) => (i === 1 ? encodeLogEntry({ kind: 'receipt', receipt: 'eyJh.eyJi.c2ln' }) : e)))
    try {
      const { code, report } = await audit(state)
      assert.equal(code, 1)
      assert.deepEqual(report.problems.map((p) => p.code), ['ERR_LOG_FORK'])
      assert.deepEqual(await sizes(report.fork!), [log.size, log.size])
      assert.notEqual(report.fork![0], report.fork![1])
      const proof = JSON.parse(readFileSync(report.forkFile!, 'utf8')) as { origin: string; checkpoints: string[] }
      assert.deepEqual(proof, { origin: log.origin, checkpoints: report.fork })
      // The stored checkpoint stays the one audited: the next run reports the fork again.
      assert.equal((await audit(state)).code, 1)
    } finally {
      server.log = log
    }
  })

  test('an entry dropped, the log grown on: ERR_LOG_FORK (not consistent with the checkpoint stored), both checkpoints', async () => {
    const state = `fork-drop-${++n}`
    assert.equal((await audit(state)).code, 0)
    const dropped = await log.filtered((_, i) => i !== 2)
    await dropped.append(encodeLogEntry({ kind: 'receipt', receipt: 'eyJj.eyJk.c2ln' }), encodeLogEntry({ kind: 'receipt', receipt: 'eyJl.eyJm.c2ln' }))
    server.log = dropped
    try {
      const forkOut = join(dir, 'dropped.fork.json')
      const { code, report } = await audit(state, '--fork-out', forkOut)
      assert.equal(code, 1)
      assert.deepEqual(report.problems.map((p) => p.code), ['ERR_LOG_FORK'])
      assert.deepEqual(await sizes(report.fork!), [log.size, log.size + 1])
      assert.ok(existsSync(forkOut))
    } finally {
      server.log = log
    }
  })

  test('entries served other than the tree commits to: ERR_LOG_INCLUSION_INVALID', async () => {
    const state = `entries-${++n}`
    const tampered = await copy((entries) => entries)
    // The tree (hashes, checkpoint) is the log's; the bytes served for entry 1 are not.
    tampered.entries[1] = encodeLogEntry({ kind: 'receipt', receipt: 'eyJn.eyJv.c2ln' })
    server.log = tampered
    try {
      const { code, report } = await audit(state)
      assert.equal(code, 1)
      assert.deepEqual(report.problems.map((p) => p.code), ['ERR_LOG_INCLUSION_INVALID'])
      assert.equal(existsSync(join(dir, state, `${encodeURIComponent(log.origin)}.checkpoint`)), false, 'nothing was stored')
    } finally {
      server.log = log
    }
  })

  test('a logged receipt that does not verify (one byte of its signature changed): reported at its index', async () => {
    const receiptIndex = 1 // entry 0 is the evidence, 1 the first receipt
    const edited = await copy((entries) =>
      entries.map((e, i) => {
        if (i !== receiptIndex) return e
        const jws = Buffer.from(e).toString('latin1').match(/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/)![0]
        const last = jws.at(-2) === 'A' ? 'B' : 'A'
        return encodeLogEntry({ kind: 'receipt', receipt: `${jws.slice(0, -2)}${last}${jws.at(-1)}` })
      }),
    )
    server.log = edited
    try {
      const { code, report } = await audit(`edited-${++n}`)
      assert.equal(code, 1)
      assert.deepEqual(report.problems.map((p) => [p.index, p.code]), [[receiptIndex, 'ERR_RECEIPT_SIGNATURE_INVALID']])
      assert.equal(report.verified, report.receipts - 1)
    } finally {
      server.log = log
    }
  })

  test('over HTTPS: --ca FILE is the certificate the host\'s must chain to; without it, or with another, no log is read (exit 2)', async () => {
    const files = { ca: join(dir, 'host.pem'), other: join(dir, 'other.pem') }
    writeFileSync(files.ca, tls.cert)
    writeFileSync(files.other, (await selfSignedCertificate()).cert)
    // The client tests' host serves the same log over TLS, with a self-signed certificate.
    const run = async (...flags: string[]): Promise<{ code: number; out: string }> => {
      const out: string[] = []
      const code = await vouchVerify(['log', 'audit', '--url', host.url, '--log-key', log.keys.verifierKey, '--state', join(dir, `tls-${++n}`), '--policy', DEV, ...flags], (t) => out.push(t), (t) => out.push(t))
      return { code, out: out.join('\n') }
    }
    const trusted = await run('--ca', files.ca, '--json')
    assert.equal(trusted.code, 0, trusted.out)
    assert.equal((JSON.parse(trusted.out) as Audit['report']).receipts, log.size - 1)
    for (const flags of [[], ['--ca', files.other]]) {
      const refused = await run(...flags)
      assert.equal(refused.code, 2, refused.out)
      assert.match(refused.out, /ERR_LOG_UNAVAILABLE.*certificate/)
    }
    const missing = await run('--ca', join(dir, 'no-such.pem'))
    assert.equal(missing.code, 2)
    assert.match(missing.out, /--ca/)
  })

  test('a checkpoint not signed by the log key: exit 1, ERR_LOG_CHECKPOINT_UNTRUSTED; no log at the URL: exit 2', async () => {
    server.log = new MemoryLog(log.origin)
    try {
      const out: string[] = []
      const code = await vouchVerify(['log', 'audit', '--url', server.url, '--log-key', log.keys.verifierKey, '--state', join(dir, `key-${++n}`)], (t) => out.push(t), (t) => out.push(t))
      assert.equal(code, 1)
      assert.match(out.join('\n'), /ERR_LOG_CHECKPOINT_UNTRUSTED/)
    } finally {
      server.log = log
    }
    const code = await vouchVerify(['log', 'audit', '--url', `${host.url}/nowhere`, '--log-key', log.keys.verifierKey, '--state', join(dir, `none-${n}`)], () => {}, () => {})
    assert.equal(code, 2)
  })
})
