/**
 * Vouch's CBOR (RFC 8949), the one module that uses cbor-x. Every Vouch message is written in one
 * deterministic profile and read back only in that profile, so a value has exactly one encoding and
 * digests over CBOR bytes (receipts, evidence) are reproducible by any implementation:
 *
 * - the data model is JSON's plus byte strings: maps with text keys, arrays, text (valid UTF-8), byte
 *   strings, integers, floats, `true`, `false`, `null`. No tags, no `undefined`, no other simple values;
 * - definite lengths only, every integer and length in its shortest form (RFC 8949 §4.2.1);
 * - map keys in bytewise order of their encodings (shorter first, then by bytes), no duplicates;
 * - integers are CBOR integers when they are JavaScript safe integers (±2^53 − 1) and are rejected
 *   beyond; every other number is a float64, which must not hold a safe integer (`1.0` is written `1`),
 *   NaN or an infinity;
 * - exactly one item, no trailing bytes; nesting and size are bounded.
 *
 * `decodeCbor` checks all of this in one pass over the bytes before cbor-x builds the value, and byte
 * strings come back as plain `Uint8Array` views into the input (no copy: a 4.9 MB tensor is not
 * duplicated). cbor-x's native string extractor (`cbor-extract`) loads when its prebuilt binary is
 * installed; {@link isCborNativeAccelerationEnabled} says whether it did. Both paths decode alike.
 */
import { Decoder, Encoder, isNativeAccelerationEnabled, type Options } from 'cbor-x'
import { ProtocolError } from './errors.js'

/** Default largest CBOR message `decodeCbor` accepts: 64 MiB, above every frame and sealed body Vouch sends. */
export const DEFAULT_CBOR_MAX_BYTES = 64 * 1024 * 1024
/** Default deepest nesting of arrays and maps `decodeCbor` accepts. Vouch messages nest at most 6 deep. */
export const DEFAULT_CBOR_MAX_DEPTH = 32
/** The largest `maxDepth` accepted, so a caller cannot ask for a stack overflow. */
const MAX_DEPTH_LIMIT = 256

/** Limits for {@link decodeCbor}. */
export interface CborDecodeOptions {
  /** Largest input in bytes; larger throws `ERR_PROTOCOL_TOO_LARGE`. Unset: {@link DEFAULT_CBOR_MAX_BYTES}. */
  maxBytes?: number
  /** Deepest nesting of arrays and maps; deeper is malformed. Unset: {@link DEFAULT_CBOR_MAX_DEPTH}. */
  maxDepth?: number
}

/** True when cbor-x decodes strings through the native `cbor-extract` addon; false on the pure-JS path. */
export function isCborNativeAccelerationEnabled(): boolean {
  return isNativeAccelerationEnabled
}

// useTag259ForMaps is not in cbor-x's Options type; without it, Maps would be written under tag 259.
const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  useTag259ForMaps: false,
  tagUint8Array: false,
  variableMapSize: true,
  pack: false,
  structuredClone: false,
  bundleStrings: false,
  largeBigIntToFloat: false,
  alwaysUseFloat: false,
} as Options)
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true, copyBuffers: false } as Options)
const utf8 = new TextDecoder('utf-8', { fatal: true })
const textEncoder = new TextEncoder()
const LONE_SURROGATE = /\p{Surrogate}/u

function malformed(message: string, at?: number): ProtocolError {
  return new ProtocolError('ERR_PROTOCOL_MALFORMED', at === undefined ? `CBOR: ${message}` : `CBOR: ${message} at byte ${at}`)
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

/** Bytewise order of two text keys' CBOR encodings: shorter UTF-8 first, then byte by byte. */
function compareKeys(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return a.length - b.length
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return 0
}

/** Converts `value` to what cbor-x writes in Vouch's profile: sorted Maps, BigInts for wide integers. */
function prepare(value: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH_LIMIT) throw new TypeError('CBOR: value nests too deeply (or is circular)')
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new TypeError('CBOR: strings must be well-formed Unicode')
      return value
    case 'boolean':
      return value
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('CBOR: numbers must be finite')
      // cbor-x writes integers beyond 32 bits as float64; as a BigInt they become a CBOR integer.
      if (Number.isSafeInteger(value) && (value > 0xffffffff || value < -0x100000000)) return BigInt(value)
      return Object.is(value, -0) ? 0 : value
    case 'object': {
      if (value === null) return null
      if (value instanceof Uint8Array) return value
      if (Array.isArray(value)) {
        return value.map((item, i) => {
          if (item === undefined) throw new TypeError(`CBOR: array item ${i} is undefined`)
          return prepare(item, depth + 1)
        })
      }
      if (!isPlainObject(value)) throw new TypeError(`CBOR: cannot encode a ${value.constructor?.name ?? 'object'}`)
      const entries: [Uint8Array, string, unknown][] = []
      for (const key of Object.keys(value)) {
        const item = value[key]
        if (item === undefined) continue // as JSON does: an absent optional field
        if (LONE_SURROGATE.test(key)) throw new TypeError('CBOR: keys must be well-formed Unicode')
        entries.push([textEncoder.encode(key), key, prepare(item, depth + 1)])
      }
      entries.sort((a, b) => compareKeys(a[0], b[0]))
      return new Map(entries.map(([, key, item]) => [key, item]))
    }
    default:
      throw new TypeError(`CBOR: cannot encode a ${typeof value}`)
  }
}

/**
 * Encodes `value` in Vouch's deterministic CBOR profile (see the module comment). Accepts plain objects
 * (properties whose value is `undefined` are left out, as in JSON), arrays, strings, finite numbers,
 * booleans, `null` and `Uint8Array`s; anything else is a programming error and throws a `TypeError`.
 */
export function encodeCbor(value: unknown): Uint8Array {
  return encodeCborAfter(value, 0)
}

/** cbor-x's `REUSE_BUFFER_MODE | RESET_BUFFER_MODE` (encode.js; not in its typings): encode at the start of the kept buffer and return it with `start` and `end`. */
const REUSE_AND_RESET = 512 | 1024
const encodeReusing = (value: unknown): Uint8Array & { start: number; end: number } =>
  (encoder.encode as unknown as (value: unknown, mode: number) => Uint8Array & { start: number; end: number })(value, REUSE_AND_RESET)

/**
 * {@link encodeCbor} into a new array that starts with `prefixBytes` zero bytes for the caller to fill (a frame
 * header, a response nonce) and ends with `suffixBytes` more (an authentication tag), so the encoding is copied
 * once. cbor-x encodes into one buffer it keeps and reuses (sized for the largest message so far); the result is an
 * exact-size copy, so no caller pins that buffer and a 5 MB message does not leave a 20 MB allocation behind for
 * the garbage collector.
 */
export function encodeCborAfter(value: unknown, prefixBytes: number, suffixBytes = 0): Uint8Array {
  if (value === undefined) throw new TypeError('CBOR: cannot encode undefined')
  const target = encodeReusing(prepare(value, 0))
  const out = new Uint8Array(prefixBytes + target.end - target.start + suffixBytes)
  out.set(target.subarray(target.start, target.end), prefixBytes)
  return out
}

// Stand in for the byte strings encodeCborPieces leaves out: random, so no other field can hold one; the last four
// bytes number them.
const PLACEHOLDER_PREFIX = globalThis.crypto.getRandomValues(new Uint8Array(12))
const PLACEHOLDER_SIZE = 16

/** The `index`th placeholder byte string. */
function placeholder(index: number): Uint8Array {
  const p = new Uint8Array(PLACEHOLDER_SIZE)
  p.set(PLACEHOLDER_PREFIX)
  new DataView(p.buffer).setUint32(12, index, false)
  return p
}

/**
 * Whether a placeholder's encoding (its 1-byte head, then its prefix) starts at `at`. A function of its own, not a
 * closure in the scanning loop: a closure over the loop's `let` made V8 allocate a context for every byte scanned
 * (53 KB per small link frame: two fifths of what the enclave allocated for a classifier answer).
 */
function isPlaceholderAt(encoded: Uint8Array, at: number): boolean {
  if (encoded[at] !== (0x40 | PLACEHOLDER_SIZE)) return false
  for (let i = 0; i < PLACEHOLDER_PREFIX.length; i++) if (encoded[at + 1 + i] !== PLACEHOLDER_PREFIX[i]) return false
  return true
}

/**
 * `value` with every reference to one of `bytes` (by identity) replaced by its placeholder. Only arrays and plain
 * objects are gone into: anything else is left for the encoder to refuse as it would.
 */
function withPlaceholders(value: unknown, placeholders: ReadonlyMap<Uint8Array, Uint8Array>): unknown {
  if (value instanceof Uint8Array) return placeholders.get(value) ?? value
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) return value.map((v) => withPlaceholders(v, placeholders))
  if (!isPlainObject(value)) return value
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withPlaceholders(v, placeholders)]))
}

/** The shortest CBOR head of a byte string of `length` bytes (RFC 8949 §3, §4.2.1). */
function byteStringHead(length: number): Uint8Array {
  if (length < 24) return Uint8Array.of(0x40 | length)
  if (length < 0x100) return Uint8Array.of(0x58, length)
  if (length < 0x10000) return Uint8Array.of(0x59, length >> 8, length & 0xff)
  const head = new Uint8Array(5)
  head[0] = 0x5a
  new DataView(head.buffer).setUint32(1, length, false)
  return head
}

/** The encoding of a value in pieces ({@link encodeCborPieces}), and how often each byte string left out occurs in it. */
export interface CborPieces {
  /** In order; their concatenation is the encoding. Each byte string left out is a piece of its own, itself. */
  pieces: Uint8Array[]
  /** How many times each of the byte strings given occurs, in the order given. */
  occurrences: number[]
}

/**
 * {@link encodeCborAfter} of `value` without copying the byte strings `bytes` it holds (by reference): the encoding
 * as pieces whose concatenation is exactly `encodeCborAfter(value, prefixBytes)`, each of `bytes` a piece itself and
 * the pieces between them (CBOR heads and small fields) copies. To hash or write a message that carries megabytes of
 * tensor data or a sealed body without a second copy of them.
 */
export function encodeCborPieces(value: unknown, bytes: readonly Uint8Array[], prefixBytes = 0): CborPieces {
  const placeholders = new Map<Uint8Array, Uint8Array>()
  for (const b of bytes) if (!placeholders.has(b)) placeholders.set(b, placeholder(placeholders.size))
  // Small, whatever the byte strings' sizes: they are not in it.
  const encoded = encodeCborAfter(withPlaceholders(value, placeholders), prefixBytes)
  // Where each placeholder's encoding starts (its 1-byte head, then its 16 bytes: the prefix, then the number), in order.
  const found: Array<{ at: number; bytes: Uint8Array }> = []
  const count = new Map<Uint8Array, number>()
  const numbered = [...placeholders.keys()]
  for (let at = prefixBytes; at + 1 + PLACEHOLDER_SIZE <= encoded.length; at++) {
    if (!isPlaceholderAt(encoded, at)) continue
    const b = numbered[new DataView(encoded.buffer, encoded.byteOffset + at + 13, 4).getUint32(0, false)]
    if (b === undefined) continue
    found.push({ at, bytes: b })
    count.set(b, (count.get(b) ?? 0) + 1)
    at += PLACEHOLDER_SIZE
  }
  const pieces: Uint8Array[] = []
  let cursor = 0
  for (const { at, bytes: b } of found) {
    const head = byteStringHead(b.length)
    const before = new Uint8Array(at - cursor + head.length)
    before.set(encoded.subarray(cursor, at))
    before.set(head, at - cursor)
    pieces.push(before, b)
    cursor = at + 1 + PLACEHOLDER_SIZE
  }
  if (cursor < encoded.length || pieces.length === 0) pieces.push(encoded.subarray(cursor))
  return { pieces, occurrences: bytes.map((b) => count.get(b) ?? 0) }
}

/** One pass over `b` checking Vouch's profile; throws ERR_PROTOCOL_MALFORMED at the first violation. */
function checkProfile(b: Uint8Array, maxDepth: number): void {
  if (b.length === 0) throw malformed('empty input')
  const walk = new ProfileWalk(b, maxDepth)
  walk.item(0)
  if (walk.pos !== b.length) throw malformed(`${b.length - walk.pos} trailing bytes after the item`, walk.pos)
}

/** Why major type 7 with additional information 24, 25 and 26 is refused. */
const SHORT_HEAD_MAJOR_7 = [
  'simple values other than false, true and null are not allowed',
  '16-bit floats are not allowed (floats are 64-bit)',
  '32-bit floats are not allowed (floats are 64-bit)',
]
/** An argument below these fits the head before: a 1-, 2- or 4-byte argument must be at least 24, 0x100, 0x10000. */
const SHORTEST_BELOW = [24, 0x100, 0x10000]

/** {@link checkProfile}'s pass: a position in the bytes, and the head of the item just read. */
class ProfileWalk {
  pos = 0
  /** Major type of the last head read. */
  private major = 0
  /** Its additional information (the low five bits of the initial byte). */
  private info = 0
  /** Its argument: the value of an integer, the length of a string, the count of an array or map. */
  private arg = 0
  private readonly b: Uint8Array
  private readonly dv: DataView
  private readonly maxDepth: number

  constructor(b: Uint8Array, maxDepth: number) {
    this.b = b
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
    this.maxDepth = maxDepth
  }

  private need(n: number, start: number): void {
    if (n > this.b.length - this.pos) throw malformed('truncated', start)
  }

  /** Reads one item; returns its major type (for map-key checks). */
  item(depth: number): number {
    const start = this.pos
    if (!this.head(start)) return 7
    const { major, info, arg } = this
    switch (major) {
      case 0:
      case 1:
        return major
      case 2:
        this.need(arg, start)
        this.pos += arg
        return major
      case 3:
        this.need(arg, start)
        try {
          utf8.decode(this.b.subarray(this.pos, this.pos + arg))
        } catch {
          throw malformed('text is not valid UTF-8', start)
        }
        this.pos += arg
        return major
      case 4:
        if (depth >= this.maxDepth) throw malformed(`nested deeper than ${this.maxDepth}`, start)
        this.need(arg, start) // every item takes at least a byte: fail before looping on a forged count
        for (let i = 0; i < arg; i++) this.item(depth + 1)
        return major
      case 5:
        this.map(arg, depth, start)
        return major
      case 6:
        throw malformed('tags are not allowed', start)
      default:
        // major 7 with info < 24 or info 24 handled in head(); 20–22 are false, true, null.
        if (info === 20 || info === 21 || info === 22) return major
        if (info === 23) throw malformed('undefined is not allowed', start)
        throw malformed('simple values other than false, true and null are not allowed', start)
    }
  }

  /**
   * Reads the head of the item at `start` into major, info and arg, refusing what the profile forbids in a head
   * (long forms, 16- and 32-bit floats, indefinite lengths, unsafe integers). A 64-bit float has no argument: it
   * is checked and skipped whole, and head() returns false.
   */
  private head(start: number): boolean {
    const { b, dv } = this
    this.need(1, start)
    const initial = b[this.pos++]!
    const major = initial >> 5
    const info = initial & 0x1f
    this.major = major
    this.info = info
    if (info < 24) {
      this.arg = info
    } else if (info <= 26) {
      // A 1-, 2- or 4-byte argument; under major type 7, a simple value or a 16- or 32-bit float.
      const width = 1 << (info - 24)
      this.need(width, start)
      if (major === 7) throw malformed(SHORT_HEAD_MAJOR_7[info - 24]!, start)
      this.arg = width === 1 ? b[this.pos]! : width === 2 ? dv.getUint16(this.pos) : dv.getUint32(this.pos)
      this.pos += width
      if (this.arg < SHORTEST_BELOW[info - 24]!) throw malformed('an integer or length is not in its shortest form', start)
    } else if (info === 27) {
      this.need(8, start)
      if (major === 7) return this.float64(start)
      this.arg = this.uint64(major, start)
    } else if (info === 31) {
      throw malformed(major === 7 ? 'unexpected break' : 'indefinite lengths are not allowed', start)
    } else {
      throw malformed('reserved additional information', start)
    }
    return true
  }

  /** Checks and skips a 64-bit float: finite and not integral. Returns false (a float has no argument). */
  private float64(start: number): false {
    const f = this.dv.getFloat64(this.pos)
    this.pos += 8
    if (!Number.isFinite(f)) throw malformed('NaN and infinities are not allowed', start)
    if (Number.isSafeInteger(f)) throw malformed('an integral float must be written as an integer', start)
    return false
  }

  /** Reads an 8-byte argument, which must be a safe integer (and no length: nothing that large fits). */
  private uint64(major: number, start: number): number {
    const high = this.dv.getUint32(this.pos)
    const low = this.dv.getUint32(this.pos + 4)
    this.pos += 8
    if (high === 0) throw malformed('an integer or length is not in its shortest form', start)
    if (major > 1) throw malformed('length too large', start)
    // Beyond ±(2^53 − 1) a JavaScript number cannot hold the value exactly.
    if (high >= 0x200000 || (major === 1 && high === 0x1fffff && low === 0xffffffff)) {
      throw malformed('integer outside the safe range ±(2^53 − 1)', start)
    }
    return high * 0x100000000 + low
  }

  /** Reads `count` map entries: text keys, in canonical order, no duplicates, no `__proto__`. */
  private map(count: number, depth: number, start: number): void {
    if (depth >= this.maxDepth) throw malformed(`nested deeper than ${this.maxDepth}`, start)
    this.need(count * 2, start)
    let previous: Uint8Array | undefined
    for (let i = 0; i < count; i++) {
      const keyStart = this.pos
      if (this.item(depth + 1) !== 3) throw malformed('map keys must be text strings', keyStart)
      const key = this.b.subarray(keyStart, this.pos)
      if (previous !== undefined) {
        const order = compareKeys(previous, key)
        if (order === 0) throw malformed('duplicate map key', keyStart)
        if (order > 0) throw malformed('map keys are not in canonical order', keyStart)
      }
      // cbor-x would rename this key to dodge prototype pollution; no Vouch message has it.
      if (key.length === 10 && utf8.decode(key.subarray(1)) === '__proto__') throw malformed('the key "__proto__" is not allowed', keyStart)
      previous = key
      this.item(depth + 1)
    }
  }
}

/**
 * Decodes one CBOR item in Vouch's profile. Maps become plain objects, byte strings `Uint8Array` views
 * into `bytes` (copy them to keep them past the input's life), integers and floats numbers. Anything
 * outside the profile (see the module comment) throws `ERR_PROTOCOL_MALFORMED` naming the byte offset;
 * input over `maxBytes` throws `ERR_PROTOCOL_TOO_LARGE` before it is read.
 */
export function decodeCbor(bytes: Uint8Array, options: CborDecodeOptions = {}): unknown {
  const maxBytes = options.maxBytes ?? DEFAULT_CBOR_MAX_BYTES
  const maxDepth = Math.min(options.maxDepth ?? DEFAULT_CBOR_MAX_DEPTH, MAX_DEPTH_LIMIT)
  if (!(bytes instanceof Uint8Array)) throw new TypeError('decodeCbor: bytes must be a Uint8Array')
  if (bytes.length > maxBytes) {
    throw new ProtocolError('ERR_PROTOCOL_TOO_LARGE', `CBOR: ${bytes.length} bytes exceed the ${maxBytes}-byte limit`)
  }
  // A fresh plain view: cbor-x caches a DataView on its input object and slices byte strings from it,
  // so this keeps the caller's object untouched and the slices plain Uint8Arrays, not Buffers.
  const input = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  checkProfile(input, maxDepth)
  try {
    return decoder.decode(input) as unknown
  } catch (cause) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', 'CBOR: the item does not decode', { cause })
  }
}
