/**
 * Issue 12 item 5, the client's side of the receipt log: `client.logProof`, `infer({ log })` and `vouch infer --log`
 * against a host relaying to an in-process enclave (simulated TEE and GPU) that logs each receipt before answering,
 * in tests' in-memory log on the same tlog functions as the host's store. The host is untrusted: a fork (two
 * checkpoints of one size with different roots, or one not consistent with an earlier one) is refused with both
 * signed checkpoints; an entry announced but missing, or a proof under another key, is refused by code.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { encodeLogEntry, oipJsonToTensor, openNote, parseCheckpoint, type OipJsonTensor } from '@vouch/protocol'
import { parsePolicy, verifyLogInclusion, type Policy } from '@vouch/verifier'
import { MemoryLog } from '../../test/helpers/receipt-log.js'
import { main as vouchVerify } from '../../verifier/src/cli/main.js'
import { main as vouch } from '../src/cli.js'
import { createClient, type ClientOptions, type VouchClient } from '../src/index.js'
import { checkpointKeeper, proveLogged } from '../src/log.js'
import { useRelayedEnclave } from './helpers/relayed-enclave.js'
import type { FakeHost } from './helpers/fake-host.js'
import { rejectsWith } from './helpers/rejects.js'
import type { TlsIdentity } from './helpers/tls.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const devText = readFileSync(join(root, 'policies/dev-simulated.yaml'), 'utf8')
const dev = parsePolicy(devText, 'dev-simulated.yaml')
const sample = (JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: OipJsonTensor[] }).inputs.map((t) => oipJsonToTensor(t))

/** An entry no client sent: what a forked log holds in place of, or beside, the real ones. */
const foreign = (n: number): Uint8Array => encodeLogEntry({ kind: 'receipt', receipt: `eyJmb3JlaWduIjp0cnVlfQ.eyJuIjo${n}fQ.c2ln` })

/** The checkpoint a signed note states, opened with `key`. */
const opened = async (note: string, key: string): Promise<ReturnType<typeof parseCheckpoint>> => parseCheckpoint((await openNote(note, [key])).text)

describe('the client and the receipt log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-client-log-'))
  let tls: TlsIdentity
  let host: FakeHost
  let log: MemoryLog
  let n = 0
  const clients: VouchClient[] = []
  /** A client whose state directory is its own unless `stateDir` is given. */
  const client = (options: { policy?: Policy; stateDir?: string; keys?: string[]; waitMs?: number } = {}): VouchClient => {
    const logOptions: ClientOptions['log'] = { stateDir: options.stateDir ?? join(dir, `state-${++n}`), waitMs: options.waitMs ?? 0, ...(options.keys !== undefined && { keys: options.keys }) }
    const c = createClient({ url: host.url, policy: options.policy ?? dev, ca: tls.cert, log: logOptions })
    clients.push(c)
    return c
  }
  const keyed = (stateDir?: string): VouchClient => client({ keys: [log.keys.verifierKey], ...(stateDir !== undefined && { stateDir }) })

  after(() => {
    for (const c of clients) c.close()
  })
  const service = useRelayedEnclave(dir)
  before(() => {
    ;({ host, tls } = service)
  })
  const fresh = async (): Promise<MemoryLog> => {
    log = new MemoryLog()
    await log.append(foreign(0), foreign(1))
    host.log = log
    return log
  }

  test('infer({ log: true }): the receipt is proven at the index announced, and the proof verifies offline', async () => {
    await fresh()
    const stateDir = join(dir, 'kept')
    const c = keyed(stateDir)
    const first = await c.infer('ppocr-cls', sample, { log: true })
    assert.ok(first.log !== undefined)
    // Entries 0 and 1 were there before; the host logged its evidence (2), then the receipt (3).
    assert.equal(first.log.index, 3)
    assert.equal(first.log.checkpoint.size, 4)
    assert.equal((await verifyLogInclusion(first.receipt, first.log.proof, [log.keys.verifierKey])).index, 3)
    // The checkpoint is kept, one file per log origin; the next answer's checkpoint is checked consistent with it.
    const file = join(stateDir, `${encodeURIComponent(log.origin)}.checkpoint`)
    assert.equal(readFileSync(file, 'utf8'), first.log.checkpoint.note)
    await log.append(foreign(2), foreign(3))
    const second = await c.infer('ppocr-cls', sample, { log: true })
    assert.equal(second.log?.index, 6)
    assert.equal((await opened(readFileSync(file, 'utf8'), log.keys.verifierKey)).size, 7)
    // Without { log }, and with a policy that does not require inclusion, nothing is asked of the log.
    assert.equal((await c.infer('ppocr-cls', sample)).log, undefined)
  })

  test('a policy with log.requireInclusion makes every answer wait for its proof, under the policy’s log.keys', async () => {
    await fresh()
    const policy = parsePolicy(`${devText}\nlog:\n  keys: ["${log.keys.verifierKey}"]\n  requireInclusion: true\n`, 'logged.yaml')
    const result = await client({ policy }).infer('ppocr-cls', sample)
    assert.equal(result.log?.index, 3)
    // And the proof must be there: a host that does not log is refused.
    host.dropFromLog = true
    await rejectsWith(client({ policy }).infer('ppocr-cls', sample), 'ERR_CLIENT_LOG_ENTRY_MISSING')
  })

  test('an entry announced but missing from the log: ERR_CLIENT_LOG_ENTRY_MISSING, after waiting', async () => {
    await fresh()
    host.dropFromLog = true
    const started = Date.now()
    await rejectsWith(client({ keys: [log.keys.verifierKey], waitMs: 500 }).infer('ppocr-cls', sample, { log: true }), 'ERR_CLIENT_LOG_ENTRY_MISSING')
    assert.ok(Date.now() - started >= 500, 'it waited for the entry')
  })

  test('a host that serves no log (404 ERR_HOST_NOT_FOUND, or a 404 that is no problem document): ERR_CLIENT_LOG_NOT_SERVED, without waiting for the entry', async () => {
    await fresh()
    const answered = await keyed().infer('ppocr-cls', sample, { log: true })
    // The same host without its log: /v1/log/ is no route of it. Only the log's own 404 means "not in the log yet".
    host.log = null
    const waiting = client({ keys: [log.keys.verifierKey], waitMs: 60_000 })
    const error = await rejectsWith(waiting.logProof(answered.receipt, { wait: 60_000 }), 'ERR_CLIENT_LOG_NOT_SERVED')
    assert.match(error.message, /ERR_HOST_NOT_FOUND/)
    assert.equal(error.status, 404)
    // The answer that needs its proof is refused the same way.
    await rejectsWith(waiting.infer('ppocr-cls', sample, { log: true }), 'ERR_CLIENT_LOG_NOT_SERVED')
    // A 404 with no problem document (a proxy's page) is no answer of the log either; it is asked once.
    let asked = 0
    const reader = { get: async () => ((asked++, { status: 404, body: new TextEncoder().encode('<html>Not Found</html>') })) }
    await rejectsWith(proveLogged(reader, checkpointKeeper(undefined), [log.keys.verifierKey], answered.receipt, { wait: 60_000 }), 'ERR_CLIENT_LOG_NOT_SERVED')
    assert.equal(asked, 1)
    // While the log's own 404 (ERR_HOST_LOG_ENTRY_NOT_FOUND) is "not in the log": asked again until the wait ends.
    host.log = log
    host.dropFromLog = true
    await rejectsWith(client({ keys: [log.keys.verifierKey], waitMs: 300 }).infer('ppocr-cls', sample, { log: true }), 'ERR_CLIENT_LOG_ENTRY_MISSING')
  })

  test('a proof under another key than the pinned one: ERR_CLIENT_LOG_PROOF_REJECTED', async () => {
    await fresh()
    const other = new MemoryLog(log.origin) // the same name, another key
    host.log = other
    await rejectsWith(client({ keys: [log.keys.verifierKey] }).infer('ppocr-cls', sample, { log: true }), 'ERR_CLIENT_LOG_PROOF_REJECTED')
  })

  test('two checkpoints of one size with different roots: ERR_CLIENT_LOG_FORK, with both signed checkpoints', async () => {
    await fresh()
    const stateDir = join(dir, 'fork-same-size')
    const result = await keyed(stateDir).infer('ppocr-cls', sample, { log: true })
    // The host now shows another history of the same size: the client's receipt still in it, another entry changed.
    const forked = new MemoryLog(log.origin, log.keys)
    await forked.append(foreign(9), foreign(1), log.entries[2]!, log.entries[3]!)
    host.log = forked
    // A new client on the same state directory: what it saw before is remembered.
    const error = await rejectsWith(keyed(stateDir).logProof(result.receipt), 'ERR_CLIENT_LOG_FORK')
    assert.ok(error.checkpoints !== undefined)
    const [seen, now] = await Promise.all(error.checkpoints.map((note) => opened(note, log.keys.verifierKey)))
    assert.equal(seen!.size, 4)
    assert.equal(now!.size, 4)
    assert.notDeepEqual(seen!.rootHash, now!.rootHash)
    assert.equal(error.checkpoints[0], result.log!.checkpoint.note)
  })

  test('a checkpoint not consistent with an earlier one (an entry dropped): ERR_CLIENT_LOG_FORK, with both', async () => {
    await fresh()
    const stateDir = join(dir, 'fork-dropped')
    const c = keyed(stateDir)
    await c.infer('ppocr-cls', sample, { log: true })
    // The host rewrites history without entry 1 and goes on logging: the next answer's checkpoint does not extend the one seen.
    host.log = await log.filtered((_, i) => i !== 1)
    const error = await rejectsWith(c.infer('ppocr-cls', sample, { log: true }), 'ERR_CLIENT_LOG_FORK')
    const [seen, now] = await Promise.all(error.checkpoints!.map((note) => opened(note, log.keys.verifierKey)))
    assert.deepEqual([seen!.size, now!.size], [4, 5])
    // The stored checkpoint is the one seen first: the fork is not forgotten by accepting the new history.
    assert.equal((await opened(readFileSync(join(stateDir, `${encodeURIComponent(log.origin)}.checkpoint`), 'utf8'), log.keys.verifierKey)).size, 4)
  })

  test('a log that grows from a forked prefix: the consistency proof fails, ERR_CLIENT_LOG_FORK', async () => {
    await fresh()
    const stateDir = join(dir, 'fork-grown')
    await keyed(stateDir).infer('ppocr-cls', sample, { log: true })
    const forked = new MemoryLog(log.origin, log.keys)
    await forked.append(foreign(0), foreign(7), foreign(8), foreign(9))
    host.log = forked
    const error = await rejectsWith(keyed(stateDir).infer('ppocr-cls', sample, { log: true }), 'ERR_CLIENT_LOG_FORK')
    assert.deepEqual((await Promise.all(error.checkpoints!.map((note) => opened(note, log.keys.verifierKey)))).map((c) => c.size), [4, 6])
  })

  test('logProof without a log key is a TypeError', async () => {
    await fresh()
    await assert.rejects(client().logProof('a.b.c'), TypeError)
  })

  test('vouch infer --log --log-proof-out, then vouch-verify receipt --log-proof offline; a fork is shown with both checkpoints', async () => {
    await fresh()
    const ca = join(dir, 'host.pem')
    writeFileSync(ca, tls.cert)
    const stateDir = join(dir, 'cli-state')
    const files = { receipt: join(dir, 'answer.jws'), evidence: join(dir, 'answer.cbor'), proof: join(dir, 'answer.proof.json') }
    const run = async (main: typeof vouch, ...argv: string[]): Promise<{ code: number; out: string }> => {
      const out: string[] = []
      const code = await main(argv, (t) => out.push(t), (t) => out.push(t))
      return { code, out: out.join('\n') }
    }
    const infer = (...flags: string[]): Promise<{ code: number; out: string }> =>
      run(vouch, 'infer', '--url', host.url, '--ca', ca, '--policy', join(root, 'policies/dev-simulated.yaml'), '--model', 'ppocr-cls', '--input', join(root, 'models/samples/ppocr-cls.json'), ...flags)
    const ok = await infer('--log', '--log-key', log.keys.verifierKey, '--state-dir', stateDir, '--receipt-out', files.receipt, '--evidence-out', files.evidence, '--log-proof-out', files.proof)
    assert.equal(ok.code, 0, ok.out)
    const verified = await run(vouchVerify, 'receipt', files.receipt, '--evidence', files.evidence, '--policy', join(root, 'policies/dev-simulated.yaml'), '--log-proof', files.proof, '--log-key', log.keys.verifierKey, '--json')
    assert.equal(verified.code, 0, verified.out)
    assert.equal((JSON.parse(verified.out) as { checks: { id: string; status: string }[] }).checks.find((c) => c.id === 'receipt.log')?.status, 'pass')
    // --log needs a key; --log-proof-out needs --log.
    assert.equal((await infer('--log', '--state-dir', stateDir)).code, 2)
    assert.equal((await infer('--log-proof-out', files.proof)).code, 2)
    // The host forks: vouch infer refuses, exit 1, and prints both signed checkpoints.
    host.log = await log.filtered((_, i) => i !== 0)
    const fork = await infer('--log', '--log-key', log.keys.verifierKey, '--state-dir', stateDir)
    assert.equal(fork.code, 1, fork.out)
    assert.match(fork.out, /ERR_CLIENT_LOG_FORK/)
    assert.equal(fork.out.split('— vouch.test/log ').length - 1, 2, 'both signed checkpoints are printed')
  })
})
