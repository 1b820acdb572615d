/**
 * The DER writer: shortest lengths, OIDs (any arc size), non-negative INTEGERs, strings, and what it refuses.
 * Expected encodings are `openssl asn1parse -genstr` output (OIDs) or X.690 worked by hand.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  derBoolean,
  derElement,
  derExplicit,
  derIa5String,
  derInteger,
  derIntegerContent,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  integerContent,
  toHex,
} from '@vouch/protocol'

describe('lengths', () => {
  for (const { length, hex } of [
    { length: 0, hex: '00' },
    { length: 127, hex: '7f' },
    { length: 128, hex: '8180' },
    { length: 255, hex: '81ff' },
    { length: 256, hex: '820100' },
    { length: 70_000, hex: '83011170' },
  ]) {
    test(`${length} content bytes: ${hex}`, () => assert.equal(toHex(derElement(0x04, new Uint8Array(length)).subarray(1, 1 + hex.length / 2)), hex))
  }
  test('an element carries its tag, the shortest length and the content, concatenated', () => {
    assert.equal(toHex(derElement(0x04, Uint8Array.of(1, 2), Uint8Array.of(3))), '0403010203')
    assert.equal(toHex(derElement(0x04, new Uint8Array(200))).slice(0, 6), '0481c8')
  })
})

describe('elements', () => {
  test('SEQUENCE, OCTET STRING, NULL, BOOLEAN and [n] EXPLICIT', () => {
    assert.equal(toHex(derSequence(derNull(), derBoolean(true), derBoolean(false))), '300805000101ff010100')
    assert.equal(toHex(derOctetString(Uint8Array.of(0xab))), '0401ab')
    assert.equal(toHex(derExplicit(2, derNull())), 'a2020500')
  })

  for (const { oid, hex } of [
    { oid: '1.2.840.10045.4.3.3', hex: '06082a8648ce3d040303' }, // ecdsa-with-SHA384
    { oid: '1.3.6.1.5.5.7.48.1.2', hex: '06092b0601050507300102' }, // id-pkix-ocsp-nonce
    { oid: '2.5.29.14', hex: '0603551d0e' },
    { oid: '2.999.3', hex: '0603883703' }, // X.690 §8.19.5: the first two arcs as 40 × 2 + 999
    { oid: '2.25.329800735698586629295641978511506172918', hex: '06146983f09da7ebcfdee0c7a1a7b2c0948cc8f9d776' }, // a UUID arc, beyond 2^53
  ]) {
    test(`OID ${oid}`, () => assert.equal(toHex(derOid(oid)), hex))
  }

  for (const text of ['', '1', '3.1', '1.40', '0.40.1', '1.2.a', '1..2', '-1.2']) {
    test(`"${text}" is not an OID: RangeError`, () => assert.throws(() => derOid(text), RangeError))
  }

  for (const { value, hex } of [
    { value: 0n, hex: '00' },
    { value: 127n, hex: '7f' },
    { value: 128n, hex: '0080' },
    { value: 256n, hex: '0100' },
    { value: 2n ** 64n, hex: '010000000000000000' },
  ]) {
    test(`INTEGER ${value}: minimal two's complement ${hex}`, () => {
      assert.equal(toHex(integerContent(value)), hex)
      assert.equal(toHex(derInteger(value)), `02${(hex.length / 2).toString(16).padStart(2, '0')}${hex}`)
    })
  }

  test('negative integers, empty INTEGER content and non-ASCII IA5Strings are refused', () => {
    assert.throws(() => integerContent(-1n), RangeError)
    assert.throws(() => derIntegerContent(new Uint8Array(0)), RangeError)
    assert.throws(() => derIa5String('café'), RangeError)
  })

  test('INTEGER content copied as it is, and an IA5String', () => {
    assert.equal(toHex(derIntegerContent(Uint8Array.of(0x00, 0x80))), '02020080')
    assert.equal(toHex(derInteger(5)), '020105')
    assert.equal(toHex(derIa5String('Milan')), '16054d696c616e')
  })
})
