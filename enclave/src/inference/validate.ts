/**
 * Request tensors against a model's OIP v2 metadata, checked before anything reaches onnxruntime (DESIGN.md
 * §4: "a model or tensor that does not match the model's metadata" is rejected), and packed for the session
 * worker: every numeric input copied once into one buffer at aligned offsets, BYTES decoded to strings.
 */
import { OIP_ELEMENT_SIZE, decodeBytesElements, elementCount, type TensorData } from '@vouch/protocol'
import { InferenceError } from '../errors.js'
import { ORT_TENSOR_TYPE, type TensorMetadata } from './tensor.js'
import type { NumericFeed, PreparedRun, StringFeed } from './worker-messages.types.js'

/** The inputs and outputs a run may name: a model's OIP v2 metadata `inputs` and `outputs`. */
export interface TensorSignature {
  inputs: readonly TensorMetadata[]
  outputs: readonly TensorMetadata[]
}

// Offsets in the packed buffer are multiples of 8, the largest element size, so every typed view is aligned.
const ALIGN = 8
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Checks `inputs` (and the requested `outputs`) against `signature` and packs them for a run.
 *
 * Checks, in order, each with its code: every input name is one the model has (`ERR_INFERENCE_INPUT_UNKNOWN`)
 * and appears once (`ERR_INFERENCE_INPUT_DUPLICATE`); its datatype is the model's (`ERR_INFERENCE_DATATYPE`);
 * its shape has the model's rank, the model's size in every fixed dimension and positive integers elsewhere
 * (`ERR_INFERENCE_SHAPE`: an empty tensor is refused here, since most graphs fail on one inside onnxruntime); its data has exactly product(shape) × element size bytes, or for BYTES exactly that
 * many length-prefixed elements (`ERR_INFERENCE_SIZE`); BOOL bytes are 0 or 1 and BYTES elements are UTF-8
 * without NUL (`ERR_INFERENCE_DATA`); no model input is left out (`ERR_INFERENCE_INPUT_MISSING`); requested outputs exist
 * (`ERR_INFERENCE_OUTPUT_UNKNOWN`) and are named once (`ERR_INFERENCE_OUTPUT_DUPLICATE`).
 *
 * @param outputs - Output names to return, in that order; unset means every output, in the model's order.
 * @param allocate - Where the packed buffer comes from (at least the given size). Unset: a new ArrayBuffer.
 * @throws {@link InferenceError} at the first failed check.
 */
export function prepareRun(
  signature: TensorSignature,
  inputs: readonly TensorData[],
  outputs?: readonly string[],
  allocate: (byteLength: number) => ArrayBuffer = (n) => new ArrayBuffer(n),
): PreparedRun {
  const byName = new Map(signature.inputs.map((m) => [m.name, m]))
  const seen = new Set<string>()
  const strings = new Map<string, string[]>()
  let total = 0
  for (const input of inputs) {
    const meta = byName.get(input.name)
    if (meta === undefined) {
      throw new InferenceError(
        'ERR_INFERENCE_INPUT_UNKNOWN',
        `unknown input "${input.name}": expected one of ${names(signature.inputs)}`,
      )
    }
    if (seen.has(input.name)) {
      throw new InferenceError('ERR_INFERENCE_INPUT_DUPLICATE', `input "${input.name}" is given more than once`)
    }
    seen.add(input.name)
    const decoded = checkTensor(input, meta)
    if (decoded !== undefined) strings.set(input.name, decoded)
    else total = align(total) + input.data.byteLength
  }
  const missing = signature.inputs.filter((m) => !seen.has(m.name))
  if (missing.length > 0) {
    throw new InferenceError('ERR_INFERENCE_INPUT_MISSING', `missing input ${names(missing)}`)
  }
  const fetches = checkOutputs(signature, outputs)

  // One copy into a buffer that the worker receives by transfer: the caller keeps its bytes, and the
  // worker's views are aligned whatever the offsets of the request's own buffers.
  const buffer = allocate(total)
  const bytes = new Uint8Array(buffer)
  const feeds: (NumericFeed | StringFeed)[] = []
  let offset = 0
  for (const input of inputs) {
    const ort = ORT_TENSOR_TYPE[input.datatype]
    if (ort === 'string') {
      feeds.push({ name: input.name, type: ort, dims: [...input.shape], strings: strings.get(input.name) ?? [] })
      continue
    }
    offset = align(offset)
    bytes.set(input.data, offset)
    feeds.push({ name: input.name, type: ort, dims: [...input.shape], offset, length: input.data.byteLength })
    offset += input.data.byteLength
  }
  return { buffer, feeds, fetches }
}

/** Checks one input against its metadata; for BYTES, returns the decoded elements. */
function checkTensor(input: TensorData, meta: TensorMetadata): string[] | undefined {
  const where = `input "${input.name}"`
  if (input.datatype !== meta.datatype) {
    throw new InferenceError(
      'ERR_INFERENCE_DATATYPE',
      `${where}: datatype mismatch: expected ${meta.datatype}, got ${String(input.datatype)}`,
    )
  }
  const shape: unknown = input.shape
  const count = Array.isArray(shape) ? countOf(shape as number[]) : undefined
  if (
    count === undefined ||
    input.shape.length !== meta.shape.length ||
    meta.shape.some((dim, i) => dim !== -1 && dim !== input.shape[i])
  ) {
    throw new InferenceError(
      'ERR_INFERENCE_SHAPE',
      `${where}: shape mismatch: expected ${shapeText(meta.shape)}, ` +
        `got ${Array.isArray(shape) ? shapeText(shape) : typeof shape}`,
    )
  }
  const empty = input.shape.indexOf(0)
  if (empty >= 0) {
    // Convolutions, pooling and resizes fail inside onnxruntime on a zero-sized dimension: refuse it as the
    // caller's mistake it is, before the run, rather than as a runtime failure.
    throw new InferenceError('ERR_INFERENCE_SHAPE', `${where}: dimension ${empty} of ${shapeText(input.shape)} is 0: empty tensors are refused`)
  }
  const data: unknown = input.data
  if (!(data instanceof Uint8Array)) {
    throw new InferenceError('ERR_INFERENCE_DATA', `${where}: data must be raw bytes (a Uint8Array)`)
  }
  if (input.datatype === 'BYTES') {
    let elements: Uint8Array[]
    try {
      elements = decodeBytesElements(input.data, count)
    } catch (cause) {
      throw new InferenceError(
        'ERR_INFERENCE_SIZE',
        `${where}: BYTES data does not hold exactly ${count} length-prefixed elements (${input.data.byteLength} bytes)`,
        { cause },
      )
    }
    // onnxruntime-node carries string tensors as JavaScript strings and hands them to onnxruntime as C strings:
    // bytes that are not UTF-8 would be replaced and a NUL would cut the element short, silently.
    if (elements.some((e) => e.includes(0))) {
      throw new InferenceError('ERR_INFERENCE_DATA', `${where}: a BYTES element contains a NUL byte`)
    }
    try {
      return elements.map((e) => utf8.decode(e))
    } catch (cause) {
      throw new InferenceError('ERR_INFERENCE_DATA', `${where}: a BYTES element is not valid UTF-8`, { cause })
    }
  }
  const expected = count * (OIP_ELEMENT_SIZE[input.datatype] ?? 0)
  if (input.data.byteLength !== expected) {
    throw new InferenceError(
      'ERR_INFERENCE_SIZE',
      `${where}: size mismatch: expected ${expected} bytes for ${input.datatype} ${shapeText(input.shape)}, ` +
        `got ${input.data.byteLength}`,
    )
  }
  if (input.datatype === 'BOOL' && input.data.some((b) => b > 1)) {
    throw new InferenceError('ERR_INFERENCE_DATA', `${where}: BOOL elements must be 0 or 1`)
  }
  return undefined
}

function checkOutputs(signature: TensorSignature, outputs: readonly string[] | undefined): string[] {
  if (outputs === undefined) return signature.outputs.map((m) => m.name)
  const known = new Set(signature.outputs.map((m) => m.name))
  const seen = new Set<string>()
  for (const name of outputs) {
    if (!known.has(name)) {
      throw new InferenceError(
        'ERR_INFERENCE_OUTPUT_UNKNOWN',
        `unknown output "${name}": expected one of ${names(signature.outputs)}`,
      )
    }
    if (seen.has(name)) {
      throw new InferenceError('ERR_INFERENCE_OUTPUT_DUPLICATE', `output "${name}" is requested more than once`)
    }
    seen.add(name)
  }
  return [...outputs]
}

/** Number of elements of `shape`, or `undefined` if a dimension is not a non-negative integer. */
function countOf(shape: number[]): number | undefined {
  try {
    return elementCount(shape)
  } catch {
    return undefined
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN
}

function names(list: readonly { name: string }[]): string {
  return list.map((m) => `"${m.name}"`).join(', ')
}

function shapeText(shape: readonly unknown[]): string {
  return `[${shape.join(', ')}]`
}
