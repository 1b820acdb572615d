/**
 * The attribution ledger (issue 12 items 3 and 4, docs/protocol.md "Attribution ledger"): per contributor, how many
 * answers of each model used their work, over a range of the receipt log. One pure tally, shared by the host
 * (`GET /v1/ledger`) and by `vouch credits`, which re-computes it from the log's entries: both read the same entries,
 * so both must arrive at the same table, byte for byte.
 *
 * The ledger counts only what the enclave attested. A receipt is counted when the evidence bundle it names is logged
 * before it, it is signed by that bundle's keyset key, names that keyset and platform, and a model the bundle
 * attests, and its attribution is exactly the contributors of that model's attested manifest (bundle v2). Every
 * other receipt is flagged with a stable {@link LedgerFlagCode} and a reason, never counted, and so is an entry that
 * cannot be read. Checking a receipt's evidence against AMD's and NVIDIA's roots and a policy is the verifier's work
 * (`vouch credits` does it as well); the tally needs only the bytes of the log.
 *
 * {@link LedgerTally} reads the log's entries in order, once each, and keeps running counts, so a reader that
 * follows a growing log adds only what is new; the counts of a range are the difference of the running counts at its
 * two ends ({@link toLedger}).
 */
import { decodeBundle, type Ed25519PublicJwk, type Platform } from './bundle.js'
import { keysetDigest } from './binding.js'
import { CodedError } from './errors.js'
import { sha256Digest } from './jcs.js'
import { assembleEvidence, decodeLogEntry, receiptDigest, type LogEntry } from './log-entry.js'
import { decodeReceipt, verifyReceiptSignature, type DecodedReceipt } from './receipt.js'

/** Why an entry is flagged rather than counted. Codes are stable; reasons are for people. */
export const LEDGER_FLAG_CODES = [
  'ERR_LEDGER_ENTRY_MALFORMED',
  'ERR_LEDGER_EVIDENCE_MISSING',
  'ERR_LEDGER_SIGNATURE_INVALID',
  'ERR_LEDGER_BINDING_MISMATCH',
  'ERR_LEDGER_MODEL_UNATTESTED',
  'ERR_LEDGER_MANIFEST_MISSING',
  'ERR_LEDGER_ATTRIBUTION_MISMATCH',
] as const

/** A code of {@link LEDGER_FLAG_CODES}. */
export type LedgerFlagCode = (typeof LEDGER_FLAG_CODES)[number]

/** One line of the ledger: a contributor, a model, and how many answers of it in the range credit them. */
export interface LedgerRow {
  role: string
  id: string
  name: string
  /** The model's name and version, as the receipt and its attested manifest name them. */
  model: string
  version: string
  answers: number
}

/** An entry of the range that is not counted, and why. */
export interface LedgerFlag {
  /** The entry's index in the log. */
  index: number
  /** The receipt's digest (`receiptDigest`); for an entry that is no readable receipt, `sha256:` of the entry's bytes. */
  receipt: string
  code: LedgerFlagCode
  reason: string
}

/** The ledger of entries `[from, to)` of a log, as `GET /v1/ledger` answers it and `vouch credits --json` prints it. */
export interface Ledger {
  /** The signed checkpoint (C2SP signed note) the table was computed at; `to` is at most its size. */
  checkpoint: string
  from: number
  to: number
  /** Sorted by role, id, model, version, then name; only rows of at least one answer. */
  rows: LedgerRow[]
  /** In index order. */
  flagged: LedgerFlag[]
}

/** Running counts: a row's key ({@link rowKey}) to its answers. */
export type LedgerCounts = ReadonlyMap<string, number>

/** What the tally keeps of a logged evidence bundle: the index it was complete at, and what receipts are checked against. */
interface LoggedEvidence {
  at: number
  kid: string
  sig: Ed25519PublicJwk
  keyset: string
  platform: Platform
  notAfter: number
  /** Each model the bundle attests, with its manifest's contributors (null in a v1 bundle, which carries no manifest). */
  models: { name: string; version: string; digest: string; contributors: { role: string; id: string; name: string }[] | null }[]
  /** The bundle's bytes, when the tally keeps them ({@link LedgerTallyOptions.keepEvidence}). */
  bytes: Uint8Array | null
}

/** What reading one receipt concluded: the rows it counts in, or why it is flagged. */
type ReceiptOutcome = { counted: string[] } | { flag: LedgerFlag }

/** Options of {@link LedgerTally}. */
export interface LedgerTallyOptions {
  /** Keep each logged bundle's bytes, for {@link LedgerTally.evidence} (a reader that verifies receipts). Unset: not kept. */
  keepEvidence?: boolean
}

/** The key of a row: unambiguous, whatever the fields hold. */
function rowKey(role: string, id: string, name: string, model: string, version: string): string {
  return JSON.stringify([role, id, name, model, version])
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** A flag for an entry that could not be read, with the refusal's code in its reason; anything but a coded refusal is a bug, thrown. */
function malformed(index: number, receipt: string, what: string, error: unknown): { flag: LedgerFlag } {
  if (!(error instanceof CodedError)) throw error
  return { flag: { index, receipt, code: 'ERR_LEDGER_ENTRY_MALFORMED', reason: `${what}: ${error.code}: ${error.message}` } }
}

/**
 * The attribution ledger's running tally over a log's entries, read in order from index 0 ({@link add}). Pure: it
 * decodes entries, receipts and bundles, and checks receipts' Ed25519 signatures; it fetches nothing.
 */
export class LedgerTally {
  readonly #keepEvidence: boolean
  #size = 0
  readonly #evidence = new Map<string, LoggedEvidence>()
  /** Parts of bundles too large for one entry, by digest, until all are read. */
  readonly #parts = new Map<string, { index: number; entry: LogEntry }[]>()
  readonly #counts = new Map<string, number>()
  readonly #flagged: LedgerFlag[] = []

  constructor(options: LedgerTallyOptions = {}) {
    this.#keepEvidence = options.keepEvidence === true
  }

  /** Entries read so far: the next {@link add} reads entry `size`. */
  get size(): number {
    return this.#size
  }

  /** Reads the next entry of the log (index {@link size}): an evidence bundle is kept, a receipt counted or flagged. */
  async add(data: Uint8Array): Promise<void> {
    const index = this.#size
    this.#size++
    let entry: LogEntry
    try {
      entry = decodeLogEntry(data)
    } catch (error) {
      this.#flagged.push(malformed(index, sha256Digest(data), 'the entry does not decode', error).flag)
      return
    }
    if (entry.kind === 'receipt') {
      const outcome = await this.#read(index, entry.receipt)
      if ('flag' in outcome) this.#flagged.push(outcome.flag)
      else for (const key of outcome.counted) this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1)
      return
    }
    if (entry.kind === 'evidence') {
      this.#keep(index, data, entry.bundle)
      return
    }
    const parts = [...(this.#parts.get(entry.digest) ?? []), { index, entry }]
    this.#parts.set(entry.digest, parts)
    if (parts.length < entry.parts) return
    this.#parts.delete(entry.digest)
    let bundle: Uint8Array
    try {
      bundle = assembleEvidence(parts.map((p) => p.entry))
    } catch (error) {
      this.#flagged.push(malformed(index, sha256Digest(data), `the ${entry.parts} parts of evidence ${entry.digest} do not join`, error).flag)
      return
    }
    this.#keep(index, data, bundle)
  }

  /** Keeps what receipts are checked against of the bundle `bundle`, complete at entry `index` (the first copy logged). */
  #keep(index: number, data: Uint8Array, bundle: Uint8Array): void {
    let decoded: ReturnType<typeof decodeBundle>
    try {
      decoded = decodeBundle(bundle)
    } catch (error) {
      this.#flagged.push(malformed(index, sha256Digest(data), 'the evidence is not a bundle', error).flag)
      return
    }
    const digest = sha256Digest(bundle)
    if (this.#evidence.has(digest)) return
    const { keyset } = decoded
    this.#evidence.set(digest, {
      at: index,
      kid: keyset.kid,
      sig: keyset.sig,
      keyset: keysetDigest(keyset),
      platform: decoded.platform,
      notAfter: keyset.notAfter,
      models:
        decoded.v === 2
          ? decoded.models.map((m) => ({ name: m.name, version: m.version, digest: m.digest, contributors: m.manifest.contributors.map((c) => ({ role: c.role, id: c.id, name: c.name })) }))
          : decoded.models.map((m) => ({ name: m.name, version: m.version, digest: m.digest, contributors: null })),
      bytes: this.#keepEvidence ? bundle : null,
    })
  }

  /**
   * What receipt `jws`, entry `index`, comes to. Reads only evidence complete before `index`, so it is the same
   * whenever it is asked, however far the tally has read since.
   */
  async #read(index: number, jws: string): Promise<ReceiptOutcome> {
    const receipt = receiptDigest(jws)
    const flag = (code: LedgerFlagCode, reason: string): ReceiptOutcome => ({ flag: { index, receipt, code, reason } })
    let decoded: DecodedReceipt
    try {
      decoded = decodeReceipt(jws)
    } catch (error) {
      return malformed(index, receipt, 'the receipt does not decode', error)
    }
    const { header, payload } = decoded
    const evidence = this.#evidence.get(payload.evidence)
    if (evidence === undefined || evidence.at >= index) return flag('ERR_LEDGER_EVIDENCE_MISSING', `the evidence it names (${payload.evidence}) is not logged before it`)
    try {
      await verifyReceiptSignature(jws, evidence.sig)
    } catch (error) {
      if (!(error instanceof CodedError)) throw error
      return flag('ERR_LEDGER_SIGNATURE_INVALID', `it is not signed by the key of keyset ${evidence.kid} its evidence attests`)
    }
    if (header.kid !== evidence.kid || payload.keyset !== evidence.keyset) return flag('ERR_LEDGER_BINDING_MISMATCH', `it names keyset ${header.kid} (${payload.keyset}), its evidence attests ${evidence.kid} (${evidence.keyset})`)
    if (payload.platform !== evidence.platform) return flag('ERR_LEDGER_BINDING_MISMATCH', `it says platform ${payload.platform}, its evidence ${evidence.platform}`)
    if (payload.iat > evidence.notAfter) return flag('ERR_LEDGER_BINDING_MISMATCH', `it was signed after keyset ${evidence.kid} expired`)
    const { model } = payload
    const attested = evidence.models.find((m) => m.name === model.name && m.version === model.version && m.digest === model.digest)
    if (attested === undefined) return flag('ERR_LEDGER_MODEL_UNATTESTED', `model ${model.name} ${model.version} (${model.digest}) is not among the models its evidence attests`)
    const contributors = attested.contributors
    if (contributors === null) return flag('ERR_LEDGER_MANIFEST_MISSING', `its evidence is a v1 bundle: no attested manifest says who contributed to ${model.name} ${model.version}`)
    const credited = payload.attribution
    const same = credited.length === contributors.length && contributors.every((c, i) => c.role === credited[i]!.role && c.id === credited[i]!.id && c.name === credited[i]!.name)
    if (!same) {
      const list = (a: readonly { role: string; name: string }[]): string => a.map((c) => `${c.role}: ${c.name}`).join('; ') || 'nobody'
      return flag('ERR_LEDGER_ATTRIBUTION_MISMATCH', `it credits ${list(credited)}; the attested manifest of ${model.name} ${model.version} credits ${list(contributors)}`)
    }
    // One answer credits each contributor once, even if a manifest lists one twice.
    return { counted: [...new Set(contributors.map((c) => rowKey(c.role, c.id, c.name, model.name, model.version)))] }
  }

  /** The running counts after the entries read so far (a copy). */
  counts(): Map<string, number> {
    return new Map(this.#counts)
  }

  /**
   * The running counts at `end` (at most {@link size}), given `base`, the running counts at `start`, and `entries`, the
   * bytes of entries `start` to `end − 1`: only their receipts are read, against the evidence logged before each. For a
   * reader that kept the counts at some sizes only (the host, at every tile).
   */
  async countsAt(base: LedgerCounts, start: number, entries: readonly Uint8Array[]): Promise<Map<string, number>> {
    if (start + entries.length > this.#size) throw new RangeError(`countsAt: entries up to ${start + entries.length} of a tally of ${this.#size}`)
    const counts = new Map(base)
    for (const [i, data] of entries.entries()) {
      let entry: LogEntry
      try {
        entry = decodeLogEntry(data)
      } catch {
        continue // flagged when it was added
      }
      if (entry.kind !== 'receipt') continue
      const outcome = await this.#read(start + i, entry.receipt)
      if ('counted' in outcome) for (const key of outcome.counted) counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    return counts
  }

  /** The bytes of the bundle of `digest` logged before entry `index`, when the tally keeps evidence; else undefined. */
  evidence(digest: string, index: number): Uint8Array | undefined {
    const logged = this.#evidence.get(digest)
    return logged !== undefined && logged.at < index ? (logged.bytes ?? undefined) : undefined
  }

  /**
   * The ledger of entries `[from, to)` (both at most {@link size}) at `checkpoint`: the rows are `atTo − atFrom`, the
   * running counts at `to` and at `from`; the flags those of the entries in the range.
   */
  toLedger(checkpoint: string, from: number, to: number, atFrom: LedgerCounts, atTo: LedgerCounts): Ledger {
    if (!(Number.isSafeInteger(from) && Number.isSafeInteger(to) && from >= 0 && from <= to && to <= this.#size)) throw new RangeError(`toLedger: [${from}, ${to}) is not a range of a tally of ${this.#size}`)
    const rows: LedgerRow[] = []
    for (const [key, total] of atTo) {
      const answers = total - (atFrom.get(key) ?? 0)
      if (answers <= 0) continue
      const [role, id, name, model, version] = JSON.parse(key) as [string, string, string, string, string]
      rows.push({ role, id, name, model, version, answers })
    }
    rows.sort((a, b) => byCodeUnits(a.role, b.role) || byCodeUnits(a.id, b.id) || byCodeUnits(a.model, b.model) || byCodeUnits(a.version, b.version) || byCodeUnits(a.name, b.name))
    const flagged = this.#flagged.filter((f) => f.index >= from && f.index < to).map((f) => ({ index: f.index, receipt: f.receipt, code: f.code, reason: f.reason }))
    return { checkpoint, from, to, rows, flagged }
  }
}
