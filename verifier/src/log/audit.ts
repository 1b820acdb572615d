/**
 * `vouch-verify log audit`: follows a receipt log from the last checkpoint this auditor stored, as a C2SP monitor
 * does. It checks the log's new checkpoint is consistent with the stored one, fetches every new entry (entry bundles,
 * each entry proven to be the tree's own through the hash tiles), decodes each, and verifies each receipt against the
 * evidence bundle it names, as logged. A fork ends the audit with both signed checkpoints as proof.
 */
import {
  assembleEvidence,
  decodeEntryBundle,
  decodeLogEntry,
  decodeReceipt,
  recordHash,
  sha256Digest,
  storedHashIndex,
  tileHashReader,
  tilePath,
  TILE_WIDTH,
  bytesEqual,
  CodedError,
  type HashTile,
  type LogEntry,
} from '@vouch/protocol'
import { verifyReceipt } from '../bundle/receipt.js'
import { VerificationError } from '../errors.js'
import type { Policy } from '../policy/types.js'
import { LogForkError } from './consistency.js'
import { checkConsistent, fetchCheckpoint, readLog, type CheckpointStore, type LogReader } from './follow.js'
import type { SignedCheckpoint } from './inclusion.js'

/** Largest tile or entry bundle read: 256 entries of at most 65,535 bytes and their lengths. */
const MAX_TILE_BYTES = TILE_WIDTH * (0xffff + 2)
/** Largest evidence bundle read from `/v1/log/evidence/`. */
const MAX_EVIDENCE_BYTES = 16 * 1024 * 1024

/** An entry the audit found wrong. */
export interface AuditProblem {
  /** The entry's index, or null for a problem with the log as a whole. */
  index: number | null
  code: string
  message: string
}

/** What an audit found. */
export interface AuditReport {
  /** The log's origin. */
  origin: string
  /** The checkpoint the audit started from (null: none stored, the log was read from its first entry). */
  from: SignedCheckpoint | null
  /** The log's checkpoint the audit checked up to. */
  to: SignedCheckpoint
  /** Entries checked, receipts among them, and receipts that verified. */
  entries: number
  receipts: number
  verified: number
  /** Everything found wrong; empty for a clean audit. */
  problems: AuditProblem[]
  /** When the log forked: both signed checkpoints, the stored one first. */
  fork: readonly [string, string] | null
}

/** How to audit. */
export interface AuditOptions {
  /** Reads the log's HTTP API. */
  reader: LogReader
  /** Holds the last checkpoint audited per log; advanced only by a clean audit. */
  store: Pick<CheckpointStore, 'load' | 'save'>
  /** The log keys its checkpoints must be signed by (one of them). */
  logKeys: readonly string[]
  /** Policy receipts and their evidence are verified under. Unset: authenticity only (simulated evidence rejected). */
  policy?: Policy
}

const problemOf = (index: number | null, error: unknown): AuditProblem => {
  if (error instanceof CodedError) return { index, code: error.code, message: error.message }
  throw error
}

/** Reads hash tiles through `reader`, each as `GET /v1/log/tile/<L>/<N>[.p/<W>]`. */
function tileReader(reader: LogReader): { readTiles(tiles: readonly HashTile[]): Promise<Uint8Array[]> } {
  return { readTiles: (tiles) => Promise.all(tiles.map((tile) => readLog(reader, `v1/log/${tilePath(tile)}`, 'application/octet-stream', MAX_TILE_BYTES))) }
}

/** An entry served other than the tree commits to (`ERR_LOG_INCLUSION_INVALID`), at `index`. */
export class LogEntryMismatchError extends VerificationError {
  constructor(readonly index: number, message: string) {
    super('ERR_LOG_INCLUSION_INVALID', message)
  }
}

/**
 * The entries [from, tree.size) of the tree of checkpoint `tree`, read as entry bundles through `reader`, each proven
 * against the tree's hash tiles. Throws {@link LogEntryMismatchError} at the first entry that is not the tree's.
 */
export async function* provenEntries(reader: LogReader, tree: SignedCheckpoint, from: number): AsyncGenerator<{ index: number; bytes: Uint8Array }> {
  const hashes = tileHashReader({ size: tree.size, hash: tree.rootHash }, tileReader(reader))
  for (let n = Math.floor(from / TILE_WIDTH); n * TILE_WIDTH < tree.size; n++) {
    const width = Math.min(TILE_WIDTH, tree.size - n * TILE_WIDTH)
    const bundle = decodeEntryBundle(await readLog(reader, `v1/log/${tilePath({ level: 'entries', n, width })}`, 'application/octet-stream', MAX_TILE_BYTES), width)
    const first = Math.max(from, n * TILE_WIDTH)
    const indexes = Array.from({ length: n * TILE_WIDTH + width - first }, (_, i) => first + i)
    const proven = await hashes.readHashes(indexes.map((i) => storedHashIndex(0, i)))
    for (const [k, index] of indexes.entries()) {
      const bytes = bundle[index - n * TILE_WIDTH]!
      if (!bytesEqual(recordHash(bytes), proven[k]!)) throw new LogEntryMismatchError(index, `entry ${index} as served (${tilePath({ level: 'entries', n, width })}) is not the entry the checkpoint of ${tree.size} commits to`)
      yield { index, bytes }
    }
  }
}

/** The evidence bundle a receipt names: from the entries audited, else from the log's evidence route, checked by digest. */
async function evidenceFor(reader: LogReader, digest: string, seen: Map<string, Uint8Array>): Promise<Uint8Array> {
  const known = seen.get(digest)
  if (known !== undefined) return known
  const bytes = await readLog(reader, `v1/log/evidence/${digest}`, 'application/cbor', MAX_EVIDENCE_BYTES)
  if (sha256Digest(bytes) !== digest) throw new VerificationError('ERR_RECEIPT_BINDING_MISMATCH', `the log's evidence route served bytes whose digest is ${sha256Digest(bytes)} for ${digest}`)
  seen.set(digest, bytes)
  return bytes
}

/**
 * Audits the log read through `options.reader` from the checkpoint `options.store` holds for it (from its first entry
 * when none). Resolves to a report; a fork (`ERR_LOG_FORK`) is reported with both signed checkpoints, and the stored
 * checkpoint advances only when nothing was found wrong. Throws for a log that cannot be read (`ERR_LOG_UNAVAILABLE`)
 * or a latest checkpoint not signed by the keys (`ERR_LOG_CHECKPOINT_UNTRUSTED`).
 */
export async function auditLog(options: AuditOptions): Promise<AuditReport> {
  const { reader, store, logKeys } = options
  const latest = await fetchCheckpoint(reader, logKeys)
  const stored = await store.load(latest.origin, logKeys)
  const report: AuditReport = { origin: latest.origin, from: stored, to: latest, entries: 0, receipts: 0, verified: 0, problems: [], fork: null }
  try {
    await checkConsistent(reader, stored, latest)
    if (stored !== null && latest.size < stored.size) {
      report.problems.push({ index: null, code: 'ERR_LOG_UNAVAILABLE', message: `the log serves a checkpoint of ${latest.size} entries, older than the ${stored.size} audited before (consistent with it)` })
      return report
    }
    const evidence = new Map<string, Uint8Array>()
    // A bundle too large for one entry is logged in parts; they are joined (and checked) once all are read.
    const parts = new Map<string, { index: number; entry: LogEntry }[]>()
    const receipts: { index: number; jws: string }[] = []
    for await (const { index, bytes } of provenEntries(reader, latest, stored?.size ?? 0)) {
      report.entries++
      try {
        const entry = decodeLogEntry(bytes)
        if (entry.kind === 'evidence') evidence.set(sha256Digest(entry.bundle), entry.bundle)
        else if (entry.kind === 'evidence-part') parts.set(entry.digest, [...(parts.get(entry.digest) ?? []), { index, entry }])
        else receipts.push({ index, jws: entry.receipt })
      } catch (error) {
        report.problems.push(problemOf(index, error))
      }
    }
    for (const [digest, logged] of parts) {
      try {
        evidence.set(digest, assembleEvidence(logged.map((p) => p.entry)))
      } catch (error) {
        report.problems.push(problemOf(logged[0]!.index, error))
      }
    }
    // Evidence is logged once per keyset, before the first receipt that names it; receipts are checked once all is read.
    for (const { index, jws } of receipts) {
      report.receipts++
      try {
        const bundle = await evidenceFor(reader, decodeReceipt(jws).payload.evidence, evidence)
        const result = await verifyReceipt(jws, { evidence: bundle, ...(options.policy !== undefined && { policy: options.policy }) })
        if (result.verdict === 'accepted') report.verified++
        else for (const e of result.errors) report.problems.push({ index, code: e.code, message: e.message })
      } catch (error) {
        report.problems.push(problemOf(index, error))
      }
    }
  } catch (error) {
    // A fork, or served data that is not the tree's (tiles, entry bundles): the log as a whole is wrong.
    report.problems.push(problemOf(error instanceof LogEntryMismatchError ? error.index : null, error))
    if (error instanceof LogForkError) report.fork = error.checkpoints
    return report
  }
  if (report.problems.length === 0) store.save(latest)
  return report
}
