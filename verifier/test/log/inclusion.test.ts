/**
 * Issue 12 item 5, offline inclusion: a receipt's proof from the log (`GET /v1/log/proof`'s JSON) checked against a
 * pinned log key, by `verifyLogInclusion`, `verifyReceipt`'s `log` option and `vouch-verify receipt --log-proof`.
 * The log is tests' in-memory one, on the same tlog functions as the host's store.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { encodeBundle, generateNoteKey, signNote, signReceipt, toBase64 } from '@vouch/protocol'
import { parsePolicy, PolicyInvalidError, verifyLogInclusion, verifyReceipt, VerificationError, type LogProof } from '@vouch/verifier'
import { testBundleV2, testKeys, testReceiptPayload } from '../../../protocol/test/helpers/fixtures.js'
import { MemoryLog } from '../../../test/helpers/receipt-log.js'
import { main } from '../../src/cli/main.js'

const DEV_POLICY = fileURLToPath(new URL('../../../policies/dev-simulated.yaml', import.meta.url))

/** Receipts as the enclave signs them (the test keyset's key), one per request id. */
async function receipt(id: string): Promise<string> {
  return signReceipt({ ...testReceiptPayload(2), id }, testKeys().sig, testKeys().keyset.kid)
}

const rejects = (run: () => Promise<unknown>, code: string): Promise<void> => assert.rejects(run, (e: unknown) => e instanceof VerificationError && e.code === code)

describe('verifyLogInclusion', () => {
  const log = new MemoryLog()
  const receipts: string[] = []
  let proof: LogProof

  before(async () => {
    for (let i = 0; i < 13; i++) receipts.push(await receipt(`req-${i}`))
    await log.append(...receipts.slice(0, 7), { kind: 'evidence', bundle: encodeBundle(testBundleV2()) }, ...receipts.slice(7))
    proof = await log.proof(log.indexOf(receipts[9]!))
  })

  test('a receipt in the log: its index and the checkpoint it is included under', async () => {
    const included = await verifyLogInclusion(receipts[9]!, proof, [log.keys.verifierKey])
    assert.equal(included.index, 10)
    assert.equal(included.checkpoint.size, 14)
    assert.equal(included.checkpoint.origin, 'vouch.test/log')
    assert.equal(included.checkpoint.note, proof.checkpoint)
    // Its JSON text too, as the CLI reads it; and every entry of every size of the log.
    assert.equal((await verifyLogInclusion(receipts[9]!, JSON.stringify(proof), [log.keys.verifierKey])).index, 10)
  })

  test('every receipt at every tree size that holds it', async () => {
    for (const [i, jws] of receipts.entries()) {
      const index = log.indexOf(jws)
      for (let size = index + 1; size <= log.size; size++) assert.equal((await verifyLogInclusion(jws, await log.proof(index, size), [log.keys.verifierKey])).index, index, `receipt ${i} at size ${size}`)
    }
  })

  test('a proof of another receipt: ERR_LOG_INCLUSION_INVALID', async () => {
    await rejects(() => verifyLogInclusion(receipts[8]!, proof, [log.keys.verifierKey]), 'ERR_LOG_INCLUSION_INVALID')
    // Nor does the other receipt's proof pass for this one by naming this one's index.
    await rejects(() => verifyLogInclusion(receipts[8]!, { ...proof, index: log.indexOf(receipts[8]!) }, [log.keys.verifierKey]), 'ERR_LOG_INCLUSION_INVALID')
  })

  test('a checkpoint not signed by the log key: ERR_LOG_CHECKPOINT_UNTRUSTED', async () => {
    const other = generateNoteKey('vouch.test/log')
    await rejects(() => verifyLogInclusion(receipts[9]!, proof, [other.verifierKey]), 'ERR_LOG_CHECKPOINT_UNTRUSTED')
    // The same checkpoint text signed by another key, presented to a client pinning the log's key.
    const text = proof.checkpoint.slice(0, proof.checkpoint.indexOf('\n\n') + 1)
    await rejects(() => verifyLogInclusion(receipts[9]!, { ...proof, checkpoint: signNote(text, other.signerKey) }, [log.keys.verifierKey]), 'ERR_LOG_CHECKPOINT_UNTRUSTED')
    // A signature by the pinned key over other text (the size changed after signing).
    const forged = proof.checkpoint.replace('\n14\n', '\n15\n')
    await rejects(() => verifyLogInclusion(receipts[9]!, { ...proof, checkpoint: forged }, [log.keys.verifierKey]), 'ERR_LOG_CHECKPOINT_UNTRUSTED')
  })

  test('a tampered proof: ERR_LOG_INCLUSION_INVALID', async () => {
    const flipped = Buffer.from(proof.proof[1]!, 'base64')
    flipped[0]! ^= 1
    const cases: [string, LogProof][] = [
      ['a hash of the path changed', { ...proof, proof: proof.proof.map((h, i) => (i === 1 ? toBase64(flipped) : h)) }],
      ['a hash dropped', { ...proof, proof: proof.proof.slice(1) }],
      ['a hash added', { ...proof, proof: [...proof.proof, proof.proof[0]!] }],
      ['another index', { ...proof, index: 11 }],
      ['a size the checkpoint does not state', { ...proof, size: 13 }],
      ['a root the checkpoint does not state', { ...proof, rootHash: toBase64(new Uint8Array(32)) }],
      ['the checkpoint of a smaller tree with this path', { ...proof, checkpoint: await log.checkpoint(12), size: 12, rootHash: (await log.proof(0, 12)).rootHash }],
    ]
    for (const [name, bad] of cases) await assert.rejects(async () => verifyLogInclusion(receipts[9]!, bad, [log.keys.verifierKey]), (e: unknown) => e instanceof VerificationError && e.code === 'ERR_LOG_INCLUSION_INVALID', name)
  })

  test('a proof out of form: ERR_LOG_PROOF_MALFORMED', async () => {
    const cases: [string, unknown][] = [
      ['not JSON', '{"index":'],
      ['not an object', [1, 2]],
      ['a negative index', { ...proof, index: -1 }],
      ['hashes that are not text', { ...proof, proof: [1] }],
      ['a hash that is not base64 of 32 bytes', { ...proof, proof: ['AAAA'] }],
      ['no checkpoint', { ...proof, checkpoint: undefined }],
      ['a checkpoint that is no signed note', { ...proof, checkpoint: 'vouch.test/log\n14\n' }],
    ]
    for (const [name, bad] of cases) await assert.rejects(async () => verifyLogInclusion(receipts[9]!, bad, [log.keys.verifierKey]), (e: unknown) => e instanceof VerificationError && e.code === 'ERR_LOG_PROOF_MALFORMED', name)
    await assert.rejects(async () => verifyLogInclusion(receipts[9]!, proof, []), TypeError)
  })
})

describe('verifyReceipt and vouch-verify receipt --log-proof', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-log-proof-'))
  const log = new MemoryLog()
  const path = (name: string): string => join(dir, name)
  let jws: string

  before(async () => {
    jws = await receipt('req-cli')
    await log.append(await receipt('req-before'), jws, await receipt('req-after'))
    writeFileSync(path('receipt.jws'), jws)
    writeFileSync(path('evidence.cbor'), encodeBundle(testBundleV2()))
    writeFileSync(path('proof.json'), JSON.stringify(await log.proof(1)))
    writeFileSync(path('other.json'), JSON.stringify(await log.proof(0)))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  // The test bundle's evidence is not authentic (fake certificates): the receipt is rejected for it whatever the
  // log says, so these look at the `receipt.log` check, which needs nothing but the receipt's bytes.
  const logCheck = async (...flags: string[]): Promise<{ code: number; status: string | undefined; codes: string[] }> => {
    const out: string[] = []
    const code = await main(['receipt', path('receipt.jws'), '--evidence', path('evidence.cbor'), '--policy', DEV_POLICY, '--json', ...flags], (t) => out.push(t), (t) => out.push(t))
    if (code === 2) return { code, status: undefined, codes: [out.join('\n')] }
    const result = JSON.parse(out.join('\n')) as { checks: { id: string; status: string; code?: string }[] }
    const check = result.checks.find((c) => c.id === 'receipt.log')
    return { code, status: check?.status, codes: check?.code === undefined ? [] : [check.code] }
  }

  test('the library records receipt.log: passed, failed by code, or skipped when no proof is given', async () => {
    const evidence = encodeBundle(testBundleV2())
    const status = async (log?: { proof: unknown; keys: string[] }): Promise<string | undefined> => (await verifyReceipt(jws, { evidence, ...(log && { log }) })).checks.find((c) => c.id === 'receipt.log')?.status
    assert.equal(await status({ proof: await log.proof(1), keys: [log.keys.verifierKey] }), 'pass')
    assert.equal(await status({ proof: await log.proof(0), keys: [log.keys.verifierKey] }), 'fail')
    assert.equal(await status(), 'skip')
  })

  test('a proof of this receipt under the pinned key passes; another receipt’s, or another key, fails by code', async () => {
    assert.deepEqual(await logCheck('--log-proof', path('proof.json'), '--log-key', log.keys.verifierKey), { code: 1, status: 'pass', codes: [] })
    assert.deepEqual(await logCheck('--log-proof', path('other.json'), '--log-key', log.keys.verifierKey), { code: 1, status: 'fail', codes: ['ERR_LOG_INCLUSION_INVALID'] })
    assert.deepEqual(await logCheck('--log-proof', path('proof.json'), '--log-key', generateNoteKey('vouch.test/log').verifierKey), { code: 1, status: 'fail', codes: ['ERR_LOG_CHECKPOINT_UNTRUSTED'] })
    // One of several keys is enough (a rotated key, a second log).
    assert.equal((await logCheck('--log-proof', path('proof.json'), '--log-key', generateNoteKey('x').verifierKey, '--log-key', log.keys.verifierKey)).status, 'pass')
  })

  test('the policy’s log section: its keys check the proof, and requireInclusion refuses a receipt without one', async () => {
    const evidence = encodeBundle(testBundleV2())
    const text = readFileSync(DEV_POLICY, 'utf8')
    const policy = parsePolicy(`${text}\nlog:\n  keys: ["${log.keys.verifierKey}"]\n  requireInclusion: true\n`, 'logged.yaml')
    const check = async (options: Parameters<typeof verifyReceipt>[1]): Promise<{ status?: string; code?: string } | undefined> => (await verifyReceipt(jws, options)).checks.find((c) => c.id === 'receipt.log')
    assert.equal((await check({ evidence, policy, log: { proof: await log.proof(1) } }))?.status, 'pass')
    const refused = await check({ evidence, policy })
    assert.deepEqual([refused?.status, refused?.code], ['fail', 'ERR_POLICY_LOG_INCLUSION_REQUIRED'])
    // A log section is a list of note verifier keys, at least one.
    for (const bad of ['log:\n  keys: []\n', 'log:\n  keys: ["not a key"]\n', 'log:\n  requireInclusion: true\n']) {
      assert.throws(() => parsePolicy(`${text}\n${bad}`, 'bad.yaml'), (e: unknown) => e instanceof PolicyInvalidError && e.code === 'ERR_POLICY_INVALID', bad)
    }
    // vouch-verify receipt takes the key from the policy when --log-key is left out.
    const policyFile = path('logged.yaml')
    writeFileSync(policyFile, `${text}\nlog:\n  keys: ["${log.keys.verifierKey}"]\n`)
    const out: string[] = []
    await main(['receipt', path('receipt.jws'), '--evidence', path('evidence.cbor'), '--policy', policyFile, '--json', '--log-proof', path('proof.json')], (t) => out.push(t), (t) => out.push(t))
    assert.equal((JSON.parse(out.join('\n')) as { checks: { id: string; status: string }[] }).checks.find((c) => c.id === 'receipt.log')?.status, 'pass')
  })

  test('--log-proof without --log-key, or the reverse, is a usage error', async () => {
    assert.equal((await logCheck('--log-proof', path('proof.json'))).code, 2)
    assert.equal((await logCheck('--log-key', log.keys.verifierKey)).code, 2)
  })
})
