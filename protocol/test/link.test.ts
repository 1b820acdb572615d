import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decodeLinkRequest, decodeLinkResponse, encodeCbor, encodeFrame, encodeFramePieces, FrameDecoder, requestIdOf, type ProtocolError } from '@vouch/protocol'

const code = (e: unknown): string => (e as ProtocolError).code

describe('frames', () => {
  test('a frame is a big-endian length and the CBOR body', () => {
    const frame = encodeFrame({ id: 1, op: 'ping' })
    assert.equal(new DataView(frame.buffer).getUint32(0, false), frame.length - 4)
  })
  test('the decoder reassembles frames split at any byte, several per chunk', () => {
    const frames = [encodeFrame({ id: 1, op: 'ping' }), encodeFrame({ id: 2, op: 'attest', nonce: new Uint8Array(32) }), encodeFrame({ id: 3, op: 'models' })]
    const stream = Uint8Array.from(frames.flatMap((f) => [...f]))
    for (let cut = 1; cut < stream.length; cut++) {
      const decoder = new FrameDecoder()
      const bodies = [...decoder.push(stream.subarray(0, cut)), ...decoder.push(stream.subarray(cut))]
      assert.deepEqual(bodies.map((b) => decodeLinkRequest(b).id), [1, 2, 3], `cut at ${cut}`)
      assert.equal(decoder.buffered, 0)
    }
  })
  test('each body is a buffer of its own, exactly its size, also when fed a byte at a time', () => {
    const frames = [encodeFrame({ id: 1, op: 'infer', kid: 'k', model: 'm', version: null, body: new Uint8Array(300).fill(7) }), encodeFrame({ id: 2, op: 'ping' })]
    const stream = Uint8Array.from(frames.flatMap((f) => [...f]))
    const decoder = new FrameDecoder()
    const bodies = [...stream].flatMap((byte) => decoder.push(Uint8Array.of(byte)))
    assert.deepEqual(bodies.map((b) => [b.byteOffset, b.buffer.byteLength]), frames.map((f) => [0, f.length - 4]))
    assert.deepEqual(bodies.map((b) => decodeLinkRequest(b).id), [1, 2])
  })
  test('an empty frame body is still a frame', () => {
    const decoder = new FrameDecoder()
    assert.deepEqual(decoder.push(new Uint8Array(4)), [new Uint8Array(0)])
    assert.equal(decoder.buffered, 0)
  })
  test('framed in pieces around a byte string, the frame is byte for byte the one encodeFrame writes', () => {
    const join = (pieces: Uint8Array[]): Uint8Array => Uint8Array.from(pieces.flatMap((p) => [...p]))
    for (const size of [0, 1, 23, 24, 255, 256, 65_535, 65_536, 70_000]) {
      const body = new Uint8Array(size).fill(size % 251)
      const request = { id: 9, op: 'infer', kid: 'k1', model: 'ppocr-det', version: null, body }
      const pieces = encodeFramePieces(request, body)
      assert.equal(pieces[1], body, 'the byte string itself is a piece, not a copy')
      assert.deepEqual(join(pieces), encodeFrame(request), `request with ${size} bytes`)
      const response = { id: 9, ok: true, result: { body } }
      assert.deepEqual(join(encodeFramePieces(response, body)), encodeFrame(response), `response with ${size} bytes`)
    }
  })
  test('framing in pieces needs the byte string exactly once, and keeps the frame limit', () => {
    const body = new Uint8Array(10)
    assert.throws(() => encodeFramePieces({ id: 1, body: new Uint8Array(10) }, body), TypeError)
    assert.throws(() => encodeFramePieces({ id: 1, a: body, b: body }, body), TypeError)
    assert.throws(() => encodeFramePieces({ id: 1, body: new Uint8Array(2048) }, new Uint8Array(2048), 1024), TypeError)
    const big = new Uint8Array(2048)
    assert.throws(() => encodeFramePieces({ id: 1, body: big }, big, 1024), (e) => code(e) === 'ERR_LINK_FRAME_TOO_LARGE')
  })
  test('an oversized header is refused before its body arrives', () => {
    const decoder = new FrameDecoder(1024)
    const header = new Uint8Array(4)
    new DataView(header.buffer).setUint32(0, 1025, false)
    assert.throws(() => decoder.push(header), (e) => code(e) === 'ERR_LINK_FRAME_TOO_LARGE')
    assert.throws(() => encodeFrame({ data: new Uint8Array(2048) }, 1024), (e) => code(e) === 'ERR_LINK_FRAME_TOO_LARGE')
  })
})

describe('requests', () => {
  test('each op decodes', () => {
    assert.deepEqual(decodeLinkRequest(encodeCbor({ id: 7, op: 'attest', nonce: null })), { id: 7, op: 'attest', nonce: null })
    const body = new Uint8Array([1, 2, 3])
    assert.deepEqual(decodeLinkRequest(encodeCbor({ id: 8, op: 'infer', kid: 'k', model: 'm', version: null, body })), { id: 8, op: 'infer', kid: 'k', model: 'm', version: null, body })
  })
  const rows: Array<[string, Uint8Array]> = [
    ['not CBOR', Uint8Array.of(0xff, 0x00)],
    ['not a map', encodeCbor([1, 2])],
    ['no id', encodeCbor({ op: 'ping' })],
    ['negative id', encodeCbor({ id: -1, op: 'ping' })],
    ['unknown op', encodeCbor({ id: 1, op: 'shutdown' })],
    ['unknown field', encodeCbor({ id: 1, op: 'ping', extra: true })],
    ['short nonce', encodeCbor({ id: 1, op: 'attest', nonce: new Uint8Array(31) })],
    ['infer without body', encodeCbor({ id: 1, op: 'infer', kid: 'k', model: 'm', version: null })],
    ['infer with an empty kid', encodeCbor({ id: 1, op: 'infer', kid: '', model: 'm', version: null, body: new Uint8Array(1) })],
  ]
  for (const [name, bytes] of rows) {
    test(`refused: ${name}`, () => assert.throws(() => decodeLinkRequest(bytes), (e) => code(e) === 'ERR_LINK_MALFORMED'))
  }
  test('the id of a malformed request is still readable, for the answer', () => {
    assert.equal(requestIdOf({ id: 5, op: 'nonsense' }), 5)
    assert.equal(requestIdOf({ op: 'nonsense' }), null)
  })
})

describe('responses', () => {
  test('ok and error responses decode; anything else is refused', () => {
    assert.deepEqual(decodeLinkResponse(encodeCbor({ id: 1, ok: true, result: { ready: true } })), { id: 1, ok: true, result: { ready: true } })
    assert.deepEqual(decodeLinkResponse(encodeCbor({ id: null, ok: false, error: { code: 'E', message: 'm', status: 400 } })), { id: null, ok: false, error: { code: 'E', message: 'm', status: 400 } })
    assert.throws(() => decodeLinkResponse(encodeCbor({ id: 1, ok: true })), (e) => code(e) === 'ERR_LINK_MALFORMED')
    assert.throws(() => decodeLinkResponse(encodeCbor({ id: 1, ok: false, error: { code: 'E' } })), (e) => code(e) === 'ERR_LINK_MALFORMED')
  })
})
