/**
 * A worker thread that owns one onnxruntime InferenceSession. onnxruntime-node 1.30's `session.run` is
 * synchronous under its Promise (it defers the native call with setImmediate, then blocks the calling thread
 * for the whole inference: microsoft/onnxruntime#19611), so every session lives on its own thread and the
 * enclave's event loop stays free. This file is the only one that loads onnxruntime-node (DESIGN.md §2).
 */
import { parentPort, workerData } from 'node:worker_threads'
import ort from 'onnxruntime-node'
import type { InferenceSession, Tensor } from 'onnxruntime-node'
import { hop, traceRequest } from '@vouch/protocol/hop-trace'
import { sessionOptions } from './session-options.js'
import type {
  RawValueMetadata,
  SessionWorkerData,
  WorkerOutput,
  WorkerReply,
  WorkerRequest,
} from './worker-messages.types.js'

const port = parentPort
if (port === null) throw new Error('session-worker.ts runs only as a worker thread')

const { model, intraOpNumThreads } = workerData as SessionWorkerData
const options = sessionOptions(intraOpNumThreads)

let session: InferenceSession
try {
  // The bytes the main thread hashed, not a re-read of the file: what runs is what was verified.
  session = await ort.InferenceSession.create(model, options)
  port.postMessage({
    kind: 'ready',
    inputs: session.inputMetadata.map(rawMetadata),
    outputs: session.outputMetadata.map(rawMetadata),
  } satisfies WorkerReply)
} catch (error) {
  port.postMessage({ kind: 'load-failed', message: messageOf(error) } satisfies WorkerReply)
  port.close()
  process.exit(0)
}

port.on('message', (request: WorkerRequest) => {
  // Traced (VOUCH_TRACE_HOPS) up to the reply: once it is posted the main thread runs on, so a later mark would overlap it.
  void traceRequest('worker', () => run(request)).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer),
    (error: unknown) => {
      const reply: WorkerReply = { kind: 'run-failed', id: request.id, message: messageOf(error) }
      port.postMessage(reply)
    },
  )
})

async function run(request: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  const feeds: Record<string, Tensor> = {}
  for (const feed of request.feeds) {
    if (feed.type === 'string') {
      feeds[feed.name] = new ort.Tensor('string', feed.strings, feed.dims)
      continue
    }
    // A typed view over the transferred buffer: onnxruntime reads the request's bytes where they are.
    const data = typedView(feed.type, request.buffer, feed.offset, feed.length)
    feeds[feed.name] = new ort.Tensor(feed.type, data, feed.dims)
  }
  hop('feeds')
  const results = await session.run(feeds, request.fetches)
  hop('session.run')
  const outputs: WorkerOutput[] = []
  const transfer: ArrayBuffer[] = []
  for (const name of request.fetches) {
    const tensor = results[name]
    if (tensor === undefined) throw new Error(`onnxruntime returned no output "${name}"`)
    const dims = [...tensor.dims]
    if (tensor.type === 'string') {
      outputs.push({ name, type: 'string', dims, strings: tensor.data as string[] })
      continue
    }
    const data = tensor.data as ArrayBufferView
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    // Transfer when the tensor owns its whole buffer (onnxruntime-node allocates one per output); copy otherwise.
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength) bytes = bytes.slice()
    outputs.push({ name, type: tensor.type, dims, bytes })
    transfer.push(bytes.buffer as ArrayBuffer)
  }
  // The input buffer goes back for the next run of this model: reused, not left for this thread's garbage collector.
  transfer.push(request.buffer)
  hop('outputs')
  return { reply: { kind: 'result', id: request.id, outputs, buffer: request.buffer }, transfer }
}

/** The typed-array class onnxruntime-node expects for each tensor type (bool and float16 travel as raw integers). */
const TYPED_ARRAYS = {
  bool: Uint8Array,
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  float16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  uint64: BigUint64Array,
  int64: BigInt64Array,
  float64: Float64Array,
} as const

/** A typed array of onnxruntime's expected class over `length` bytes at `offset` (aligned by the sender). */
function typedView(type: string, buffer: ArrayBuffer, offset: number, length: number): Tensor['data'] {
  if (!Object.hasOwn(TYPED_ARRAYS, type)) throw new Error(`unsupported tensor type ${type}`)
  const TypedArray = TYPED_ARRAYS[type as keyof typeof TYPED_ARRAYS]
  return new TypedArray(buffer, offset, length / TypedArray.BYTES_PER_ELEMENT)
}

function rawMetadata(m: InferenceSession.ValueMetadata): RawValueMetadata {
  if (!m.isTensor) return { name: m.name, isTensor: false }
  return { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
