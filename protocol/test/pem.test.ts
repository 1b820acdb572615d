/** PEM to DER and back: every block or those of one label, text around them ignored; written as OpenSSL writes it. */
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { test } from 'node:test'
import { derToPem, pemToDer, toHex } from '@vouch/protocol'

const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const keyDer = new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' }))
const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string

test('derToPem writes what node:crypto (OpenSSL) writes: 64-column base64, LF, a final newline', () => {
  assert.equal(derToPem('PRIVATE KEY', keyDer), keyPem)
  assert.equal(derToPem('PRIVATE KEY', keyDer.buffer.slice(keyDer.byteOffset, keyDer.byteOffset + keyDer.byteLength)), keyPem)
  assert.equal(derToPem('X', new Uint8Array(0)), '-----BEGIN X-----\n\n-----END X-----\n')
})

test('pemToDer reads every block in order, ignoring text around them and CRLF line ends', () => {
  const a = Uint8Array.of(0x30, 1, 2)
  const b = Uint8Array.of(0x30, 3, 4, 5)
  const text = `subject: a\r\n${derToPem('CERTIFICATE', a).replaceAll('\n', '\r\n')}between\n${derToPem('X509 CRL', b)}trailing`
  assert.deepEqual(pemToDer(text).map(toHex), [toHex(a), toHex(b)])
  assert.deepEqual(pemToDer(text, 'CERTIFICATE').map(toHex), [toHex(a)])
  assert.deepEqual(pemToDer(text, 'X509 CRL').map(toHex), [toHex(b)])
  assert.deepEqual(pemToDer('no PEM here'), [])
  assert.deepEqual(pemToDer(keyPem).map(toHex), [toHex(keyDer)])
})

test('a block whose END label differs from its BEGIN label is not read', () => {
  assert.deepEqual(pemToDer('-----BEGIN CERTIFICATE-----\nMAA=\n-----END X509 CRL-----\n'), [])
})

test('any DER round-trips, whatever its length against the 64-column lines', () => {
  for (let length = 0; length <= 200; length++) {
    const der = Uint8Array.from({ length }, (_, i) => (i * 37 + length) & 0xff)
    const pem = derToPem('CERTIFICATE', der)
    assert.ok(pem.split('\n').every((line) => line.length <= 64), `${length}: lines of at most 64 characters`)
    assert.deepEqual(pemToDer(pem, 'CERTIFICATE'), length === 0 ? [new Uint8Array(0)] : [der])
  }
})
