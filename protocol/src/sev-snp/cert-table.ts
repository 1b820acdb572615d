/**
 * The SEV-SNP extended-report certificate table (AMD GHCB specification #56421 §4.1.8.1, MSG_REPORT_REQ):
 * what the host hands a guest beside its report, in the configfs-tsm `auxblob` or the SNP_GET_EXT_REPORT
 * certificate buffer. An array of 24-byte entries `{ GUID[16], offset u32 LE, length u32 LE }` ended by an
 * all-zero entry; offsets count from the start of the table, and the certificates (DER) follow it.
 *
 * GUID byte order: the 16 bytes are the GUID's hex digits in the order they are written (RFC 9562 "network
 * order"), as google/go-sev-guest (`pborman/uuid`), virtee/sev (`Uuid::as_bytes`, with a byte vector in
 * its tests) and AMD's own sev-guest tools (libuuid `uuid_parse`) read and write them. Not the
 * Microsoft/UEFI mixed-endian GUID layout: no host writes that here.
 */
import { ProtocolError } from '../errors.js'
import { fromHex, isAllZero, toHex } from '../bytes.js'

/** Size of one certificate-table entry: GUID (16), offset (4), length (4). */
export const CERT_TABLE_ENTRY_SIZE = 24
/** Size of a GUID in its binary form. */
export const GUID_SIZE = 16

/** The GUIDs AMD defines for the table (GHCB #56421; go-sev-guest `abi/abi.go`). */
export const CERT_TABLE_GUID = {
  /** Versioned chip endorsement key. */
  VCEK: '63da758d-e664-4564-adc5-f4b93be8accd',
  /** Versioned loaded endorsement key. */
  VLEK: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  /** AMD SEV signing key; also the ASVK that signs VLEKs. */
  ASK: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  /** AMD root key. */
  ARK: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
} as const

/** One certificate of a table: its GUID (lower case, with dashes) and its bytes. */
export interface CertTableEntry {
  guid: string
  data: Uint8Array
}

const GUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** The 16-byte binary form of a GUID written `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either case). */
export function guidToBytes(guid: string): Uint8Array {
  const text = guid.toLowerCase()
  if (!GUID_TEXT.test(text)) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `not a GUID: ${JSON.stringify(guid)}`)
  return fromHex(text.replaceAll('-', ''), 'GUID', GUID_SIZE)
}

/** The text form (lower case, with dashes) of a 16-byte binary GUID. */
export function guidFromBytes(bytes: Uint8Array): string {
  if (bytes.length !== GUID_SIZE) {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `a GUID is ${GUID_SIZE} bytes, got ${bytes.length}`)
  }
  const hex = toHex(bytes)
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/**
 * Parses a certificate table. Empty input is an empty table (no certificates provisioned, as
 * go-sev-guest allows); bytes after the certificates (page padding) are ignored. Throws
 * `ERR_PROTOCOL_MALFORMED` for a table without its all-zero terminator, an entry whose data starts inside
 * the table or runs past the end, and a GUID listed twice (which certificate would be meant?).
 * Entries keep the table's order; their `data` are copies.
 */
export function parseCertTable(bytes: Uint8Array): CertTableEntry[] {
  if (bytes.length === 0) return []
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const headers: Array<{ guid: string; offset: number; length: number }> = []
  let at = 0
  for (;;) {
    if (at + CERT_TABLE_ENTRY_SIZE > bytes.length) {
      throw new ProtocolError(
        'ERR_PROTOCOL_MALFORMED',
        `certificate table: no all-zero terminator within ${bytes.length} bytes (entry ${headers.length} is cut off)`,
      )
    }
    const entry = bytes.subarray(at, at + CERT_TABLE_ENTRY_SIZE)
    at += CERT_TABLE_ENTRY_SIZE
    if (isAllZero(entry)) break
    headers.push({
      guid: guidFromBytes(entry.subarray(0, GUID_SIZE)),
      offset: view.getUint32(at - 8, true),
      length: view.getUint32(at - 4, true),
    })
  }
  const tableEnd = at
  const seen = new Set<string>()
  return headers.map(({ guid, offset, length }, i) => {
    if (seen.has(guid)) throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `certificate table: GUID ${guid} is listed twice`)
    seen.add(guid)
    if (offset < tableEnd) {
      throw new ProtocolError(
        'ERR_PROTOCOL_MALFORMED',
        `certificate table entry ${i} (${guid}): offset ${offset} is inside the ${tableEnd}-byte table`,
      )
    }
    if (offset + length > bytes.length) {
      throw new ProtocolError(
        'ERR_PROTOCOL_MALFORMED',
        `certificate table entry ${i} (${guid}): bytes ${offset}..${offset + length} run past the end (${bytes.length})`,
      )
    }
    return { guid, data: bytes.slice(offset, offset + length) }
  })
}

/**
 * Writes a certificate table: the entries in order, the terminator, then each certificate back to back
 * (the layout virtee/sev and go-sev-guest write). An empty list gives an empty buffer, as
 * go-sev-guest's `Marshal` does. For hosts and tests; a guest only parses.
 */
export function composeCertTable(entries: readonly CertTableEntry[]): Uint8Array {
  if (entries.length === 0) return new Uint8Array(0)
  const tableSize = (entries.length + 1) * CERT_TABLE_ENTRY_SIZE
  const out = new Uint8Array(tableSize + entries.reduce((n, e) => n + e.data.length, 0))
  const view = new DataView(out.buffer)
  let offset = tableSize
  entries.forEach((entry, i) => {
    const at = i * CERT_TABLE_ENTRY_SIZE
    out.set(guidToBytes(entry.guid), at)
    view.setUint32(at + GUID_SIZE, offset, true)
    view.setUint32(at + GUID_SIZE + 4, entry.data.length, true)
    out.set(entry.data, offset)
    offset += entry.data.length
  })
  return out
}
