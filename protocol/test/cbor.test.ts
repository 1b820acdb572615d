/** Vouch's deterministic CBOR profile: round trips, the exact bytes, and every rejection by code. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { decodeCbor, DEFAULT_CBOR_MAX_DEPTH, encodeCbor, fromHex, isCborNativeAccelerationEnabled, toHex, type ProtocolError } from '@vouch/protocol'
import { encodeCborPieces } from '../src/cbor.js'

const hex = (value: unknown): string => toHex(encodeCbor(value))

describe('encodeCbor', () => {
  const cases: { name: string; value: unknown; want: string }[] = [
    { name: 'small integers', value: [0, 23, 24, 255, 256, 65535, 65536], want: '870017181818ff19010019ffff1a00010000' },
    { name: 'negative integers', value: [-1, -24, -25, -256, -257], want: '852037381838ff390100' },
    { name: '32-bit boundaries', value: [0xffffffff, -0x100000000], want: '821affffffff3affffffff' },
    { name: 'integers beyond 32 bits are CBOR integers, not floats', value: [2 ** 32, -(2 ** 32) - 1], want: '821b00000001000000003b0000000100000000' },
    { name: 'the safe-integer limits', value: [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER], want: '821b001fffffffffffff3b001ffffffffffffe' },
    { name: 'a ms timestamp', value: 1764086400000, want: '1b0000019abbbe4400' },
    { name: 'non-integers are float64', value: [1.5, -0.1], want: '82fb3ff8000000000000fbbfb999999999999a' },
    { name: '-0 is the integer 0', value: -0, want: '00' },
    { name: 'map keys sorted by encoded bytes (length first)', value: { bb: 1, a: 2, '10': 3, c: 4 }, want: 'a461610261630462313003626262' + '01' },
    { name: 'undefined properties are left out', value: { a: 1, b: undefined }, want: 'a1616101' },
    { name: 'bytes, text, null, booleans', value: [new Uint8Array([1, 2]), 'é', null, true, false], want: '85420102' + '62c3a9' + 'f6f5f4' },
    { name: 'a Buffer is a byte string too', value: Buffer.from([9]), want: '4109' },
  ]
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(hex(c.value), c.want)
      assert.equal(toHex(encodeCbor(decodeCbor(fromHex(c.want)))), c.want, 'decode then encode is the identity')
    })
  }

  test('lengths take their shortest head at every boundary', () => {
    for (const n of [0, 23, 24, 255, 256, 65535, 65536]) {
      const bytes = encodeCbor({ s: 'x'.repeat(n), b: new Uint8Array(n), a: new Array<number>(Math.min(n, 300)).fill(1) })
      assert.doesNotThrow(() => decodeCbor(bytes), `length ${n}`)
    }
  })

  const rejected: { name: string; value: unknown }[] = [
    { name: 'undefined', value: undefined },
    { name: 'undefined in an array', value: [undefined] },
    { name: 'NaN', value: NaN },
    { name: 'Infinity', value: [Infinity] },
    { name: 'a bigint', value: 1n },
    { name: 'a Date', value: new Date(0) },
    { name: 'a Map', value: new Map() },
    { name: 'another typed array', value: new Uint16Array(1) },
    { name: 'a lone surrogate', value: '\ud800' },
    { name: 'a function', value: () => 1 },
  ]
  for (const c of rejected) test(`rejects ${c.name} with a TypeError`, () => assert.throws(() => encodeCbor(c.value), TypeError))
})

describe('encodeCborPieces', () => {
  const join = (pieces: Uint8Array[]): Uint8Array => Uint8Array.from(pieces.flatMap((p) => [...p]))

  test('the pieces are the encoding byte for byte, each byte string left out a piece itself, counted', () => {
    const big = new Uint8Array(70_000).fill(3)
    const small = Uint8Array.of(1, 2)
    const absent = new Uint8Array(4)
    const value = { a: big, list: [small, 'x', big, { deep: small }], n: 5, empty: new Uint8Array(0) }
    const { pieces, occurrences } = encodeCborPieces(value, [big, small, absent])
    assert.deepEqual(join(pieces), encodeCbor(value))
    assert.equal(pieces.filter((p) => p === big).length, 2)
    assert.equal(pieces.filter((p) => p === small).length, 2)
    assert.deepEqual(occurrences, [2, 2, 0])
    // Nothing left out, or nothing to leave out: the one piece is the encoding.
    assert.deepEqual(join(encodeCborPieces(value, []).pieces), encodeCbor(value))
    assert.deepEqual(join(encodeCborPieces(7, [big]).pieces), encodeCbor(7))
  })

  test('refuses what encodeCbor refuses: a value that is not of the profile is not made one', () => {
    const bytes = new Uint8Array(8)
    for (const bad of [{ m: new Map([['k', bytes]]) }, { d: new Date(0), bytes }, [bytes, undefined], { n: Number.NaN, bytes }]) {
      assert.throws(() => encodeCbor(bad), TypeError)
      assert.throws(() => encodeCborPieces(bad, [bytes]), TypeError)
    }
  })
})

describe('decodeCbor', () => {
  test('maps become plain objects, byte strings plain Uint8Array views, no copy', () => {
    const input = encodeCbor({ data: new Uint8Array([1, 2, 3]), nested: { ok: true } })
    const out = decodeCbor(input) as { data: Uint8Array; nested: object }
    assert.equal(Object.getPrototypeOf(out), Object.prototype)
    assert.equal(out.data.constructor, Uint8Array)
    assert.equal(out.data.buffer, input.buffer, 'a view into the input')
    assert.deepEqual(out, { data: new Uint8Array([1, 2, 3]), nested: { ok: true } })
  })

  test('a Buffer input gives plain Uint8Arrays and is left untouched', () => {
    const input = Buffer.from(encodeCbor({ b: new Uint8Array([7]) }))
    const out = decodeCbor(input) as { b: Uint8Array }
    assert.equal(out.b.constructor, Uint8Array)
    assert.equal(Object.keys(input).includes('dataView'), false)
  })

  test(`cbor-x loads (native acceleration: ${isCborNativeAccelerationEnabled()})`, () => {
    assert.equal(typeof isCborNativeAccelerationEnabled(), 'boolean')
  })

  const malformed: { name: string; hex: string }[] = [
    { name: 'empty input', hex: '' },
    { name: 'trailing bytes', hex: '0100' },
    { name: 'two items', hex: 'f6f6' },
    { name: 'a truncated item', hex: '1a0001' },
    { name: 'a byte string longer than the input', hex: '45010203' },
    { name: 'a duplicate map key', hex: 'a2616101616102' },
    { name: 'map keys out of order', hex: 'a2616201616101' },
    { name: 'longer key before shorter', hex: 'a262616101616202' },
    { name: 'an integer map key', hex: 'a10101' },
    { name: 'a byte-string map key', hex: 'a1410101' },
    { name: 'the key __proto__', hex: 'a1695f5f70726f746f5f5ff6' },
    { name: 'a non-shortest integer', hex: '1817' },
    { name: 'a non-shortest 16-bit integer', hex: '1900ff' },
    { name: 'a non-shortest 32-bit integer', hex: '1a0000ffff' },
    { name: 'a non-shortest 64-bit integer', hex: '1b00000000ffffffff' },
    { name: 'a non-shortest length', hex: '5801ff' },
    { name: 'an integer beyond 2^53 − 1', hex: '1b0020000000000000' },
    { name: 'a negative integer beyond −(2^53 − 1)', hex: '3b001fffffffffffff' },
    { name: 'a tag', hex: 'c11a00000000' },
    { name: 'a self-described CBOR tag', hex: 'd9d9f700' },
    { name: 'undefined', hex: 'f7' },
    { name: 'a simple value', hex: 'f0' },
    { name: 'a one-byte simple value', hex: 'f820' },
    { name: 'a float16', hex: 'f93c00' },
    { name: 'a float32', hex: 'fa3fc00000' },
    { name: 'an integral float64', hex: 'fb3ff0000000000000' },
    { name: 'NaN', hex: 'fb7ff8000000000000' },
    { name: 'an infinity', hex: 'fb7ff0000000000000' },
    { name: 'an indefinite array', hex: '9f00ff' },
    { name: 'an indefinite byte string', hex: '5f4100ff' },
    { name: 'a stray break', hex: 'ff' },
    { name: 'reserved additional information', hex: '1c' },
    { name: 'invalid UTF-8', hex: '62c328' },
    { name: 'a UTF-8 encoded surrogate', hex: '63eda080' },
    { name: 'an array count larger than the input', hex: '9a7fffffff00' },
  ]
  for (const c of malformed) {
    test(`rejects ${c.name}`, () => {
      assert.throws(() => decodeCbor(fromHex(c.hex)), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
    })
  }

  test(`rejects nesting deeper than maxDepth (default ${DEFAULT_CBOR_MAX_DEPTH})`, () => {
    const nest = (n: number): unknown => (n === 0 ? 0 : [nest(n - 1)])
    assert.doesNotThrow(() => decodeCbor(encodeCbor(nest(DEFAULT_CBOR_MAX_DEPTH))))
    assert.throws(() => decodeCbor(encodeCbor(nest(DEFAULT_CBOR_MAX_DEPTH + 1))), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
    assert.throws(() => decodeCbor(encodeCbor(nest(3)), { maxDepth: 2 }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
  })

  test('rejects input over maxBytes before reading it', () => {
    assert.throws(() => decodeCbor(new Uint8Array(11), { maxBytes: 10 }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_TOO_LARGE')
  })

  test('names the byte offset of the problem', () => {
    assert.throws(() => decodeCbor(fromHex('82 00 f7'.replaceAll(' ', ''))), /undefined is not allowed at byte 2/)
  })
})

describe('one value, one encoding (property test)', () => {
  // A small deterministic PRNG (mulberry32), so a failure reproduces.
  let state = 0x5eed
  const random = (): number => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const samples = [
    encodeCbor({ v: 1, id: 'x', ts: 1764086400000, a: [1.5, -2, null, true], b: new Uint8Array([1, 2, 3]), m: { k: 'é' } }),
    encodeCbor([0, 23, 24, 255, 65536, 2 ** 40, -(2 ** 40), 'text', { '': false }]),
  ]

  test('every mutation of a valid message either fails with a ProtocolError or re-encodes to the same bytes', () => {
    let accepted = 0
    for (let i = 0; i < 20_000; i++) {
      const bytes = Uint8Array.from(samples[i % samples.length]!)
      const edits = 1 + Math.floor(random() * 3)
      for (let e = 0; e < edits; e++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256)
      const input = random() < 0.1 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes
      let value: unknown
      try {
        value = decodeCbor(input)
      } catch (e) {
        assert.equal((e as ProtocolError).name, 'ProtocolError', `input ${toHex(input)}: ${(e as Error).message}`)
        continue
      }
      accepted++
      assert.equal(toHex(encodeCbor(value)), toHex(input), `input ${toHex(input)} decodes but is not canonical`)
    }
    assert.ok(accepted > 0)
  })

  test('random bytes never escape as another error', () => {
    for (let i = 0; i < 20_000; i++) {
      const input = Uint8Array.from({ length: 1 + Math.floor(random() * 24) }, () => Math.floor(random() * 256))
      try {
        const value = decodeCbor(input)
        assert.equal(toHex(encodeCbor(value)), toHex(input))
      } catch (e) {
        if ((e as Error).name === 'AssertionError') throw e
        assert.equal((e as ProtocolError).name, 'ProtocolError', `input ${toHex(input)}: ${(e as Error).message}`)
      }
    }
  })
})
