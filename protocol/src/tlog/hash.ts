/**
 * The hashes of the transparency log's Merkle tree (RFC 9162 §2.1.1, unchanged from RFC 6962 §2.1): SHA-256 with
 * a one-byte domain separator, 0x00 before a record's bytes and 0x01 before two child hashes, so a record can
 * never pass for an interior node. Also the {@link HashReader} through which the tree reads what it stored, and
 * the integer arithmetic every part of the tree shares.
 *
 * Sizes and indexes are JavaScript numbers, exact up to 2^53 − 1, so trees of up to 2^52 records (their stored
 * hashes number twice that): far past any log, a billion entries a day for ten thousand years. JavaScript's bitwise
 * operators work on 32 bits, so the arithmetic here divides instead of shifting wherever a value may pass 2^31.
 */
import { ProtocolError } from '../errors.js'
import { platform } from '../platform.js'

/** Bytes in a tree hash (SHA-256). */
export const HASH_SIZE = 32

/** A record hash, an interior node hash or a tree hash: 32 bytes of SHA-256. */
export type Hash = Uint8Array

/**
 * Reads hashes the log stored, by stored-hash index ({@link storedHashIndex}). It answers one hash per index, in
 * the order asked, or fails (rejects or throws); it may be faster when the indexes are in increasing order, as
 * every caller here asks them. Host storage implements it over its tables, a client over tiles
 * ({@link tileHashReader}).
 */
export interface HashReader {
  readHashes(indexes: readonly number[]): Promise<readonly Hash[]> | readonly Hash[]
}

// One input buffer for every node hash: hashing is synchronous, so nothing else can touch it in between, and a
// batch integration hashes thousands of nodes without allocating an input for each.
const nodeInput = new Uint8Array(1 + 2 * HASH_SIZE)

function sha256(input: Uint8Array): Hash {
  return platform.digest('sha256', input)
}

/** The hash of one record (a leaf): SHA-256(0x00 ‖ data), RFC 9162 §2.1.1. */
export function recordHash(data: Uint8Array): Hash {
  if (!(data instanceof Uint8Array)) throw malformed(`record: expected bytes, got ${typeof data}`)
  const input = new Uint8Array(1 + data.length)
  input[0] = 0x00
  input.set(data, 1)
  return sha256(input)
}

/** The hash of an interior node: SHA-256(0x01 ‖ left ‖ right), RFC 9162 §2.1.1. */
export function nodeHash(left: Hash, right: Hash): Hash {
  assertHash(left, 'left hash')
  assertHash(right, 'right hash')
  nodeInput[0] = 0x01
  nodeInput.set(left, 1)
  nodeInput.set(right, 1 + HASH_SIZE)
  return sha256(nodeInput)
}

/** The tree hash of the empty tree: SHA-256 of no bytes (RFC 9162 §2.1.1, MTH({}) = HASH()). */
export const EMPTY_TREE_HASH: Hash = sha256(new Uint8Array(0))

/** A malformed transparency-log input (`ERR_TLOG_MALFORMED`). */
export function malformed(message: string): ProtocolError {
  return new ProtocolError('ERR_TLOG_MALFORMED', message)
}

/** A proof that does not prove its claim (`ERR_TLOG_PROOF_INVALID`). */
export function proofInvalid(message: string): ProtocolError {
  return new ProtocolError('ERR_TLOG_PROOF_INVALID', message)
}

/** Throws `ERR_TLOG_MALFORMED` unless `value` is a 32-byte Uint8Array. */
export function assertHash(value: unknown, what: string): asserts value is Hash {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    const got = value instanceof Uint8Array ? `${value.length} bytes` : typeof value
    throw malformed(`${what}: expected a ${HASH_SIZE}-byte hash, got ${got}`)
  }
}

/** Throws `ERR_TLOG_MALFORMED` unless `value` is an integer from 0 to 2^53 − 1. */
export function assertCount(value: unknown, what: string): asserts value is number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw malformed(`${what}: expected an integer from 0 to 2^53 - 1, got ${String(value)}`)
  }
}

/**
 * The hashes at `indexes`, read through `reader` and checked: exactly one 32-byte hash per index, or
 * `ERR_TLOG_MALFORMED` (a storage that answers otherwise is broken, and nothing computed from it would mean
 * anything). Asks nothing when there is nothing to ask.
 */
export async function readHashesExactly(reader: HashReader, indexes: readonly number[]): Promise<readonly Hash[]> {
  if (indexes.length === 0) return []
  const hashes = await reader.readHashes(indexes)
  if (!Array.isArray(hashes) || hashes.length !== indexes.length) {
    throw malformed(`the hash reader answered ${Array.isArray(hashes) ? hashes.length : 'no list of'} hashes for ${indexes.length} indexes`)
  }
  for (let i = 0; i < hashes.length; i++) assertHash(hashes[i], `the hash reader's hash for index ${indexes[i]}`)
  return hashes
}

const TWO_32 = 2 ** 32

function popCount32(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555)
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333)
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24
}

/** The number of one bits of a safe non-negative integer. */
export function popCount(x: number): number {
  return popCount32(x >>> 0) + popCount32(Math.floor(x / TWO_32))
}

/** The number of trailing one bits of a safe non-negative integer. */
export function trailingOnes(x: number): number {
  let count = 0
  while (x % 2 === 1) {
    count++
    x = (x - 1) / 2
  }
  return count
}

/** The exponent of the largest power of two at most `x` (x ≥ 1). */
export function floorLog2(x: number): number {
  let level = 0
  let k = 2
  while (k <= x) {
    level++
    k *= 2
  }
  return level
}

/** The largest power of two strictly less than `x` (x ≥ 2): where RFC 9162 §2.1.1 splits a tree of `x` leaves. */
export function splitPoint(x: number): number {
  return 2 ** floorLog2(x - 1)
}
