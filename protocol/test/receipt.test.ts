/** Receipts: sign, take apart, verify; every malformed receipt and every bad signature by code; v2 commitments and v1 digests. */
import assert from 'node:assert/strict'
import { createHash, createHmac, createPublicKey } from 'node:crypto'
import { describe, test } from 'node:test'
import { CompactSign } from 'jose'
import {
  decodeReceipt,
  encodeCbor,
  encodeResponsePlaintext,
  encodeTensors,
  outputsDigest,
  receiptCommitment,
  receiptEvidence,
  sha256Digest,
  signReceipt,
  tensorPieces,
  toBase64Url,
  verifyReceiptSignature,
  type Ed25519PrivateJwk,
  type ProtocolError,
  type ReceiptPayload,
} from '@vouch/protocol'
import { fp32Tensor, testKeys, testOpening, testReceiptPayload } from './helpers/fixtures.js'

const { keyset, sig } = testKeys()
const other = testKeys('other')
const payload: ReceiptPayload = testReceiptPayload(2)
const payloadV1: ReceiptPayload = testReceiptPayload(1)
const malformed = (e: ProtocolError): boolean => e.code === 'ERR_RECEIPT_MALFORMED'
const b64json = (value: unknown): string => toBase64Url(new TextEncoder().encode(JSON.stringify(value)))

/** A JWS with any header and payload, validly signed by `key` (Ed25519). */
function forge(header: Record<string, unknown>, body: unknown, key = sig): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(body))).setProtectedHeader({ alg: 'EdDSA', ...header }).sign(key)
}

describe('sign and verify', () => {
  test('a receipt verifies under the keyset’s sig key and decodes to the payload', async () => {
    const jws = await signReceipt(payload, sig, keyset.kid)
    const decoded = await verifyReceiptSignature(jws, keyset.sig, { kid: keyset.kid })
    assert.deepEqual(decoded, { header: { alg: 'EdDSA', typ: 'vouch-receipt+jws', kid: keyset.kid }, payload })
    assert.deepEqual(decodeReceipt(jws), decoded)
    assert.deepEqual(await verifyReceiptSignature(jws, createPublicKey(sig)), decoded)
  })

  test('signing with a KeyObject (node:crypto) and with the JWK (jose) gives the same receipt', async () => {
    const jwk = sig.export({ format: 'jwk' }) as { kty: 'OKP'; crv: 'Ed25519'; x: string; d: string }
    assert.equal(await signReceipt(payload, sig, keyset.kid), await signReceipt(payload, jwk, keyset.kid))
  })

  test('the protected header is exactly { alg, typ, kid } and the payload is JCS text', async () => {
    const [h, p] = (await signReceipt(payload, sig, keyset.kid)).split('.') as [string, string]
    assert.equal(Buffer.from(h, 'base64url').toString(), `{"alg":"EdDSA","typ":"vouch-receipt+jws","kid":"${keyset.kid}"}`)
    assert.ok(Buffer.from(p, 'base64url').toString().startsWith('{"attribution":[{"id":'))
  })

  test('deterministic: the same payload and key give the same receipt, whatever the property order', async () => {
    const reordered = Object.fromEntries(Object.entries(payload).reverse()) as unknown as ReceiptPayload
    assert.equal(await signReceipt(reordered, sig, keyset.kid), await signReceipt(payload, sig, keyset.kid))
  })

  test('a private JWK signs too, and the caller’s JWK object is not frozen', async () => {
    const jwk = sig.export({ format: 'jwk' }) as Ed25519PrivateJwk
    assert.equal(await signReceipt(payload, jwk, keyset.kid), await signReceipt(payload, sig, keyset.kid))
    assert.equal(Object.isFrozen(jwk), false)
    const pub = { ...keyset.sig }
    await verifyReceiptSignature(await signReceipt(payload, sig, keyset.kid), pub)
    assert.equal(Object.isFrozen(pub), false)
  })

  test('outputsDigest is SHA-256 of the CBOR outputs array, as the response carries it', () => {
    const outputs = [fp32Tensor('a', [1, 2]), fp32Tensor('b', [3])]
    assert.equal(outputsDigest(outputs), sha256Digest(encodeCbor(outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, data: o.data })))))
    const response = encodeResponsePlaintext({ v: 1, id: 'r', model: payload.model, outputs, receipt: 'a.b.c' })
    const cbor = Buffer.from(encodeCbor(outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape, data: o.data }))))
    assert.ok(Buffer.from(response).includes(cbor), 'the response holds the very bytes the digest covers')
  })

  test('signReceipt refuses a malformed payload or kid', async () => {
    await assert.rejects(signReceipt({ ...payload, request: 'sha1:00' }, sig, keyset.kid), malformed)
    await assert.rejects(signReceipt(payload, sig, 'a b'), malformed)
  })
})

describe('v2 commitments and v1 digests', () => {
  test('receiptCommitment is HMAC-SHA-256 keyed with the opening, written hmac-sha256:<hex>', () => {
    const bytes = new TextEncoder().encode('request')
    assert.equal(receiptCommitment(testOpening(), bytes), `hmac-sha256:${createHmac('sha256', testOpening()).update(bytes).digest('hex')}`)
    assert.equal(payload.request, receiptCommitment(testOpening(), bytes))
    // Without the opening it is not the digest anyone could compute from a guess.
    assert.notEqual(payload.request.slice('hmac-sha256:'.length), createHash('sha256').update(bytes).digest('hex'))
  })

  test('encodeTensors is the CBOR the response carries: a v2 response commits to it, a v1 response digests it', () => {
    const outputs = [fp32Tensor('a', [1, 2])]
    assert.equal(outputsDigest(outputs), sha256Digest(encodeTensors(outputs)))
    assert.match(receiptCommitment(testOpening(), encodeTensors(outputs)), /^hmac-sha256:[0-9a-f]{64}$/)
  })

  test('the outputs in pieces are encodeTensors byte for byte, each tensor\'s data a piece itself (not a copy), and commit alike', () => {
    const join = (pieces: Uint8Array[]): Uint8Array => Uint8Array.from(pieces.flatMap((p) => [...p]))
    const shared = fp32Tensor('shared', [3])
    const cases: Array<{ what: string; tensors: Parameters<typeof encodeTensors>[0] }> = [
      { what: 'no tensors', tensors: [] },
      { what: 'an empty tensor', tensors: [{ name: 'e', datatype: 'FP32', shape: [0], data: new Uint8Array(0) }] },
      // Byte-string heads of every width: under 24 bytes, one byte, two bytes, four bytes of length.
      ...[1, 5, 6, 64, 16_384, 16_385, 1_000_000].map((n) => ({ what: `${n} FP32 elements`, tensors: [fp32Tensor('t', [n])] })),
      { what: 'two tensors, with parameters and another datatype', tensors: [fp32Tensor('a', [2, 3]), { name: 'b', datatype: 'UINT8' as const, shape: [4], data: Uint8Array.of(1, 2, 3, 4), parameters: { note: 'x' } }] },
      { what: 'one data array in two tensors', tensors: [shared, { ...shared, name: 'again' }] },
      // A tensor whose data holds the bytes of another's CBOR head does not confuse the split.
      { what: 'data that looks like CBOR', tensors: [{ name: 'c', datatype: 'UINT8', shape: [17], data: Uint8Array.of(0x50, ...new Uint8Array(16)) }] },
    ]
    for (const { what, tensors } of cases) {
      const pieces = tensorPieces(tensors)
      assert.deepEqual(join(pieces), encodeTensors(tensors), what)
      for (const t of tensors) if (t.data.length > 0) assert.ok(pieces.includes(t.data), `${what}: ${t.name}'s data is a piece itself`)
      assert.equal(receiptCommitment(testOpening(), pieces), receiptCommitment(testOpening(), encodeTensors(tensors)), what)
    }
  })

  test('receiptCommitment refuses an opening that is not 32 bytes', () => {
    assert.throws(() => receiptCommitment(new Uint8Array(31), new Uint8Array(1)), TypeError)
    assert.throws(() => receiptCommitment('00'.repeat(32) as never, new Uint8Array(1)), TypeError)
  })

  test('a v1 receipt (an enclave before v2) still decodes and verifies', async () => {
    const jws = await signReceipt(payloadV1, sig, keyset.kid)
    assert.deepEqual((await verifyReceiptSignature(jws, keyset.sig, { kid: keyset.kid })).payload, payloadV1)
  })

  test('a v2 receipt holding plain digests, or a v1 receipt holding commitments, is malformed', async () => {
    const v2Digests = await forge({ typ: 'vouch-receipt+jws', kid: keyset.kid }, { ...payload, request: payloadV1.request, response: payloadV1.response })
    assert.throws(() => decodeReceipt(v2Digests), (e: ProtocolError) => malformed(e) && e.issues.includes('payload.request: must be "hmac-sha256:" followed by 64 lower-case hex digits') && e.issues.includes('payload.response: must be "hmac-sha256:" followed by 64 lower-case hex digits'))
    const v1Commitments = await forge({ typ: 'vouch-receipt+jws', kid: keyset.kid }, { ...payloadV1, request: payload.request })
    assert.throws(() => decodeReceipt(v1Commitments), (e: ProtocolError) => malformed(e) && e.issues.includes('payload.request: must be "sha256:" followed by 64 lower-case hex digits'))
    await assert.rejects(signReceipt({ ...payload, response: payloadV1.response }, sig, keyset.kid), malformed)
  })
})

describe('verifyReceiptSignature rejects', () => {
  const invalid = (e: ProtocolError): boolean => e.code === 'ERR_RECEIPT_SIGNATURE_INVALID'

  test('a receipt signed by another key', async () => {
    const jws = await signReceipt(payload, other.sig, keyset.kid)
    await assert.rejects(verifyReceiptSignature(jws, keyset.sig), invalid)
  })

  test('a changed payload or signature', async () => {
    const [h, , s] = (await signReceipt(payload, sig, keyset.kid)).split('.') as [string, string, string]
    await assert.rejects(verifyReceiptSignature(`${h}.${b64json({ ...payload, iat: payload.iat + 1 })}.${s}`, keyset.sig), invalid)
    const flipped = Buffer.from(s, 'base64url')
    flipped[0]! ^= 1
    await assert.rejects(verifyReceiptSignature(`${h}.${b64json(payload)}.${toBase64Url(flipped)}`, keyset.sig), invalid)
  })

  test('another kid than the expected one', async () => {
    const jws = await signReceipt(payload, sig, 'kid-2')
    await assert.rejects(verifyReceiptSignature(jws, keyset.sig, { kid: keyset.kid }), malformed)
  })

  test('a key that is not an Ed25519 public JWK', async () => {
    const jws = await signReceipt(payload, sig, keyset.kid)
    await assert.rejects(verifyReceiptSignature(jws, keyset.enc as never), TypeError)
    await assert.rejects(verifyReceiptSignature(jws, sig.export({ format: 'jwk' }) as never), TypeError)
  })
})

describe('decodeReceipt rejects', () => {
  const cases: { name: string; jws: () => Promise<string>; issue?: string }[] = [
    { name: 'typ JWT', jws: () => forge({ typ: 'JWT', kid: keyset.kid }, payload), issue: 'header.typ: must be "vouch-receipt+jws", got "JWT"' },
    { name: 'a missing typ', jws: () => forge({ kid: keyset.kid }, payload), issue: 'header.typ: is missing' },
    { name: 'alg Ed25519 (only EdDSA is named)', jws: () => forge({ alg: 'Ed25519', typ: 'vouch-receipt+jws', kid: keyset.kid }, payload), issue: 'header.alg: must be "EdDSA", got "Ed25519"' },
    { name: 'alg none', jws: async () => `${b64json({ alg: 'none', typ: 'vouch-receipt+jws', kid: keyset.kid })}.${b64json(payload)}.`, issue: 'header.alg: must be "EdDSA", got "none"' },
    { name: 'alg HS256', jws: async () => `${b64json({ alg: 'HS256', typ: 'vouch-receipt+jws', kid: keyset.kid })}.${b64json(payload)}.${toBase64Url(new Uint8Array(32))}`, issue: 'header.alg: must be "EdDSA", got "HS256"' },
    {
      name: 'a crit header',
      jws: async () => `${b64json({ alg: 'EdDSA', typ: 'vouch-receipt+jws', kid: keyset.kid, crit: ['b64'], b64: false })}.${b64json(payload)}.${toBase64Url(new Uint8Array(64))}`,
      issue: 'header.crit: is not a known field',
    },
    { name: 'an embedded jwk', jws: () => forge({ typ: 'vouch-receipt+jws', kid: keyset.kid, jwk: keyset.sig }, payload), issue: 'header.jwk: is not a known field' },
    { name: 'a payload field missing', jws: () => forge({ typ: 'vouch-receipt+jws', kid: keyset.kid }, { ...payload, evidence: undefined }), issue: 'payload.evidence: is missing' },
    { name: 'an unknown payload field', jws: () => forge({ typ: 'vouch-receipt+jws', kid: keyset.kid }, { ...payload, exp: 1 }), issue: 'payload.exp: is not a known field' },
    { name: 'a bad platform', jws: () => forge({ typ: 'vouch-receipt+jws', kid: keyset.kid }, { ...payload, platform: 'tdx' }), issue: 'payload.platform: must be one of "sev-snp", "simulated"' },
    { name: 'an attribution without a name', jws: () => forge({ typ: 'vouch-receipt+jws', kid: keyset.kid }, { ...payload, attribution: [{ role: 'model', id: 'x' }] }), issue: 'payload.attribution[0].name: is missing' },
    { name: 'two parts', jws: async () => 'a.b' },
    { name: 'a header that is not JSON', jws: async () => `${toBase64Url(new TextEncoder().encode('{'))}.${b64json(payload)}.${toBase64Url(new Uint8Array(64))}` },
    { name: 'padding in a part', jws: async () => `${b64json({ alg: 'EdDSA' })}=.${b64json(payload)}.${toBase64Url(new Uint8Array(64))}` },
  ]
  for (const c of cases) {
    test(`${c.name} as ERR_RECEIPT_MALFORMED`, async () => {
      const jws = await c.jws()
      assert.throws(() => decodeReceipt(jws), (e: ProtocolError) => malformed(e) && (c.issue === undefined || e.issues.includes(c.issue)))
      await assert.rejects(verifyReceiptSignature(jws, keyset.sig), malformed)
    })
  }

  test('payload version 3 as ERR_PROTOCOL_UNSUPPORTED_VERSION', async () => {
    const jws = await forge({ typ: 'vouch-receipt+jws', kid: keyset.kid }, { ...payload, v: 3 })
    assert.throws(() => decodeReceipt(jws), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_UNSUPPORTED_VERSION' && e.message.includes('v1 and v2'))
  })
})

describe('receiptEvidence (what the host reads of every receipt it logs)', () => {
  test('the evidence digest the payload names, v2 and v1, as decodeReceipt reads it', async () => {
    for (const p of [payload, payloadV1]) {
      const jws = await signReceipt(p, sig, keyset.kid)
      assert.equal(receiptEvidence(jws), p.evidence)
      assert.equal(receiptEvidence(jws), decodeReceipt(jws).payload.evidence)
    }
  })
  const signature = toBase64Url(new Uint8Array(64))
  const header = b64json({ alg: 'EdDSA', typ: 'vouch-receipt+jws', kid: keyset.kid })
  const cases: { name: string; jws: unknown }[] = [
    { name: 'not a string', jws: 42 },
    { name: 'two parts', jws: `${header}.${b64json(payload)}` },
    { name: 'four parts', jws: `${header}.${b64json(payload)}.${signature}.x` },
    { name: 'a payload that is not base64url', jws: `${header}.%%%.${signature}` },
    { name: 'a payload that is not JSON', jws: `${header}.${toBase64Url(new TextEncoder().encode('{'))}.${signature}` },
    { name: 'a payload that is not UTF-8', jws: `${header}.${toBase64Url(Uint8Array.of(0x22, 0xff, 0x22))}.${signature}` },
    { name: 'a payload that is a list', jws: `${header}.${b64json([payload])}.${signature}` },
    { name: 'a payload naming no evidence', jws: `${header}.${b64json({ ...payload, evidence: undefined })}.${signature}` },
    { name: 'an evidence that is no sha256 digest', jws: `${header}.${b64json({ ...payload, evidence: 'sha256:AB' })}.${signature}` },
    { name: 'a receipt over 64 KiB', jws: `${header}.${b64json({ ...payload, pad: 'x'.repeat(70_000) })}.${signature}` },
  ]
  for (const c of cases) {
    test(`${c.name} as ERR_RECEIPT_MALFORMED`, () => {
      assert.throws(() => receiptEvidence(c.jws as string), malformed)
    })
  }
})

describe('timing (reported: DESIGN.md §4 expects about 0.2 ms)', () => {
  test('signReceipt and verifyReceiptSignature', async (t) => {
    const median = (xs: number[]): number => xs.sort((a, b) => a - b)[xs.length >> 1]!
    const run = async (fn: () => Promise<unknown>): Promise<number> => {
      for (let i = 0; i < 20; i++) await fn()
      const xs: number[] = []
      for (let i = 0; i < 300; i++) {
        const s = performance.now()
        await fn()
        xs.push(performance.now() - s)
      }
      return median(xs)
    }
    const jws = await signReceipt(payload, sig, keyset.kid)
    const signMs = await run(() => signReceipt(payload, sig, keyset.kid))
    const verifyMs = await run(() => verifyReceiptSignature(jws, keyset.sig))
    t.diagnostic(`signReceipt ${signMs.toFixed(3)} ms, verifyReceiptSignature ${verifyMs.toFixed(3)} ms (medians of 300)`)
  })
})
