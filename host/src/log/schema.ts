/**
 * What both backends' tables share: the schema version, the checks a log passes when it is opened, and the shape of
 * a stored checkpoint row. The tables (the same names in SQLite and PostgreSQL):
 *
 * - `vouch_log_state`: one row: the schema version and the log's size, the one value every sequencing transaction
 *   locks, reads and advances;
 * - `vouch_log_entries (idx, key, data)`: entry `idx` (dense from 0), its key (unique) and its bytes;
 * - `vouch_log_hashes (idx, hash)`: the stored hashes of the tree (dense from 0, `storedHashCount(size)` of them);
 * - `vouch_log_checkpoints (id, size, root, note)`: every checkpoint served, in the order kept, each note once.
 */
import { storedHashCount } from '@vouch/protocol'
import type { StoredCheckpoint } from './store.js'

/** The version of the tables; a log written by another version is refused, never guessed at. */
export const LOG_SCHEMA_VERSION = 1

/** What {@link checkOpenedLog} reads of a log: its state row, and the last index of its entries and hashes. */
export interface OpenedLogState {
  schema: number
  size: number
  lastEntry: number | null
  lastHash: number | null
}

/**
 * Refuses a log whose tables disagree with its state row: another schema version, or entries or stored hashes past or
 * short of its size (the backend reports it as `ERR_HOST_LOG_OPEN_FAILED`, naming the log). Every batch writes all three in one transaction, so only a
 * hand edit or a damaged file gets here, and the host does not build on it.
 */
export function checkOpenedLog(state: OpenedLogState): void {
  const problem =
    state.schema !== LOG_SCHEMA_VERSION
      ? `its tables are of schema version ${state.schema}; this host reads version ${LOG_SCHEMA_VERSION}`
      : (state.lastEntry ?? -1) + 1 !== state.size
        ? `it holds entries up to index ${state.lastEntry ?? 'none'} but records a size of ${state.size}`
        : (state.lastHash ?? -1) + 1 !== storedHashCount(state.size)
          ? `it holds stored hashes up to index ${state.lastHash ?? 'none'}; a log of ${state.size} entries has ${storedHashCount(state.size)}`
          : null
  if (problem !== null) throw new Error(`cannot be used: ${problem}`)
}

/** A checkpoint row as a backend reads it. */
export interface CheckpointRow<B = Uint8Array> {
  size: number
  root: B
  note: string
}

/** A checkpoint row as the store returns it. */
export function toStoredCheckpoint(row: CheckpointRow): StoredCheckpoint {
  return { size: row.size, rootHash: row.root, note: row.note }
}
