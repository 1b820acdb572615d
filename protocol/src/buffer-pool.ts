/**
 * Large buffers reused from one request to the next. A request's largest buffers (the enclave's link frame, the
 * host's request body: 4.9 MB for the detector) would otherwise each be a fresh mapping, faulted in page by page, and
 * a virtual machine pays dearly for that (about 20 ms per detector-sized buffer here: docs/benchmarks.md, "Enclave
 * allocator"), besides leaving them to the garbage collector. A buffer goes back only once nothing refers to its bytes
 * any more; the owner says when that is.
 */

/** Buffers smaller than this are allocated as ever: the C library reuses small blocks by itself. */
export const POOLED_BUFFER_BYTES = 256 * 1024

/** Buffers kept at most: about the large requests under way at once. */
const SPARE_BUFFERS = 4

/** Spare large buffers: {@link BufferPool.take} one, {@link BufferPool.give} it back once it is done with. */
export class BufferPool {
  readonly #spare: ArrayBuffer[] = []

  /**
   * @param zero - Zero a buffer when it is given back, so no request's bytes stay for the next to be read into (the
   *   enclave's plaintexts). Without it, a buffer taken holds an earlier one's bytes until written over: for bytes the
   *   holder may see anyway (the host's sealed bodies).
   * @param maxBytes - Most bytes kept in spare buffers (4 at most, whatever their size).
   */
  constructor(
    readonly zero: boolean,
    readonly maxBytes: number,
  ) {}

  /** Bytes held in spare buffers. */
  get spareBytes(): number {
    return this.#spare.reduce((sum, b) => sum + b.byteLength, 0)
  }

  /**
   * A buffer of `length` bytes: a spare one when one fits (at most twice the size, so a small request does not pin a
   * large buffer), else a new one (zeroed when the pool zeroes, else uninitialised: the system gives it memory only as
   * it is written).
   */
  take(length: number): Uint8Array {
    if (length >= POOLED_BUFFER_BYTES) {
      const at = this.#spare.findIndex((b) => b.byteLength >= length && b.byteLength <= 2 * length)
      if (at >= 0) return new Uint8Array(this.#spare.splice(at, 1)[0]!, 0, length)
    }
    return this.zero ? new Uint8Array(length) : allocUninitialised(length)
  }

  /**
   * Takes back `buffer` (from {@link take}) once nothing refers to its bytes any more: kept when it is large and there
   * is room (zeroed first when the pool zeroes). The caller must not use it afterwards.
   */
  give(buffer: Uint8Array): void {
    const whole = buffer.buffer as ArrayBuffer
    if (whole.byteLength < POOLED_BUFFER_BYTES || buffer.byteOffset !== 0) return
    if (this.#spare.includes(whole) || this.#spare.length >= SPARE_BUFFERS || this.spareBytes + whole.byteLength > this.maxBytes) return
    // The whole buffer: a reused one may hold an earlier request's bytes beyond this one's length.
    if (this.zero) new Uint8Array(whole).fill(0)
    this.#spare.push(whole)
  }
}

/** A buffer of `length` bytes, not zeroed (node:buffer where there is one; a zeroed array elsewhere). */
function allocUninitialised(length: number): Uint8Array {
  const NodeBuffer = (globalThis as { Buffer?: { allocUnsafeSlow(size: number): Uint8Array } }).Buffer
  return NodeBuffer === undefined ? new Uint8Array(length) : NodeBuffer.allocUnsafeSlow(length)
}
