/**
 * A model's session on the enclave's own thread, for a model whose runs are short (the classifier's take about a
 * millisecond): onnxruntime-node runs a session synchronously under its Promise, so a run holds the enclave's event
 * loop for its length, no longer than the enclave's own work on a request; in exchange it costs no hand-off to a
 * worker thread and back (about 0.7 ms of wall and of CPU per classifier request here: docs/benchmarks.md).
 * load-models.ts decides which models run here.
 */
import type { InferenceSession } from 'onnxruntime-node'
import { InferenceError } from '../errors.js'
import { ModelRunner } from './model-runner.js'
import { createSession, runPrepared, sessionMetadata } from './session-run.js'
import type { PreparedRun, RawValueMetadata, WorkerOutput } from './worker-messages.types.js'

/** One model's onnxruntime session on the enclave's thread. */
export class InlineSession extends ModelRunner {
  readonly inputs: readonly RawValueMetadata[]
  readonly outputs: readonly RawValueMetadata[]
  readonly #session: InferenceSession
  readonly #running = new Set<Promise<unknown>>()
  #closed = false

  private constructor(session: InferenceSession) {
    super()
    this.#session = session
    ;({ inputs: this.inputs, outputs: this.outputs } = sessionMetadata(session))
  }

  /**
   * A session over `model` (the verified bytes; not kept).
   *
   * @throws `Error` with onnxruntime's message when it refuses the model.
   */
  static async start(model: Uint8Array, options: { intraOpNumThreads?: number } = {}): Promise<InlineSession> {
    return new InlineSession(await createSession(model, options.intraOpNumThreads))
  }

  override async run(prepared: PreparedRun): Promise<WorkerOutput[]> {
    if (this.#closed) throw closedError()
    const running = runPrepared(this.#session, prepared)
    this.#running.add(running)
    try {
      const outputs = await running
      // As a worker's: a run that ends after close is not answered.
      if (this.#closed) throw closedError()
      return outputs
    } catch (error) {
      if (error instanceof InferenceError) throw error
      throw new InferenceError('ERR_INFERENCE_RUNTIME', `onnxruntime refused the run: ${error instanceof Error ? error.message : String(error)}`)
    } finally {
      this.#running.delete(running)
      this.giveBack(prepared.buffer)
    }
  }

  override async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // Released once the runs already handed to onnxruntime are over: it reads their buffers meanwhile.
    await Promise.allSettled(this.#running)
    await this.#session.release()
  }
}

function closedError(): InferenceError {
  return new InferenceError('ERR_INFERENCE_MODEL_CLOSED', 'the model was closed')
}
