/** A log kept in memory the way a host keeps it on disk: the stored-hash sequence, appended batch by batch. */
import { nodeHash, recordHash, splitStoredHashIndex, storedHashCount, storedHashesForRecordHashes, treeHash, type Hash, type HashReader } from '@vouch/protocol'

/** Entry i of every test log: the decimal text of i (the rule docs/tlog-vectors.md publishes). */
export function entry(i: number): Uint8Array {
  return new TextEncoder().encode(String(i))
}

export class MemoryLog implements HashReader {
  readonly hashes: Hash[] = []
  readonly entries: Uint8Array[] = []
  /** Every list of indexes asked for, when `recordReads` is set. */
  readonly reads: number[][] = []
  recordReads = false

  get size(): number {
    return this.entries.length
  }

  readHashes(indexes: readonly number[]): Hash[] {
    if (this.recordReads) this.reads.push([...indexes])
    return indexes.map((i) => {
      const h = this.hashes[i]
      if (h === undefined) throw new Error(`no stored hash ${i} (have ${this.hashes.length})`)
      return h
    })
  }

  /** Appends records in one batch, as a host integrates them. */
  async append(records: readonly Uint8Array[]): Promise<void> {
    const hashes = await storedHashesForRecordHashes(this.size, records.map(recordHash), this)
    this.hashes.push(...hashes)
    this.entries.push(...records)
  }

  treeHash(size = this.size): Promise<Hash> {
    return treeHash(size, this)
  }
}

/** A log of `size` entries (entry i = decimal i), appended in batches of `batch`. */
export async function logOf(size: number, batch = 64): Promise<MemoryLog> {
  const log = new MemoryLog()
  for (let i = 0; i < size; i += batch) {
    const records: Uint8Array[] = []
    for (let j = i; j < Math.min(size, i + batch); j++) records.push(entry(j))
    await log.append(records)
  }
  return log
}

/**
 * The stored hashes of a log of `size` copies of one entry, without storing them: every complete subtree of 2^level
 * records has the same hash, so any stored hash follows from its level. Reaches trees of 2^52 records.
 */
export function uniformLog(size: number, data: Uint8Array = entry(0)): HashReader & { size: number; reads: number } {
  const byLevel: Hash[] = [recordHash(data)]
  for (let level = 1; level <= 53; level++) byLevel.push(nodeHash(byLevel[level - 1]!, byLevel[level - 1]!))
  const stored = storedHashCount(size)
  const log = {
    size,
    reads: 0,
    readHashes(indexes: readonly number[]): Hash[] {
      log.reads++
      return indexes.map((i) => {
        if (i >= stored) throw new Error(`no stored hash ${i} in a log of ${size}`)
        return byLevel[splitStoredHashIndex(i).level]!
      })
    },
  }
  return log
}
