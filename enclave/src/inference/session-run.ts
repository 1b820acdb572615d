/**
 * One onnxruntime session's runs, on whichever thread holds it: the session worker (`session-worker.ts`) or, for a
 * model quick enough to run on the enclave's own thread, {@link InlineSession} (`inline-session.ts`). A run comes
 * prepared ({@link PreparedRun}: every numeric feed a byte range of one buffer) and its outputs go back as raw bytes.
 */
import ort from 'onnxruntime-node'
import type { InferenceSession, Tensor } from 'onnxruntime-node'
import { sessionOptions } from './session-options.js'
import type { PreparedRun, RawValueMetadata, WorkerOutput } from './worker-messages.types.js'

/** A session over `model`'s bytes with the enclave's options. */
export function createSession(model: Uint8Array, intraOpNumThreads?: number): Promise<InferenceSession> {
  return ort.InferenceSession.create(model, sessionOptions(intraOpNumThreads))
}

/** The session's inputs and outputs as onnxruntime describes them. */
export function sessionMetadata(session: InferenceSession): { inputs: RawValueMetadata[]; outputs: RawValueMetadata[] } {
  return { inputs: session.inputMetadata.map(rawMetadata), outputs: session.outputMetadata.map(rawMetadata) }
}

/** Marks of a run's steps (the worker traces them as its own hops; the enclave's thread does not). */
export interface RunMarks {
  fed(): void
  ran(): void
}

/**
 * Runs `request` on `session`: typed views over the request's buffer as feeds (onnxruntime reads the bytes where they
 * are), and each output's bytes, a view of the tensor onnxruntime allocated.
 */
export async function runPrepared(session: InferenceSession, request: PreparedRun, marks?: RunMarks): Promise<WorkerOutput[]> {
  const feeds: Record<string, Tensor> = {}
  for (const feed of request.feeds) {
    feeds[feed.name] = feed.type === 'string' ? new ort.Tensor('string', feed.strings, feed.dims) : new ort.Tensor(feed.type, typedView(feed.type, request.buffer, feed.offset, feed.length), feed.dims)
  }
  marks?.fed()
  const results = await session.run(feeds, request.fetches)
  marks?.ran()
  return request.fetches.map((name) => {
    const tensor = results[name]
    if (tensor === undefined) throw new Error(`onnxruntime returned no output "${name}"`)
    const dims = [...tensor.dims]
    if (tensor.type === 'string') return { name, type: 'string', dims, strings: tensor.data as string[] }
    const data = tensor.data as ArrayBufferView
    return { name, type: tensor.type, dims, bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) }
  })
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
