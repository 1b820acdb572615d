/**
 * The host ↔ enclave link (DESIGN.md §9): frames of a 4-byte big-endian length and one CBOR message.
 * Requests carry an `id` the response repeats, so several can be in flight on one connection.
 * Framing and message shapes only (each operation's fields are in `link-operations.ts`); sockets live in the host
 * and the enclave.
 */
import { decodeCbor, encodeCborAfter, encodeCborPieces } from './cbor.js'
import { ProtocolError } from './errors.js'
import { isRecord } from './issues.js'
import { isLinkOp, LINK_OPERATIONS, type LinkOp, type LinkRequest } from './link-operations.js'

/** Bytes of the frame header. */
export const FRAME_HEADER_SIZE = 4
/** Default largest frame a side accepts: room for a sealed 1×3×640×640 FP32 tensor with headroom. */
export const DEFAULT_MAX_FRAME_SIZE = 32 * 1024 * 1024

/** Where an enclave serves the link: a Unix socket path, or a TCP address (in a real CVM, or across a cluster). */
export type LinkAddress = { path: string } | { host: string; port: number }

/**
 * Reads a link address: `tcp://HOST:PORT` or `tcp://[IPv6]:PORT`, `unix:PATH`, or a bare Unix socket path. Port 0
 * (any free port) only with `anyPort`, for a listener. A RangeError says what is wrong.
 */
export function parseLinkAddress(address: string, options: { anyPort?: boolean } = {}): LinkAddress {
  if (address.startsWith('unix:')) {
    const path = address.slice(5)
    if (path === '') throw new RangeError(`link address ${address}: unix: needs a socket path`)
    return { path }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address) && !address.startsWith('tcp://')) throw new RangeError(`link address ${address}: expected tcp://HOST:PORT, unix:PATH or a socket path`)
  const tcp = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/[\]]+)):(\d{1,5})$/.exec(address)
  if (tcp === null) {
    if (address.startsWith('tcp://')) throw new RangeError(`link address ${address}: expected tcp://HOST:PORT`)
    return { path: address }
  }
  const port = Number(tcp[3])
  if (port > 65535 || (port < 1 && options.anyPort !== true)) throw new RangeError(`link address ${address}: port must be 1 to 65535`)
  return { host: (tcp[1] ?? tcp[2])!, port }
}

/** The `tcp://` form of a TCP link address (IPv6 in brackets). */
export function formatTcpAddress(host: string, port: number): string {
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`
}

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
 * {@link encodeFrame} without copying `bytes`, a byte string that `message` holds (by reference, exactly once):
 * the frame as pieces to write in order (header and CBOR up to `bytes`, `bytes` itself, the CBOR after it). Their
 * concatenation is exactly `encodeFrame(message)`. A 4.9 MB sealed body then costs its frame a few hundred bytes,
 * not a second copy of it.
 *
 * With `bytes` undefined, the one piece is `encodeFrame(message)`.
 *
 * @throws TypeError when `message` does not hold `bytes` exactly once; `ERR_LINK_FRAME_TOO_LARGE` as encodeFrame.
 */
export function encodeFramePieces(message: unknown, bytes: Uint8Array | undefined, maxFrameSize = DEFAULT_MAX_FRAME_SIZE): Uint8Array[] {
  if (bytes === undefined) return [encodeFrame(message, maxFrameSize)]
  const { pieces, occurrences } = encodeCborPieces(message, [bytes], FRAME_HEADER_SIZE)
  if (occurrences[0] !== 1) throw new TypeError(`encodeFramePieces: the message holds the byte string ${occurrences[0]} times, not once`)
  const bodyLength = pieces.reduce((n, p) => n + p.length, -FRAME_HEADER_SIZE)
  if (bodyLength > maxFrameSize) throw new ProtocolError('ERR_LINK_FRAME_TOO_LARGE', `a ${bodyLength}-byte frame exceeds the ${maxFrameSize}-byte limit`)
  const first = pieces[0]!
  new DataView(first.buffer, first.byteOffset, first.byteLength).setUint32(0, bodyLength, false)
  return pieces
}

/** Writes a frame's pieces in one go (one `writev`) and returns what the last `write` said: false means wait for `drain`. */
export function writePieces(stream: { cork(): void; uncork(): void; write(chunk: Uint8Array): boolean }, pieces: readonly Uint8Array[]): boolean {
  stream.cork()
  let writable = true
  for (const piece of pieces) writable = stream.write(piece)
  stream.uncork()
  return writable
}

/**
 * Splits a byte stream into frame bodies. Feed it chunks as they arrive; it yields every complete
 * frame body (still CBOR) and keeps the rest. A header announcing more than `maxFrameSize` throws
 * `ERR_LINK_FRAME_TOO_LARGE` at once, before the body is buffered, so a peer cannot make it hold
 * more than one limit's worth of memory. Each body is copied once, into a buffer of exactly its size, as
 * its chunks arrive: a frame never pins the socket's chunks or its neighbours' bytes.
 */
export class FrameDecoder {
  readonly #header = new Uint8Array(FRAME_HEADER_SIZE)
  #headerFilled = 0
  /** The body being filled, once its header has been read. */
  #body: Uint8Array | null = null
  #bodyFilled = 0

  /**
   * @param allocate - Where each body's buffer comes from (a zeroed one of exactly `length` bytes): a reader that
   *   reuses buffers (the enclave's frame pool) passes its own. Unset: a new one per frame.
   */
  constructor(
    readonly maxFrameSize = DEFAULT_MAX_FRAME_SIZE,
    readonly allocate: (length: number) => Uint8Array = (length) => new Uint8Array(length),
  ) {}

  /** Bytes held that do not yet form a whole frame. */
  get buffered(): number {
    return this.#headerFilled + this.#bodyFilled
  }

  /** Adds `chunk` and returns the frame bodies it completes, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = []
    let at = 0
    while (at < chunk.length) {
      if (this.#body === null) {
        const n = Math.min(FRAME_HEADER_SIZE - this.#headerFilled, chunk.length - at)
        this.#header.set(chunk.subarray(at, at + n), this.#headerFilled)
        this.#headerFilled += n
        at += n
        if (this.#headerFilled < FRAME_HEADER_SIZE) break
        const length = new DataView(this.#header.buffer).getUint32(0, false)
        if (length > this.maxFrameSize) {
          throw new ProtocolError('ERR_LINK_FRAME_TOO_LARGE', `a ${length}-byte frame exceeds the ${this.maxFrameSize}-byte limit`)
        }
        this.#body = this.allocate(length)
        this.#bodyFilled = 0
      }
      const n = Math.min(this.#body.length - this.#bodyFilled, chunk.length - at)
      this.#body.set(chunk.subarray(at, at + n), this.#bodyFilled)
      this.#bodyFilled += n
      at += n
      if (this.#bodyFilled < this.#body.length) break
      frames.push(this.#body)
      this.#body = null
      this.#bodyFilled = 0
      this.#headerFilled = 0
    }
    return frames
  }
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

/** Decodes and checks a request frame body: its id, its op and the op's fields ({@link LINK_OPERATIONS}). Throws `ERR_LINK_MALFORMED` naming what is wrong. */
export function decodeLinkRequest(body: Uint8Array): LinkRequest {
  const message = decodeFrameBody(body)
  if (!isRecord(message)) throw malformed('a request must be a map')
  const id = requestIdOf(message)
  if (id === null) throw malformed('id must be a non-negative integer')
  const op = message['op']
  if (!isLinkOp(op)) throw malformed(`unknown op ${JSON.stringify(op)}`)
  return toRequest(id, op, message)
}

function toRequest<O extends LinkOp>(id: number, op: O, message: Record<string, unknown>): LinkRequest {
  return { id, op, ...LINK_OPERATIONS[op].request(message) } as LinkRequest
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
