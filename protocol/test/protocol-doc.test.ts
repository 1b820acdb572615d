/**
 * docs/protocol.md's test vectors are what the code computes (so the page cannot go stale), and they
 * check out against independent code: `hpke`'s WebCrypto suite opens the request body, plain node:crypto
 * verifies the receipt and opens the response body, and the digests are recomputed with node:crypto.
 */
import assert from 'node:assert/strict'
import { createDecipheriv, createHash, createHmac, createPublicKey, hkdfSync, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import * as HPKE from 'hpke'
import { computeProtocolVectors, DOC_PATH, renderProtocolVectors, VECTOR_INPUTS, vectorBlock } from '../../scripts/protocol-vectors.js'

const vectors = await computeProtocolVectors()
const hex = (s: string): Buffer => Buffer.from(s, 'hex')

test('docs/protocol.md holds exactly the vectors the code computes (run scripts/protocol-vectors.ts to refresh)', () => {
  assert.equal(vectorBlock(readFileSync(DOC_PATH, 'utf8')), renderProtocolVectors(vectors))
})

test('the binding vectors recompute with node:crypto from their JCS texts', () => {
  assert.equal(vectors['keyset digest'], `sha256:${createHash('sha256').update(vectors['keyset JCS']!).digest('hex')}`)
  assert.equal(vectors['REPORT_DATA'], createHash('sha512').update(vectors['statement JCS']!).digest('hex'))
  assert.equal(vectors['unchallenged REPORT_DATA'], createHash('sha512').update(vectors['unchallenged statement JCS']!).digest('hex'))
  const keysetDigest = hex(vectors['keyset digest']!.slice(7))
  assert.equal(vectors['GPU nonce'], createHash('sha256').update(Buffer.concat([Buffer.from('vouch/gpu-nonce/v1'), hex(VECTOR_INPUTS.nonce), keysetDigest])).digest('hex'))
})

test('the v2 binding vectors recompute from their JCS texts: REPORT_DATA over the statement, the GPU nonce over it without gpus', () => {
  assert.equal(vectors['manifest digest'], `sha256:${createHash('sha256').update(vectors['manifest JCS']!).digest('hex')}`)
  assert.equal(vectors['v2 REPORT_DATA'], createHash('sha512').update(vectors['v2 statement JCS']!).digest('hex'))
  const statement = JSON.parse(vectors['v2 statement JCS']!) as Record<string, unknown>
  assert.equal((statement['models'] as Array<{ manifest: string }>)[0]!.manifest, vectors['manifest digest'])
  // JCS of this data (strings, integers, null; no escapes) is JSON with every object's keys sorted.
  const sorted = (v: unknown): unknown => (Array.isArray(v) ? v.map(sorted) : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sorted(x)])) : v)
  assert.equal(JSON.stringify(sorted(statement)), vectors['v2 statement JCS'])
  const { gpus: _gpus, ...rest } = statement
  const withoutGpus = JSON.stringify(sorted(rest))
  assert.equal(vectors['v2 GPU nonce'], createHash('sha256').update(Buffer.concat([Buffer.from('vouch/gpu-nonce/v2'), Buffer.from(withoutGpus)])).digest('hex'))
})

test('both receipts verify with node:crypto Ed25519 under the RFC 8032 TEST 1 public key', () => {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: hex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a').toString('base64url') }, format: 'jwk' })
  for (const [receipt, payload] of [[vectors['receipt']!, vectors['receipt v2 payload JCS']!], [vectors['receipt v1']!, vectors['receipt v1 payload JCS']!]] as const) {
    const [h, p, s] = receipt.split('.') as [string, string, string]
    assert.equal(Buffer.from(p, 'base64url').toString(), payload)
    assert.ok(verify(null, Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url')))
  }
})

test("the v2 receipt's commitments recompute: hpke's WebCrypto suite exports the opening, node:crypto's HMAC-SHA-256 commits", async () => {
  const suite = new HPKE.CipherSuite(HPKE.KEM_DHKEM_X25519_HKDF_SHA256, HPKE.KDF_HKDF_SHA256, HPKE.AEAD_AES_256_GCM)
  const body = hex(vectors['request body']!)
  const ctx = await suite.SetupRecipient(await suite.DeserializePrivateKey(hex(VECTOR_INPUTS.encPrivateKey), true), body.subarray(0, 32), { info: hex(vectors['request info']!) })
  const opening = Buffer.from(await ctx.Export(new TextEncoder().encode('vouch/receipt-commitment/v1'), 32))
  assert.equal(opening.toString('hex'), vectors['receipt opening'])
  const v2 = JSON.parse(vectors['receipt v2 payload JCS']!) as { request: string; response: string }
  const v1 = JSON.parse(vectors['receipt v1 payload JCS']!) as { request: string; response: string }
  const hmac = (bytes: Buffer): string => `hmac-sha256:${createHmac('sha256', opening).update(bytes).digest('hex')}`
  assert.equal(v2.request, hmac(hex(vectors['request plaintext']!)))
  assert.equal(v2.response, hmac(hex(vectors['outputs CBOR']!)))
  // The v1 receipt of the same answer names plain digests of the same bytes.
  assert.equal(v1.request, `sha256:${createHash('sha256').update(hex(vectors['request plaintext']!)).digest('hex')}`)
  assert.equal(v1.response, `sha256:${createHash('sha256').update(hex(vectors['outputs CBOR']!)).digest('hex')}`)
})

test('hpke’s WebCrypto suite opens the request body; HKDF and AES-GCM from node:crypto open the response body', async () => {
  const suite = new HPKE.CipherSuite(HPKE.KEM_DHKEM_X25519_HKDF_SHA256, HPKE.KDF_HKDF_SHA256, HPKE.AEAD_AES_256_GCM)
  const skR = await suite.DeserializePrivateKey(hex(VECTOR_INPUTS.encPrivateKey), true)
  const body = hex(vectors['request body']!)
  const ctx = await suite.SetupRecipient(skR, body.subarray(0, 32), { info: hex(vectors['request info']!) })
  assert.equal(Buffer.from(await ctx.Open(body.subarray(32))).toString('hex'), vectors['request plaintext'])

  const secret = await ctx.Export(new TextEncoder().encode('vouch/response/v1'), 32)
  const response = hex(vectors['response body']!)
  const responseNonce = response.subarray(0, 32)
  const salt = Buffer.concat([body.subarray(0, 32), responseNonce])
  const key = Buffer.from(hkdfSync('sha256', secret, salt, 'key', 32))
  const nonce = Buffer.from(hkdfSync('sha256', secret, salt, 'nonce', 12))
  const d = createDecipheriv('aes-256-gcm', key, nonce)
  d.setAuthTag(response.subarray(response.length - 16))
  const plaintext = Buffer.concat([d.update(response.subarray(32, response.length - 16)), d.final()])
  assert.equal(plaintext.toString('hex'), vectors['response plaintext'])
  assert.equal(responseNonce.toString('hex'), VECTOR_INPUTS.responseNonce)
})
