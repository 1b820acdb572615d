/**
 * The attribution ledger as the host serves it (`GET /v1/ledger`, docs/protocol.md "Attribution ledger"): the shared
 * tally of `@vouch/protocol` over the log's entries, at the latest signed checkpoint. The tally runs once over the
 * log and then follows it: each request reads only the entries logged since the last, a few at a time with the event
 * loop free in between, and the running counts are kept at every tile boundary, so any range costs at most two
 * partial tiles of reading on top.
 */
import { setImmediate as nextTurn } from 'node:timers/promises'
import { LedgerTally, TILE_WIDTH, type Ledger, type LedgerCounts } from '@vouch/protocol'
import type { ReceiptLog } from './receipt-log.js'

/** Entries read between two turns of the event loop (each receipt costs a signature check, ~60 µs). */
const ENTRIES_PER_TURN = 64

/** The ledger of one receipt log, computed incrementally. */
export class HostLedger {
  readonly #log: ReceiptLog
  readonly #tally = new LedgerTally()
  /** Running counts at each multiple of {@link TILE_WIDTH} the tally has passed. */
  readonly #atTile = new Map<number, LedgerCounts>([[0, new Map()]])
  /** The tally's progress: one reader at a time. */
  #reading: Promise<void> = Promise.resolve()

  constructor(log: ReceiptLog) {
    this.#log = log
  }

  /**
   * The ledger of entries `[from, to)` (`to` defaults to the checkpoint's size) at a checkpoint of the whole log
   * ({@link ReceiptLog.current}: on a log several hosts share, it includes the others' appends).
   * A range outside `0 ≤ from ≤ to ≤ size` is a RangeError (the route answers it 400 ERR_HOST_LOG_RANGE_INVALID).
   */
  async ledger(from: number, to: number | undefined): Promise<Ledger> {
    const checkpoint = await this.#log.current()
    const end = to ?? checkpoint.size
    if (!(from >= 0 && from <= end && end <= checkpoint.size)) throw new RangeError(`[${from}, ${end}) is not a range of the checkpoint of ${checkpoint.size}`)
    await this.#readTo(checkpoint.size)
    const [atFrom, atTo] = [await this.#countsAt(from), await this.#countsAt(end)]
    return this.#tally.toLedger(checkpoint.note, from, end, atFrom, atTo)
  }

  /** Reads the log into the tally up to `size` entries, after any read in progress. */
  #readTo(size: number): Promise<void> {
    const next = this.#reading.then(async () => {
      while (this.#tally.size < size) {
        const start = this.#tally.size
        const end = Math.min(size, start + ENTRIES_PER_TURN, (Math.floor(start / TILE_WIDTH) + 1) * TILE_WIDTH)
        for (const data of await this.#log.store.readEntries(start, end)) await this.#tally.add(data)
        if (this.#tally.size % TILE_WIDTH === 0) this.#atTile.set(this.#tally.size, this.#tally.counts())
        await nextTurn()
      }
    })
    // A failed read (the store unavailable) fails its request; the next request starts again where the tally is.
    this.#reading = next.catch(() => undefined)
    return next
  }

  /** The running counts at `size` (at most the tally's): kept at a tile boundary, or re-counted from the one before. */
  async #countsAt(size: number): Promise<LedgerCounts> {
    if (size === this.#tally.size) return this.#tally.counts()
    const tile = Math.floor(size / TILE_WIDTH) * TILE_WIDTH
    const kept = this.#atTile.get(tile)!
    if (tile === size) return kept
    return this.#tally.countsAt(kept, tile, await this.#log.store.readEntries(tile, size))
  }
}
