/**
 * The entries of the receipt log (docs/protocol.md, "Receipt log"): what the host appends, and what anyone who
 * follows the log reads back. Each entry is one CBOR map in Vouch's deterministic profile, tagged by `kind`:
 *
 * - `{ v: 1, kind: "receipt", receipt: "<compact JWS>" }`: a receipt exactly as the enclave signed it;
 * - `{ v: 1, kind: "evidence", bundle: h'…' }`: the CBOR bytes of an evidence bundle a receipt names;
 * - `{ v: 1, kind: "evidence-part", digest: "sha256:…", part, parts, bytes: h'…' }`: one of `parts` consecutive
 *   slices of a bundle too large for one entry (an 8-GPU machine's), {@link EVIDENCE_PART_BYTES} each but the last;
 *   {@link toEvidenceEntries} splits, {@link assembleEvidence} joins and checks against `digest`.
 *
 * Nothing else goes in: no request body, no plaintext, no client address. Each entry has a {@link logEntryKey}: the
 * store appends an entry whose key is already in the log at most once, so a receipt is logged once however often it
 * is offered, and a keyset's evidence once per keyset.
 */
import { decodeBundle } from './bundle.js'
import { decodeCbor, encodeCbor } from './cbor.js'
import { ProtocolError } from './errors.js'
import { bytes, Issues, oneOf, record, unsupportedVersion } from './issues.js'
import { sha256Digest } from './jcs.js'
import { MAX_ENTRY_SIZE } from './tlog/index.js'

/** The entry format's version. */
export const LOG_ENTRY_VERSION = 1
/** The kinds of entry. */
export const LOG_ENTRY_KINDS = ['receipt', 'evidence', 'evidence-part'] as const
/**
 * Bytes of a bundle in each `evidence-part` entry (60 KiB): with the map around them an entry stays under
 * {@link MAX_ENTRY_SIZE}, the most a tlog-tiles entry bundle can carry.
 */
export const EVIDENCE_PART_BYTES = 60 * 1024
/** Most parts of one bundle (a bundle of up to 15 MiB). */
const MAX_EVIDENCE_PARTS = 256
const DIGEST = /^sha256:[0-9a-f]{64}$/

/** One entry of the receipt log. */
export type LogEntry =
  /** A receipt, the compact JWS as the enclave signed it. */
  | { kind: 'receipt'; receipt: string }
  /** The CBOR bytes of an evidence bundle, as the enclave made them. */
  | { kind: 'evidence'; bundle: Uint8Array }
  /** Slice `part` (0-based) of `parts` of the bundle whose bytes have digest `digest` (`sha256:<hex>`). */
  | { kind: 'evidence-part'; digest: string; part: number; parts: number; bytes: Uint8Array }

/** A compact JWS: three base64url parts (the receipt's own checks come with its bundle's key, later). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
/** A receipt longer than this is not one the enclave signed (its payload is bounded field by field). */
const MAX_RECEIPT_CHARS = 32 * 1024

function checkEntry(value: unknown, issues: Issues): LogEntry | undefined {
  const kind = oneOf(record(value, '', issues, ['v', 'kind'], ['receipt', 'bundle', 'digest', 'part', 'parts', 'bytes'])?.['kind'], 'kind', issues, LOG_ENTRY_KINDS)
  if (kind === undefined) return undefined
  const map = value as Record<string, unknown>
  if (map['v'] !== undefined && map['v'] !== LOG_ENTRY_VERSION) throw unsupportedVersion('log entry', map['v'], LOG_ENTRY_VERSION)
  const fields = { receipt: ['receipt'], evidence: ['bundle'], 'evidence-part': ['digest', 'part', 'parts', 'bytes'] }[kind]
  for (const other of ['receipt', 'bundle', 'digest', 'part', 'parts', 'bytes']) {
    if (map[other] !== undefined && !fields.includes(other)) issues.add(other, `is not a field of a ${kind} entry`)
  }
  if (kind === 'evidence') {
    const bundle = bytes(map['bundle'], 'bundle', issues)
    return bundle === undefined ? undefined : { kind, bundle }
  }
  if (kind === 'evidence-part') {
    const { digest, part, parts } = map
    const slice = bytes(map['bytes'], 'bytes', issues)
    if (typeof digest !== 'string' || !DIGEST.test(digest)) issues.add('digest', 'must be sha256: and 64 lower-case hex digits')
    const okParts = Number.isSafeInteger(parts) && (parts as number) >= 2 && (parts as number) <= MAX_EVIDENCE_PARTS
    if (!okParts) issues.add('parts', `must be an integer from 2 to ${MAX_EVIDENCE_PARTS}`)
    if (!Number.isSafeInteger(part) || (part as number) < 0 || (okParts && (part as number) >= (parts as number))) issues.add('part', 'must be an integer from 0 to parts - 1')
    if (slice !== undefined && (slice.length === 0 || slice.length > EVIDENCE_PART_BYTES)) issues.add('bytes', `must hold 1 to ${EVIDENCE_PART_BYTES} bytes`)
    if (issues.list.length > 0 || slice === undefined) return undefined
    return { kind, digest: digest as string, part: part as number, parts: parts as number, bytes: slice }
  }
  const receipt = map['receipt']
  if (typeof receipt !== 'string' || receipt.length > MAX_RECEIPT_CHARS || !COMPACT_JWS.test(receipt)) {
    issues.add('receipt', `must be a compact JWS (three base64url parts) of at most ${MAX_RECEIPT_CHARS} characters`)
    return undefined
  }
  return { kind, receipt }
}

/** Asserts `value` is a well-formed {@link LogEntry} wire map; returns the entry. Throws `ERR_LOG_ENTRY_MALFORMED`. */
function toLogEntry(value: unknown): LogEntry {
  const issues = new Issues()
  const entry = checkEntry(value, issues)
  issues.throwIfAny('ERR_LOG_ENTRY_MALFORMED', 'log entry')
  return entry!
}

/** The wire map of an entry, fields in a fixed set (extra properties of the object passed never get logged). */
function wireForm(entry: LogEntry): Record<string, unknown> {
  if (entry.kind === 'receipt') return { v: LOG_ENTRY_VERSION, kind: entry.kind, receipt: entry.receipt }
  if (entry.kind === 'evidence') return { v: LOG_ENTRY_VERSION, kind: entry.kind, bundle: entry.bundle }
  return { v: LOG_ENTRY_VERSION, kind: entry.kind, digest: entry.digest, part: entry.part, parts: entry.parts, bytes: entry.bytes }
}

/**
 * The bytes of `entry`. Validates first: a receipt that is not a compact JWS, or an evidence entry whose bytes are not
 * an evidence bundle, throws `ERR_LOG_ENTRY_MALFORMED` (a bundle's own problems keep their codes); an entry over
 * {@link MAX_ENTRY_SIZE} (what a C2SP tlog-tiles entry bundle can carry: an entry sequenced past it could never be
 * published) throws `ERR_PROTOCOL_TOO_LARGE`.
 */
export function encodeLogEntry(entry: LogEntry): Uint8Array {
  const checked = toLogEntry(wireForm(entry))
  if (checked.kind === 'evidence') decodeBundle(checked.bundle)
  const data = encodeCbor(wireForm(checked))
  if (data.length > MAX_ENTRY_SIZE) {
    throw new ProtocolError('ERR_PROTOCOL_TOO_LARGE', `log entry: ${data.length} bytes exceed the ${MAX_ENTRY_SIZE}-byte limit of a tlog-tiles entry`)
  }
  return data
}

/**
 * Reads one entry's bytes. Throws `ERR_PROTOCOL_TOO_LARGE` beyond {@link MAX_ENTRY_SIZE}, `ERR_PROTOCOL_MALFORMED`
 * for bytes that are not Vouch CBOR, `ERR_PROTOCOL_UNSUPPORTED_VERSION` for another `v`, `ERR_LOG_ENTRY_MALFORMED`
 * naming each bad field. An evidence entry's bundle is returned as bytes: {@link decodeBundle} reads it.
 */
export function decodeLogEntry(data: Uint8Array): LogEntry {
  return toLogEntry(decodeCbor(data, { maxBytes: MAX_ENTRY_SIZE, maxDepth: 2 }))
}

/**
 * The key under which the log holds `entry` at most once: `receipt:sha256:<hex>` of the receipt's ASCII text for a
 * receipt, `evidence:sha256:<hex>` of the bundle's bytes (the digest a receipt's `evidence` names) for evidence, and
 * that key with `#<part>` for a part. The enclave builds one unchallenged bundle per keyset and names it in every
 * receipt of the keyset, so a keyset's evidence is logged once. Throws like {@link decodeBundle} for evidence bytes
 * that are not a bundle.
 */
export function logEntryKey(entry: LogEntry): string {
  if (entry.kind === 'receipt') return `receipt:${receiptDigest(entry.receipt)}`
  if (entry.kind === 'evidence-part') return `evidence:${entry.digest}#${entry.part}`
  decodeBundle(entry.bundle)
  return `evidence:${sha256Digest(entry.bundle)}`
}

/**
 * The entries that log the evidence bundle `bundle` (its CBOR bytes): one `evidence` entry when it fits, else
 * `evidence-part` entries of {@link EVIDENCE_PART_BYTES}, in order. Throws like {@link decodeBundle} for bytes that
 * are not a bundle, `ERR_PROTOCOL_TOO_LARGE` for one of more than 256 parts.
 */
export function toEvidenceEntries(bundle: Uint8Array): LogEntry[] {
  decodeBundle(bundle)
  const whole: LogEntry = { kind: 'evidence', bundle }
  if (encodeCbor(wireForm(whole)).length <= MAX_ENTRY_SIZE) return [whole]
  const parts = Math.ceil(bundle.length / EVIDENCE_PART_BYTES)
  if (parts > MAX_EVIDENCE_PARTS) throw new ProtocolError('ERR_PROTOCOL_TOO_LARGE', `evidence bundle: ${bundle.length} bytes need more than ${MAX_EVIDENCE_PARTS} log entries`)
  const digest = sha256Digest(bundle)
  return Array.from({ length: parts }, (_, part) => ({ kind: 'evidence-part', digest, part, parts, bytes: bundle.subarray(part * EVIDENCE_PART_BYTES, (part + 1) * EVIDENCE_PART_BYTES) }))
}

/**
 * The bundle bytes the entries `entries` log: one `evidence` entry, or every `evidence-part` of one bundle in order
 * (parts 0 to parts − 1, one digest), joined. Checks that the bytes have the parts' digest and are a bundle.
 * `ERR_LOG_ENTRY_MALFORMED` for parts missing, out of order, of two bundles or whose bytes do not match their digest.
 */
export function assembleEvidence(entries: readonly LogEntry[]): Uint8Array {
  const first = entries[0]
  if (entries.length === 1 && first?.kind === 'evidence') {
    decodeBundle(first.bundle)
    return first.bundle
  }
  if (first?.kind !== 'evidence-part') throw new ProtocolError('ERR_LOG_ENTRY_MALFORMED', 'evidence: expected one evidence entry or the parts of one bundle')
  const parts = entries.map((entry, i) => {
    if (entry.kind !== 'evidence-part' || entry.digest !== first.digest || entry.parts !== first.parts || entry.part !== i) {
      throw new ProtocolError('ERR_LOG_ENTRY_MALFORMED', `evidence part ${i}: not part ${i} of the ${first.parts} of ${first.digest}`)
    }
    return entry.bytes
  })
  if (parts.length !== first.parts) throw new ProtocolError('ERR_LOG_ENTRY_MALFORMED', `evidence ${first.digest}: ${parts.length} of its ${first.parts} parts`)
  const bundle = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  parts.reduce((at, p) => (bundle.set(p, at), at + p.length), 0)
  if (sha256Digest(bundle) !== first.digest) throw new ProtocolError('ERR_LOG_ENTRY_MALFORMED', `evidence ${first.digest}: the parts' bytes have another digest`)
  decodeBundle(bundle)
  return bundle
}

/** `sha256:<hex>` of a receipt's compact JWS text: how the log names a receipt (`GET /v1/log/proof?receipt=`). */
export function receiptDigest(receipt: string): string {
  return sha256Digest(receipt)
}
