/**
 * A model's session as the enclave's thread sees it, wherever the session runs: on a worker thread of its own
 * ({@link ModelWorker}) or on the enclave's thread ({@link InlineSession}). Either way a request's inputs are checked
 * and packed into one buffer ({@link prepareRun}), run, and the outputs returned as OIP v2 tensors.
 */
import { encodeBytesElements, type TensorData } from '@vouch/protocol'
import { InferenceError } from '../errors.js'
import { toOipDatatype } from './tensor.js'
import { prepareRun, type TensorSignature } from './validate.js'
import type { PreparedRun, RawValueMetadata, WorkerOutput } from './worker-messages.types.js'

/** Input buffers kept for reuse per model: enough for the runs the enclave prepares ahead of the one running. */
const SPARE_BUFFERS = 2

/** One model's session and its runs; see the module's comment. */
export abstract class ModelRunner {
  abstract readonly inputs: readonly RawValueMetadata[]
  abstract readonly outputs: readonly RawValueMetadata[]
  /** Input buffers of finished runs, for the next runs (see {@link inputBuffer}). */
  readonly #spare: ArrayBuffer[] = []

  /** Runs a prepared run: its outputs' raw bytes. */
  abstract run(prepared: PreparedRun): Promise<WorkerOutput[]>

  /** Ends the session; runs still pending fail with `ERR_INFERENCE_MODEL_CLOSED`. */
  abstract close(): Promise<void>

  /**
   * A buffer of at least `byteLength` bytes for a run's inputs: one a finished run gave back when it fits (at most
   * twice the size, so a small input does not pin a large buffer), else a new one. A detector request is 4.9 MB:
   * reusing its buffer keeps that off the garbage collectors, which would otherwise hold several dead copies.
   * A reused buffer still holds an earlier run's bytes beyond `byteLength`; nothing reads them.
   */
  inputBuffer(byteLength: number): ArrayBuffer {
    const at = this.#spare.findIndex((b) => b.byteLength >= byteLength && b.byteLength <= 2 * byteLength)
    if (at < 0) return new ArrayBuffer(byteLength)
    return this.#spare.splice(at, 1)[0]!
  }

  /**
   * The model's `run`, bound to its `signature`: each request's inputs are checked and packed ({@link prepareRun}),
   * run, and the outputs returned as OIP v2 tensors. A request goes from the service straight here.
   */
  runner(signature: TensorSignature): (inputs: readonly TensorData[], outputs?: readonly string[]) => Promise<TensorData[]> {
    return (inputs, outputs) => {
      // Not an async function: it would keep `inputs` (views of a request's plaintext) alive until the run ends.
      let prepared: PreparedRun
      try {
        prepared = prepareRun(signature, inputs, outputs, (n) => this.inputBuffer(n))
      } catch (error) {
        return Promise.reject(error as Error)
      }
      return this.run(prepared).then(toTensors)
    }
  }

  /** Takes back a finished run's input buffer for the next runs. */
  protected giveBack(buffer: ArrayBuffer): void {
    if (this.#spare.length < SPARE_BUFFERS) this.#spare.push(buffer)
  }
}

/** The outputs as OIP v2 tensors (BYTES elements length-prefixed). */
function toTensors(outputs: WorkerOutput[]): TensorData[] {
  return outputs.map((o) => {
    const datatype = toOipDatatype(o.type)
    // Checked at load: every output of the model has an OIP v2 datatype.
    if (datatype === undefined) throw new InferenceError('ERR_INFERENCE_RUNTIME', `output "${o.name}" has type ${o.type}`)
    const data = 'strings' in o ? encodeBytesElements(o.strings) : o.bytes
    return { name: o.name, datatype, shape: o.dims, data }
  })
}
