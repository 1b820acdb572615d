/**
 * Messages between a model's main-thread handle ({@link ModelWorker}) and its session worker
 * (`session-worker.ts`). Numeric tensors travel as byte ranges of one transferred ArrayBuffer; strings
 * (BYTES) as arrays of strings.
 */
import type { OrtTensorType } from './tensor.js'

/** What the worker is started with (`workerData`). `model` is transferred: the main thread keeps no copy. */
export interface SessionWorkerData {
  model: Uint8Array
  intraOpNumThreads?: number
}

/** A tensor's onnxruntime metadata, as the worker reports it: symbolic dimensions as strings. */
export interface RawValueMetadata {
  name: string
  isTensor: boolean
  type?: string
  shape?: (number | string)[]
}

/** A numeric feed: `length` bytes at `offset` in the request's `buffer`, aligned for its element type. */
export interface NumericFeed {
  name: string
  type: Exclude<OrtTensorType, 'string'>
  dims: number[]
  offset: number
  length: number
}

/** A string feed (OIP v2 BYTES, already decoded from UTF-8). */
export interface StringFeed {
  name: string
  type: 'string'
  dims: number[]
  strings: string[]
}

/**
 * One run: the numeric feeds' bytes in `buffer` (transferred), the string feeds, and the outputs to fetch. The
 * result transfers `buffer` back, for the next run.
 */
export interface WorkerRequest {
  kind: 'run'
  id: number
  buffer: ArrayBuffer
  feeds: (NumericFeed | StringFeed)[]
  fetches: string[]
}

/** A numeric output as raw bytes (transferred), or a string output. */
export type WorkerOutput =
  | { name: string; type: string; dims: number[]; bytes: Uint8Array }
  | { name: string; type: 'string'; dims: number[]; strings: string[] }

export type WorkerReply =
  | { kind: 'ready'; inputs: RawValueMetadata[]; outputs: RawValueMetadata[] }
  | { kind: 'load-failed'; message: string }
  | { kind: 'result'; id: number; outputs: WorkerOutput[]; buffer: ArrayBuffer }
  | { kind: 'run-failed'; id: number; message: string }

/** A run as the worker takes it: one buffer holding every numeric feed, plus the string feeds. */
export interface PreparedRun {
  buffer: ArrayBuffer
  feeds: (NumericFeed | StringFeed)[]
  fetches: string[]
}
