/**
 * The two implementations of the platform seam (platform.ts on node:crypto and Buffer, platform.browser.ts on
 * WebCrypto, @noble/hashes and plain JavaScript) give the same answer for the same input: digests, HMAC, hex and
 * base64 (Buffer's lenient decoding included), and signature verdicts, good, tampered and malformed. Node has
 * WebCrypto too, so the browser one runs here; the real browser is verifier/test/browser/bundle.test.ts.
 */
import assert from 'node:assert/strict'
import { constants, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto'
import { describe, test } from 'node:test'
import { platform as browser } from '../src/platform.browser.js'
import { platform as node } from '../src/platform.js'
import type { SignatureScheme } from '../src/platform.types.js'

const DATA = new Uint8Array(randomBytes(1000))

describe('digests, HMAC and encodings', () => {
  test('the implementations are the ones they say', () => {
    assert.equal(node.name, 'node')
    assert.equal(browser.name, 'browser')
  })

  test('SHA-1, SHA-256, SHA-384 and SHA-512 of bytes and of UTF-8 text agree', () => {
    for (const name of ['sha1', 'sha256', 'sha384', 'sha512'] as const) {
      for (const data of [new Uint8Array(0), DATA, 'abc', 'Zürich ✓ \u{1F600}']) {
        assert.deepEqual(browser.digest(name, data), node.digest(name, data), `${name} of ${typeof data === 'string' ? data : data.length}`)
      }
    }
    assert.equal(node.toHex(node.digest('sha256', 'abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })

  test('HMAC-SHA-256 agrees', () => {
    const key = new Uint8Array(randomBytes(32))
    assert.deepEqual(browser.hmacSha256(key, DATA), node.hmacSha256(key, DATA))
    // In pieces, it is the HMAC of their concatenation, on both.
    const pieces = [DATA.subarray(0, 7), new Uint8Array(0), DATA.subarray(7, 300), DATA.subarray(300)]
    assert.deepEqual(node.hmacSha256(key, pieces), node.hmacSha256(key, DATA))
    assert.deepEqual(browser.hmacSha256(key, pieces), node.hmacSha256(key, DATA))
  })

  test('hex and base64 (padded, and unpadded base64url) agree at every length of a block and more', () => {
    for (let n = 0; n < 20; n++) {
      const bytes = DATA.subarray(0, n)
      assert.equal(browser.toHex(bytes), node.toHex(bytes))
      assert.deepEqual(browser.hexToBytes(node.toHex(bytes)), bytes)
      for (const url of [false, true]) {
        const text = node.toBase64(bytes, url)
        assert.equal(browser.toBase64(bytes, url), text)
        assert.deepEqual(browser.base64ToBytes(text), node.base64ToBytes(text))
      }
    }
  })

  test('UTF-8: the same text from the same bytes (malformed ones replaced alike), and the same length of any text', () => {
    const bytes = [Uint8Array.of(0x61, 0xc3, 0xa9), Uint8Array.of(0xff, 0x61, 0xe2, 0x82), Uint8Array.of(0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98, 0x80), Uint8Array.of(0xc0, 0xaf)]
    for (const b of bytes) assert.equal(browser.utf8Text(b), node.utf8Text(b), node.toHex(b))
    for (const text of ['', 'abc', 'é', '✓', '\u{1F600}', '\ud800', 'a\udc00b', '\ud800\ud800\udc00']) {
      assert.equal(browser.utf8Length(text), node.utf8Length(text), JSON.stringify(text))
    }
  })

  test('base64 decodes as leniently as Buffer: other characters skipped, the first = ends it, both alphabets', () => {
    for (const text of ['', 'Y', 'YQ', 'YWI', 'YWJj', 'YW Jj\n', 'YWJj====extra', 'YQ==YWJj', 'YW-_', 'YW+/', '!!YQ==', 'é YWJj', 'YWJj\u{1F600}ZA', 'YWJ\u0141']) {
      assert.deepEqual(browser.base64ToBytes(text), node.base64ToBytes(text), JSON.stringify(text))
    }
  })
})

/** A key pair, its SPKI, and how it signs `DATA` the way each scheme expects. */
function keyOf(type: 'ec' | 'rsa' | 'ed25519', curve?: string): { spki: Uint8Array; privateKey: KeyObject } {
  const pair =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: curve! })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519')
  return { spki: new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' })), privateKey: pair.privateKey }
}

describe('signature verdicts', () => {
  const p384 = keyOf('ec', 'P-384')
  const p256 = keyOf('ec', 'P-256')
  const rsa = keyOf('rsa')
  const ed = keyOf('ed25519')
  const derSig = new Uint8Array(sign('sha384', DATA, { key: p384.privateKey, dsaEncoding: 'der' }))
  const rawSig = new Uint8Array(sign('sha384', DATA, { key: p384.privateKey, dsaEncoding: 'ieee-p1363' }))
  const pssSig = new Uint8Array(sign('sha256', DATA, { key: rsa.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }))
  const edSig = new Uint8Array(sign(null, DATA, ed.privateKey))
  const ecdsa = (encoding: 'der' | 'ieee-p1363', curve: 'P-256' | 'P-384' = 'P-384'): SignatureScheme => ({ kind: 'ecdsa', hash: 'sha384', curve, encoding })
  const tampered = Uint8Array.from(DATA, (b, i) => (i === 0 ? b ^ 1 : b))
  /** A DER ECDSA signature rewritten: `edit` gets r and s (their DER contents) and returns the new SEQUENCE. */
  const rewrite = (edit: (r: Uint8Array, s: Uint8Array) => Uint8Array): Uint8Array => {
    const at = derSig[1]! === 0x81 ? 3 : 2
    const rLength = derSig[at + 1]!
    const r = derSig.subarray(at + 2, at + 2 + rLength)
    const s = derSig.subarray(at + 4 + rLength, at + 4 + rLength + derSig[at + 3 + rLength]!)
    return edit(r, s)
  }
  const sequence = (...parts: Uint8Array[]): Uint8Array => {
    const body = Uint8Array.from(parts.flatMap((p) => [...p]))
    return Uint8Array.from([0x30, ...(body.length > 0x7f ? [0x81, body.length] : [body.length]), ...body])
  }
  const integer = (content: Uint8Array): Uint8Array => Uint8Array.from([0x02, content.length, ...content])

  const cases: Array<[string, SignatureScheme, Uint8Array, Uint8Array, Uint8Array, boolean]> = [
    ['ECDSA P-384, DER', ecdsa('der'), p384.spki, DATA, derSig, true],
    ['ECDSA P-384, r‖s', ecdsa('ieee-p1363'), p384.spki, DATA, rawSig, true],
    ['ECDSA over changed data', ecdsa('der'), p384.spki, tampered, derSig, false],
    ['ECDSA r‖s of the wrong length', ecdsa('ieee-p1363'), p384.spki, DATA, rawSig.subarray(1), false],
    ['ECDSA under a P-256 key named P-384', ecdsa('der'), p256.spki, DATA, derSig, false],
    ['ECDSA P-384 key named P-256', ecdsa('der', 'P-256'), p384.spki, DATA, derSig, false],
    ['ECDSA DER with a trailing byte', ecdsa('der'), p384.spki, DATA, Uint8Array.from([...derSig, 0]), false],
    ['ECDSA DER with r padded by a needless zero', ecdsa('der'), p384.spki, DATA, rewrite((r, s) => sequence(integer(Uint8Array.from([0, 0, ...r])), integer(s))), false],
    ['ECDSA DER with r and s swapped', ecdsa('der'), p384.spki, DATA, rewrite((r, s) => sequence(integer(s), integer(r))), false],
    ['ECDSA DER, r and s as they are (rebuilt)', ecdsa('der'), p384.spki, DATA, rewrite((r, s) => sequence(integer(r), integer(s))), true],
    ['ECDSA DER that is not a SEQUENCE', ecdsa('der'), p384.spki, DATA, Uint8Array.of(0x31, 0), false],
    ['RSA-PSS SHA-256 salt 32', { kind: 'rsa-pss', hash: 'sha256', saltLength: 32 }, rsa.spki, DATA, pssSig, true],
    ['RSA-PSS with another salt length', { kind: 'rsa-pss', hash: 'sha256', saltLength: 20 }, rsa.spki, DATA, pssSig, false],
    ['RSA-PSS under an EC key', { kind: 'rsa-pss', hash: 'sha256', saltLength: 32 }, p384.spki, DATA, pssSig, false],
    ['Ed25519', { kind: 'ed25519' }, ed.spki, DATA, edSig, true],
    ['Ed25519 over changed data', { kind: 'ed25519' }, ed.spki, tampered, edSig, false],
    ['Ed25519 under an EC key', { kind: 'ed25519' }, p384.spki, DATA, edSig, false],
    ['a key that is not an SPKI', { kind: 'ed25519' }, Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x00), DATA, edSig, false],
  ]
  for (const [name, scheme, spki, data, signature, want] of cases) {
    test(`${name}: ${want ? 'verifies' : 'does not verify'} in both`, async () => {
      assert.equal(await node.verifySignature(scheme, spki, data, signature), want, 'node')
      assert.equal(await browser.verifySignature(scheme, spki, data, signature), want, 'browser')
    })
  }
})
