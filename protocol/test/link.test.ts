import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  decodeFleet,
  decodeLinkRequest,
  decodeLinkResponse,
  decodeLinkResult,
  encodeCbor,
  encodeFrame,
  encodeFleet,
  encodeFramePieces,
  FLEET_LIMITS,
  formatTcpAddress,
  FrameDecoder,
  parseLinkAddress,
  linkRequestPayload,
  linkResultPayload,
  requestIdOf,
  signReceipt,
  type FleetAttestation,
  type LinkOp,
  type ProtocolError,
} from '@vouch/protocol'
import { testKeys, testReceiptPayload } from './helpers/fixtures.js'

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

const { keyset, sig } = testKeys()
const receiptV2 = await signReceipt(testReceiptPayload(2), sig, keyset.kid)
const receiptV1 = await signReceipt(testReceiptPayload(1), sig, keyset.kid)

describe("results: each op's result is checked where the op is declared", () => {
  const model = { name: 'm', versions: ['1'], platform: 'onnxruntime', inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }], outputs: [], digest: `sha256:${'a'.repeat(64)}`, publisher: 'p', license: 'MIT' }
  test('each op decodes its result', () => {
    // An enclave that predates the fleet sends no `draining`: it is not draining.
    assert.deepEqual(decodeLinkResult('ping', { ready: true, platform: 'simulated', kid: 'k', models: 2 }), { ready: true, platform: 'simulated', kid: 'k', models: 2, draining: false })
    assert.deepEqual(decodeLinkResult('ping', { ready: true, platform: 'simulated', kid: 'k', models: 2, draining: true }), { ready: true, platform: 'simulated', kid: 'k', models: 2, draining: true })
    assert.deepEqual(decodeLinkResult('drain', { draining: true }), { draining: true })
    assert.deepEqual(decodeLinkResult('rotate', { kid: 'k2' }), { kid: 'k2' })
    assert.deepEqual(decodeLinkResult('attest', { bundle: Uint8Array.of(0xa0) }), { bundle: Uint8Array.of(0xa0) })
    assert.deepEqual(decodeLinkResult('models', { models: [model], refused: [{ name: 'n', code: 'ERR_MODEL_LOAD' }] }), { models: [model], refused: [{ name: 'n', code: 'ERR_MODEL_LOAD' }] })
    assert.deepEqual(decodeLinkResult('infer', { body: Uint8Array.of(1, 2), receipt: receiptV2 }), { body: Uint8Array.of(1, 2), receipt: receiptV2 })
  })
  test('a listed model keeps the fields the API documents, in their types; no refused list is none refused', () => {
    const extra = { ...model, secret: 'x', license: 42, outputs: [{ name: 'y' }] }
    const { license: _license, outputs: _outputs, ...kept } = model
    assert.deepEqual(decodeLinkResult('models', { models: [extra] }), { models: [kept], refused: [] })
  })
  const rows: Array<[string, LinkOp, Record<string, unknown>]> = [
    ['ping without ready', 'ping', { platform: 'simulated', kid: 'k', models: 1 }],
    ['ping with a text model count', 'ping', { ready: true, platform: 'simulated', kid: 'k', models: '1' }],
    ['ping with a text draining', 'ping', { ready: true, platform: 'simulated', kid: 'k', models: 1, draining: 'yes' }],
    ['drain without draining', 'drain', {}],
    ['rotate without a kid', 'rotate', { kid: '' }],
    ['attest without a bundle', 'attest', {}],
    ['attest with an empty bundle', 'attest', { bundle: new Uint8Array(0) }],
    ['models that are not a list', 'models', { models: {} }],
    ['a model without a name', 'models', { models: [{ name: 1, versions: ['1'] }] }],
    ['a model without versions', 'models', { models: [{ name: 'm' }] }],
    ['refused models that are not { name, code }', 'models', { models: [], refused: [{ name: 'm' }] }],
    ['infer with a text body', 'infer', { body: 'plain', receipt: receiptV2 }],
    ['infer with an empty body', 'infer', { body: new Uint8Array(0), receipt: receiptV2 }],
    // The receipt beside the answer feeds the host's public log: a well-formed v2 receipt of bounded size, or nothing.
    ['infer without a receipt', 'infer', { body: Uint8Array.of(1) }],
    ['infer with a receipt that is bytes', 'infer', { body: Uint8Array.of(1), receipt: new TextEncoder().encode(receiptV2) }],
    ['infer with a receipt over 64 KiB', 'infer', { body: Uint8Array.of(1), receipt: `${receiptV2}${'A'.repeat(65536)}` }],
    ['infer with junk for a receipt', 'infer', { body: Uint8Array.of(1), receipt: '\u0000not.a.jws\uffff' }],
    ['infer with a JWS that is not a receipt', 'infer', { body: Uint8Array.of(1), receipt: `${receiptV2.split('.')[0]}.e30.${receiptV2.split('.')[2]}` }],
    ['infer with a receipt of an unknown version', 'infer', { body: Uint8Array.of(1), receipt: `${receiptV2.split('.')[0]}.${Buffer.from(JSON.stringify({ ...testReceiptPayload(2), v: 3 })).toString('base64url')}.${receiptV2.split('.')[2]}` }],
    // v1 names plain digests of the request and the outputs: anyone could test guesses against a logged one.
    ['infer with a v1 receipt', 'infer', { body: Uint8Array.of(1), receipt: receiptV1 }],
  ]
  for (const [name, op, result] of rows) {
    test(`refused: ${name}`, () => assert.throws(() => decodeLinkResult(op, result), (e) => code(e) === 'ERR_LINK_MALFORMED'))
  }
  test("the sealed body is an infer request's and result's payload (framed by reference); other ops have none", () => {
    const body = Uint8Array.of(1)
    assert.equal(linkRequestPayload('infer', { kid: 'k', model: 'm', version: null, body }), body)
    assert.equal(linkResultPayload('infer', { body, receipt: receiptV2 }), body)
    assert.equal(linkRequestPayload('attest', { nonce: null }), undefined)
    assert.equal(linkResultPayload('attest', { bundle: body }), undefined)
  })
})

describe('link addresses', () => {
  test('tcp://HOST:PORT (IPv6 in brackets), unix:PATH and bare paths; port 0 only for a listener; anything else named', () => {
    assert.deepEqual(parseLinkAddress('/run/vouch/enclave.sock'), { path: '/run/vouch/enclave.sock' })
    assert.deepEqual(parseLinkAddress('unix:/run/a.sock'), { path: '/run/a.sock' })
    assert.deepEqual(parseLinkAddress('tcp://10.0.0.2:7000'), { host: '10.0.0.2', port: 7000 })
    assert.deepEqual(parseLinkAddress('tcp://[::1]:7000'), { host: '::1', port: 7000 })
    assert.deepEqual(parseLinkAddress('tcp://127.0.0.1:0', { anyPort: true }), { host: '127.0.0.1', port: 0 })
    assert.throws(() => parseLinkAddress('tcp://h:0'), /port must be 1 to 65535/)
    assert.throws(() => parseLinkAddress('tcp://h:70000'), /port must be 1 to 65535/)
    assert.throws(() => parseLinkAddress('tcp://h'), /expected tcp:\/\/HOST:PORT/)
    assert.throws(() => parseLinkAddress('unix:'), /unix: needs a socket path/)
    assert.throws(() => parseLinkAddress('vsock://3:7000'), /expected tcp:\/\/HOST:PORT, unix:PATH or a socket path/)
    assert.equal(formatTcpAddress('::1', 7000), 'tcp://[::1]:7000')
    assert.equal(formatTcpAddress('10.0.0.2', 7000), 'tcp://10.0.0.2:7000')
  })
})

describe('fleet attestation document', () => {
  const member = { challenged: Uint8Array.of(1, 2), unchallenged: Uint8Array.of(3) }
  const fleet: FleetAttestation = { v: 1, nonce: new Uint8Array(32).fill(7), archived: false, enclaves: [member, member] }
  test('round-trips; every field is checked, by path', () => {
    assert.deepEqual(decodeFleet(encodeFleet(fleet)), fleet)
    const malformed = (value: unknown): string[] => {
      try {
        decodeFleet(encodeCbor(value))
      } catch (error) {
        assert.equal((error as { code?: string }).code, 'ERR_PROTOCOL_MALFORMED')
        return (error as { issues: string[] }).issues
      }
      assert.fail('expected ERR_PROTOCOL_MALFORMED')
    }
    assert.ok(malformed({ ...fleet, nonce: new Uint8Array(31) }).some((i) => i.startsWith('nonce')))
    assert.ok(malformed({ ...fleet, archived: 'no' }).some((i) => i.startsWith('archived')))
    assert.ok(malformed({ ...fleet, enclaves: [{ challenged: new Uint8Array(0), unchallenged: Uint8Array.of(1) }] }).some((i) => i.startsWith('enclaves[0].challenged')))
    assert.ok(malformed({ ...fleet, enclaves: [{ challenged: Uint8Array.of(1) }] }).some((i) => i.startsWith('enclaves[0].unchallenged')))
    assert.ok(malformed({ ...fleet, enclaves: Array.from({ length: FLEET_LIMITS.enclaves + 1 }, () => member) }).length > 0)
    assert.ok(malformed({ ...fleet, extra: 1 }).length > 0)
    assert.throws(() => decodeFleet(encodeCbor({ ...fleet, v: 2 })), (e: { code?: string }) => e.code === 'ERR_PROTOCOL_UNSUPPORTED_VERSION')
  })
})
