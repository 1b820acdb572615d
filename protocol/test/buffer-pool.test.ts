/**
 * BufferPool (protocol/src/buffer-pool.ts): large buffers reused from one request to the next, zeroed when the pool
 * zeroes, never pinning a much larger buffer, and bounded in number.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { BufferPool, encodeFrame, FrameDecoder, POOLED_BUFFER_BYTES } from '@vouch/protocol'

const LARGE = POOLED_BUFFER_BYTES * 2

describe('buffer pool', () => {
  test('a large frame given back is zeroed and taken again for a frame of about its size', () => {
    const pool = new BufferPool(true, 64 * 1024 * 1024)
    const frame = pool.take(LARGE)
    frame.fill(0xab)
    pool.give(frame)
    assert.equal(pool.spareBytes, LARGE)
    const again = pool.take(LARGE - 1000)
    assert.equal(again.buffer, frame.buffer, 'the same buffer')
    assert.equal(again.length, LARGE - 1000)
    assert.ok(new Uint8Array(again.buffer).every((b) => b === 0), 'zeroed, beyond the new length too')
    assert.equal(pool.spareBytes, 0)
  })

  test('small frames are not kept; a spare is not taken for a frame over its size, or under half of it', () => {
    const pool = new BufferPool(true, 64 * 1024 * 1024)
    pool.give(pool.take(POOLED_BUFFER_BYTES - 1))
    assert.equal(pool.spareBytes, 0)
    const huge = 4 * POOLED_BUFFER_BYTES
    const frame = pool.take(huge)
    pool.give(frame)
    assert.notEqual(pool.take(huge + 1).buffer, frame.buffer, 'too small for it')
    assert.notEqual(pool.take(huge / 2 - 1).buffer, frame.buffer, 'over twice the frame: not pinned by it')
    assert.equal(pool.take(huge / 2).buffer, frame.buffer, 'twice the frame: taken')
  })

  test('at most its bytes are kept in spares', () => {
    const pool = new BufferPool(true, 3 * LARGE)
    const buffers = Array.from({ length: 4 }, () => pool.take(LARGE))
    for (const b of buffers) pool.give(b)
    assert.equal(pool.spareBytes, 3 * LARGE)
  })

  test('at most four spares are kept', () => {
    const pool = new BufferPool(true, 64 * 1024 * 1024)
    const frames = Array.from({ length: 6 }, () => pool.take(LARGE))
    for (const f of frames) pool.give(f)
    assert.equal(pool.spareBytes, 4 * LARGE)
  })

  test('a pool that does not zero hands a spare back as it was given, and new buffers uninitialised', () => {
    const pool = new BufferPool(false, 64 * 1024 * 1024)
    const buffer = pool.take(LARGE)
    buffer.fill(0xab)
    pool.give(buffer)
    pool.give(buffer)
    assert.equal(pool.spareBytes, LARGE, 'given twice, kept once')
    const again = pool.take(LARGE)
    assert.equal(again.buffer, buffer.buffer)
    assert.ok(again.every((b) => b === 0xab), 'not zeroed: the holder writes it over')
  })

  test('the frame decoder reads each body into a buffer from its allocator', () => {
    const pool = new BufferPool(true, 64 * 1024 * 1024)
    const spare = pool.take(LARGE)
    pool.give(spare)
    const decoder = new FrameDecoder(undefined, (length) => pool.take(length))
    const frame = encodeFrame({ id: 1, op: 'ping', pad: new Uint8Array(LARGE - 100).fill(7) })
    const [body] = decoder.push(frame)
    assert.equal(body!.buffer, spare.buffer)
    assert.deepEqual(body, frame.subarray(4))
  })
})

