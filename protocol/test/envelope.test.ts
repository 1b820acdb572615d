/**
 * The sealed envelope: request and response round trips, every way opening fails (one code, no detail),
 * the plaintext codecs, and timings for the two sizes DESIGN.md §4 names.
 */
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import * as HPKE from 'hpke'
import {
  concatBytes,
  decodeCbor,
  decodeRequestPlaintext,
  decodeResponsePlaintext,
  ENC_SIZE,
  encodeCbor,
  encodeRequestPlaintext,
  encodeResponsePlaintext,
  exportReceiptOpening,
  openRequest,
  openResponse,
  requestInfo,
  RESPONSE_NONCE_SIZE,
  sealRequest,
  sealResponse,
  sealResponsePlaintext,
  TAG_SIZE,
  type ProtocolError,
  type RequestPlaintext,
  type ResponsePlaintext,
  type X25519PrivateJwk,
} from '@vouch/protocol'
import { fp32Tensor, seedBytes, testKeys } from './helpers/fixtures.js'

const { keyset, enc: encKey } = testKeys()
const KID = keyset.kid
const openFailed = (e: ProtocolError): boolean => e.code === 'ERR_ENVELOPE_OPEN_FAILED' && e.message === 'the sealed body could not be opened' && e.cause === undefined

async function roundTrip(plaintext: Uint8Array) {
  const sealed = await sealRequest(keyset.enc, KID, plaintext)
  const opened = await openRequest(encKey, KID, sealed.body)
  return { sealed, opened }
}

describe('request and response', () => {
  test('a request sealed to the keyset opens with its private key; the response opens with the client context', async () => {
    const plaintext = new TextEncoder().encode('request')
    const { sealed, opened } = await roundTrip(plaintext)
    assert.equal(sealed.body.length, ENC_SIZE + plaintext.length + TAG_SIZE)
    assert.deepEqual(opened.plaintext, plaintext)
    assert.equal(opened.context.role, 'enclave')
    assert.equal(sealed.context.role, 'client')
    assert.deepEqual(opened.context.enc, sealed.body.subarray(0, ENC_SIZE))
    const response = await sealResponse(opened.context, new TextEncoder().encode('response'))
    assert.equal(response.length, RESPONSE_NONCE_SIZE + 8 + TAG_SIZE)
    assert.equal(new TextDecoder().decode(await openResponse(sealed.context, response)), 'response')
  })

  test('KeyObjects and JWKs work alike, and an empty plaintext is fine', async () => {
    const jwk = encKey.export({ format: 'jwk' }) as X25519PrivateJwk
    const { createPublicKey } = await import('node:crypto')
    const sealed = await sealRequest(createPublicKey(encKey), KID, new Uint8Array(0))
    assert.deepEqual((await openRequest(jwk, KID, sealed.body)).plaintext, new Uint8Array(0))
  })

  test('each seal is fresh: same plaintext, different bodies; each response nonce is fresh', async () => {
    const p = new Uint8Array(10)
    const a = await sealRequest(keyset.enc, KID, p)
    const b = await sealRequest(keyset.enc, KID, p)
    assert.notDeepEqual(a.body, b.body)
    const opened = await openRequest(encKey, KID, a.body)
    assert.notDeepEqual(await sealResponse(opened.context, p), await sealResponse(opened.context, p))
  })

  test("the receipt's opening: the same 32 bytes on both sides, another for each request, and not the response key", async () => {
    const { sealed, opened } = await roundTrip(new TextEncoder().encode('request'))
    const opening = await exportReceiptOpening(sealed.context)
    assert.equal(opening.length, 32)
    assert.deepEqual(await exportReceiptOpening(opened.context), opening)
    assert.notDeepEqual(await exportReceiptOpening((await roundTrip(new TextEncoder().encode('request'))).sealed.context), opening)
    // An independent HPKE implementation (hpke's WebCrypto suite) exports the same opening under its label, and
    // another secret under the response's: the exporter's labels keep the two apart (RFC 9180 §5.3).
    const suite = new HPKE.CipherSuite(HPKE.KEM_DHKEM_X25519_HKDF_SHA256, HPKE.KDF_HKDF_SHA256, HPKE.AEAD_AES_256_GCM)
    const skR = await suite.DeserializePrivateKey(seedBytes('test/enc'), true)
    const ctx = await suite.SetupRecipient(skR, sealed.body.subarray(0, ENC_SIZE), { info: requestInfo(KID) })
    const exported = async (label: string): Promise<Uint8Array> => new Uint8Array(await ctx.Export(new TextEncoder().encode(label), 32))
    assert.deepEqual(await exported('vouch/receipt-commitment/v1'), opening)
    assert.notDeepEqual(await exported('vouch/response/v1'), opening)
    await assert.rejects(exportReceiptOpening({ role: 'client', kid: KID, enc: new Uint8Array(32) }), TypeError)
  })

  test('a 4.9 MB body round trips (the headroom path)', async () => {
    const big = new Uint8Array(randomBytes(4_915_200))
    const { sealed, opened } = await roundTrip(big)
    assert.equal(sealed.body.byteOffset, 0)
    assert.deepEqual(opened.plaintext, big)
    assert.deepEqual(await openResponse(sealed.context, await sealResponse(opened.context, big)), big)
  })
})

describe('opening in place (the enclave, over a frame it owns)', () => {
  test('the plaintext is the same, written over the body: a view of its bytes, nothing of its size allocated', async () => {
    // Sizes around the 64 KiB pieces: none, under one, exactly one, one and a byte, and the detector's.
    for (const size of [0, 100, 65_536, 65_537, 4_915_200]) {
      const plaintext = new Uint8Array(randomBytes(size))
      const { body, context } = await sealRequest(keyset.enc, KID, plaintext)
      const opened = await openRequest(encKey, KID, body, { inPlace: true })
      assert.deepEqual(opened.plaintext, plaintext, `${size} bytes`)
      assert.equal(opened.plaintext.buffer, body.buffer, `${size} bytes: a view of the body`)
      assert.equal(opened.plaintext.byteOffset, body.byteOffset + ENC_SIZE)
      assert.deepEqual(body.subarray(ENC_SIZE, ENC_SIZE + size), plaintext)
      // The context is as good as one opened the ordinary way: the answer opens on the client.
      const answer = new Uint8Array(randomBytes(64))
      assert.deepEqual(await openResponse(context, await sealResponse(opened.context, answer)), answer)
    }
  })

  test('a body that does not open fails alike, and no unauthenticated plaintext is left in it', async () => {
    const plaintext = new Uint8Array(200_000).fill(0x5a)
    const { body } = await sealRequest(keyset.enc, KID, plaintext)
    for (const at of [ENC_SIZE + 10, body.length - 1]) {
      const bad = Uint8Array.from(body)
      bad[at]! ^= 0x01
      await assert.rejects(openRequest(encKey, KID, bad, { inPlace: true }), openFailed, `byte ${at}`)
      assert.ok(bad.subarray(ENC_SIZE, bad.length - TAG_SIZE).every((b) => b === 0), `byte ${at}: the decrypted bytes are zeroed`)
    }
    // Another kid: another key schedule, so the tag fails; zeroed alike.
    const otherKid = Uint8Array.from(body)
    await assert.rejects(openRequest(encKey, 'another-kid', otherKid, { inPlace: true }), openFailed)
    assert.ok(otherKid.subarray(ENC_SIZE, otherKid.length - TAG_SIZE).every((b) => b === 0))
    // Refused before any decryption (a malformed kid): the body is left as it was.
    const untouched = Uint8Array.from(body)
    await assert.rejects(openRequest(encKey, 'not a kid!', untouched, { inPlace: true }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
    assert.deepEqual(untouched, body)
  })

  test('without the option the body is left as it was', async () => {
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(70_000).fill(1))
    const copy = Uint8Array.from(body)
    await openRequest(encKey, KID, body)
    assert.deepEqual(body, copy)
  })
})

describe('opening a response in place (the client)', () => {
  const exchange = async (answer: Uint8Array) => {
    const sealed = await sealRequest(keyset.enc, KID, new Uint8Array(8))
    const { context } = await openRequest(encKey, KID, sealed.body)
    return { context: sealed.context, body: await sealResponse(context, answer) }
  }

  test('opens to the same plaintext, a view of the body, at every size around a 64 KiB piece', async () => {
    for (const size of [0, 100, 65_536, 65_537, 1_638_400]) {
      const answer = new Uint8Array(randomBytes(size))
      const { context, body } = await exchange(answer)
      const copy = Uint8Array.from(body)
      assert.deepEqual(await openResponse(context, copy), answer, `${size} bytes, not in place`)
      const opened = await openResponse(context, body, { inPlace: true })
      assert.deepEqual(opened, answer, `${size} bytes`)
      assert.equal(opened.buffer, body.buffer, `${size} bytes: a view of the body`)
      assert.equal(opened.byteOffset, body.byteOffset + RESPONSE_NONCE_SIZE)
    }
  })

  test('a response that does not open fails alike, and no unauthenticated plaintext is left in it', async () => {
    const { context, body } = await exchange(new Uint8Array(200_000).fill(0x5a))
    for (const at of [0, RESPONSE_NONCE_SIZE + 10, body.length - 1]) {
      const bad = Uint8Array.from(body)
      bad[at]! ^= 0x01
      await assert.rejects(openResponse(context, bad, { inPlace: true }), openFailed, `byte ${at}`)
      assert.ok(bad.subarray(RESPONSE_NONCE_SIZE, bad.length - TAG_SIZE).every((b) => b === 0), `byte ${at}: the decrypted bytes are zeroed`)
    }
  })
})

describe('sealing a response plaintext in one buffer (the enclave)', () => {
  const response = (outputs: ResponsePlaintext['outputs']): ResponsePlaintext => ({
    v: 1,
    id: 'req-1',
    model: { name: 'ppocr-det', version: '1', digest: `sha256:${'ab'.repeat(32)}` },
    outputs,
    receipt: 'aGVhZGVy.cGF5bG9hZA.c2ln',
  })

  test('opens to exactly the encoded plaintext, small and detector-sized, each sealed afresh', async () => {
    const several = [fp32Tensor('a', [16_384]), { name: 'empty', datatype: 'FP32' as const, shape: [0], data: new Uint8Array(0) }, fp32Tensor('b', [3])]
    // Sealed piece by piece around each tensor's data: none, several (one exactly a 64 KiB AES piece, one empty, one
    // data array twice), and the detector's.
    for (const outputs of [[], [fp32Tensor('y', [1, 2])], several, [...several, { ...several[0]!, name: 'again' }], [fp32Tensor('sigmoid_0.tmp_0', [1, 1, 640, 640])]]) {
      const plaintext = response(outputs)
      const sealed = await sealRequest(keyset.enc, KID, new Uint8Array(8))
      const { context } = await openRequest(encKey, KID, sealed.body)
      const body = await sealResponsePlaintext(context, plaintext)
      assert.equal(body.length, RESPONSE_NONCE_SIZE + encodeResponsePlaintext(plaintext).length + TAG_SIZE)
      assert.deepEqual(await openResponse(sealed.context, body), encodeResponsePlaintext(plaintext))
      assert.notDeepEqual(body.subarray(0, RESPONSE_NONCE_SIZE), (await sealResponsePlaintext(context, plaintext)).subarray(0, RESPONSE_NONCE_SIZE), 'a fresh nonce')
      // Every byte is authenticated: the nonce, the ciphertext (both sides of a 64 KiB piece) and the tag.
      for (const at of [0, RESPONSE_NONCE_SIZE, RESPONSE_NONCE_SIZE + 65_536, body.length - 1].filter((i) => i < body.length)) {
        const bad = Uint8Array.from(body)
        bad[at]! ^= 0x01
        await assert.rejects(openResponse(sealed.context, bad), openFailed, `byte ${at}`)
      }
    }
  })

  test('refuses what sealResponse and encodeResponsePlaintext refuse', async () => {
    const sealed = await sealRequest(keyset.enc, KID, new Uint8Array(8))
    const { context } = await openRequest(encKey, KID, sealed.body)
    await assert.rejects(sealResponsePlaintext(context, response([fp32Tensor('y', [1, 300])]), { maxPlaintextBytes: 1000 }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_TOO_LARGE')
    await assert.rejects(sealResponsePlaintext(context, { ...response([]), receipt: 'not a jws' }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
    await assert.rejects(sealResponsePlaintext(sealed.context, response([fp32Tensor('y', [1])])), TypeError)
  })
})

describe('opening fails with ERR_ENVELOPE_OPEN_FAILED and no detail', () => {
  test('a flipped byte anywhere: enc, ciphertext, tag', async () => {
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(64))
    for (const at of [0, 31, ENC_SIZE, ENC_SIZE + 40, body.length - 1]) {
      const bad = Uint8Array.from(body)
      bad[at]! ^= 0x01
      await assert.rejects(openRequest(encKey, KID, bad), openFailed, `byte ${at}`)
    }
  })

  test('another kid in info', async () => {
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(8))
    await assert.rejects(openRequest(encKey, 'kid-other', body), openFailed)
  })

  test('another private key', async () => {
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(8))
    await assert.rejects(openRequest(testKeys('other').enc, KID, body), openFailed)
  })

  test('a truncated body, at every length that matters', async () => {
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(8))
    for (const n of [0, 1, ENC_SIZE, ENC_SIZE + TAG_SIZE - 1, body.length - 1]) {
      await assert.rejects(openRequest(encKey, KID, body.subarray(0, n)), openFailed, `length ${n}`)
    }
  })

  test('extra bytes after the body', async () => {
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(8))
    await assert.rejects(openRequest(encKey, KID, concatBytes(body, new Uint8Array(1))), openFailed)
  })

  test('a low-order enc (the all-zero X25519 result)', async () => {
    const body = concatBytes(new Uint8Array(ENC_SIZE), new Uint8Array(TAG_SIZE + 4))
    await assert.rejects(openRequest(encKey, KID, body), openFailed)
  })

  test('a response under another request’s context, flipped or truncated', async () => {
    const a = await roundTrip(new Uint8Array(4))
    const b = await roundTrip(new Uint8Array(4))
    const response = await sealResponse(a.opened.context, new TextEncoder().encode('for a'))
    await assert.rejects(openResponse(b.sealed.context, response), openFailed)
    const flipped = Uint8Array.from(response)
    flipped[3]! ^= 0x80 // inside the response nonce: another key and nonce
    await assert.rejects(openResponse(a.sealed.context, flipped), openFailed)
    await assert.rejects(openResponse(a.sealed.context, response.subarray(0, RESPONSE_NONCE_SIZE + TAG_SIZE - 1)), openFailed)
    assert.equal(new TextDecoder().decode(await openResponse(a.sealed.context, response)), 'for a')
  })
})

describe('limits and misuse', () => {
  test('a body or plaintext over the limit is ERR_PROTOCOL_TOO_LARGE, before any crypto', async () => {
    const tooLarge = (e: ProtocolError): boolean => e.code === 'ERR_PROTOCOL_TOO_LARGE'
    await assert.rejects(sealRequest(keyset.enc, KID, new Uint8Array(101), { maxPlaintextBytes: 100 }), tooLarge)
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(101))
    await assert.rejects(openRequest(encKey, KID, body, { maxPlaintextBytes: 100 }), tooLarge)
    assert.ok(await openRequest(encKey, KID, body, { maxPlaintextBytes: 101 }))
    const { sealed, opened } = await roundTrip(new Uint8Array(1))
    await assert.rejects(sealResponse(opened.context, new Uint8Array(101), { maxPlaintextBytes: 100 }), tooLarge)
    const response = await sealResponse(opened.context, new Uint8Array(101))
    await assert.rejects(openResponse(sealed.context, response, { maxPlaintextBytes: 100 }), tooLarge)
  })

  test('a malformed kid from the wire is ERR_PROTOCOL_MALFORMED; from the caller a TypeError', async () => {
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(1))
    await assert.rejects(openRequest(encKey, 'bad kid', body), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
    await assert.rejects(sealRequest(keyset.enc, '', new Uint8Array(1)), TypeError)
  })

  test('wrong key types are TypeErrors', async () => {
    const ed = generateKeyPairSync('ed25519')
    await assert.rejects(sealRequest(ed.publicKey, KID, new Uint8Array(1)), TypeError)
    await assert.rejects(sealRequest(keyset.sig as never, KID, new Uint8Array(1)), TypeError)
    const { body } = await sealRequest(keyset.enc, KID, new Uint8Array(1))
    await assert.rejects(openRequest(ed.privateKey, KID, body), TypeError)
  })

  test('contexts only work on their own side', async () => {
    const { sealed, opened } = await roundTrip(new Uint8Array(1))
    await assert.rejects(sealResponse(sealed.context, new Uint8Array(1)), TypeError)
    await assert.rejects(openResponse(opened.context, new Uint8Array(64)), TypeError)
    await assert.rejects(sealResponse({ role: 'enclave', kid: KID, enc: new Uint8Array(32) }, new Uint8Array(1)), TypeError)
  })
})

describe('plaintexts', () => {
  const request: RequestPlaintext = {
    v: 1,
    id: 'req-1',
    ts: 1_764_086_400_000,
    model: { name: 'ppocr-cls', version: '1' },
    inputs: [fp32Tensor('x', [1, 3, 48, 192])],
    outputs: [{ name: 'softmax_0.tmp_0' }],
    parameters: { priority: 1, trace: false, tag: 'a' },
  }
  const response: ResponsePlaintext = {
    v: 1,
    id: 'req-1',
    model: { name: 'ppocr-cls', version: '1', digest: `sha256:${'ab'.repeat(32)}` },
    outputs: [fp32Tensor('softmax_0.tmp_0', [1, 2])],
    receipt: 'aGVhZGVy.cGF5bG9hZA.c2ln',
  }

  test('request and response round trip through CBOR', () => {
    assert.deepEqual(decodeRequestPlaintext(encodeRequestPlaintext(request)), request)
    const minimal: RequestPlaintext = { v: 1, id: 'r', ts: 0, model: { name: 'm' }, inputs: [fp32Tensor('x', [1])] }
    assert.deepEqual(decodeRequestPlaintext(encodeRequestPlaintext(minimal)), minimal)
    assert.deepEqual(decodeResponsePlaintext(encodeResponsePlaintext(response)), response)
  })

  const requestCases: { name: string; edit: (r: Record<string, unknown>) => void; issue: string }[] = [
    { name: 'a missing id', edit: (r) => delete r['id'], issue: 'id: is missing' },
    { name: 'a fractional ts', edit: (r) => (r['ts'] = 1.5), issue: 'ts: must be a non-negative integer' },
    { name: 'a model without a name', edit: (r) => (r['model'] = { version: '1' }), issue: 'model.name: is missing' },
    { name: 'no inputs', edit: (r) => (r['inputs'] = []), issue: 'inputs: must hold at least 1 tensor' },
    { name: 'an input of the wrong length', edit: (r) => ((r['inputs'] as Record<string, unknown>[])[0]!['data'] = new Uint8Array(3)), issue: 'inputs[0].data: must be 110592 bytes' },
    { name: 'two inputs of one name', edit: (r) => (r['inputs'] = [fp32Tensor('x', [1]), fp32Tensor('x', [1])]), issue: 'inputs[1].name: duplicates inputs[0].name' },
    { name: 'an output asked twice', edit: (r) => (r['outputs'] = [{ name: 'o' }, { name: 'o' }]), issue: 'outputs[1].name: is requested twice' },
    { name: 'a nested parameter', edit: (r) => (r['parameters'] = { a: [1] }), issue: 'parameters.a: must be a string, a finite number or a boolean' },
    { name: 'an unknown field', edit: (r) => (r['stream'] = true), issue: 'stream: is not a known field' },
  ]
  for (const c of requestCases) {
    test(`a request with ${c.name} is ERR_PROTOCOL_MALFORMED naming it`, () => {
      const r = decodeCbor(encodeRequestPlaintext(request)) as Record<string, unknown>
      c.edit(r)
      assert.throws(() => decodeRequestPlaintext(encodeCbor(r)), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' && e.issues.some((i) => i.startsWith(c.issue)))
    })
  }

  test('plaintext versions other than 1 are ERR_PROTOCOL_UNSUPPORTED_VERSION', () => {
    assert.throws(() => decodeRequestPlaintext(encodeCbor({ ...request, v: 2 })), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_UNSUPPORTED_VERSION')
    assert.throws(() => decodeResponsePlaintext(encodeCbor({ ...response, v: 2 })), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_UNSUPPORTED_VERSION')
  })

  test('a response with a bad digest or a receipt that is not a JWS', () => {
    const r = decodeCbor(encodeResponsePlaintext(response)) as Record<string, unknown>
    ;(r['model'] as Record<string, unknown>)['digest'] = 'md5:00'
    r['receipt'] = 'not a jws'
    assert.throws(
      () => decodeResponsePlaintext(encodeCbor(r)),
      (e: ProtocolError) => e.issues.includes('model.digest: must be "sha256:" followed by 64 lower-case hex digits') && e.issues.includes('receipt: must be a compact JWS'),
    )
  })

  test('garbage and trailing bytes are ERR_PROTOCOL_MALFORMED', () => {
    assert.throws(() => decodeRequestPlaintext(new Uint8Array([0xff])), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
    assert.throws(() => decodeRequestPlaintext(concatBytes(encodeRequestPlaintext(request), new Uint8Array([0]))), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
  })

  test('encoding refuses a malformed plaintext', () => {
    assert.throws(() => encodeRequestPlaintext({ ...request, id: '' }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
  })
})

describe('timings (reported, not asserted: DESIGN.md §4 expects well under 1 ms for 110 KB, about 15 ms for 4.9 MB)', () => {
  const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!
  async function time(fn: () => Promise<unknown>, n: number): Promise<number> {
    for (let i = 0; i < 3; i++) await fn()
    const xs: number[] = []
    for (let i = 0; i < n; i++) {
      const t = performance.now()
      await fn()
      xs.push(performance.now() - t)
    }
    return median(xs)
  }
  for (const [label, size, n] of [
    ['110 KB (PP-OCR classifier input)', 110_592, 200],
    ['4.9 MB (PP-OCR detector input)', 4_915_200, 20],
  ] as const) {
    test(label, async (t) => {
      const pt = new Uint8Array(randomBytes(size))
      let sealed = await sealRequest(keyset.enc, KID, pt)
      const seal = await time(async () => (sealed = await sealRequest(keyset.enc, KID, pt)), n)
      let opened = await openRequest(encKey, KID, sealed.body)
      const open = await time(async () => (opened = await openRequest(encKey, KID, sealed.body)), n)
      let response = await sealResponse(opened.context, pt)
      const sealR = await time(async () => (response = await sealResponse(opened.context, pt)), n)
      const openR = await time(() => openResponse(sealed.context, response), n)
      t.diagnostic(`sealRequest ${seal.toFixed(3)} ms, openRequest ${open.toFixed(3)} ms, sealResponse ${sealR.toFixed(3)} ms, openResponse ${openR.toFixed(3)} ms (medians of ${n})`)
    })
  }
})
