/**
 * The fleet attestation: the evidence of every enclave a host routes to, answering one challenge, in one CBOR message
 * of media type {@link FLEET_MEDIA_TYPE} (`GET /v1/attestation?nonce=X` with that media type in `Accept`). Each
 * enclave contributes a pair: its challenged bundle (fresh: its REPORT_DATA binds the nonce) and its unchallenged one
 * (the bundle its receipts name), both as bundles or both as evidence archives (`archived`), exactly as the enclave
 * wrote them. The host that assembles the document is untrusted: it can leave an enclave out, never add one the client
 * would accept, since every bundle is verified on its own under the client's policy.
 */
import { ARCHIVE_LIMITS } from './archive.js'
import { decodeCbor, encodeCbor } from './cbor.js'
import { at, bytes, Issues, isRecord, list, record, unsupportedVersion } from './issues.js'

/** Media type of a CBOR fleet attestation. */
export const FLEET_MEDIA_TYPE = 'application/vnd.vouch.fleet+cbor'
/** The fleet document version this implementation reads and writes. */
export const FLEET_VERSION = 1

/** The bounds of a fleet document: enclaves behind one host, and the bytes of each one's pair of archives. */
export const FLEET_LIMITS = {
  /** Enclaves in one document. */
  enclaves: 64,
  /** Largest bundle or archive of one enclave. */
  itemBytes: ARCHIVE_LIMITS.maxBytes,
  /** Largest document {@link decodeFleet} reads. */
  maxBytes: 64 * 1024 * 1024,
} as const

/** One enclave's evidence in a fleet document. */
export interface FleetMember {
  /** Its bundle answering the document's challenge (or the archive of it). */
  challenged: Uint8Array
  /** Its unchallenged bundle, the one its receipts name (or the archive of it). */
  unchallenged: Uint8Array
}

/** The evidence of the enclaves a host routes to, answering one challenge. */
export interface FleetAttestation {
  v: 1
  /** The challenge every challenged bundle answers: the host's word, each bundle's REPORT_DATA the proof. */
  nonce: Uint8Array
  /** True: every item is an evidence archive (`application/vnd.vouch.archive+cbor`); false: a bare bundle. */
  archived: boolean
  enclaves: FleetMember[]
}

const FLEET_FIELDS = ['v', 'nonce', 'archived', 'enclaves'] as const

/**
 * Asserts `value` is a well-formed {@link FleetAttestation}: another `v` throws `ERR_PROTOCOL_UNSUPPORTED_VERSION`,
 * anything else wrong `ERR_PROTOCOL_MALFORMED` naming every bad field by path. The bundles inside are not decoded.
 */
export function assertFleet(value: unknown): asserts value is FleetAttestation {
  const v = isRecord(value) ? value['v'] : undefined
  if (v !== undefined && v !== FLEET_VERSION) throw unsupportedVersion('fleet attestation', v, FLEET_VERSION)
  const issues = new Issues()
  const f = record(value, '', issues, FLEET_FIELDS)
  if (f === undefined) issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'fleet attestation')
  const nonce = bytes(f!['nonce'], 'nonce', issues)
  if (nonce !== undefined && nonce.length !== 32) issues.add('nonce', `must be 32 bytes, got ${nonce.length}`)
  if (typeof f!['archived'] !== 'boolean') issues.add('archived', 'must be true or false')
  list(f!['enclaves'], 'enclaves', issues, FLEET_LIMITS.enclaves)?.forEach((item, i) => {
    const path = at('enclaves', i)
    const member = record(item, path, issues, ['challenged', 'unchallenged'])
    if (member === undefined) return
    for (const key of ['challenged', 'unchallenged'] as const) {
      const b = bytes(member[key], at(path, key), issues)
      if (b !== undefined && (b.length === 0 || b.length > FLEET_LIMITS.itemBytes)) issues.add(at(path, key), `must be 1 to ${FLEET_LIMITS.itemBytes} bytes, got ${b.length}`)
    }
  })
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'fleet attestation')
}

/** The CBOR bytes of `fleet` ({@link FLEET_MEDIA_TYPE}). Validates first: throws like {@link assertFleet}. */
export function encodeFleet(fleet: FleetAttestation): Uint8Array {
  assertFleet(fleet)
  return encodeCbor({
    v: FLEET_VERSION,
    nonce: fleet.nonce,
    archived: fleet.archived,
    enclaves: fleet.enclaves.map((m) => ({ challenged: m.challenged, unchallenged: m.unchallenged })),
  })
}

/** Reads a CBOR fleet attestation and validates its form ({@link assertFleet}). */
export function decodeFleet(bytes: Uint8Array, options: { maxBytes?: number } = {}): FleetAttestation {
  const value = decodeCbor(bytes, { maxBytes: options.maxBytes ?? FLEET_LIMITS.maxBytes, maxDepth: 4 })
  assertFleet(value)
  return value
}
