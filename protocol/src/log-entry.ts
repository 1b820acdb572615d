/**
 * The entries of the receipt log (docs/protocol.md, "Receipt log"): what the host appends, and what anyone who
 * follows the log reads back. Each entry is one CBOR map in Vouch's deterministic profile, tagged by `kind`:
 *
 * - `{ v: 1, kind: "receipt", receipt: "<compact JWS>" }`: a receipt exactly as the enclave signed it;
 * - `{ v: 1, kind: "evidence", bundle: h'…' }`: the CBOR bytes of an evidence bundle a receipt names.
 *
 * Nothing else goes in: no request body, no plaintext, no client address. Each entry has a {@link logEntryKey}: the
 * store appends an entry whose key is already in the log at most once, so a receipt is logged once however often it
 * is offered, and a keyset's evidence once per keyset.
 */
import { decodeBundle } from './bundle.js'
import { keysetDigest } from './binding.js'
import { decodeCbor, encodeCbor } from './cbor.js'
import { ProtocolError } from './errors.js'
import { bytes, Issues, oneOf, record, unsupportedVersion } from './issues.js'
import { sha256Digest } from './jcs.js'
import { MAX_ENTRY_SIZE } from './tlog/index.js'

/** The entry format's version. */
export const LOG_ENTRY_VERSION = 1
/** The kinds of entry. */
export const LOG_ENTRY_KINDS = ['receipt', 'evidence'] as const

/** One entry of the receipt log. */
export type LogEntry =
  /** A receipt, the compact JWS as the enclave signed it. */
  | { kind: 'receipt'; receipt: string }
  /** The CBOR bytes of an evidence bundle, as the enclave made them. */
  | { kind: 'evidence'; bundle: Uint8Array }

/** A compact JWS: three base64url parts (the receipt's own checks come with its bundle's key, later). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/
/** A receipt longer than this is not one the enclave signed (its payload is bounded field by field). */
const MAX_RECEIPT_CHARS = 32 * 1024

function checkEntry(value: unknown, issues: Issues): LogEntry | undefined {
  const kind = oneOf(record(value, '', issues, ['v', 'kind'], ['receipt', 'bundle'])?.['kind'], 'kind', issues, LOG_ENTRY_KINDS)
  if (kind === undefined) return undefined
  const map = value as Record<string, unknown>
  if (map['v'] !== undefined && map['v'] !== LOG_ENTRY_VERSION) throw unsupportedVersion('log entry', map['v'], LOG_ENTRY_VERSION)
  const [field, other] = kind === 'receipt' ? (['receipt', 'bundle'] as const) : (['bundle', 'receipt'] as const)
  if (map[other] !== undefined) issues.add(other, `is not a field of a ${kind} entry`)
  if (kind === 'evidence') {
    const bundle = bytes(map[field], field, issues)
    return bundle === undefined ? undefined : { kind, bundle }
  }
  const receipt = map[field]
  if (typeof receipt !== 'string' || receipt.length > MAX_RECEIPT_CHARS || !COMPACT_JWS.test(receipt)) {
    issues.add(field, `must be a compact JWS (three base64url parts) of at most ${MAX_RECEIPT_CHARS} characters`)
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
  return entry.kind === 'receipt' ? { v: LOG_ENTRY_VERSION, kind: entry.kind, receipt: entry.receipt } : { v: LOG_ENTRY_VERSION, kind: entry.kind, bundle: entry.bundle }
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
 * receipt, `keyset:sha256:<hex>` (the keyset digest the bundle's binding commits to) for evidence. Throws like
 * {@link decodeBundle} for evidence bytes that are not a bundle.
 */
export function logEntryKey(entry: LogEntry): string {
  return entry.kind === 'receipt' ? `receipt:${receiptDigest(entry.receipt)}` : `keyset:${keysetDigest(decodeBundle(entry.bundle).keyset)}`
}

/** `sha256:<hex>` of a receipt's compact JWS text: how the log names a receipt (`GET /v1/log/proof?receipt=`). */
export function receiptDigest(receipt: string): string {
  return sha256Digest(new TextEncoder().encode(receipt))
}
