/**
 * Issue 12, privacy of the public receipt log: nobody who reads a logged receipt can confirm a guessed input or output.
 * A real enclave (simulated TEE) answers the PP-OCR classifier, whose answers are few and easy to guess; the receipt
 * is taken as the host takes it for its log (the `infer` result beside the sealed answer, checked by the link's own
 * codec). An observer holding candidate answers, the true one among them, tries to tell which one was given: against
 * a v1 receipt of the same answer (plain SHA-256 digests) it succeeds, for the output and for the request; against
 * the v2 receipt it fails with every key it could know, while the client, holding the opening, confirms the true
 * answer and refuses the decoys. v1 digests also link equal answers across requests; v2 commitments do not.
 */
import assert from 'node:assert/strict'
import { createHmac, generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import {
  decodeBundle,
  decodeLinkResult,
  decodeReceipt,
  decodeResponsePlaintext,
  encodeRequestPlaintext,
  encodeTensors,
  exportReceiptOpening,
  oipJsonToTensor,
  openResponse,
  receiptCommitment,
  sealRequest,
  sha256Digest,
  signReceipt,
  toHex,
  type Keyset,
  type ReceiptPayload,
  type RequestPlaintext,
  type TensorData,
} from '@vouch/protocol'
import { runEnclave } from '../enclave/src/cli.js'
import { createLogger } from '../enclave/src/logger.js'
import { LinkClient } from './helpers/link-client.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const sample = JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: unknown[] }
const sampleInputs = (): TensorData[] => sample.inputs.map((t, i) => oipJsonToTensor(t, `inputs[${i}]`))

/** One answer as each party holds it: the logged receipt (the host's), and what only the client has. */
interface Answer {
  logged: string
  plaintext: Uint8Array
  request: RequestPlaintext
  outputs: TensorData[]
  opening: Uint8Array
}

/** The classifier's answer with its first value changed: a wrong guess of the same shape. */
function decoy(outputs: readonly TensorData[], value: number): TensorData[] {
  const [first, ...rest] = outputs
  const data = Uint8Array.from(first!.data)
  new DataView(data.buffer).setFloat32(0, value, true)
  return [{ ...first!, data }, ...rest]
}

/**
 * What an observer of the log can do with a receipt field and a guess `bytes`: the plain digest anyone computes, and
 * HMAC-SHA-256 under every key the receipt or the evidence lets it know (none, zeros, the id, the kid, the digests).
 */
function observerConfirms(field: string, bytes: Uint8Array, payload: ReceiptPayload, kid: string): boolean {
  if (field === sha256Digest(bytes)) return true
  const keys = [new Uint8Array(0), new Uint8Array(32), payload.id, kid, payload.keyset, payload.evidence, payload.keyset.slice('sha256:'.length), payload.evidence.slice('sha256:'.length)]
  return keys.some((key) => field === `hmac-sha256:${createHmac('sha256', key).update(bytes).digest('hex')}`)
}

describe('issue 12: a logged receipt confirms no guess of the request or the answer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-issue-12-'))
  const socket = join(dir, 'enclave.sock')
  let stop: () => Promise<void>
  let link: LinkClient
  let keyset: Keyset

  before(async () => {
    stop = await runEnclave(['--socket', socket, '--tee', 'simulated'], createLogger('silent'))
    link = await LinkClient.connect(socket)
    const r = await link.request({ op: 'attest', nonce: null })
    assert.ok(r.ok)
    keyset = decodeBundle(decodeLinkResult('attest', r.result).bundle).keyset
  })
  after(async () => {
    link?.close()
    await stop?.()
    rmSync(dir, { recursive: true, force: true })
  })

  /** Seals the sample to the enclave and takes its answer apart as the host (the log) and the client each see it. */
  async function ask(): Promise<Answer> {
    const request: RequestPlaintext = { v: 1, id: randomUUID(), ts: Date.now(), model: { name: 'ppocr-cls' }, inputs: sampleInputs() }
    const plaintext = encodeRequestPlaintext(request)
    const sealed = await sealRequest(keyset.enc, keyset.kid, plaintext)
    const r = await link.request({ op: 'infer', kid: keyset.kid, model: 'ppocr-cls', version: null, body: sealed.body })
    assert.ok(r.ok, JSON.stringify(r))
    // Exactly what the host's infer route gets as `answer`: the link's codec checked the receipt is a v2 one.
    const answer = decodeLinkResult('infer', r.result)
    const response = decodeResponsePlaintext(await openResponse(sealed.context, answer.body))
    assert.equal(answer.receipt, response.receipt, 'the logged receipt is the one sealed in the answer')
    return { logged: answer.receipt, plaintext, request, outputs: response.outputs, opening: await exportReceiptOpening(sealed.context) }
  }

  test('the v1 receipt of an answer gives it away; the v2 receipt of the same answer does not', async () => {
    const a = await ask()
    const v2 = decodeReceipt(a.logged).payload
    assert.equal(v2.v, 2)
    // The same answer as an enclave before v2 signed it: the same fields, with plain digests.
    const v1Receipt = await signReceipt({ ...v2, v: 1, request: sha256Digest(a.plaintext), response: sha256Digest(encodeTensors(a.outputs)) }, generateKeyPairSync('ed25519').privateKey, keyset.kid)
    const v1 = decodeReceipt(v1Receipt).payload

    // The observer's guesses: the classifier's true answer among wrong ones of the same shape.
    const candidates = [decoy(a.outputs, 0), decoy(a.outputs, 1), a.outputs, decoy(a.outputs, 0.5)].map(encodeTensors)
    const truth = 2
    const confirmed = (payload: ReceiptPayload): number[] => candidates.flatMap((bytes, i) => (observerConfirms(payload.response, bytes, payload, keyset.kid) ? [i] : []))
    assert.deepEqual(confirmed(v1), [truth], 'v1: the observer picks out the answer that was given')
    assert.deepEqual(confirmed(v2), [], 'v2: no guess is confirmed, the true one included')

    // The request: the observer guesses the input and the time (the receipt names the id; the enclave refuses a ts
    // more than a minute off its clock, so at most about 60,000 tries: the right one is given here).
    const guessed = encodeRequestPlaintext({ ...a.request, inputs: sampleInputs() })
    assert.ok(observerConfirms(v1.request, guessed, v1, keyset.kid), 'v1: the guessed input is confirmed')
    assert.ok(!observerConfirms(v2.request, guessed, v2, keyset.kid), 'v2: the guessed input is not')

    // The commitments are to these very bytes: with the opening, the client confirms the truth and nothing else.
    assert.deepEqual(candidates.flatMap((bytes, i) => (receiptCommitment(a.opening, bytes) === v2.response ? [i] : [])), [truth])
    assert.equal(receiptCommitment(a.opening, guessed), v2.request)
  })

  test('v1 digests link two requests that got the same answer; v2 commitments differ, and no other field depends on the content', async () => {
    const [a, b] = [await ask(), await ask()]
    assert.deepEqual(a.outputs, b.outputs, 'the same input, the same answer')
    const [pa, pb] = [decodeReceipt(a.logged).payload, decodeReceipt(b.logged).payload]
    assert.equal(sha256Digest(encodeTensors(a.outputs)), sha256Digest(encodeTensors(b.outputs)), 'v1 would log one digest twice')
    assert.notEqual(pa.response, pb.response)
    assert.notEqual(pa.request, pb.request)
    // Besides the commitments, the receipts differ only in the request's id and the time: nothing else follows the content.
    const rest = (p: ReceiptPayload): Omit<ReceiptPayload, 'id' | 'iat' | 'request' | 'response'> => {
      const { id: _id, iat: _iat, request: _request, response: _response, ...others } = p
      return others
    }
    assert.deepEqual(rest(pa), rest(pb))
    // Each opening is its own request's: b's does not open a's receipt.
    assert.notEqual(toHex(a.opening), toHex(b.opening))
    assert.notEqual(receiptCommitment(b.opening, encodeTensors(a.outputs)), pa.response)
  })
})
