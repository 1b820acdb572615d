/**
 * The host ↔ enclave link (DESIGN.md §9): frames of a 4-byte big-endian length and one CBOR message.
 * Requests carry an `id` the response repeats, so several can be in flight on one connection.
 * Framing and message shapes only; sockets live in the host and the enclave.
 */
import { decodeCbor, encodeCborAfter } from './cbor.js'
import { ProtocolError } from './errors.js'

/** Bytes of the frame header. */
export const FRAME_HEADER_SIZE = 4
/** Default largest frame a side accepts: room for a sealed 1×3×640×640 FP32 tensor with headroom. */
export const DEFAULT_MAX_FRAME_SIZE = 32 * 1024 * 1024

/** Operations the enclave serves. */
export type LinkOp = 'ping' | 'attest' | 'models' | 'infer'

/** A request from the host. */
export type LinkRequest =
  | { id: number; op: 'ping' }
  | { id: number; op: 'attest'; nonce: Uint8Array | null }
  | { id: number; op: 'models' }
  | { id: number; op: 'infer'; kid: string; model: string; version: string | null; body: Uint8Array }

/** A failure the enclave reports: a stable code, a fixed message, and the HTTP status the host should answer. */
export interface LinkError {
  code: string
  message: string
  status: number
}

/** A response from the enclave; `id` is null only for a frame whose request id could not be read. */
export type LinkResponse = { id: number; ok: true; result: Record<string, unknown> } | { id: number | null; ok: false; error: LinkError }

/** Frames `message` as header ‖ CBOR. */
export function encodeFrame(message: unknown, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Uint8Array {
  const frame = encodeCborAfter(message, FRAME_HEADER_SIZE)
  const bodyLength = frame.length - FRAME_HEADER_SIZE
  if (bodyLength > maxFrameSize) throw new ProtocolError('ERR_LINK_FRAME_TOO_LARGE', `a ${bodyLength}-byte frame exceeds the ${maxFrameSize}-byte limit`)
  new DataView(frame.buffer).setUint32(0, bodyLength, false)
  return frame
}

/**
 * Splits a byte stream into frame bodies. Feed it chunks as they arrive; it yields every complete
 * frame body (still CBOR) and keeps the rest. A header announcing more than `maxFrameSize` throws
 * `ERR_LINK_FRAME_TOO_LARGE` at once, before the body is buffered, so a peer cannot make it hold
 * more than one limit's worth of memory.
 */
export class FrameDecoder {
  #chunks: Uint8Array[] = []
  #buffered = 0

  constructor(readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {}

  /** Bytes held that do not yet form a whole frame. */
  get buffered(): number {
    return this.#buffered
  }

  /** Adds `chunk` and returns the frame bodies it completes, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    const frames: Uint8Array[] = []
    for (;;) {
      if (this.#buffered < FRAME_HEADER_SIZE) return frames
      const head = this.#peek(FRAME_HEADER_SIZE)
      const length = new DataView(head.buffer, head.byteOffset, FRAME_HEADER_SIZE).getUint32(0, false)
      if (length > this.maxFrameSize) {
        throw new ProtocolError('ERR_LINK_FRAME_TOO_LARGE', `a ${length}-byte frame exceeds the ${this.maxFrameSize}-byte limit`)
      }
      if (this.#buffered < FRAME_HEADER_SIZE + length) return frames
      const whole = this.#take(FRAME_HEADER_SIZE + length)
      frames.push(whole.subarray(FRAME_HEADER_SIZE))
    }
  }

  #peek(n: number): Uint8Array {
    const first = this.#chunks[0]!
    if (first.length >= n) return first.subarray(0, n)
    return this.#flatten().subarray(0, n)
  }

  #take(n: number): Uint8Array {
    const all = this.#flatten()
    const out = all.subarray(0, n)
    const rest = all.subarray(n)
    this.#chunks = rest.length > 0 ? [rest] : []
    this.#buffered = rest.length
    return out
  }

  #flatten(): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0]!
    const all = new Uint8Array(this.#buffered)
    let at = 0
    for (const c of this.#chunks) {
      all.set(c, at)
      at += c.length
    }
    this.#chunks = [all]
    return all
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
}

function malformed(message: string): ProtocolError {
  return new ProtocolError('ERR_LINK_MALFORMED', message)
}

/** The request id of a decoded message, if it has a usable one (for answering a malformed request). */
export function requestIdOf(message: unknown): number | null {
  return isRecord(message) && Number.isSafeInteger(message['id']) && (message['id'] as number) >= 0 ? (message['id'] as number) : null
}

/** The CBOR message of a frame body; `ERR_LINK_MALFORMED` when it is not CBOR. */
function decodeFrameBody(body: Uint8Array): unknown {
  try {
    return decodeCbor(body)
  } catch (cause) {
    throw new ProtocolError('ERR_LINK_MALFORMED', 'the frame is not CBOR', { cause })
  }
}

/** Decodes and checks a request frame body. Throws `ERR_LINK_MALFORMED` naming what is wrong. */
export function decodeLinkRequest(body: Uint8Array): LinkRequest {
  const message = decodeFrameBody(body)
  if (!isRecord(message)) throw malformed('a request must be a map')
  const id = requestIdOf(message)
  if (id === null) throw malformed('id must be a non-negative integer')
  const allowed = (keys: string[]): void => {
    for (const k of Object.keys(message)) if (!keys.includes(k)) throw malformed(`unknown field "${k}"`)
  }
  switch (message['op']) {
    case 'ping':
    case 'models':
      allowed(['id', 'op'])
      return { id, op: message['op'] }
    case 'attest': {
      allowed(['id', 'op', 'nonce'])
      const nonce = message['nonce'] ?? null
      if (nonce !== null && !(nonce instanceof Uint8Array && nonce.length === 32)) throw malformed('nonce must be 32 bytes or null')
      return { id, op: 'attest', nonce }
    }
    case 'infer': {
      allowed(['id', 'op', 'kid', 'model', 'version', 'body'])
      const { kid, model, body: sealed } = message
      const version = message['version'] ?? null
      if (typeof kid !== 'string' || kid.length === 0 || kid.length > 256) throw malformed('kid must be a non-empty string')
      if (typeof model !== 'string' || model.length === 0 || model.length > 256) throw malformed('model must be a non-empty string')
      if (version !== null && (typeof version !== 'string' || version.length > 64)) throw malformed('version must be a string or null')
      if (!(sealed instanceof Uint8Array)) throw malformed('body must be bytes')
      return { id, op: 'infer', kid, model, version, body: sealed }
    }
    default:
      throw malformed(`unknown op ${JSON.stringify(message['op'])}`)
  }
}

/** Decodes and checks a response frame body (host side). Throws `ERR_LINK_MALFORMED`. */
export function decodeLinkResponse(body: Uint8Array): LinkResponse {
  const message = decodeFrameBody(body)
  if (!isRecord(message)) throw malformed('a response must be a map')
  const id = message['id'] === null ? null : requestIdOf(message)
  if (id === null && message['id'] !== null) throw malformed('id must be a non-negative integer or null')
  if (message['ok'] === true && id !== null && isRecord(message['result'])) return { id, ok: true, result: message['result'] }
  const error = message['error']
  if (message['ok'] === false && isRecord(error) && typeof error['code'] === 'string' && typeof error['message'] === 'string' && Number.isInteger(error['status'])) {
    return { id, ok: false, error: { code: error['code'], message: error['message'], status: error['status'] as number } }
  }
  throw malformed('a response must be { id, ok: true, result } or { id, ok: false, error: { code, message, status } }')
}
