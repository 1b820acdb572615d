/**
 * The evidence archive: an evidence bundle exactly as the enclave wrote it, with the vendor collateral the host
 * fetched for it stapled beside it, in one CBOR message of media type {@link ARCHIVE_MEDIA_TYPE}. AMD CRLs, NVIDIA
 * RIMs and OCSP responses are each signed by AMD or NVIDIA, so the host that staples them stays untrusted: a verifier
 * checks every item as if it had fetched it itself, and needs no access to AMD's or NVIDIA's servers.
 *
 * The bundle travels as a byte string, so its bytes (and the digest receipts name, `evidence`) are the enclave's
 * own; the collateral is outside what REPORT_DATA binds, and the binding is unchanged. Decoding checks form only:
 * the bundle is a byte string (its own decoder checks it), collateral items are DER-shaped or bounded XML, RIM ids
 * are file-name safe. Authenticity is the verifier's.
 */
import { decodeCbor, encodeCbor } from './cbor.js'
import { DEFAULT_BUNDLE_MAX_BYTES } from './bundle.js'
import { at, bytes, count, Issues, list, record, unsupportedVersion, isRecord } from './issues.js'

/** Media type of a CBOR evidence archive. */
export const ARCHIVE_MEDIA_TYPE = 'application/vnd.vouch.archive+cbor'
/** The archive version this implementation reads and writes. */
export const ARCHIVE_VERSION = 1

/** The bounds of an archive: counts and sizes well above any real deployment's, so a hostile one costs little. */
export const ARCHIVE_LIMITS = {
  /** Largest archive {@link decodeArchive} reads: a bundle of {@link DEFAULT_BUNDLE_MAX_BYTES} and its collateral. */
  maxBytes: 4 * DEFAULT_BUNDLE_MAX_BYTES,
  /** Largest bundle an archive carries: {@link DEFAULT_BUNDLE_MAX_BYTES}. */
  bundleBytes: DEFAULT_BUNDLE_MAX_BYTES,
  /** CRLs: AMD publishes one per product and key family (about 1 KB each). */
  crls: 16,
  /** Largest CRL, as `vouch-verify` reads them from files. */
  crlBytes: 1024 * 1024,
  /** RIMs: a driver and a VBIOS RIM per kind of GPU (about 20 KB each). */
  rims: 64,
  /** Largest RIM, the verifier's `MAX_RIM_BYTES`. */
  rimBytes: 1024 * 1024,
  /** OCSP responses: three per GPU device chain and three per RIM signing chain. */
  ocsp: 512,
  /** Largest OCSP response, as `vouch-verify trust fetch` accepts them from NVIDIA's responder. */
  ocspBytes: 64 * 1024,
} as const

/** NVIDIA RIM service ids (`NV_GPU_DRIVER_GH100_550.144.03`): letters, digits, `.`, `_`, `-`, not starting with `.`. */
export const RIM_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/

/** A RIM as NVIDIA's RIM service serves it, under its id. */
export interface ArchivedRim {
  /** The RIM service id, {@link RIM_ID_PATTERN}: which GPU's driver or VBIOS it describes. */
  id: string
  /** The XML bytes exactly as served (TCG/SWID, XMLDSig-signed by NVIDIA). */
  xml: Uint8Array
}

/** An evidence bundle with the collateral that verifies it offline. */
export interface EvidenceArchive {
  v: 1
  /** The CBOR evidence bundle, byte for byte as the enclave wrote it (receipts name its SHA-256). */
  bundle: Uint8Array
  /** Seconds since the epoch when the host stapled the collateral: the host's word, which verification does not use. */
  stapledAt: number
  /** AMD CRLs (DER) issued by the bundle's ARK. */
  crls: Uint8Array[]
  /** The driver and VBIOS RIMs of the bundle's GPUs. */
  rims: ArchivedRim[]
  /** OCSP responses (DER) about the GPUs' device chains and the RIMs' signing chains. */
  ocsp: Uint8Array[]
}

/** Options of {@link decodeArchive}. */
export interface DecodeArchiveOptions {
  /** Largest archive read; larger throws `ERR_PROTOCOL_TOO_LARGE`. Unset: {@link ARCHIVE_LIMITS}`.maxBytes`. */
  maxBytes?: number
}

const ARCHIVE_FIELDS = ['v', 'bundle', 'stapledAt', 'crls', 'rims', 'ocsp'] as const

/** Bytes of at most `max`, starting like DER (an ASN.1 SEQUENCE) when `der`. */
function boundedBytes(value: unknown, path: string, issues: Issues, max: number, der: boolean): void {
  const b = bytes(value, path, issues)
  if (b === undefined) return
  if (b.length > max) issues.add(path, `must be at most ${max} bytes, got ${b.length}`)
  else if (der && b[0] !== 0x30) issues.add(path, 'must be DER (an ASN.1 SEQUENCE); PEM and other encodings are not accepted')
}

function checkRims(value: unknown, issues: Issues): void {
  const seen = new Set<string>()
  list(value, 'rims', issues, ARCHIVE_LIMITS.rims)?.forEach((item, i) => {
    const path = at('rims', i)
    const rim = record(item, path, issues, ['id', 'xml'])
    if (rim === undefined) return
    const id = rim['id']
    if (typeof id !== 'string' || !RIM_ID_PATTERN.test(id)) issues.add(at(path, 'id'), 'must be a RIM service id: 1 to 200 letters, digits, ".", "_" or "-", not starting with "."')
    else if (seen.has(id)) issues.add(at(path, 'id'), 'repeats an earlier RIM')
    else seen.add(id)
    boundedBytes(rim['xml'], at(path, 'xml'), issues, ARCHIVE_LIMITS.rimBytes, false)
  })
}

/**
 * Asserts `value` is a well-formed {@link EvidenceArchive}. Another `v` throws `ERR_PROTOCOL_UNSUPPORTED_VERSION`;
 * anything else wrong throws `ERR_PROTOCOL_MALFORMED` whose `issues` name every bad field by path. Unknown fields
 * are errors, so nothing unchecked rides along.
 */
export function assertArchive(value: unknown): asserts value is EvidenceArchive {
  const v = isRecord(value) ? value['v'] : undefined
  if (v !== undefined && v !== ARCHIVE_VERSION) throw unsupportedVersion('evidence archive', v, ARCHIVE_VERSION)
  const issues = new Issues()
  const a = record(value, '', issues, ARCHIVE_FIELDS)
  if (a === undefined) issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence archive')
  // A missing field is reported once, as missing.
  const field = (key: (typeof ARCHIVE_FIELDS)[number], check: (value: unknown) => void): void => {
    if (a![key] !== undefined) check(a![key])
  }
  field('bundle', (b) => boundedBytes(b, 'bundle', issues, ARCHIVE_LIMITS.bundleBytes, false))
  field('stapledAt', (t) => count(t, 'stapledAt', issues))
  field('crls', (l) => list(l, 'crls', issues, ARCHIVE_LIMITS.crls)?.forEach((c, i) => boundedBytes(c, at('crls', i), issues, ARCHIVE_LIMITS.crlBytes, true)))
  field('rims', (l) => checkRims(l, issues))
  field('ocsp', (l) => list(l, 'ocsp', issues, ARCHIVE_LIMITS.ocsp)?.forEach((o, i) => boundedBytes(o, at('ocsp', i), issues, ARCHIVE_LIMITS.ocspBytes, true)))
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence archive')
}

/**
 * The CBOR bytes of `archive` ({@link ARCHIVE_MEDIA_TYPE}), its fields in their defined order. Validates first, so
 * a malformed archive is never written: throws like {@link assertArchive}.
 */
export function encodeArchive(archive: EvidenceArchive): Uint8Array {
  assertArchive(archive)
  return encodeCbor({
    v: ARCHIVE_VERSION,
    bundle: archive.bundle,
    stapledAt: archive.stapledAt,
    crls: [...archive.crls],
    rims: archive.rims.map((r) => ({ id: r.id, xml: r.xml })),
    ocsp: [...archive.ocsp],
  })
}

/** Reads a CBOR evidence archive and validates every field (see {@link assertArchive}); the bundle inside is not decoded. */
export function decodeArchive(bytes: Uint8Array, options: DecodeArchiveOptions = {}): EvidenceArchive {
  const value = decodeCbor(bytes, { maxBytes: options.maxBytes ?? ARCHIVE_LIMITS.maxBytes, maxDepth: 4 })
  assertArchive(value)
  return value
}
