/**
 * The link's frame buffers: large frames reuse buffers (protocol's BufferPool, zeroing), and a frame goes back only
 * once the request it carried is done with, even when a timeout answered for it first.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { decodeLinkResponse, encodeFrame, FrameDecoder, POOLED_BUFFER_BYTES } from '@vouch/protocol'
import pino from 'pino'
import { startLinkServer, type LinkHandler } from '../../src/link/server.js'

const LARGE = POOLED_BUFFER_BYTES * 2

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
