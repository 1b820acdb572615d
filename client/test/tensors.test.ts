/** OIP v2 JSON inference requests in, short summaries and OIP v2 JSON out. */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { oipJsonToTensor, toFloat16Bits, type TensorData } from '@vouch/protocol'
import { ClientError, loadInferenceRequest, parseInferenceRequest, summarizeTensor, toOipJsonOutput, toTypedArray, type ClientErrorCode } from '../src/index.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'vouch-tensors-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function throwsCode(f: () => unknown, code: ClientErrorCode): void {
  assert.throws(f, (e: unknown) => e instanceof ClientError && e.code === code)
}

const fp32 = (values: number[], shape = [values.length]): TensorData => ({ name: 'y', datatype: 'FP32', shape, data: new Uint8Array(new Float32Array(values).buffer) })

describe('parseInferenceRequest', () => {
  const x = { name: 'x', datatype: 'FP32', shape: [2], data: [1, 2] }
  test('inputs, outputs and parameters; the id is dropped (each send gets a fresh one)', () => {
    const r = parseInferenceRequest({ id: 'mine', inputs: [x], outputs: [{ name: 'y' }], parameters: { a: 1 } })
    assert.equal(r.inputs[0]?.data.length, 8)
    assert.deepEqual(r.outputs, ['y'])
    assert.deepEqual(r.parameters, { a: 1 })
  })
  const cases: Array<{ name: string; json: unknown }> = [
    { name: 'not an object', json: [x] },
    { name: 'no inputs', json: {} },
    { name: 'empty inputs', json: { inputs: [] } },
    { name: 'an unknown field', json: { inputs: [x], model: 'm' } },
    { name: 'too few elements', json: { inputs: [{ ...x, data: [1] }] } },
    { name: 'an unknown datatype', json: { inputs: [{ ...x, datatype: 'FP8' }] } },
    { name: 'an output with parameters', json: { inputs: [x], outputs: [{ name: 'y', parameters: { binary_data: true } }] } },
    { name: 'nested parameters', json: { inputs: [x], parameters: { a: { b: 1 } } } },
  ]
  for (const c of cases) test(`refuses ${c.name}`, () => throwsCode(() => parseInferenceRequest(c.json), 'ERR_CLIENT_REQUEST_INVALID'))
})

describe('loadInferenceRequest', () => {
  test('the shipped samples, plain and gzipped', () => {
    const cls = loadInferenceRequest(join(root, 'models/samples/ppocr-cls.json'))
    assert.deepEqual(cls.inputs[0]?.shape, [1, 3, 48, 192])
    const det = loadInferenceRequest(join(root, 'models/samples/ppocr-det.json.gz'))
    assert.deepEqual(det.inputs[0]?.shape, [1, 3, 640, 640])
    assert.equal(det.inputs[0]?.data.length, 3 * 640 * 640 * 4)
  })
  test('gzip is recognised by its bytes, whatever the name', () => {
    const path = join(dir, 'request.bin')
    writeFileSync(path, gzipSync(JSON.stringify({ inputs: [{ name: 'x', datatype: 'INT64', shape: [1], data: [7] }] })))
    assert.equal(loadInferenceRequest(path).inputs[0]?.datatype, 'INT64')
  })
  test('not JSON, a broken gzip, not a request', () => {
    writeFileSync(join(dir, 'a.json'), '{ nope')
    throwsCode(() => loadInferenceRequest(join(dir, 'a.json')), 'ERR_CLIENT_REQUEST_INVALID')
    writeFileSync(join(dir, 'b.json.gz'), Buffer.from([0x1f, 0x8b, 0, 1, 2]))
    throwsCode(() => loadInferenceRequest(join(dir, 'b.json.gz')), 'ERR_CLIENT_REQUEST_INVALID')
    writeFileSync(join(dir, 'c.json'), '{"outputs": []}')
    throwsCode(() => loadInferenceRequest(join(dir, 'c.json')), 'ERR_CLIENT_REQUEST_INVALID')
    assert.throws(() => loadInferenceRequest(join(dir, 'missing.json')), { code: 'ENOENT' })
  })
})

describe('summarizeTensor', () => {
  test('the first elements, min, max with its coordinates, and mean; never the whole tensor', () => {
    const values = Array.from({ length: 100 }, (_, i) => (i === 57 ? 9 : i / 100))
    const s = summarizeTensor(fp32(values, [10, 10]))
    assert.equal(s.count, 100)
    assert.equal(s.first.length, 8)
    assert.equal(s.max, 9)
    assert.deepEqual(s.argmax, [5, 7])
    assert.equal(s.min, 0)
  })
  test('NaN is counted, not compared', () => {
    const s = summarizeTensor(fp32([NaN, 1, 3, NaN]))
    assert.equal(s.nan, 2)
    assert.equal(s.max, 3)
    assert.deepEqual(s.argmax, [2])
  })
  test('other datatypes', () => {
    assert.deepEqual(summarizeTensor(oipJsonToTensor({ name: 'b', datatype: 'BOOL', shape: [2], data: [true, false] })).first, [true, false])
    assert.deepEqual(summarizeTensor(oipJsonToTensor({ name: 's', datatype: 'BYTES', shape: [2], data: ['a', 'b'] })).first, ['a', 'b'])
    assert.equal(summarizeTensor(oipJsonToTensor({ name: 'i', datatype: 'INT64', shape: [3], data: [-5, 2, 1] })).min, -5)
    const half = { name: 'h', datatype: 'FP16' as const, shape: [1], data: new Uint8Array(new Uint16Array([toFloat16Bits(1.5)]).buffer) }
    assert.equal(summarizeTensor(half).max, 1.5)
    assert.equal(summarizeTensor(fp32([], [0])).min, undefined)
  })
})

describe('toOipJsonOutput', () => {
  test('exact when JSON can hold every value', () => {
    const { tensor, lossy } = toOipJsonOutput(fp32([0.5, 2]))
    assert.equal(lossy, false)
    assert.deepEqual(tensor.data, [0.5, 2])
  })
  test('NaN and infinities become null, and it says so', () => {
    const { tensor, lossy } = toOipJsonOutput(fp32([NaN, Infinity, 1]))
    assert.equal(lossy, true)
    assert.deepEqual(tensor.data, [null, null, 1])
  })
})

describe('toTypedArray', () => {
  const bytesOf = (array: ArrayBufferView): Uint8Array => new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
  test('an FP32 output as a Float32Array of its values, sharing nothing with the tensor, from any byte offset', () => {
    const values = [0.25, -1.5, 3e38, Number.NaN]
    const unaligned = new Uint8Array(17)
    unaligned.set(bytesOf(new Float32Array(values)), 1)
    const t: TensorData = { name: 'y', datatype: 'FP32', shape: [2, 2], data: unaligned.subarray(1) }
    const out = toTypedArray(t)
    assert.ok(out instanceof Float32Array)
    assert.deepEqual(Array.from(out), Array.from(new Float32Array(values)))
    out[0] = 7
    assert.equal(new DataView(t.data.buffer, t.data.byteOffset).getFloat32(0, true), 0.25, 'the tensor is unchanged')
  })
  const cases: Array<{ datatype: TensorData['datatype']; values: ArrayBufferView; type: new (...args: never[]) => unknown }> = [
    { datatype: 'UINT8', values: Uint8Array.of(0, 255), type: Uint8Array },
    { datatype: 'INT8', values: Int8Array.of(-128, 127), type: Int8Array },
    { datatype: 'UINT16', values: Uint16Array.of(0, 65535), type: Uint16Array },
    { datatype: 'INT16', values: Int16Array.of(-32768, 32767), type: Int16Array },
    { datatype: 'UINT32', values: Uint32Array.of(0, 4294967295), type: Uint32Array },
    { datatype: 'INT32', values: Int32Array.of(-2147483648, 2147483647), type: Int32Array },
    { datatype: 'UINT64', values: BigUint64Array.of(0n, 2n ** 64n - 1n), type: BigUint64Array },
    { datatype: 'INT64', values: BigInt64Array.of(-(2n ** 63n), 2n ** 53n + 1n), type: BigInt64Array },
    { datatype: 'FP64', values: Float64Array.of(Math.PI, -0), type: Float64Array },
  ]
  for (const c of cases) {
    test(`${c.datatype}: its typed array, values exact`, () => {
      const out = toTypedArray({ name: 'y', datatype: c.datatype, shape: [2], data: bytesOf(c.values) })
      assert.ok(out instanceof c.type, out.constructor.name)
      assert.deepEqual(Array.from(out as ArrayLike<unknown>), Array.from(c.values as unknown as ArrayLike<unknown>))
    })
  }
  test('FP16 widened to a Float32Array; BOOL a Uint8Array of 0 and 1; BYTES the decoded strings', () => {
    const half = toTypedArray({ name: 'h', datatype: 'FP16', shape: [2], data: bytesOf(Uint16Array.of(toFloat16Bits(1.5), toFloat16Bits(-2))) })
    assert.ok(half instanceof Float32Array)
    assert.deepEqual(Array.from(half), [1.5, -2])
    assert.deepEqual(toTypedArray({ name: 'b', datatype: 'BOOL', shape: [3], data: Uint8Array.of(1, 0, 1) }), Uint8Array.of(1, 0, 1))
    const text = oipJsonToTensor({ name: 's', datatype: 'BYTES', shape: [2], data: ['né', ''] })
    assert.deepEqual(toTypedArray(text), ['né', ''])
  })
  test('a tensor whose data is not the size of its shape: ERR_PROTOCOL_MALFORMED', () => {
    assert.throws(() => toTypedArray(fp32([1, 2, 3], [2])), (e: unknown) => (e as { code?: string }).code === 'ERR_PROTOCOL_MALFORMED')
  })
})
