/**
 * Entry bundles (C2SP tlog-tiles, "Log entries"): the records of one level-0 tile, each as a big-endian 16-bit
 * length and then its bytes, laid end to end. A full bundle holds 256 records; the last one of a log may hold
 * fewer, its width in its path.
 */
import { malformed } from './hash.js'
import { TILE_WIDTH } from './tile.js'

/** The largest record an entry bundle can carry: its length must fit 16 bits. */
export const MAX_ENTRY_SIZE = 0xffff

/** The bytes of an entry bundle of `entries` (1 to 256 of them, each at most 65,535 bytes). */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > TILE_WIDTH) {
    throw malformed(`an entry bundle holds 1 to ${TILE_WIDTH} entries, got ${Array.isArray(entries) ? entries.length : typeof entries}`)
  }
  let size = 0
  entries.forEach((entry, i) => {
    if (!(entry instanceof Uint8Array)) throw malformed(`entry ${i}: expected bytes`)
    if (entry.length > MAX_ENTRY_SIZE) throw malformed(`entry ${i}: ${entry.length} bytes, more than the ${MAX_ENTRY_SIZE} an entry bundle can carry`)
    size += 2 + entry.length
  })
  const out = new Uint8Array(size)
  let at = 0
  for (const entry of entries) {
    out[at] = entry.length >>> 8
    out[at + 1] = entry.length & 0xff
    out.set(entry, at + 2)
    at += 2 + entry.length
  }
  return out
}

/**
 * The entries of an entry bundle, as views into `bytes` (copy them to keep them past `bytes`). With `width`, the
 * bundle must hold exactly that many (the width its path names). `ERR_TLOG_MALFORMED` when a length runs past the
 * end (a truncated bundle), a lone byte is left over, or the bundle holds no entry, more than 256, or not `width`.
 */
export function decodeEntryBundle(bytes: Uint8Array, width?: number): Uint8Array[] {
  if (!(bytes instanceof Uint8Array)) throw malformed('an entry bundle is bytes')
  const entries: Uint8Array[] = []
  let at = 0
  while (at < bytes.length) {
    if (entries.length === TILE_WIDTH) throw malformed(`entry bundle: more than ${TILE_WIDTH} entries`)
    if (at + 2 > bytes.length) throw malformed(`entry bundle: truncated in the length of entry ${entries.length} (byte ${at})`)
    const length = (bytes[at]! << 8) | bytes[at + 1]!
    if (at + 2 + length > bytes.length) {
      throw malformed(`entry bundle: entry ${entries.length} declares ${length} bytes, ${bytes.length - at - 2} remain (truncated)`)
    }
    entries.push(bytes.subarray(at + 2, at + 2 + length))
    at += 2 + length
  }
  if (entries.length === 0) throw malformed('entry bundle: no entries')
  if (width !== undefined && entries.length !== width) throw malformed(`entry bundle: expected ${width} entries, got ${entries.length}`)
  return entries
}
