import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import ort from 'onnxruntime-node'
import { InferenceError, runModel, type LoadedModel } from '@vouch/enclave'
import { OIP_DATATYPES, OIP_ELEMENT_SIZE, encodeBytesElements, type OipDatatype, type TensorData } from '@vouch/protocol'
import { buildOnnxModel, identityModel } from './helpers/onnx.js'
import { CLS_FILE, DET_FILE, MODELS_DIR, loadAll, readSample, tempDir, writeModel } from './helpers/models.js'

const f32 = (values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer)
const bytesOf = (strings: string[]): Uint8Array => encodeBytesElements(strings)

/** Asserts that `promise` rejects with an InferenceError of `code`. */
async function rejectsWith(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof InferenceError, String(e))
    assert.equal(e.code, code, e.message)
    if (pattern) assert.match(e.message, pattern)
    return true
  })
}

/** Loads the models whose (name, onnx) pairs are given, from a temp folder. */
async function loadTiny(models: Record<string, Uint8Array>): Promise<Map<string, LoadedModel>> {
  const { dir, cleanup } = tempDir()
  try {
    for (const [name, onnx] of Object.entries(models)) writeModel(dir, name, onnx)
    return new Map((await loadAll(dir)).map((m) => [m.name, m]))
  } finally {
    cleanup()
  }
}

describe('runModel: the shipped models', () => {
  let cls: LoadedModel
  let det: LoadedModel
  before(async () => {
    const models = await loadAll(MODELS_DIR)
    cls = models.find((m) => m.name === 'ppocr-cls')!
    det = models.find((m) => m.name === 'ppocr-det')!
  })
  after(async () => {
    await Promise.all([cls.close(), det.close()])
  })

  for (const [name, file] of [
    ['ppocr-cls', CLS_FILE],
    ['ppocr-det', DET_FILE],
  ] as const) {
    test(`${name}: the sample's outputs equal a direct InferenceSession.run, bit for bit`, async () => {
      const model = name === 'ppocr-cls' ? cls : det
      const inputs = readSample(name)
      const outputs = await runModel(model, inputs)

      const session = await ort.InferenceSession.create(readFileSync(file))
      const feeds: Record<string, ort.Tensor> = {}
      for (const i of inputs) feeds[i.name] = new ort.Tensor('float32', new Float32Array(i.data.slice().buffer), i.shape)
      const direct = await session.run(feeds)
      await session.release()

      assert.deepEqual(
        outputs.map((o) => o.name),
        model.metadata.outputs.map((o) => o.name),
      )
      for (const o of outputs) {
        const d = direct[o.name]!
        assert.equal(o.datatype, 'FP32')
        assert.deepEqual(o.shape, [...d.dims])
        const want = d.data as Float32Array
        assert.ok(Buffer.from(o.data).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength)), 'bytes differ')
      }
      if (name === 'ppocr-cls') {
        // The sample is an upright line: the classifier says 0 degrees.
        const [p0, p180] = new Float32Array(outputs[0]!.data.slice().buffer)
        assert.ok(p0! > p180!, `p(0) = ${p0}, p(180) = ${p180}`)
      } else {
        // The sample's text lines light up the probability map.
        assert.deepEqual(outputs[0]!.shape, [1, 1, 640, 640])
        const map = new Float32Array(outputs[0]!.data.slice().buffer)
        const text = map.filter((p) => p > 0.3).length / map.length
        assert.ok(text > 0.05 && text < 0.5, `text fraction ${text}`)
      }
    })
  }

  test('the caller keeps its input bytes (they are copied for the worker, not taken)', async () => {
    const [input] = readSample('ppocr-cls')
    const before = input!.data.slice()
    await runModel(cls, [input!])
    assert.equal(input!.data.byteLength, before.byteLength)
    assert.ok(Buffer.from(input!.data).equals(before))
  })

  test('input bytes at an unaligned offset run the same', async () => {
    const [input] = readSample('ppocr-cls')
    const shifted = new Uint8Array(input!.data.byteLength + 1)
    shifted.set(input!.data, 1)
    const a = await runModel(cls, [input!])
    const b = await runModel(cls, [{ ...input!, data: shifted.subarray(1) }])
    assert.ok(Buffer.from(a[0]!.data).equals(b[0]!.data))
  })

  test('a shape the graph cannot take is ERR_INFERENCE_RUNTIME (the detector wants multiples of 32)', async () => {
    const data = new Uint8Array(3 * 100 * 100 * 4)
    await rejectsWith(runModel(det, [{ name: 'x', datatype: 'FP32', shape: [1, 3, 100, 100], data }]), 'ERR_INFERENCE_RUNTIME')
    // The worker survives a refused run.
    assert.equal((await runModel(cls, readSample('ppocr-cls'))).length, 1)
  })

  test('runs do not block the event loop: a 1 ms timer keeps firing through concurrent detector runs', async () => {
    // A large page, so one run lasts far longer than the scheduling pauses two busy cores cause anyway.
    const side = 960
    const input: TensorData = { name: 'x', datatype: 'FP32', shape: [1, 3, side, side], data: new Uint8Array(3 * side * side * 4) }
    const t0 = performance.now()
    await runModel(det, [input])
    const single = performance.now() - t0

    const n = 3
    let ticks = 0
    let maxGap = 0
    let last = performance.now()
    const timer = setInterval(() => {
      const now = performance.now()
      maxGap = Math.max(maxGap, now - last)
      last = now
      ticks++
    }, 1)
    const start = performance.now()
    const results = await Promise.all(Array.from({ length: n }, () => runModel(det, [input])))
    const elapsed = performance.now() - start
    clearInterval(timer)

    assert.equal(results.length, n)
    for (const r of results.slice(1)) assert.ok(Buffer.from(r[0]!.data).equals(results[0]![0]!.data))
    // Blocking runs would stall the timer for at least one whole run; here it never waits half as long.
    assert.ok(maxGap < single / 2, `longest timer gap ${maxGap.toFixed(1)} ms, one run ${single.toFixed(1)} ms`)
    assert.ok(ticks > elapsed / 10, `${ticks} ticks in ${elapsed.toFixed(0)} ms`)
  })
})

describe('runModel: validation before onnxruntime', () => {
  let models: Map<string, LoadedModel>
  before(async () => {
    // Three inputs of different kinds: a fixed and a dynamic dimension, a BOOL, a BYTES tensor.
    const multi = buildOnnxModel({
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2, 'n'] },
        { name: 'flag', datatype: 'BOOL', shape: [1] },
        { name: 'text', datatype: 'BYTES', shape: ['k'] },
      ],
      outputs: [
        { name: 'a_out', datatype: 'FP32', shape: [2, 'n'] },
        { name: 'flag_out', datatype: 'BOOL', shape: [1] },
        { name: 'text_out', datatype: 'BYTES', shape: ['k'] },
      ],
      nodes: [
        { op: 'Identity', inputs: ['a'], outputs: ['a_out'] },
        { op: 'Identity', inputs: ['flag'], outputs: ['flag_out'] },
        { op: 'Identity', inputs: ['text'], outputs: ['text_out'] },
      ],
    })
    models = await loadTiny({ multi })
  })
  after(async () => {
    await Promise.all([...models.values()].map((m) => m.close()))
  })

  const a: TensorData = { name: 'a', datatype: 'FP32', shape: [2, 3], data: f32([1, 2, 3, 4, 5, 6]) }
  const flag: TensorData = { name: 'flag', datatype: 'BOOL', shape: [1], data: new Uint8Array([1]) }
  const text: TensorData = { name: 'text', datatype: 'BYTES', shape: [2], data: bytesOf(['héllo', '']) }

  test('valid inputs run, in any order; outputs come back in the model order or the order asked', async () => {
    const multi = models.get('multi')!
    const out = await runModel(multi, [text, flag, a])
    assert.deepEqual(
      out.map((o) => [o.name, o.datatype, o.shape]),
      [
        ['a_out', 'FP32', [2, 3]],
        ['flag_out', 'BOOL', [1]],
        ['text_out', 'BYTES', [2]],
      ],
    )
    assert.deepEqual(out[0]!.data, a.data)
    assert.deepEqual(out[1]!.data, flag.data)
    assert.deepEqual(out[2]!.data, text.data)
    const some = await runModel(multi, [a, flag, text], ['text_out', 'a_out'])
    assert.deepEqual(
      some.map((o) => o.name),
      ['text_out', 'a_out'],
    )
  })

  const cases: { name: string; inputs: TensorData[]; outputs?: string[]; code: string; pattern?: RegExp }[] = [
    {
      name: 'unknown input name',
      inputs: [a, flag, text, { ...a, name: 'b' }],
      code: 'ERR_INFERENCE_INPUT_UNKNOWN',
      pattern: /unknown input "b": expected one of "a", "flag", "text"/,
    },
    { name: 'input given twice', inputs: [a, flag, text, a], code: 'ERR_INFERENCE_INPUT_DUPLICATE', pattern: /"a"/ },
    { name: 'input missing', inputs: [a, text], code: 'ERR_INFERENCE_INPUT_MISSING', pattern: /missing input "flag"/ },
    { name: 'no inputs at all', inputs: [], code: 'ERR_INFERENCE_INPUT_MISSING', pattern: /"a", "flag", "text"/ },
    {
      name: 'wrong datatype',
      inputs: [{ ...a, datatype: 'FP64', data: new Uint8Array(48) }, flag, text],
      code: 'ERR_INFERENCE_DATATYPE',
      pattern: /input "a": datatype mismatch: expected FP32, got FP64/,
    },
    {
      name: 'datatype OIP v2 has but Vouch cannot run (BF16)',
      inputs: [{ ...a, datatype: 'BF16' as OipDatatype }, flag, text],
      code: 'ERR_INFERENCE_DATATYPE',
    },
    {
      name: 'wrong rank',
      inputs: [{ ...a, shape: [6] }, flag, text],
      code: 'ERR_INFERENCE_SHAPE',
      pattern: /input "a": shape mismatch: expected \[2, -1\], got \[6\]/,
    },
    { name: 'wrong fixed dimension', inputs: [{ ...a, shape: [3, 2] }, flag, text], code: 'ERR_INFERENCE_SHAPE' },
    { name: 'negative dimension', inputs: [{ ...a, shape: [2, -3] }, flag, text], code: 'ERR_INFERENCE_SHAPE' },
    { name: 'fractional dimension', inputs: [{ ...a, shape: [2, 1.5] }, flag, text], code: 'ERR_INFERENCE_SHAPE' },
    {
      name: 'zero-sized dimension',
      inputs: [{ ...a, shape: [2, 0], data: new Uint8Array(0) }, flag, text],
      code: 'ERR_INFERENCE_SHAPE',
      pattern: /input "a": dimension 1 of \[2, 0\] is 0: empty tensors are refused/,
    },
    {
      name: 'too few bytes',
      inputs: [{ ...a, data: a.data.subarray(4) }, flag, text],
      code: 'ERR_INFERENCE_SIZE',
      pattern: /expected 24 bytes for FP32 \[2, 3\], got 20/,
    },
    { name: 'too many bytes', inputs: [{ ...a, shape: [2, 2] }, flag, text], code: 'ERR_INFERENCE_SIZE' },
    {
      name: 'BYTES with fewer elements than the shape',
      inputs: [a, flag, { ...text, shape: [3] }],
      code: 'ERR_INFERENCE_SIZE',
      pattern: /exactly 3 length-prefixed elements/,
    },
    {
      name: 'BYTES with trailing bytes',
      inputs: [a, flag, { ...text, data: new Uint8Array([...text.data, 0]) }],
      code: 'ERR_INFERENCE_SIZE',
    },
    {
      name: 'BYTES with a length prefix past the end',
      inputs: [a, flag, { ...text, shape: [1], data: new Uint8Array([9, 0, 0, 0, 1]) }],
      code: 'ERR_INFERENCE_SIZE',
    },
    {
      name: 'BYTES element that is not UTF-8',
      inputs: [a, flag, { ...text, shape: [1], data: encodeBytesElements([new Uint8Array([0xff, 0xfe])]) }],
      code: 'ERR_INFERENCE_DATA',
    },
    {
      name: 'BYTES element with a NUL (onnxruntime-node would cut it there)',
      inputs: [a, flag, { ...text, shape: [1], data: bytesOf(['a\u0000b']) }],
      code: 'ERR_INFERENCE_DATA',
      pattern: /NUL/,
    },
    { name: 'BOOL byte other than 0 or 1', inputs: [a, { ...flag, data: new Uint8Array([2]) }, text], code: 'ERR_INFERENCE_DATA' },
    {
      name: 'data that is not bytes',
      inputs: [{ ...a, data: [1, 2, 3, 4, 5, 6] as unknown as Uint8Array }, flag, text],
      code: 'ERR_INFERENCE_DATA',
    },
    {
      name: 'unknown output',
      inputs: [a, flag, text],
      outputs: ['nope'],
      code: 'ERR_INFERENCE_OUTPUT_UNKNOWN',
      pattern: /expected one of "a_out", "flag_out", "text_out"/,
    },
    { name: 'output asked twice', inputs: [a, flag, text], outputs: ['a_out', 'a_out'], code: 'ERR_INFERENCE_OUTPUT_DUPLICATE' },
  ]
  for (const c of cases) {
    test(`rejects: ${c.name} (${c.code})`, async () => {
      await rejectsWith(runModel(models.get('multi')!, c.inputs, c.outputs), c.code, c.pattern)
    })
  }

  test('after close, runs fail with ERR_INFERENCE_MODEL_CLOSED', async () => {
    const tiny = await loadTiny({ tiny: identityModel('FP32', [1]) })
    const model = tiny.get('tiny')!
    const input: TensorData = { name: 'x', datatype: 'FP32', shape: [1], data: f32([1]) }
    assert.deepEqual((await runModel(model, [input]))[0]!.data, input.data)
    await model.close()
    await rejectsWith(runModel(model, [input]), 'ERR_INFERENCE_MODEL_CLOSED')
  })
})

describe('runModel: every OIP v2 datatype round-trips through onnxruntime', () => {
  let models: Map<string, LoadedModel>
  before(async () => {
    const onnx: Record<string, Uint8Array> = {}
    for (const d of OIP_DATATYPES) onnx[`id-${d.toLowerCase()}`] = identityModel(d, ['a', 3])
    // Cast shows the bytes are read as the datatype says, not just passed through.
    onnx['cast'] = buildOnnxModel({
      inputs: [{ name: 'x', datatype: 'INT32', shape: [4] }],
      outputs: [{ name: 'y', datatype: 'FP64', shape: [4] }],
      nodes: [{ op: 'Cast', inputs: ['x'], outputs: ['y'], attributes: { to: 11 } }],
    })
    models = await loadTiny(onnx)
  })
  after(async () => {
    await Promise.all([...models.values()].map((m) => m.close()))
  })

  for (const datatype of OIP_DATATYPES) {
    test(`${datatype}: metadata, and bytes out equal bytes in`, async () => {
      const model = models.get(`id-${datatype.toLowerCase()}`)!
      assert.deepEqual(model.metadata.inputs, [{ name: 'x', datatype, shape: [-1, 3] }])
      assert.deepEqual(model.metadata.outputs, [{ name: 'y', datatype, shape: [-1, 3] }])
      let data: Uint8Array
      if (datatype === 'BYTES') data = bytesOf(['', 'a', 'ünïcödé ✓', 'x'.repeat(1000), 'tab\tnew\nline', '🙂'])
      else if (datatype === 'BOOL') data = new Uint8Array([0, 1, 1, 0, 1, 0])
      // Raw random bytes: for the float types these include NaN payloads and infinities, which must survive too.
      else data = new Uint8Array(randomBytes(6 * OIP_ELEMENT_SIZE[datatype]!))
      const [out] = await runModel(model, [{ name: 'x', datatype, shape: [2, 3], data }])
      assert.deepEqual(
        { name: out!.name, datatype: out!.datatype, shape: out!.shape },
        { name: 'y', datatype, shape: [2, 3] },
      )
      assert.ok(Buffer.from(out!.data).equals(data), 'bytes differ')
      // An empty tensor is refused before onnxruntime, whose graphs mostly fail on one.
      await rejectsWith(runModel(model, [{ name: 'x', datatype, shape: [0, 3], data: new Uint8Array(0) }]), 'ERR_INFERENCE_SHAPE')
    })
  }

  test('Cast INT32 → FP64 reads little-endian INT32 and writes little-endian FP64', async () => {
    const x = new Uint8Array(Int32Array.from([-2, 0, 7, 2147483647]).buffer)
    const [y] = await runModel(models.get('cast')!, [{ name: 'x', datatype: 'INT32', shape: [4], data: x }])
    assert.equal(y!.datatype, 'FP64')
    assert.deepEqual([...new Float64Array(y!.data.slice().buffer)], [-2, 0, 7, 2147483647])
  })
})
