/**
 * The bare link of the split floor (bench/floors.bench.ts): frames of a 4-byte big-endian length, a 4-byte request id
 * and the body, over a Unix socket, both ways. Nothing else: no operation, no version, no checks beyond the sizes, so
 * what it costs is what any link between two processes costs here.
 */
import type { Socket } from 'node:net'
import type { BufferPool } from '@vouch/protocol'

/** Bytes before a frame's body: its length and its id. */
const HEAD = 8

/** One frame of `body` for request `id`, ready to write (the head; the body is written after it, uncopied). */
export function frameHead(id: number, body: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(HEAD)
  head.writeUInt32BE(body.length, 0)
  head.writeUInt32BE(id, 4)
  return head
}

/** Writes one frame: head and body in one system call; `written` once the body's bytes are the kernel's. */
export function writeFrame(socket: Socket, id: number, body: Uint8Array, written?: () => void): void {
  socket.cork()
  socket.write(frameHead(id, body))
  socket.write(body, written)
  socket.uncork()
}

/**
 * Calls `onFrame` with each complete frame read from `socket`; a body is its own buffer from `pool` (large ones reused:
 * a fresh mapping per detector-sized body costs about 20 ms here), read into once. `onFrame` gives it back when done.
 */
export function readFrames(socket: Socket, pool: BufferPool, onFrame: (id: number, body: Buffer) => void): void {
  let head = Buffer.alloc(0)
  let body: Buffer | null = null
  let id = 0
  let filled = 0
  socket.on('data', (chunk: Buffer) => {
    let at = 0
    while (at < chunk.length) {
      if (body === null) {
        const need = HEAD - head.length
        head = Buffer.concat([head, chunk.subarray(at, at + need)])
        at += Math.min(need, chunk.length - at)
        if (head.length < HEAD) return
        const taken = pool.take(head.readUInt32BE(0))
        body = Buffer.from(taken.buffer, taken.byteOffset, taken.byteLength)
        id = head.readUInt32BE(4)
        head = Buffer.alloc(0)
        filled = 0
      }
      const take = Math.min(body.length - filled, chunk.length - at)
      chunk.copy(body, filled, at, at + take)
      filled += take
      at += take
      if (filled === body.length) {
        const done = body
        body = null
        onFrame(id, done)
      }
    }
  })
}
