/** OIP v2 tensors: sizes, the BYTES layout, the JSON form both ways, FP16, and the rejections. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  assertTensorData,
  decodeBytesElements,
  elementCount,
  encodeBytesElements,
  fromFloat16Bits,
  OIP_DATATYPES,
  OIP_ELEMENT_SIZE,
  oipJsonToTensor,
  tensorByteLength,
  tensorToOipJson,
  toFloat16Bits,
  toHex,
  type OipDatatype,
  type ProtocolError,
  type TensorData,
} from '@vouch/protocol'

const malformed = (e: ProtocolError): boolean => e.code === 'ERR_PROTOCOL_MALFORMED'

describe('sizes', () => {
  test('element sizes follow OIP v2', () => {
    assert.deepEqual(OIP_ELEMENT_SIZE, { BOOL: 1, UINT8: 1, UINT16: 2, UINT32: 4, UINT64: 8, INT8: 1, INT16: 2, INT32: 4, INT64: 8, FP16: 2, FP32: 4, FP64: 8, BYTES: null })
    assert.equal(OIP_DATATYPES.length, 13)
  })
  test('byte lengths are shape × element size', () => {
    assert.equal(tensorByteLength('FP32', [1, 3, 48, 192]), 110_592)
    assert.equal(tensorByteLength('FP32', [1, 3, 640, 640]), 4_915_200)
    assert.equal(tensorByteLength('INT64', []), 8)
    assert.equal(tensorByteLength('BOOL', [0, 5]), 0)
    assert.equal(tensorByteLength('BYTES', [2]), null)
    assert.equal(elementCount([]), 1)
    assert.throws(() => elementCount([2 ** 30, 2 ** 30]), malformed)
    assert.throws(() => elementCount([-1]), malformed)
  })
})

describe('BYTES', () => {
  test('elements are a u32 little-endian length then the bytes, back to back', () => {
    const data = encodeBytesElements(['ab', new Uint8Array([0xff]), ''])
    assert.equal(toHex(data), '020000006162' + '01000000ff' + '00000000')
    assert.deepEqual(decodeBytesElements(data, 3), [new Uint8Array([0x61, 0x62]), new Uint8Array([0xff]), new Uint8Array(0)])
  })
  test('rejects a truncated prefix, an overrunning length, and the wrong count', () => {
    assert.throws(() => decodeBytesElements(new Uint8Array([1, 0])), malformed)
    assert.throws(() => decodeBytesElements(new Uint8Array([5, 0, 0, 0, 1])), malformed)
    assert.throws(() => decodeBytesElements(encodeBytesElements(['a', 'b']), 1), malformed)
    assert.throws(() => decodeBytesElements(encodeBytesElements(['a']), 2), malformed)
  })
})

describe('FP16', () => {
  const cases: [number, number][] = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00], // the tie above the largest finite rounds to infinity
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // tie to even
    [0.1, 0x2e66],
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10 goes to the even mantissa
    [1 + 3 * 2 ** -11, 0x3c02],
    [Infinity, 0x7c00],
  ]
  for (const [value, bits] of cases) {
    test(`${value} ↔ 0x${bits.toString(16).padStart(4, '0')}`, () => {
      assert.equal(toFloat16Bits(value), bits)
      if (bits !== 0x7c00 || value === Infinity) assert.equal(toFloat16Bits(fromFloat16Bits(bits)), bits)
    })
  }
  test('NaN', () => {
    assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))))
  })
})

describe('OIP JSON ↔ tensor', () => {
  const cases: { datatype: OipDatatype; data: (number | boolean | string)[]; hex: string }[] = [
    { datatype: 'BOOL', data: [true, false], hex: '0100' },
    { datatype: 'UINT8', data: [0, 255], hex: '00ff' },
    { datatype: 'UINT16', data: [1, 65535], hex: '0100ffff' },
    { datatype: 'UINT32', data: [1, 4294967295], hex: '01000000ffffffff' },
    { datatype: 'UINT64', data: [1, Number.MAX_SAFE_INTEGER], hex: '0100000000000000ffffffffffff1f00' },
    { datatype: 'INT8', data: [-128, 127], hex: '807f' },
    { datatype: 'INT16', data: [-1, 256], hex: 'ffff0001' },
    { datatype: 'INT32', data: [-2, 7], hex: 'feffffff07000000' },
    { datatype: 'INT64', data: [-1, Number.MIN_SAFE_INTEGER], hex: 'ffffffffffffffff010000000000e0ff' },
    { datatype: 'FP16', data: [1, -0.5], hex: '003c00b8' },
    { datatype: 'FP32', data: [1.5, -2], hex: '0000c03f000000c0' },
    { datatype: 'FP64', data: [0.1, 1e300], hex: '9a9999999999b93f9c7500883ce4377e' },
    { datatype: 'BYTES', data: ['hé', ''], hex: '03000000' + '68c3a9' + '00000000' },
  ]
  for (const c of cases) {
    test(`${c.datatype}: little-endian bytes and back`, () => {
      const t = oipJsonToTensor({ name: 'x', datatype: c.datatype, shape: [2], data: c.data })
      assert.equal(toHex(t.data), c.hex)
      assert.deepEqual(tensorToOipJson(t), { name: 'x', datatype: c.datatype, shape: [2], data: c.data })
    })
  }

  test('nested data is flattened row-major; parameters carry over', () => {
    const t = oipJsonToTensor({ name: 'm', datatype: 'INT32', shape: [2, 2], data: [[1, 2], [3, 4]], parameters: { binary_data: false } })
    assert.deepEqual(tensorToOipJson(t), { name: 'm', datatype: 'INT32', shape: [2, 2], data: [1, 2, 3, 4], parameters: { binary_data: false } })
  })

  const rejected: { name: string; json: unknown; issue: string }[] = [
    { name: 'a missing datatype', json: { name: 'x', shape: [1], data: [1] }, issue: 'inputs[0].datatype: is missing' },
    { name: 'an unknown datatype', json: { name: 'x', datatype: 'BF16', shape: [1], data: [1] }, issue: 'inputs[0].datatype: must be one of' },
    { name: 'a -1 dimension', json: { name: 'x', datatype: 'FP32', shape: [-1], data: [1] }, issue: 'inputs[0].shape[0]: must be a non-negative integer' },
    { name: 'too few elements', json: { name: 'x', datatype: 'FP32', shape: [3], data: [1, 2] }, issue: 'inputs[0].data: must hold 3 elements for shape [3], got 2' },
    { name: 'an out-of-range UINT8', json: { name: 'x', datatype: 'UINT8', shape: [2], data: [1, 256] }, issue: 'inputs[0].data[1]: must be an integer in [0, 255]' },
    { name: 'a fractional INT32', json: { name: 'x', datatype: 'INT32', shape: [1], data: [1.5] }, issue: 'inputs[0].data[0]: must be an integer' },
    { name: 'a number for BOOL', json: { name: 'x', datatype: 'BOOL', shape: [1], data: [1] }, issue: 'inputs[0].data[0]: must be true or false' },
    { name: 'a string for FP32', json: { name: 'x', datatype: 'FP32', shape: [1], data: ['1'] }, issue: 'inputs[0].data[0]: must be a finite number' },
    { name: 'an FP32 overflow', json: { name: 'x', datatype: 'FP32', shape: [1], data: [1e39] }, issue: 'inputs[0].data[0]: is outside the FP32 range' },
    { name: 'a number for BYTES', json: { name: 'x', datatype: 'BYTES', shape: [1], data: [1] }, issue: 'inputs[0].data[0]: must be a string' },
    { name: 'an unknown field', json: { name: 'x', datatype: 'FP32', shape: [1], data: [1], contents: {} }, issue: 'inputs[0].contents: is not a known field' },
    { name: 'an object parameter', json: { name: 'x', datatype: 'FP32', shape: [1], data: [1], parameters: { a: {} } }, issue: 'inputs[0].parameters.a: must be a string' },
  ]
  for (const c of rejected) {
    test(`rejects ${c.name}`, () => {
      assert.throws(() => oipJsonToTensor(c.json, 'inputs[0]'), (e: ProtocolError) => malformed(e) && e.issues.some((i) => i.startsWith(c.issue)))
    })
  }

  test('tensorToOipJson refuses values JSON cannot hold', () => {
    const nan: TensorData = { name: 'n', datatype: 'FP32', shape: [1], data: new Uint8Array(new Float32Array([NaN]).buffer) }
    assert.throws(() => tensorToOipJson(nan), RangeError)
    const wide: TensorData = { name: 'w', datatype: 'INT64', shape: [1], data: new Uint8Array(new BigInt64Array([2n ** 60n]).buffer) }
    assert.throws(() => tensorToOipJson(wide), RangeError)
    const binary: TensorData = { name: 'b', datatype: 'BYTES', shape: [1], data: encodeBytesElements([new Uint8Array([0xff])]) }
    assert.throws(() => tensorToOipJson(binary), RangeError)
  })
})

describe('assertTensorData', () => {
  const ok: TensorData = { name: 'x', datatype: 'FP32', shape: [2, 2], data: new Uint8Array(16) }
  test('accepts a well-formed tensor, including zero elements', () => {
    assert.doesNotThrow(() => assertTensorData(ok))
    assert.doesNotThrow(() => assertTensorData({ name: 'e', datatype: 'FP32', shape: [0, 3], data: new Uint8Array(0) }))
  })
  const bad: { name: string; value: unknown; issue: string }[] = [
    { name: 'data of the wrong length', value: { ...ok, data: new Uint8Array(15) }, issue: 'data: must be 16 bytes for FP32 [2,2], got 15' },
    { name: 'BYTES data with too few elements', value: { name: 's', datatype: 'BYTES', shape: [2], data: encodeBytesElements(['a']) }, issue: 'data: BYTES data holds 1 elements, expected 2' },
    { name: 'a shape of more than 32 dimensions', value: { ...ok, shape: new Array<number>(33).fill(1) }, issue: 'shape: must hold at most 32 items' },
    { name: 'data as an array', value: { ...ok, data: [0, 0] }, issue: 'data: must be a byte string' },
    { name: 'an empty name', value: { ...ok, name: '' }, issue: 'name: must be a non-empty string' },
  ]
  for (const c of bad) {
    test(`rejects ${c.name}`, () => assert.throws(() => assertTensorData(c.value), (e: ProtocolError) => malformed(e) && e.issues.some((i) => i.startsWith(c.issue))))
  }
})
