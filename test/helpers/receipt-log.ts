/**
 * A receipt log in memory, on @vouch/protocol's tlog functions exactly as the host's store uses them: entries,
 * stored hashes, signed checkpoints, inclusion and consistency proofs, tiles and entry bundles in the shapes the log's
 * HTTP API serves (docs/protocol.md, "Receipt log"). For the verifier's and the client's tests; it can also lie the
 * ways a hostile log would (fork, drop an entry), which the tests expect to be caught.
 */
import {
  encodeEntryBundle,
  encodeLogEntry,
  formatCheckpoint,
  generateNoteKey,
  proveRecord,
  proveTree,
  readTileData,
  recordHash,
  signNote,
  storedHashesForRecordHashes,
  toBase64,
  treeHash,
  type Hash,
  type HashReader,
  type HashTile,
  type LogEntry,
  type NoteKeys,
} from '@vouch/protocol'

/** A log of entries in memory, signed by its own note key. */
export class MemoryLog {
  readonly entries: Uint8Array[] = []
  readonly hashes: Hash[] = []
  readonly keys: NoteKeys

  constructor(
    readonly origin = 'vouch.test/log',
    keys?: NoteKeys,
  ) {
    this.keys = keys ?? generateNoteKey(origin)
  }

  get size(): number {
    return this.entries.length
  }

  get reader(): HashReader {
    return { readHashes: async (indexes: readonly number[]) => indexes.map((i) => this.hashes[i]!) }
  }

  /** Appends entries (a receipt's JWS text, or a LogEntry); resolves to the first one's index. */
  async append(...entries: (string | LogEntry | Uint8Array)[]): Promise<number> {
    const first = this.size
    const bytes = entries.map((e) => (e instanceof Uint8Array ? e : encodeLogEntry(typeof e === 'string' ? { kind: 'receipt', receipt: e } : e)))
    this.hashes.push(...(await storedHashesForRecordHashes(first, bytes.map(recordHash), this.reader)))
    this.entries.push(...bytes)
    return first
  }

  /** The signed checkpoint at `size` (default: the whole log). */
  async checkpoint(size = this.size): Promise<string> {
    return signNote(formatCheckpoint({ origin: this.origin, size, rootHash: await treeHash(size, this.reader) }), this.keys.signerKey)
  }

  /** `GET /v1/log/proof`'s body for the entry at `index`, at `size` (default: the whole log). */
  async proof(index: number, size = this.size): Promise<{ index: number; size: number; rootHash: string; proof: string[]; checkpoint: string }> {
    return {
      index,
      size,
      rootHash: toBase64(await treeHash(size, this.reader)),
      proof: (await proveRecord(size, index, this.reader)).map(toBase64),
      checkpoint: await this.checkpoint(size),
    }
  }

  /** `GET /v1/log/consistency`'s body from `from` to `to` (default: the whole log). */
  async consistency(from: number, to = this.size): Promise<{ from: number; to: number; proof: string[] }> {
    return { from, to, proof: (await proveTree(to, from, this.reader)).map(toBase64) }
  }

  /** The bytes of a hash tile. */
  async tile(tile: HashTile): Promise<Uint8Array> {
    return readTileData(tile, this.reader)
  }

  /** The bytes of entry bundle `n` of width `width`. */
  entryBundle(n: number, width: number): Uint8Array {
    return encodeEntryBundle(this.entries.slice(n * 256, n * 256 + width))
  }

  /** The index of the receipt entry `jws`, or -1. */
  indexOf(jws: string): number {
    const wanted = encodeLogEntry({ kind: 'receipt', receipt: jws })
    return this.entries.findIndex((e) => Buffer.compare(e, wanted) === 0)
  }

  /** A copy of this log (same key and origin) holding the entries for which `keep` is true: a log that dropped some. */
  async filtered(keep: (entry: Uint8Array, index: number) => boolean): Promise<MemoryLog> {
    const copy = new MemoryLog(this.origin, this.keys)
    await copy.append(...this.entries.filter(keep))
    return copy
  }
}
