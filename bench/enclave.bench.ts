/**
 * The enclave's own cost per sealed request (DESIGN.md §4, §10), for both default models with their
 * samples: open (HPKE), decode, receipt (the opening's export, two commitments and an Ed25519 signature), seal (response key
 * export and AES-256-GCM), next to the model's run. Everything is measured in one process, interleaved
 * with a full `SealedInference.handle` and a bare `InferenceSession.run` of the same input, so the
 * enclave's share is read against the same machine state. Target: well under 1 ms for the classifier.
 */
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import ort from 'onnxruntime-node'
import {
  decodeRequestPlaintext,
  encodeRequestPlaintext,
  exportReceiptOpening,
  keysetDigest,
  oipJsonToTensor,
  openRequest,
  receiptCommitment,
  sealRequest,
  sealResponsePlaintext,
  signReceipt,
  tensorPieces,
  type TensorData,
} from '@vouch/protocol'
import { createLogger } from '../enclave/src/logger.js'
import { EnclaveService } from '../enclave/src/service/enclave.js'
import { createCpuTee } from '../enclave/src/tee/device.js'
import { measureInterleaved, ms, type Timing } from './lib/measure.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))

function sample(name: string): TensorData[] {
  const file = `${REPO}models/samples/${name}`
  const text = name.endsWith('.gz') ? gunzipSync(readFileSync(file)).toString('utf8') : readFileSync(file, 'utf8')
  return (JSON.parse(text) as { inputs: unknown[] }).inputs.map((t, i) => oipJsonToTensor(t, `inputs[${i}]`))
}

export async function benchEnclave(log: (line: string) => void): Promise<string> {
  const service = await EnclaveService.create({ cpu: await createCpuTee('simulated'), modelsDir: `${REPO}models`, log: createLogger('silent'), attestRate: { burst: 1e9, perSecond: 1e9 } })
  const bundle = (await import('@vouch/protocol')).decodeBundle((await service.attest({ nonce: null })).bundle)
  const keyset = bundle.keyset
  // The service's private keys stay inside it; the component timings use a keyset of their own.
  const { generateKeyset } = await import('../enclave/src/service/keys.js')
  const own = generateKeyset()
  const rows: string[] = []
  for (const [model, file, runs] of [
    ['ppocr-cls', 'ppocr-cls.json', 1000],
    ['ppocr-det', 'ppocr-det.json.gz', 40],
  ] as const) {
    const inputs = sample(file)
    const loaded = service.get(model, null)
    const plaintext = (): Uint8Array => encodeRequestPlaintext({ v: 1, id: randomUUID(), ts: Date.now(), model: { name: model }, inputs })
    const fixed = plaintext()
    const sealedOwn = await sealRequest(own.public.enc, own.public.kid, fixed)
    const opened = await openRequest(own.encPrivateKey, own.public.kid, sealedOwn.body)
    const outputs = await loaded.run(inputs)
    // The service computes its keyset's digest once; so does this loop.
    const ownKeyset = keysetDigest(own.public)
    const session = await ort.InferenceSession.create(readFileSync(loaded.modelFile))
    const feeds = Object.fromEntries(inputs.map((t) => [t.name, new ort.Tensor('float32', new Float32Array(t.data.slice().buffer), t.shape)]))

    const steps: Array<[string, () => Promise<unknown> | unknown]> = [
      ['open (HPKE)', () => openRequest(own.encPrivateKey, own.public.kid, sealedOwn.body)],
      ['decode plaintext', () => decodeRequestPlaintext(fixed)],
      ['receipt (commitments + EdDSA)', async () => {
        const opening = await exportReceiptOpening(opened.context)
        const payload = {
          v: 2 as const, id: 'x', iat: 0, model: { name: model, version: loaded.version, digest: loaded.digest },
          request: receiptCommitment(opening, fixed), response: receiptCommitment(opening, tensorPieces(outputs)), keyset: ownKeyset,
          evidence: `sha256:${'00'.repeat(32)}`, platform: 'simulated' as const, attribution: [{ role: 'publisher', id: 'x', name: 'x' }],
        }
        return signReceipt(payload, own.sigPrivateKey, own.public.kid)
      }],
      // As the enclave seals (enclave/src/service/sealed.ts): encoded around the outputs' data and sealed in one buffer.
      ['seal response', () => sealResponsePlaintext(opened.context, { v: 1, id: 'x', model: { name: model, version: loaded.version, digest: loaded.digest }, outputs, receipt: 'eyJhbGciOiJFZERTQSJ9.eyJ2IjoxfQ.c2ln' })],
      ['model run', () => loaded.run(inputs)],
      ['bare session.run', () => session.run(feeds)],
      ['whole sealed request', async () => {
        const sealed = await sealRequest(keyset.enc, keyset.kid, plaintext())
        return service.infer({ kid: keyset.kid, model, version: null, body: sealed.body })
      }],
    ]
    const timings = (await measureInterleaved(steps.map(([, fn]) => fn), { runs, warmup: Math.min(50, runs) })) as Timing[]
    const t = Object.fromEntries(steps.map(([name], i) => [name, timings[i]!]))
    const own4 = ['open (HPKE)', 'decode plaintext', 'receipt (commitments + EdDSA)', 'seal response'].reduce((sum, k) => sum + t[k]!.median, 0)
    log(`enclave ${model}: open ${ms(t['open (HPKE)']!.median)}, decode ${ms(t['decode plaintext']!.median)}, receipt ${ms(t['receipt (commitments + EdDSA)']!.median)}, seal ${ms(t['seal response']!.median)} → ${ms(own4)} ms; model ${ms(t['model run']!.median)} ms (bare ${ms(t['bare session.run']!.median)} ms); whole ${ms(t['whole sealed request']!.median)} ms`)
    rows.push(
      `| ${model} | ${ms(t['open (HPKE)']!.median)} | ${ms(t['decode plaintext']!.median)} | ${ms(t['receipt (commitments + EdDSA)']!.median)} | ${ms(t['seal response']!.median)} | **${ms(own4)}** | ${ms(t['model run']!.median)} | ${ms(t['bare session.run']!.median)} | ${ms(t['whole sealed request']!.median)} |`,
    )
    await session.release()
  }
  await service.close()
  return `## The enclave's cost per sealed request (\`bench/enclave.bench.ts\`)

For each default model with its sample (classifier 1×3×48×192, 110 KB; detector 1×3×640×640, 4.9 MB): the
enclave's own steps (open the HPKE request; decode the CBOR plaintext; the receipt: the opening exported from the
request's HPKE context, HMAC-SHA-256 commitments to the request and the outputs, an EdDSA signature; seal the response), the model run (on its worker thread; the classifier, whose runs are short, on this thread), a bare
\`session.run\` on this thread, and a whole request through \`SealedInference\` (the client's sealing
included, replay checks, model, receipt, sealing). All interleaved in one loop; medians in milliseconds.

| model | open | decode | receipt | seal | enclave's own | model | bare run | whole request |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}
`
}
