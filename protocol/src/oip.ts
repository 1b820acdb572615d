/**
 * Tensors of the KServe/Triton Open Inference Protocol v2 (OIP v2) as Vouch carries them: `name`,
 * `datatype`, `shape` and the raw little-endian, row-major bytes in `data` (Triton's binary tensor
 * extension, so a 4.9 MB FP32 input stays 4.9 MB and costs no number parsing). The OIP v2 JSON form
 * (`data` as a flat array of numbers, booleans or strings) is what people write in input files; the
 * converters here go between the two.
 *
 * `BYTES` tensors hold variable-length elements. As in Triton's binary extension, each element is a
 * 4-byte little-endian unsigned length followed by that many bytes, elements back to back with no
 * padding; the element count is the product of the shape. In the JSON form each element is a string
 * (its UTF-8 bytes).
 */
import { ProtocolError } from './errors.js'
import { at, count, Issues, isRecord, list, oneOf, record, text } from './issues.js'

/** The OIP v2 tensor datatypes Vouch carries (all of OIP v2 except `BF16`, which onnxruntime cannot feed). */
export const OIP_DATATYPES = [
  'BOOL',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP16',
  'FP32',
  'FP64',
  'BYTES',
] as const

/** An OIP v2 tensor datatype. */
export type OipDatatype = (typeof OIP_DATATYPES)[number]

/** Bytes per element of each datatype; `null` for `BYTES`, whose elements are length-prefixed. */
export const OIP_ELEMENT_SIZE: Readonly<Record<OipDatatype, number | null>> = {
  BOOL: 1,
  UINT8: 1,
  UINT16: 2,
  UINT32: 4,
  UINT64: 8,
  INT8: 1,
  INT16: 2,
  INT32: 4,
  INT64: 8,
  FP16: 2,
  FP32: 4,
  FP64: 8,
  BYTES: null,
}

/** The most dimensions a tensor may have. */
export const MAX_TENSOR_RANK = 32
/** Size of a `BYTES` element's length prefix. */
export const BYTES_LENGTH_PREFIX_SIZE = 4

/** OIP v2 tensor parameters: a flat map of strings, numbers and booleans. */
export type TensorParameters = Record<string, string | number | boolean>

/** One tensor of a request or response, with its data as raw little-endian bytes. */
export interface TensorData {
  name: string
  datatype: OipDatatype
  /** Dimensions, each a non-negative integer (no `-1`: that is for model metadata, not tensors). */
  shape: number[]
  /** Row-major little-endian elements; for `BYTES`, the length-prefixed elements (module comment). */
  data: Uint8Array
  parameters?: TensorParameters
}

/** A tensor in the OIP v2 JSON form: `data` flattened in row-major order. */
export interface OipJsonTensor {
  name: string
  datatype: OipDatatype
  shape: number[]
  data: (number | boolean | string)[]
  parameters?: TensorParameters
}

function malformed(message: string): ProtocolError {
  return new ProtocolError('ERR_PROTOCOL_MALFORMED', message)
}

/** Number of elements of a tensor of `shape` (1 for a scalar `[]`). Throws when not a safe integer. */
export function elementCount(shape: readonly number[]): number {
  let n = 1
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw malformed(`shape: ${JSON.stringify(shape)} has a dimension that is not a non-negative integer`)
    n *= d
  }
  if (!Number.isSafeInteger(n)) throw malformed(`shape: ${JSON.stringify(shape)} has too many elements`)
  return n
}

/** Bytes of `data` a tensor of `datatype` and `shape` must have; `null` for `BYTES` (variable). */
export function tensorByteLength(datatype: OipDatatype, shape: readonly number[]): number | null {
  const size = OIP_ELEMENT_SIZE[datatype]
  return size === null ? null : elementCount(shape) * size
}

/** `BYTES` tensor data from its elements (strings are written as UTF-8). */
export function encodeBytesElements(elements: readonly (string | Uint8Array)[]): Uint8Array {
  const encoder = new TextEncoder()
  const parts = elements.map((e) => (typeof e === 'string' ? encoder.encode(e) : e))
  const out = new Uint8Array(parts.reduce((n, p) => n + BYTES_LENGTH_PREFIX_SIZE + p.length, 0))
  const view = new DataView(out.buffer)
  let pos = 0
  for (const p of parts) {
    view.setUint32(pos, p.length, true)
    out.set(p, pos + BYTES_LENGTH_PREFIX_SIZE)
    pos += BYTES_LENGTH_PREFIX_SIZE + p.length
  }
  return out
}

/**
 * The elements of `BYTES` tensor data (views into `data`). With `expected`, the data must hold exactly
 * that many. Throws `ERR_PROTOCOL_MALFORMED` when a length overruns the data or bytes are left over.
 */
export function decodeBytesElements(data: Uint8Array, expected?: number): Uint8Array[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const elements: Uint8Array[] = []
  let pos = 0
  while (pos < data.length) {
    if (expected !== undefined && elements.length >= expected) throw malformed(`BYTES data holds more than ${expected} elements`)
    if (data.length - pos < BYTES_LENGTH_PREFIX_SIZE) throw malformed(`BYTES data: element ${elements.length} has a truncated length prefix`)
    const length = view.getUint32(pos, true)
    pos += BYTES_LENGTH_PREFIX_SIZE
    if (length > data.length - pos) throw malformed(`BYTES data: element ${elements.length} claims ${length} bytes, ${data.length - pos} remain`)
    elements.push(data.subarray(pos, pos + length))
    pos += length
  }
  if (expected !== undefined && elements.length !== expected) throw malformed(`BYTES data holds ${elements.length} elements, expected ${expected}`)
  return elements
}

/** Checks tensor parameters into `issues`. */
export function checkParameters(value: unknown, path: string, issues: Issues): TensorParameters | undefined {
  if (!isRecord(value)) {
    issues.add(path, 'must be a map')
    return undefined
  }
  const keys = Object.keys(value)
  if (keys.length > 64) issues.add(path, `must hold at most 64 entries, got ${keys.length}`)
  for (const key of keys) {
    const v = value[key]
    if (key.length === 0 || key.length > 256) issues.add(at(path, key), 'name must be 1 to 256 characters')
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) continue
    issues.add(at(path, key), 'must be a string, a finite number or a boolean')
  }
  return value as TensorParameters
}

/**
 * Checks `value` as a {@link TensorData} into `issues` (under `path`): the fields, and that `data` is as
 * long as `shape` and `datatype` require (for `BYTES`, that it splits into exactly that many elements).
 */
export function checkTensorData(value: unknown, path: string, issues: Issues): TensorData | undefined {
  const t = record(value, path, issues, ['name', 'datatype', 'shape', 'data'], ['parameters'])
  if (t === undefined) return undefined
  const before = issues.list.length
  const name = text(t['name'], at(path, 'name'), issues)
  const datatype = oneOf(t['datatype'], at(path, 'datatype'), issues, OIP_DATATYPES)
  const dims = list(t['shape'], at(path, 'shape'), issues, MAX_TENSOR_RANK)
  const shape = dims?.map((d, i) => count(d, at(at(path, 'shape'), i), issues))
  const data = t['data']
  if (!(data instanceof Uint8Array)) issues.add(at(path, 'data'), 'must be a byte string')
  if (t['parameters'] !== undefined) checkParameters(t['parameters'], at(path, 'parameters'), issues)
  if (issues.list.length > before || name === undefined || datatype === undefined || shape === undefined) return undefined
  if (!(data instanceof Uint8Array) || shape.some((d) => d === undefined)) return undefined
  const dimsOk = shape as number[]
  let n: number
  try {
    n = elementCount(dimsOk)
  } catch (e) {
    issues.add(at(path, 'shape'), (e as Error).message.replace(/^shape: /, ''))
    return undefined
  }
  const size = OIP_ELEMENT_SIZE[datatype]
  if (size !== null) {
    if (data.length !== n * size) {
      issues.add(at(path, 'data'), `must be ${n * size} bytes for ${datatype} ${JSON.stringify(dimsOk)}, got ${data.length}`)
      return undefined
    }
  } else {
    try {
      decodeBytesElements(data, n)
    } catch (e) {
      issues.add(at(path, 'data'), (e as Error).message)
      return undefined
    }
  }
  return t as unknown as TensorData
}

/** Asserts `value` is a well-formed {@link TensorData}; throws `ERR_PROTOCOL_MALFORMED` listing each bad field. */
export function assertTensorData(value: unknown): asserts value is TensorData {
  const issues = new Issues()
  checkTensorData(value, '', issues)
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'tensor')
}

// FP16 ↔ number, round half to even, without going through float32 (which would round twice).
function roundHalfEven(x: number): number {
  const f = Math.floor(x)
  const d = x - f
  if (d > 0.5) return f + 1
  if (d < 0.5) return f
  return f % 2 === 0 ? f : f + 1
}

/** The IEEE 754 binary16 bits nearest to `value` (ties to even; beyond ±65504 rounds to infinity). */
export function toFloat16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0
  const a = Math.abs(value)
  if (a >= 65520) return sign | 0x7c00
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24) // subnormal; 1024 carries into the smallest normal
  let e = Math.floor(Math.log2(a))
  if (2 ** e > a) e--
  if (2 ** (e + 1) <= a) e++
  const bits = ((e + 15) << 10) + roundHalfEven((a / 2 ** e - 1) * 1024) // a mantissa of 1024 carries into the exponent
  return sign | Math.min(bits, 0x7c00)
}

/** The number a binary16 value holds. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1
  const e = (bits >> 10) & 0x1f
  const m = bits & 0x3ff
  if (e === 0) return sign * m * 2 ** -24
  if (e === 31) return m === 0 ? sign * Infinity : NaN
  return sign * (1 + m / 1024) * 2 ** (e - 15)
}

const INTEGER_RANGE: Partial<Record<OipDatatype, readonly [number, number]>> = {
  UINT8: [0, 0xff],
  UINT16: [0, 0xffff],
  UINT32: [0, 0xffffffff],
  UINT64: [0, Number.MAX_SAFE_INTEGER],
  INT8: [-0x80, 0x7f],
  INT16: [-0x8000, 0x7fff],
  INT32: [-0x80000000, 0x7fffffff],
  INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
}

function flatten(data: unknown[], out: unknown[], depth: number): boolean {
  for (const item of data) {
    if (Array.isArray(item)) {
      if (depth >= MAX_TENSOR_RANK || !flatten(item, out, depth + 1)) return false
    } else {
      out.push(item)
    }
  }
  return true
}

/** Writes element `i` of `datatype` into `view`; returns an error message when the value does not fit. */
function writeElement(view: DataView, datatype: Exclude<OipDatatype, 'BYTES'>, i: number, v: unknown): string | undefined {
  if (datatype === 'BOOL') {
    if (typeof v !== 'boolean') return 'must be true or false'
    view.setUint8(i, v ? 1 : 0)
    return undefined
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) return 'must be a finite number'
  const range = INTEGER_RANGE[datatype]
  if (range !== undefined && (!Number.isInteger(v) || v < range[0] || v > range[1])) return `must be an integer in [${range[0]}, ${range[1]}]`
  switch (datatype) {
    case 'UINT8':
      view.setUint8(i, v)
      break
    case 'INT8':
      view.setInt8(i, v)
      break
    case 'UINT16':
      view.setUint16(i * 2, v, true)
      break
    case 'INT16':
      view.setInt16(i * 2, v, true)
      break
    case 'UINT32':
      view.setUint32(i * 4, v, true)
      break
    case 'INT32':
      view.setInt32(i * 4, v, true)
      break
    case 'UINT64':
      view.setBigUint64(i * 8, BigInt(v), true)
      break
    case 'INT64':
      view.setBigInt64(i * 8, BigInt(v), true)
      break
    case 'FP16':
      view.setUint16(i * 2, toFloat16Bits(v), true)
      break
    case 'FP32':
      if (!Number.isFinite(Math.fround(v))) return 'is outside the FP32 range'
      view.setFloat32(i * 4, v, true)
      break
    case 'FP64':
      view.setFloat64(i * 8, v, true)
      break
  }
  return undefined
}

/**
 * A {@link TensorData} from the OIP v2 JSON form `{ name, datatype, shape, data, parameters? }` (as in
 * the CLI's input files). `data` may be flat or nested; it must hold exactly the elements `shape` asks
 * for, each in range for `datatype` (booleans for BOOL, strings for BYTES). Throws
 * `ERR_PROTOCOL_MALFORMED` naming the field under `path`.
 */
export function oipJsonToTensor(json: unknown, path = ''): TensorData {
  const issues = new Issues()
  const t = record(json, path, issues, ['name', 'datatype', 'shape', 'data'], ['parameters'])
  if (t === undefined) issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'OIP tensor')
  const o = t as Record<string, unknown>
  const name = text(o['name'], at(path, 'name'), issues)
  const datatype = oneOf(o['datatype'], at(path, 'datatype'), issues, OIP_DATATYPES)
  const shape = list(o['shape'], at(path, 'shape'), issues, MAX_TENSOR_RANK)?.map((d, i) => count(d, at(at(path, 'shape'), i), issues))
  const raw = list(o['data'], at(path, 'data'), issues, Number.MAX_SAFE_INTEGER)
  const parameters = o['parameters'] === undefined ? undefined : checkParameters(o['parameters'], at(path, 'parameters'), issues)
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'OIP tensor')
  const dims = shape as number[]
  const n = elementCount(dims)
  const values: unknown[] = []
  if (!flatten(raw!, values, 1)) issues.add(at(path, 'data'), 'nests deeper than the rank limit')
  else if (values.length !== n) issues.add(at(path, 'data'), `must hold ${n} elements for shape ${JSON.stringify(dims)}, got ${values.length}`)
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'OIP tensor')
  const dt = datatype!
  let data: Uint8Array
  if (dt === 'BYTES') {
    const bad = values.findIndex((v) => typeof v !== 'string')
    if (bad >= 0) issues.add(at(at(path, 'data'), bad), 'must be a string')
    issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'OIP tensor')
    data = encodeBytesElements(values as string[])
  } else {
    data = new Uint8Array(n * OIP_ELEMENT_SIZE[dt]!)
    const view = new DataView(data.buffer)
    for (let i = 0; i < n; i++) {
      const problem = writeElement(view, dt, i, values[i])
      if (problem !== undefined) {
        // One element named is enough; a million bad ones would be a million lines.
        issues.add(at(at(path, 'data'), i), problem)
        break
      }
    }
    issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'OIP tensor')
  }
  const tensor: TensorData = { name: name!, datatype: dt, shape: dims, data }
  if (parameters !== undefined) tensor.parameters = parameters
  return tensor
}

/**
 * The OIP v2 JSON form of `tensor`, `data` flattened in row-major order. Throws `ERR_PROTOCOL_MALFORMED`
 * for a malformed tensor, and a RangeError for a value JSON cannot hold exactly: NaN or an infinity, a
 * 64-bit integer beyond ±(2^53 − 1), or a BYTES element that is not UTF-8.
 */
export function tensorToOipJson(tensor: TensorData): OipJsonTensor {
  assertTensorData(tensor)
  const { datatype, data } = tensor
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  const n = elementCount(tensor.shape)
  const out: (number | boolean | string)[] = new Array<number | boolean | string>(datatype === 'BYTES' ? 0 : n)
  const finite = (v: number, i: number): number => {
    if (!Number.isFinite(v)) throw new RangeError(`${tensor.name}: element ${i} is ${v}, which OIP JSON cannot hold`)
    return v
  }
  const safe = (v: bigint, i: number): number => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new RangeError(`${tensor.name}: element ${i} (${v}) is beyond ±(2^53 − 1), which OIP JSON cannot hold exactly`)
    }
    return Number(v)
  }
  switch (datatype) {
    case 'BYTES': {
      const utf8 = new TextDecoder('utf-8', { fatal: true })
      decodeBytesElements(data, n).forEach((e, i) => {
        try {
          out.push(utf8.decode(e))
        } catch {
          throw new RangeError(`${tensor.name}: BYTES element ${i} is not UTF-8, which OIP JSON cannot hold`)
        }
      })
      break
    }
    case 'BOOL':
      for (let i = 0; i < n; i++) out[i] = view.getUint8(i) !== 0
      break
    case 'UINT8':
      for (let i = 0; i < n; i++) out[i] = view.getUint8(i)
      break
    case 'INT8':
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i)
      break
    case 'UINT16':
      for (let i = 0; i < n; i++) out[i] = view.getUint16(i * 2, true)
      break
    case 'INT16':
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true)
      break
    case 'UINT32':
      for (let i = 0; i < n; i++) out[i] = view.getUint32(i * 4, true)
      break
    case 'INT32':
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true)
      break
    case 'UINT64':
      for (let i = 0; i < n; i++) out[i] = safe(view.getBigUint64(i * 8, true), i)
      break
    case 'INT64':
      for (let i = 0; i < n; i++) out[i] = safe(view.getBigInt64(i * 8, true), i)
      break
    case 'FP16':
      for (let i = 0; i < n; i++) out[i] = finite(fromFloat16Bits(view.getUint16(i * 2, true)), i)
      break
    case 'FP32':
      for (let i = 0; i < n; i++) out[i] = finite(view.getFloat32(i * 4, true), i)
      break
    case 'FP64':
      for (let i = 0; i < n; i++) out[i] = finite(view.getFloat64(i * 8, true), i)
      break
  }
  const json: OipJsonTensor = { name: tensor.name, datatype, shape: [...tensor.shape], data: out }
  if (tensor.parameters !== undefined) json.parameters = { ...tensor.parameters }
  return json
}

/** One tensor's wire form: the map a request and a response encode, and a receipt's outputs digest hashes (so they agree). */
export function tensorWire(t: TensorData): Record<string, unknown> {
  const w: Record<string, unknown> = { name: t.name, datatype: t.datatype, shape: [...t.shape], data: t.data }
  if (t.parameters !== undefined) w['parameters'] = { ...t.parameters }
  return w
}
