/**
 * Buffers for the link's large frames, reused from one request to the next. A frame is read into a buffer of its
 * size, and the request is decrypted in place in it (service/sealed.ts); a new 4.9 MB buffer for every detector
 * request is a fresh mapping the enclave faults in page by page, about 20 ms of its time here (docs/benchmarks.md,
 * "Enclave allocator"). A buffer goes back only once the request it carried is wholly done with, zeroed: no request's
 * plaintext stays in memory for the next to be read into.
 */

/** Frames smaller than this are allocated as ever: the C library reuses small blocks by itself. */
export const POOLED_FRAME_BYTES = 256 * 1024

/** Buffers kept at most, and bytes kept at most: about the frames the enclave works on at once. */
const SPARE_BUFFERS = 4
const SPARE_BYTES = 64 * 1024 * 1024

/** Spare frame buffers: {@link FramePool.take} for a frame being read, {@link FramePool.give} once it is done with. */
export class FramePool {
  readonly #spare: ArrayBuffer[] = []

  /** Bytes held in spare buffers. */
  get spareBytes(): number {
    return this.#spare.reduce((sum, b) => sum + b.byteLength, 0)
  }

  /**
   * A zeroed buffer of `length` bytes: a spare one when one fits (at most twice the size, so a small frame does not
   * pin a large buffer), else a new one.
   */
  take(length: number): Uint8Array {
    if (length >= POOLED_FRAME_BYTES) {
      const at = this.#spare.findIndex((b) => b.byteLength >= length && b.byteLength <= 2 * length)
      if (at >= 0) return new Uint8Array(this.#spare.splice(at, 1)[0]!, 0, length)
    }
    return new Uint8Array(length)
  }

  /**
   * Takes back `frame` (from {@link take}) once nothing refers to its bytes any more: zeroed, and kept when it is large
   * and there is room. The caller must not use it afterwards.
   */
  give(frame: Uint8Array): void {
    const buffer = frame.buffer as ArrayBuffer
    if (buffer.byteLength < POOLED_FRAME_BYTES || frame.byteOffset !== 0) return
    if (this.#spare.length >= SPARE_BUFFERS || this.spareBytes + buffer.byteLength > SPARE_BYTES) return
    // The whole buffer: a reused one may hold an earlier frame's bytes beyond this one's length.
    new Uint8Array(buffer).fill(0)
    this.#spare.push(buffer)
  }
}
