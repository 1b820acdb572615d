/**
 * The attribution ledger re-computed by a relying party (issue 12 item 4, `vouch credits`): the log followed from
 * the checkpoint last seen of it (consistent, or the fork is proven with both signed checkpoints), every entry read
 * from its first and proven against the latest checkpoint's tiles, every receipt of the range verified against its
 * logged evidence, and the table computed with the tally the host uses (`LedgerTally`). Then the host's own
 * `GET /v1/ledger` for the same range is compared with it. A contributor checks their numbers without trusting the
 * operator.
 */
import { canonicalJson, CodedError, decodeLogEntry, decodeReceipt, LedgerTally, type JsonValue, type Ledger } from '@vouch/protocol'
import { verifyReceipt, type Policy, type SignedCheckpoint } from '@vouch/verifier'
import { checkConsistent, fetchCheckpoint, LogEntryMismatchError, openCheckpoint, provenEntries, readLog, type CheckpointStore, type LogReader } from '@vouch/verifier/log'
import { ClientError } from './errors.js'
import { toClientError } from './log.js'

/** Largest `GET /v1/ledger` answer read. */
const MAX_LEDGER_BYTES = 64 * 1024 * 1024

/** Options of {@link VouchClient.credits}. */
export interface CreditsOptions {
  /**
   * Where the range starts: an entry index, or a time (the range starts at the first receipt signed, by its `iat`, at
   * or after it). Unset: 0. An index past the log's latest checkpoint is a RangeError.
   */
  since?: number | Date
  /** Policy receipts and their evidence are verified under; null: authenticity only (simulated evidence rejected). Unset: the client's policy. */
  policy?: Policy | null
}

/** Something the re-computation found wrong. */
export interface CreditsProblem {
  /** The entry's index, or null for the log (or the host's ledger) as a whole. */
  index: number | null
  code: string
  message: string
}

/** What `credits` found. */
export interface CreditsReport {
  /** The ledger re-computed from the log, at {@link checkpoint}; null when the log's entries could not be proven. */
  ledger: Ledger | null
  /** The log's latest checkpoint, signed by the log key, consistent with the one seen before. */
  checkpoint: SignedCheckpoint
  /** Receipt entries in the range, those the ledger counts, and those that verified against their logged evidence. */
  receipts: number
  counted: number
  verified: number
  /**
   * Everything found wrong: entries not the tree's (`ERR_LOG_INCLUSION_INVALID`), receipts that do not verify (the
   * verifier's codes), a host ledger that differs (`ERR_CLIENT_LEDGER_MISMATCH`). Flagged entries are in the ledger.
   */
  problems: CreditsProblem[]
}

/** The first index of the range: `since` as an index, or found while reading when it is a time. */
interface RangeStart {
  from: number | null
  after: Date | null
}

function rangeStart(since: number | Date | undefined, size: number): RangeStart {
  if (since instanceof Date) {
    if (Number.isNaN(since.getTime())) throw new RangeError('credits: since is not a valid date')
    return { from: null, after: since }
  }
  const from = since ?? 0
  if (!Number.isSafeInteger(from) || from < 0 || from > size) throw new RangeError(`credits: since ${from} is not an entry index of the log's ${size} entries`)
  return { from, after: null }
}

/** The receipt's signing time, when `data` is a readable receipt entry. */
function signedAt(data: Uint8Array): number | null {
  try {
    const entry = decodeLogEntry(data)
    return entry.kind === 'receipt' ? decodeReceipt(entry.receipt).payload.iat * 1000 : null
  } catch {
    return null // flagged by the tally
  }
}

/** What makes two ledgers of one range the same: everything but the checkpoint (the host may have signed a later one). */
const comparable = (l: Ledger): string => canonicalJson({ from: l.from, to: l.to, rows: l.rows, flagged: l.flagged } as unknown as JsonValue)

/** Compares the host's `GET /v1/ledger` for the range of `ours` with it; a difference is a problem, a fork is thrown. */
async function compareWithHost(reader: LogReader, logKeys: readonly string[], ours: Ledger, checkpoint: SignedCheckpoint): Promise<CreditsProblem | null> {
  const body = await readLog(reader, `v1/ledger?from=${ours.from}&to=${ours.to}`, 'application/json', MAX_LEDGER_BYTES)
  let theirs: Ledger
  try {
    theirs = JSON.parse(Buffer.from(body).toString('utf8')) as Ledger
    if (typeof theirs.checkpoint !== 'string') throw new TypeError('no checkpoint')
  } catch {
    return { index: null, code: 'ERR_CLIENT_LEDGER_MISMATCH', message: "the host's GET /v1/ledger answer is not a ledger" }
  }
  // The host computes at its latest checkpoint: signed by the log key, and one history with ours.
  await checkConsistent(reader, checkpoint, await openCheckpoint(theirs.checkpoint, logKeys))
  let same = false
  try {
    same = comparable(theirs) === comparable(ours)
  } catch {
    // not JSON data of a ledger: a difference
  }
  if (same) return null
  const rows = (l: Ledger): number => (Array.isArray(l.rows) ? l.rows.reduce((n, r) => n + (typeof r?.answers === 'number' ? r.answers : 0), 0) : NaN)
  const flagged = (l: Ledger): number => (Array.isArray(l.flagged) ? l.flagged.length : NaN)
  return {
    index: null,
    code: 'ERR_CLIENT_LEDGER_MISMATCH',
    message: `the host's ledger of entries [${ours.from}, ${ours.to}) differs from the one re-computed from its log: it credits ${rows(theirs)} answers in ${theirs.rows?.length} rows and flags ${flagged(theirs)} entries, the log shows ${rows(ours)} in ${ours.rows.length} rows and ${flagged(ours)} flagged`,
  }
}

/** Verifies each receipt of the range against the evidence its tally kept (a receipt whose evidence is missing is flagged already). */
async function verifyReceipts(tally: LedgerTally, receipts: readonly { index: number; jws: string }[], policy: Policy | null, report: CreditsReport): Promise<void> {
  report.receipts = receipts.length
  for (const { index, jws } of receipts) {
    let evidence: Uint8Array | undefined
    try {
      evidence = tally.evidence(decodeReceipt(jws).payload.evidence, index)
    } catch {
      continue // flagged ERR_LEDGER_ENTRY_MALFORMED
    }
    if (evidence === undefined) continue
    const result = await verifyReceipt(jws, { evidence, ...(policy !== null && { policy }) })
    if (result.verdict === 'accepted') report.verified++
    else for (const e of result.errors) report.problems.push({ index, code: e.code, message: e.message })
  }
}

/**
 * Re-computes the ledger of the log read through `reader` (see the module's description). `keeper` holds the last
 * checkpoint seen of each log: the latest is checked consistent with it, and kept when its entries were all proven.
 * Refuses, by code: `ERR_CLIENT_LOG_FORK` (with both signed checkpoints: the stored one and the latest, or the latest
 * and the one the host's ledger was computed at), `ERR_CLIENT_LOG_PROOF_REJECTED` (a checkpoint not signed by the
 * log keys), `ERR_CLIENT_HTTP` (the log or its ledger could not be read). Everything else found wrong is in the report.
 */
export async function computeCredits(reader: LogReader, keeper: Pick<CheckpointStore, 'load' | 'save'>, logKeys: readonly string[], policy: Policy | null, since: CreditsOptions['since']): Promise<CreditsReport> {
  try {
    const latest = await fetchCheckpoint(reader, logKeys)
    const stored = await keeper.load(latest.origin, logKeys)
    await checkConsistent(reader, stored, latest)
    const report: CreditsReport = { ledger: null, checkpoint: latest, receipts: 0, counted: 0, verified: 0, problems: [] }
    if (stored !== null && latest.size < stored.size) {
      report.problems.push({ index: null, code: 'ERR_LOG_UNAVAILABLE', message: `the log serves a checkpoint of ${latest.size} entries, older than the ${stored.size} seen before (consistent with it)` })
    }
    const start = rangeStart(since, latest.size)
    const tally = new LedgerTally({ keepEvidence: true })
    let atFrom = tally.counts()
    const receipts: { index: number; jws: string }[] = []
    try {
      for await (const { index, bytes } of provenEntries(reader, latest, 0)) {
        if (start.from === null && start.after !== null && (signedAt(bytes) ?? -Infinity) >= start.after.getTime()) start.from = index
        if (index === start.from) atFrom = tally.counts()
        await tally.add(bytes)
        if (start.from !== null && index >= start.from) {
          const entry = (() => {
            try {
              return decodeLogEntry(bytes)
            } catch {
              return null
            }
          })()
          if (entry?.kind === 'receipt') receipts.push({ index, jws: entry.receipt })
        }
      }
    } catch (error) {
      // Served entries or tiles that are not the tree's: nothing after them can be counted. A log that cannot be read is no finding.
      if (!(error instanceof CodedError) || error.code === 'ERR_LOG_UNAVAILABLE') throw error
      report.problems.push({ index: error instanceof LogEntryMismatchError ? error.index : null, code: error.code, message: error.message })
      return report
    }
    const from = start.from ?? latest.size
    if (from === latest.size) atFrom = tally.counts()
    report.ledger = tally.toLedger(latest.note, from, latest.size, atFrom, tally.counts())
    const flagged = new Set(report.ledger.flagged.map((f) => f.index))
    report.counted = receipts.filter((r) => !flagged.has(r.index)).length
    await verifyReceipts(tally, receipts, policy, report)
    const difference = await compareWithHost(reader, logKeys, report.ledger, latest)
    if (difference !== null) report.problems.push(difference)
    if (stored === null || latest.size >= stored.size) keeper.save(latest)
    return report
  } catch (error) {
    if (error instanceof ClientError || error instanceof RangeError) throw error
    throw toClientError(error)
  }
}
