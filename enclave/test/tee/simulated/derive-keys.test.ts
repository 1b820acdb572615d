import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { SIMULATED_SEED, deriveBytes, deriveEcPrivateKey, deriveRsaPrivateKey } from '@vouch/enclave/simulated'

const spkiSha256 = (key: KeyObject): string =>
  createHash('sha256').update(createPublicKey(key).export({ type: 'spki', format: 'der' })).digest('hex')

describe('deriveRsaPrivateKey', () => {
  test('same seed and label give the same key; label, seed and size each change it', () => {
    const a = deriveRsaPrivateKey('test-seed', 'test/rsa', 2048)
    assert.equal(deriveRsaPrivateKey('test-seed', 'test/rsa', 2048), a, 'memoised in-process')
    assert.notEqual(spkiSha256(deriveRsaPrivateKey('test-seed', 'test/rsa-2', 2048)), spkiSha256(a))
    assert.notEqual(spkiSha256(deriveRsaPrivateKey('other-seed', 'test/rsa', 2048)), spkiSha256(a))
    assert.notEqual(spkiSha256(deriveRsaPrivateKey('test-seed', 'test/rsa', 1024)), spkiSha256(a))
  })

  test('is stable across processes and versions (pinned)', () => {
    // Changing the derivation changes every simulated root, and with it the pins in the verifier.
    assert.equal(
      spkiSha256(deriveRsaPrivateKey('test-seed', 'test/rsa', 2048)),
      '556d594df12622f0fea52970ac074da2cdd21c4434bd6c4fcfa8171ed145ef9a',
    )
  })

  test('makes a consistent RSA key of the requested size with e = 65537', () => {
    const key = deriveRsaPrivateKey('test-seed', 'test/rsa', 2048)
    assert.equal(key.asymmetricKeyType, 'rsa')
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048)
    assert.equal(key.asymmetricKeyDetails?.publicExponent, 65537n)
    const jwk = key.export({ format: 'jwk' })
    const big = (s: string | undefined): bigint => BigInt('0x' + Buffer.from(s!, 'base64url').toString('hex'))
    const [n, p, q, d, e] = [big(jwk.n), big(jwk.p), big(jwk.q), big(jwk.d), big(jwk.e)]
    assert.equal(p * q, n)
    assert.notEqual(p, q)
    assert.equal((d * e) % (p - 1n), 1n)
    assert.equal((d * e) % (q - 1n), 1n)
    const message = Buffer.from('vouch')
    assert.ok(verify('sha384', message, createPublicKey(key), sign('sha384', message, key)))
  })

  test('derives a 4096-bit key (the AMD CA size) by default', () => {
    const started = performance.now()
    const key = deriveRsaPrivateKey(SIMULATED_SEED, 'test/default-size')
    const ms = performance.now() - started
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 4096)
    assert.ok(ms < 10_000, `took ${ms.toFixed(0)} ms`)
  })

  test('rejects sizes that are not a multiple of 16 from 1024', () => {
    for (const bits of [512, 1000, 2050, 1024.5]) {
      assert.throws(() => deriveRsaPrivateKey('s', 'l', bits), RangeError)
    }
  })
})

describe('deriveEcPrivateKey', () => {
  test('is deterministic and pinned, P-384 by default and P-256 on request', () => {
    const p384 = deriveEcPrivateKey('test-seed', 'test/ec')
    assert.equal(p384.asymmetricKeyDetails?.namedCurve, 'secp384r1')
    assert.equal(spkiSha256(p384), '91ad9e1e43e6316eb0ce4304a53b9101cc99325f1bf72a67e6abc8d8dd3e9dd9')
    const p256 = deriveEcPrivateKey('test-seed', 'test/ec', 'P-256')
    assert.equal(p256.asymmetricKeyDetails?.namedCurve, 'prime256v1')
    assert.equal(spkiSha256(p256), 'c68e000744e3bed9bae347613918bf6980961a6af291e20de2bed99b5d0c939a')
  })

  test('different labels and seeds give different keys', () => {
    const a = spkiSha256(deriveEcPrivateKey('test-seed', 'test/ec'))
    assert.notEqual(spkiSha256(deriveEcPrivateKey('test-seed', 'test/ec-2')), a)
    assert.notEqual(spkiSha256(deriveEcPrivateKey('other-seed', 'test/ec')), a)
  })

  test('signs with ECDSA P-384 and IEEE P1363 encoding, as the PSP does', () => {
    const key = deriveEcPrivateKey('test-seed', 'test/ec')
    const message = Buffer.from('report')
    const signature = sign('sha384', message, { key, dsaEncoding: 'ieee-p1363' })
    assert.equal(signature.length, 96)
    assert.ok(verify('sha384', message, { key: createPublicKey(key), dsaEncoding: 'ieee-p1363' }, signature))
  })
})

describe('deriveBytes', () => {
  test('is a deterministic stream per (seed, label)', () => {
    assert.equal(Buffer.from(deriveBytes('test-seed', 'test/bytes', 16)).toString('hex'), 'ca3bd8cbf925dd2ff11e71392776f3c9')
    assert.deepEqual(deriveBytes('test-seed', 'test/bytes', 8), deriveBytes('test-seed', 'test/bytes', 16).subarray(0, 8))
    assert.notDeepEqual(deriveBytes('test-seed', 'test/bytes-2', 16), deriveBytes('test-seed', 'test/bytes', 16))
    assert.equal(deriveBytes('s', 'l', 200).length, 200)
  })
})
