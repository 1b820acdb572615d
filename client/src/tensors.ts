/**
 * Tensors at the client's edges: OIP v2 JSON in (an inference request as people write it), raw tensors
 * to the enclave, and back out as OIP v2 JSON or as a short summary a person can read (never megabytes).
 */
import {
  assertTensorData,
  OIP_ELEMENT_SIZE,
  decodeBytesElements,
  elementCount,
  fromFloat16Bits,
  isRecord,
  oipJsonToTensor,
  ProtocolError,
  tensorToOipJson,
  type OipJsonTensor,
  type RequestParameters,
  type TensorData,
} from '@vouch/protocol'
import { ClientError } from './errors.js'

/** An input tensor: raw bytes ({@link TensorData}) or the OIP v2 JSON form. */
export type InferInput = TensorData | OipJsonTensor

/** The parts of an OIP v2 JSON inference request the client sends (its `id` is replaced by a fresh one). */
export interface InferenceRequest {
  inputs: TensorData[]
  outputs?: string[]
  parameters?: RequestParameters
}

function invalid(message: string, cause?: unknown): ClientError {
  const issues = cause instanceof ProtocolError && cause.issues.length > 0 ? `: ${cause.issues.join('; ')}` : cause instanceof Error ? `: ${cause.message}` : ''
  return new ClientError('ERR_CLIENT_REQUEST_INVALID', `${message}${issues}`, cause === undefined ? {} : { cause })
}

/** A {@link TensorData} from either form. Throws `ERR_CLIENT_REQUEST_INVALID` naming the bad field under `path`. */
export function toTensorData(input: InferInput, path = 'inputs'): TensorData {
  try {
    if (isRecord(input) && input['data'] instanceof Uint8Array) {
      assertTensorData(input)
      return input
    }
    return oipJsonToTensor(input, path)
  } catch (error) {
    if (error instanceof ProtocolError) throw invalid(`${path} is not a valid tensor`, error)
    throw error
  }
}

/**
 * Reads an OIP v2 JSON inference request, `{ id?, parameters?, inputs: [{ name, shape, datatype, data,
 * parameters? }], outputs?: [{ name }] }`, into what the client seals. Throws `ERR_CLIENT_REQUEST_INVALID`
 * naming each problem.
 */
export function parseInferenceRequest(json: unknown): InferenceRequest {
  if (!isRecord(json)) throw invalid('an OIP v2 inference request must be a JSON object { "inputs": [...] }')
  const unknown = Object.keys(json).filter((k) => !['id', 'inputs', 'outputs', 'parameters'].includes(k))
  if (unknown.length > 0) throw invalid(`unknown field(s) of an OIP v2 inference request: ${unknown.join(', ')}`)
  const inputs = json['inputs']
  if (!Array.isArray(inputs) || inputs.length === 0) throw invalid('inputs must be a non-empty array of tensors')
  const request: InferenceRequest = { inputs: inputs.map((t, i) => toTensorData(t as InferInput, `inputs[${i}]`)) }
  const outputs = json['outputs']
  if (outputs !== undefined) {
    if (!Array.isArray(outputs)) throw invalid('outputs must be an array of { "name": ... }')
    request.outputs = outputs.map((o, i) => {
      // Output parameters (binary_data, classification) ask the server to shape its answer; the enclave
      // answers raw tensors only, so they are refused rather than silently ignored.
      if (!isRecord(o) || typeof o['name'] !== 'string' || Object.keys(o).some((k) => k !== 'name')) {
        throw invalid(`outputs[${i}] must be { "name": "<output>" } (output parameters are not supported)`)
      }
      return o['name']
    })
  }
  const parameters = json['parameters']
  if (parameters !== undefined) {
    if (!isRecord(parameters) || Object.values(parameters).some((v) => !['string', 'number', 'boolean'].includes(typeof v))) {
      throw invalid('parameters must be a flat object of strings, numbers and booleans')
    }
    request.parameters = parameters as RequestParameters
  }
  return request
}

/** Element `i` of a tensor as a JavaScript value (64-bit integers as the nearest number). */
function elementReader(t: TensorData): (i: number) => number | boolean | string {
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength)
  switch (t.datatype) {
    case 'BOOL':
      return (i) => view.getUint8(i) !== 0
    case 'UINT8':
      return (i) => view.getUint8(i)
    case 'INT8':
      return (i) => view.getInt8(i)
    case 'UINT16':
      return (i) => view.getUint16(i * 2, true)
    case 'INT16':
      return (i) => view.getInt16(i * 2, true)
    case 'UINT32':
      return (i) => view.getUint32(i * 4, true)
    case 'INT32':
      return (i) => view.getInt32(i * 4, true)
    case 'UINT64':
      return (i) => Number(view.getBigUint64(i * 8, true))
    case 'INT64':
      return (i) => Number(view.getBigInt64(i * 8, true))
    case 'FP16':
      return (i) => fromFloat16Bits(view.getUint16(i * 2, true))
    case 'FP32':
      return (i) => view.getFloat32(i * 4, true)
    case 'FP64':
      return (i) => view.getFloat64(i * 8, true)
    case 'BYTES': {
      const utf8 = new TextDecoder('utf-8')
      const elements = decodeBytesElements(t.data, elementCount(t.shape)).map((e) => utf8.decode(e))
      return (i) => elements[i]!
    }
  }
}

/** The values of a tensor as {@link toTypedArray} gives them, by datatype. */
export type TensorValues =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[]

type NumericDatatype = Exclude<TensorData['datatype'], 'BYTES' | 'FP16' | 'BOOL'>

const TYPED_ARRAYS: Record<NumericDatatype, new (buffer: ArrayBuffer) => Exclude<TensorValues, string[]>> = {
  UINT8: Uint8Array,
  UINT16: Uint16Array,
  UINT32: Uint32Array,
  UINT64: BigUint64Array,
  INT8: Int8Array,
  INT16: Int16Array,
  INT32: Int32Array,
  INT64: BigInt64Array,
  FP32: Float32Array,
  FP64: Float64Array,
}

/** Typed arrays use the machine's byte order; tensor bytes are little-endian. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1

/**
 * The values of `t` as numbers: an output's raw little-endian bytes as the typed array of its datatype, a copy
 * that shares nothing with `t` (`FP32` → `Float32Array`, `INT64` → `BigInt64Array`, exactly). `FP16` is widened to
 * a `Float32Array`, `BOOL` is a `Uint8Array` of 0 and 1, and `BYTES` is a `string[]` (each element decoded as UTF-8).
 * `Array.from(toTypedArray(t))` gives a plain `number[]`.
 *
 * @throws `ProtocolError` `ERR_PROTOCOL_MALFORMED` when `t` is not a well-formed tensor (data of another size than
 * its shape and datatype give).
 */
export function toTypedArray(t: TensorData): TensorValues {
  assertTensorData(t)
  if (t.datatype === 'BYTES') {
    const at = elementReader(t)
    return Array.from({ length: elementCount(t.shape) }, (_, i) => at(i) as string)
  }
  if (t.datatype === 'FP16') {
    const at = elementReader(t)
    return Float32Array.from({ length: elementCount(t.shape) }, (_, i) => at(i) as number)
  }
  const bytes = t.data.slice()
  if (!LITTLE_ENDIAN) {
    const size = OIP_ELEMENT_SIZE[t.datatype]!
    for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse()
  }
  return t.datatype === 'BOOL' ? bytes : new TYPED_ARRAYS[t.datatype](bytes.buffer)
}

/** What a person needs to see of a tensor. */
export interface TensorSummary {
  name: string
  datatype: TensorData['datatype']
  shape: number[]
  /** Number of elements. */
  count: number
  /** The first elements, at most the preview length. */
  first: Array<number | boolean | string>
  /** Numeric tensors with at least one number that is not NaN: the smallest, the largest and where it is. */
  min?: number
  max?: number
  /** Coordinates of the (first) largest element. */
  argmax?: number[]
  mean?: number
  /** Elements that are NaN (numeric tensors). */
  nan?: number
}

/** Coordinates of flat index `i` in row-major `shape`. */
function unravel(i: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length)
  for (let d = shape.length - 1; d >= 0; d--) {
    const size = shape[d]!
    out[d] = size === 0 ? 0 : i % size
    i = size === 0 ? 0 : Math.floor(i / size)
  }
  return out
}

/** A summary of `t`: its first `previewLength` elements and, for numbers, min, max, argmax and mean. */
export function summarizeTensor(t: TensorData, previewLength = 8): TensorSummary {
  const count = elementCount(t.shape)
  const at = elementReader(t)
  const first: Array<number | boolean | string> = []
  for (let i = 0; i < Math.min(count, previewLength); i++) first.push(at(i))
  const summary: TensorSummary = { name: t.name, datatype: t.datatype, shape: [...t.shape], count, first }
  if (t.datatype === 'BYTES' || t.datatype === 'BOOL' || count === 0) return summary
  let min = Infinity
  let max = -Infinity
  let argmax = -1
  let sum = 0
  let nan = 0
  for (let i = 0; i < count; i++) {
    const v = at(i) as number
    if (Number.isNaN(v)) {
      nan++
      continue
    }
    if (v < min) min = v
    if (v > max || argmax < 0) {
      max = v
      argmax = i
    }
    sum += v
  }
  if (argmax >= 0) Object.assign(summary, { min, max, argmax: unravel(argmax, t.shape), mean: sum / (count - nan) })
  if (nan > 0) summary.nan = nan
  return summary
}

/**
 * The OIP v2 JSON form of an output. Where JSON cannot hold a value exactly (NaN, an infinity, a 64-bit
 * integer beyond 2^53, bytes that are not UTF-8), that element becomes `null` and `lossy` says so.
 */
export function toOipJsonOutput(t: TensorData): { tensor: OipJsonTensor; lossy: boolean } {
  try {
    return { tensor: tensorToOipJson(t), lossy: false }
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
  }
  const at = elementReader(t)
  const data: Array<number | boolean | string> = []
  for (let i = 0; i < elementCount(t.shape); i++) {
    const v = at(i)
    data.push(typeof v === 'number' && (!Number.isFinite(v) || (Number.isInteger(v) && !Number.isSafeInteger(v))) ? (null as unknown as number) : v)
  }
  const tensor: OipJsonTensor = { name: t.name, datatype: t.datatype, shape: [...t.shape], data }
  if (t.parameters !== undefined) tensor.parameters = { ...t.parameters }
  return { tensor, lossy: true }
}
