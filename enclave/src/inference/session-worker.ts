/**
 * A worker thread that owns one onnxruntime InferenceSession. onnxruntime-node 1.30's `session.run` is
 * synchronous under its Promise (it defers the native call with setImmediate, then blocks the calling thread
 * for the whole inference: microsoft/onnxruntime#19611), so a session whose runs are long lives on a thread of its
 * own and the enclave's event loop stays free (a short one runs on the enclave's thread: inline-session.ts). The
 * session itself is session-run.ts's, the one module that loads onnxruntime-node (DESIGN.md §2).
 */
import { parentPort, workerData } from 'node:worker_threads'
import type { InferenceSession } from 'onnxruntime-node'
import { hop, traceRequest } from '@vouch/protocol/hop-trace'
import { createSession, runPrepared, sessionMetadata } from './session-run.js'
import type { SessionWorkerData, WorkerReply, WorkerRequest } from './worker-messages.types.js'

const port = parentPort
if (port === null) throw new Error('session-worker.ts runs only as a worker thread')

const { model, intraOpNumThreads } = workerData as SessionWorkerData

let session: InferenceSession
try {
  // The bytes the main thread hashed, not a re-read of the file: what runs is what was verified.
  session = await createSession(model, intraOpNumThreads)
  port.postMessage({ kind: 'ready', ...sessionMetadata(session) } satisfies WorkerReply)
} catch (error) {
  port.postMessage({ kind: 'load-failed', message: messageOf(error) } satisfies WorkerReply)
  port.close()
  process.exit(0)
}

port.on('message', (request: WorkerRequest) => {
  // Traced (VOUCH_TRACE_HOPS) up to the reply: once it is posted the main thread runs on, so a later mark would overlap it.
  void traceRequest('worker', () => run(request)).then(
    ({ reply, transfer }) => port.postMessage(reply, transfer),
    (error: unknown) => {
      const reply: WorkerReply = { kind: 'run-failed', id: request.id, message: messageOf(error) }
      port.postMessage(reply)
    },
  )
})

const marks = { fed: () => hop('feeds'), ran: () => hop('session.run') }

async function run(request: WorkerRequest): Promise<{ reply: WorkerReply; transfer: ArrayBuffer[] }> {
  const outputs = await runPrepared(session, request, marks)
  const transfer: ArrayBuffer[] = []
  for (const output of outputs) {
    if (!('bytes' in output)) continue
    // Transfer when the tensor owns its whole buffer (onnxruntime-node allocates one per output); copy otherwise.
    if (output.bytes.byteOffset !== 0 || output.bytes.byteLength !== output.bytes.buffer.byteLength) output.bytes = output.bytes.slice()
    transfer.push(output.bytes.buffer as ArrayBuffer)
  }
  // The input buffer goes back for the next run of this model: reused, not left for this thread's garbage collector.
  transfer.push(request.buffer)
  hop('outputs')
  return { reply: { kind: 'result', id: request.id, outputs, buffer: request.buffer }, transfer }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
