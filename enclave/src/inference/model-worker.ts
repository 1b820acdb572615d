/**
 * The main thread's handle on one model's session worker: starts it with the verified ONNX bytes, then posts each
 * run ({@link ModelRunner} checks and packs the inputs) and matches replies by id. Runs queue in the worker and execute
 * one at a time; the worker keeps the process alive only while a run is pending.
 */
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker, type WorkerOptions } from 'node:worker_threads'
import { InferenceError } from '../errors.js'
import { ModelRunner } from './model-runner.js'
import type { PreparedRun, RawValueMetadata, SessionWorkerData, WorkerOutput, WorkerReply, WorkerRequest } from './worker-messages.types.js'

// `.ts` when running from source (tsx), `.js` from dist: the worker file sits beside this one either way.
const FROM_SOURCE = extname(fileURLToPath(import.meta.url)) === '.ts'
const WORKER_URL = new URL(`./session-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url)

function spawn(workerOptions: WorkerOptions): Worker {
  // Workers inherit the process's flags; `--input-type` (from `node -e`) would stop them loading a file.
  const options = { ...workerOptions, execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')) }
  if (!FROM_SOURCE) return new Worker(WORKER_URL, options)
  // From TypeScript sources (tests): Node 20 does not carry `--import tsx` into worker threads
  // (nodejs/node#47747), so the worker registers tsx itself before it loads its entry.
  const tsx = import.meta.resolve('tsx/esm/api')
  const entry = JSON.stringify(WORKER_URL.href)
  const code = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${entry}) })`
  return new Worker(code, { ...options, eval: true })
}

interface Pending {
  resolve: (outputs: WorkerOutput[]) => void
  reject: (error: InferenceError) => void
}

/** One model's worker thread and its onnxruntime session. */
export class ModelWorker extends ModelRunner {
  readonly inputs: readonly RawValueMetadata[]
  readonly outputs: readonly RawValueMetadata[]
  readonly #worker: Worker
  readonly #pending = new Map<number, Pending>()
  #nextId = 0
  #closed: InferenceError | undefined

  private constructor(worker: Worker, inputs: RawValueMetadata[], outputs: RawValueMetadata[]) {
    super()
    this.#worker = worker
    this.inputs = inputs
    this.outputs = outputs
    worker.on('message', (reply: WorkerReply) => this.#settle(reply))
    worker.on('error', (cause) => {
      this.#fail(new InferenceError('ERR_INFERENCE_RUNTIME', 'the model worker failed', { cause }))
    })
    worker.on('exit', () => this.#fail(new InferenceError('ERR_INFERENCE_MODEL_CLOSED', 'the model was closed')))
    worker.unref()
  }

  /**
   * Starts a worker that creates a session from `model`. The bytes are transferred, not copied: after this
   * call `model` is detached, so nothing on this thread can change what the worker runs.
   *
   * @throws `Error` with onnxruntime's message when it refuses the model.
   */
  static async start(model: Uint8Array, options: { intraOpNumThreads?: number } = {}): Promise<ModelWorker> {
    const data: SessionWorkerData = { model, ...options }
    const worker = spawn({ workerData: data, transferList: [model.buffer as ArrayBuffer] })
    const reply = await new Promise<WorkerReply>((resolve, reject) => {
      const onMessage = (r: WorkerReply): void => settle(() => resolve(r))
      const onError = (e: Error): void => settle(() => reject(e))
      const onExit = (code: number): void => settle(() => reject(new Error(`the session worker exited (code ${code})`)))
      // Only our own listeners come off: Worker keeps internal ones that removeAllListeners() would break.
      const settle = (then: () => void): void => {
        worker.off('message', onMessage).off('error', onError).off('exit', onExit)
        then()
      }
      worker.on('message', onMessage).on('error', onError).on('exit', onExit)
    })
    if (reply.kind === 'ready') return new ModelWorker(worker, reply.inputs, reply.outputs)
    await worker.terminate()
    throw new Error(reply.kind === 'load-failed' ? reply.message : `unexpected reply ${reply.kind}`)
  }

  /** Posts a run; its buffer is transferred to the worker. */
  override run(prepared: PreparedRun): Promise<WorkerOutput[]> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed)
    const id = this.#nextId++
    const request: WorkerRequest = { kind: 'run', id, ...prepared }
    return new Promise<WorkerOutput[]>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      if (this.#pending.size === 1) this.#worker.ref()
      this.#worker.postMessage(request, [prepared.buffer])
    })
  }

  /** Ends the worker; runs still pending fail with `ERR_INFERENCE_MODEL_CLOSED`. */
  override async close(): Promise<void> {
    if (this.#closed !== undefined) return
    this.#fail(new InferenceError('ERR_INFERENCE_MODEL_CLOSED', 'the model was closed'))
    await this.#worker.terminate()
  }

  #settle(reply: WorkerReply): void {
    if (reply.kind !== 'result' && reply.kind !== 'run-failed') return
    const pending = this.#pending.get(reply.id)
    if (pending === undefined) return
    this.#pending.delete(reply.id)
    if (this.#pending.size === 0) this.#worker.unref()
    if (reply.kind === 'result') this.giveBack(reply.buffer)
    if (reply.kind === 'result') pending.resolve(reply.outputs)
    else pending.reject(new InferenceError('ERR_INFERENCE_RUNTIME', `onnxruntime refused the run: ${reply.message}`))
  }

  #fail(error: InferenceError): void {
    this.#closed ??= error
    for (const pending of this.#pending.values()) pending.reject(error)
    this.#pending.clear()
  }
}
