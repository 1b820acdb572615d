/**
 * The link's frame buffers (enclave/src/link/frame-pool.ts): large frames reuse buffers, zeroed, and a frame goes back
 * only once the request it carried is done with, even when a timeout answered for it first.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { decodeLinkResponse, encodeFrame, FrameDecoder } from '@vouch/protocol'
import pino from 'pino'
import { FramePool, POOLED_FRAME_BYTES } from '../../src/link/frame-pool.js'
import { startLinkServer, type LinkHandler } from '../../src/link/server.js'

const LARGE = POOLED_FRAME_BYTES * 2

describe('frame pool', () => {
  test('a large frame given back is zeroed and taken again for a frame of about its size', () => {
    const pool = new FramePool()
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
    const pool = new FramePool()
    pool.give(pool.take(POOLED_FRAME_BYTES - 1))
    assert.equal(pool.spareBytes, 0)
    const huge = 4 * POOLED_FRAME_BYTES
    const frame = pool.take(huge)
    pool.give(frame)
    assert.notEqual(pool.take(huge + 1).buffer, frame.buffer, 'too small for it')
    assert.notEqual(pool.take(huge / 2 - 1).buffer, frame.buffer, 'over twice the frame: not pinned by it')
    assert.equal(pool.take(huge / 2).buffer, frame.buffer, 'twice the frame: taken')
  })

  test('at most four spares are kept', () => {
    const pool = new FramePool()
    const frames = Array.from({ length: 6 }, () => pool.take(LARGE))
    for (const f of frames) pool.give(f)
    assert.equal(pool.spareBytes, 4 * LARGE)
  })

  test('the frame decoder reads each body into a buffer from its allocator', () => {
    const pool = new FramePool()
    const spare = pool.take(LARGE)
    pool.give(spare)
    const decoder = new FrameDecoder(undefined, (length) => pool.take(length))
    const frame = encodeFrame({ id: 1, op: 'ping', pad: new Uint8Array(LARGE - 100).fill(7) })
    const [body] = decoder.push(frame)
    assert.equal(body!.buffer, spare.buffer)
    assert.deepEqual(body, frame.subarray(4))
  })
})

describe('the link server gives a frame back only once its request is done with', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-frame-pool-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('an inference answered by its timeout still reads its own bytes, though the next frame arrived meanwhile', async () => {
    const seen: number[] = []
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const handler: LinkHandler = {
      ping: async () => ({ ready: true, platform: 'simulated', kid: 'kid', models: 1, draining: false }),
      attest: async () => ({ bundle: new Uint8Array([1]) }),
      models: async () => ({ models: [], refused: [] }),
      infer: async ({ body }) => {
        // The first request outlives its timeout; the second arrives while it waits. Each then reads its body.
        if (body[0] === 1) await held
        seen.push(body[0]!, body[body.length - 1]!)
        return { body: new Uint8Array([body[0]!]), receipt: 'unused' }
      },
      drain: async () => ({ draining: true }),
      rotate: async () => ({ kid: 'kid' }),
    }
    const socketPath = join(dir, 'link.sock')
    const server = await startLinkServer(socketPath, handler, pino({ level: 'silent' }), { timeoutMs: { infer: 100 } })
    const socket = connect(socketPath)
    await once(socket, 'connect')
    const decoder = new FrameDecoder()
    const answers: Array<ReturnType<typeof decodeLinkResponse>> = []
    socket.on('data', (chunk: Buffer) => {
      for (const body of decoder.push(chunk)) answers.push(decodeLinkResponse(body))
    })
    const request = (id: number, fill: number): Uint8Array => encodeFrame({ id, op: 'infer', kid: 'kid', model: 'm', version: null, body: new Uint8Array(LARGE).fill(fill) })
    try {
      socket.write(request(1, 1))
      while (!answers.some((a) => a.id === 1)) await new Promise((resolve) => setTimeout(resolve, 10))
      assert.equal(answers[0]!.ok ? 'answered' : answers[0]!.error.code, 'ERR_ENCLAVE_TIMEOUT')
      // The timeout has answered; the first request's frame must not be the second's buffer yet.
      socket.write(request(2, 2))
      while (!answers.some((a) => a.id === 2)) await new Promise((resolve) => setTimeout(resolve, 10))
      release()
      await new Promise((resolve) => setTimeout(resolve, 50))
      assert.deepEqual(seen, [2, 2, 1, 1], 'each request read its own bytes')
    } finally {
      socket.destroy()
      await server.close()
    }
  })
})
