/**
 * A plain inference server, the baseline of bench/e2e.bench.ts (DESIGN.md §10): HTTPS (TLS 1.3, the host's own
 * certificate and `createHttpsServer`) with Express 5 and onnxruntime-node, no sealing, no receipts, no
 * attestation. Runs as a child process: `node --import tsx bench/lib/plain-server.ts '<PlainServerConfig JSON>'`;
 * prints `plain-server: serving https://127.0.0.1:PORT` once both models are loaded.
 *
 * - `binary`: `POST /v2/models/:name/infer` takes the request plaintext the Vouch client seals (CBOR from
 *   `encodeRequestPlaintext`, `application/cbor`), decoded with `decodeRequestPlaintext` as the enclave decodes
 *   it, and answers the outputs' wire form (`{ v, id, model, outputs }`, CBOR) without a receipt.
 * - `json`: the same route with KServe v2 JSON, `{ inputs: [{ name, shape, datatype, data }] }` in and
 *   `{ model_name, model_version, outputs: [...] }` out: what people run today.
 *
 * Sessions are created with the enclave's options (CPU provider, all graph optimisations, default threads) and
 * run on the main thread, as a plain server runs them. ETag hashing is off, as in the host.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import express, { type NextFunction, type Request, type Response } from 'express'
import ort from 'onnxruntime-node'
import { createHttpsServer, loadDevCertificate, traceResponse } from '@vouch/host'
import {
  BufferPool,
  decodeRequestPlaintext,
  encodeCbor,
  encodeTensors,
  exportReceiptOpening,
  keysetDigest,
  openRequest,
  receiptCommitment,
  sealResponsePlaintext,
  sha256Digest,
  signReceipt,
  type OipDatatype,
  type RequestPlaintext,
  type TensorData,
} from '@vouch/protocol'
import { hop, tracingHops } from '@vouch/protocol/hop-trace'
import { BINARY_MEDIA_TYPE, type PlainServerConfig } from './servers.js'
import { sessionOptions } from '../../enclave/src/inference/session-options.js'
import { generateKeyset } from '../../enclave/src/service/keys.js'
import { readFrames, writeFrame } from './frames.js'

const BODY_LIMIT = '256mb'

type TypedArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array
type TypedArrayClass = { new (buffer: ArrayBuffer, offset: number, length: number): TypedArray; BYTES_PER_ELEMENT: number; from(values: Iterable<number>): TypedArray }

const ORT_TYPES: Partial<Record<OipDatatype, { ort: ort.Tensor.Type; array: TypedArrayClass }>> = {
  FP32: { ort: 'float32', array: Float32Array as unknown as TypedArrayClass },
  FP64: { ort: 'float64', array: Float64Array as unknown as TypedArrayClass },
  INT32: { ort: 'int32', array: Int32Array as unknown as TypedArrayClass },
  INT64: { ort: 'int64', array: BigInt64Array as unknown as TypedArrayClass },
  UINT8: { ort: 'uint8', array: Uint8Array as unknown as TypedArrayClass },
  INT8: { ort: 'int8', array: Int8Array as unknown as TypedArrayClass },
}
const OIP_TYPES: Record<string, OipDatatype> = { float32: 'FP32', float64: 'FP64', int32: 'INT32', int64: 'INT64', uint8: 'UINT8', int8: 'INT8' }

function typeOf(datatype: string): { ort: ort.Tensor.Type; array: TypedArrayClass } {
  const t = ORT_TYPES[datatype as OipDatatype]
  if (t === undefined) throw Object.assign(new Error(`datatype ${datatype} is not served here`), { status: 400 })
  return t
}

/** A tensor over the raw little-endian bytes: a view when aligned, else one copy. */
function fromBytes(t: TensorData): ort.Tensor {
  const { ort: type, array } = typeOf(t.datatype)
  const size = array.BYTES_PER_ELEMENT
  const bytes = t.data.byteOffset % size === 0 ? t.data : t.data.slice()
  return new ort.Tensor(type, new array(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size) as ort.Tensor.DataTypeMap[typeof type], t.shape)
}

function outputBytes(tensor: ort.Tensor): Uint8Array {
  const data = tensor.data as TypedArray
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

const config = JSON.parse(process.argv[2] ?? '') as PlainServerConfig
const sessions = new Map<string, ort.InferenceSession>()
/** Each model's `sha256:` digest, for the receipts of the sealed link mode. */
const digests = new Map<string, string>()
for (const [name, file] of Object.entries(config.models)) {
  const bytes = readFileSync(file)
  digests.set(name, sha256Digest(bytes))
  // The enclave's own session options: the comparison is of everything around the model, not of the model's settings.
  sessions.set(name, await ort.InferenceSession.create(bytes, sessionOptions(config.threads[name])))
}

function sessionFor(name: string): ort.InferenceSession {
  const session = sessions.get(name)
  if (session === undefined) throw Object.assign(new Error('no such model'), { status: 404 })
  return session
}

/** Runs `request` (its inputs as raw little-endian bytes) on `session`: its outputs, in the session's order. */
async function runBinary(session: ort.InferenceSession, request: RequestPlaintext): Promise<TensorData[]> {
  const feeds: Record<string, ort.Tensor> = {}
  for (const t of request.inputs) feeds[t.name] = fromBytes(t)
  hop('decode')
  const results = await session.run(feeds)
  hop('session.run')
  return session.outputNames.map((name) => {
    const r = results[name]!
    return { name, datatype: OIP_TYPES[r.type]!, shape: [...r.dims], data: outputBytes(r) }
  })
}

const app = express()
app.disable('x-powered-by')
app.set('etag', false)
// Hops traced as the host traces its own (VOUCH_TRACE_HOPS, bench/hops.bench.ts): from here until the answer is written.
if (tracingHops()) app.use((req, res, next) => traceResponse('plain-server', req, res, next))

if (config.mode === 'binary') {
  app.post('/v2/models/:name/infer', express.raw({ type: BINARY_MEDIA_TYPE, limit: BODY_LIMIT }), async (req, res) => {
    hop('receive')
    const session = sessionFor(String(req.params['name']))
    const request = decodeRequestPlaintext(req.body as Buffer)
    const outputs = await runBinary(session, request)
    const body = encodeCbor({ v: 1, id: request.id, model: { name: request.model.name }, outputs })
    hop('encode')
    res.status(200).type(BINARY_MEDIA_TYPE).send(Buffer.from(body.buffer, body.byteOffset, body.byteLength))
  })
} else {
  app.post('/v2/models/:name/infer', express.json({ limit: BODY_LIMIT }), async (req, res) => {
    const session = sessionFor(String(req.params['name']))
    const inputs = (req.body as { inputs?: Array<{ name: string; shape: number[]; datatype: string; data: unknown[] }> }).inputs ?? []
    const feeds: Record<string, ort.Tensor> = {}
    for (const i of inputs) {
      const { ort: type, array } = typeOf(i.datatype)
      const flat = (Array.isArray(i.data[0]) ? i.data.flat(Infinity) : i.data) as number[]
      const values = type === 'int64' ? BigInt64Array.from(flat, (v) => BigInt(v)) : array.from(flat)
      feeds[i.name] = new ort.Tensor(type, values as ort.Tensor.DataTypeMap[typeof type], i.shape)
    }
    const results = await session.run(feeds)
    res.json({
      model_name: req.params['name'],
      model_version: '1',
      outputs: session.outputNames.map((name) => {
        const r = results[name]!
        const data = r.data as TypedArray
        return { name, shape: [...r.dims], datatype: OIP_TYPES[r.type], data: data instanceof BigInt64Array ? Array.from(data, Number) : Array.from(data) }
      }),
    })
  })
}

app.use((error: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
  res.status(error.status ?? 500).json({ error: error.message })
})

/** A link frame answered as the binary route answers it. */
async function answerPlain(frame: Buffer): Promise<Uint8Array> {
  const request = decodeRequestPlaintext(frame)
  const outputs = await runBinary(sessionFor(request.model.name), request)
  return encodeCbor({ v: 1, id: request.id, model: { name: request.model.name }, outputs })
}

/**
 * Link frames answered as the enclave answers them (the least it does): the request opened in place, its receipt
 * committed and signed, the answer sealed, with a keyset of its own whose public half is written to `keysetOut`.
 */
function sealedAnswers(keysetOut: string): (frame: Buffer) => Promise<Uint8Array> {
  const keyset = generateKeyset()
  writeFileSync(keysetOut, JSON.stringify(keyset.public))
  const keysetId = keysetDigest(keyset.public)
  return async (frame) => {
    const { plaintext, context } = await openRequest(keyset.encPrivateKey, keyset.public.kid, frame, { inPlace: true })
    const request = decodeRequestPlaintext(plaintext)
    const opening = await exportReceiptOpening(context)
    const outputs = await runBinary(sessionFor(request.model.name), request)
    const model = { name: request.model.name, version: '1', digest: digests.get(request.model.name)! }
    const receipt = await signReceipt(
      {
        v: 2,
        id: request.id,
        iat: Math.floor(Date.now() / 1000),
        model,
        request: receiptCommitment(opening, plaintext),
        response: receiptCommitment(opening, encodeTensors(outputs)),
        keyset: keysetId,
        evidence: keysetId,
        platform: 'sev-snp',
        attribution: [{ role: 'publisher', id: 'example.org', name: 'Example' }],
      },
      keyset.sigPrivateKey,
      keyset.public.kid,
    )
    return sealResponsePlaintext(context, { v: 1, id: request.id, model, outputs, receipt })
  }
}

/** `link` mode: frames from the bare relay (bench/lib/frames.ts), each answered with one frame, plain or sealed. */
function serveLink(link: NonNullable<PlainServerConfig['link']>): void {
  const answer = link.keysetOut === undefined ? answerPlain : sealedAnswers(link.keysetOut)
  rmSync(link.path, { force: true })
  // Frames reuse large buffers, as the enclave's do; each goes back once its answer is written.
  const pool = new BufferPool(false, 64 * 2 ** 20)
  const server = createServer((socket) => {
    socket.setNoDelay(true)
    readFrames(socket, pool, (id, frame) => {
      answer(frame).then(
        (body) => writeFrame(socket, id, body, () => pool.give(frame)),
        (error: unknown) => {
          console.error(`plain-server: link frame ${id} failed: ${String(error)}`)
          socket.destroy()
        },
      )
    })
  })
  server.listen(link.path, () => console.log(`plain-server: serving unix:${link.path}`))
  process.once('SIGTERM', () => process.exit(0))
}

if (config.mode === 'link') serveLink(config.link!)
else {
  const { cert, key } = await loadDevCertificate(config.tlsDir)
  const server = createHttpsServer({ cert, key }, app)
  server.keepAliveTimeout = 5_000
  server.listen(0, '127.0.0.1', () => console.log(`plain-server: serving https://127.0.0.1:${(server.address() as AddressInfo).port}`))
  process.once('SIGTERM', () => {
    server.close()
    server.closeAllConnections()
    process.exit(0)
  })
}
