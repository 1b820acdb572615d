/**
 * The evidence bundle (DESIGN.md §3): everything a relying party needs to decide whether to trust an
 * enclave, in one CBOR message of media type {@link EVIDENCE_MEDIA_TYPE}. The SEV-SNP report, the GPU
 * reports, the keyset the enclave's requests are sealed to and its receipts signed with, and the models
 * it has loaded; the binding (`binding.ts`) ties them together through REPORT_DATA and the GPU nonces.
 *
 * Decoding validates every field and names each bad one by path (`keyset.enc.x: must be 43 base64url
 * characters`); it checks form only: certificates are DER-shaped, not parsed, and nothing is verified.
 * The JSON rendering ({@link bundleToJson}) is for people: the nonce in hex, bytes in padded base64.
 */
import { fromBase64, fromBase64Url, fromHex, toBase64, toHex } from './bytes.js'
import { decodeCbor, encodeCbor, type CborDecodeOptions } from './cbor.js'
import { ProtocolError } from './errors.js'
import { at, bytes, count, digest, Issues, list, oneOf, record, text, unsupportedVersion } from './issues.js'
import { REPORT_SIZE } from './sev-snp/report.js'

/** Media type of a CBOR evidence bundle. */
export const EVIDENCE_MEDIA_TYPE = 'application/vnd.vouch.evidence+cbor'
/** The bundle version this implementation writes and reads. */
export const BUNDLE_VERSION = 1
/** Size of a challenge nonce. */
export const NONCE_SIZE = 32
/** Certificates in a GPU device chain, leaf first. */
export const GPU_CHAIN_LENGTH = 5
/** Default largest CBOR bundle {@link decodeBundle} reads: 4 MiB, well above 8 GPUs' reports and chains. */
export const DEFAULT_BUNDLE_MAX_BYTES = 4 * 1024 * 1024
/** Key ids are URL-safe tokens, since they travel in the `Vouch-Key-Id` header and a JWS header. */
export const KID_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/

/** Platforms a bundle can come from. */
export const PLATFORMS = ['sev-snp', 'simulated'] as const
/** `sev-snp` for real hardware; `simulated` for the development TEE, which production policies reject. */
export type Platform = (typeof PLATFORMS)[number]
/** GPU architectures Vouch attests. */
export const GPU_ARCHITECTURES = ['HOPPER', 'BLACKWELL'] as const
/** A GPU architecture. */
export type GpuArchitecture = (typeof GPU_ARCHITECTURES)[number]

/** An X25519 public key as a JWK (RFC 8037): the HPKE key requests are sealed to. */
export interface X25519PublicJwk {
  kty: 'OKP'
  crv: 'X25519'
  /** The 32-byte public key, unpadded base64url (43 characters). */
  x: string
}

/** An Ed25519 public key as a JWK (RFC 8037): the key receipts are signed with. */
export interface Ed25519PublicJwk {
  kty: 'OKP'
  crv: 'Ed25519'
  /** The 32-byte public key, unpadded base64url (43 characters). */
  x: string
}

/** The enclave's public keys, bound to the hardware through REPORT_DATA. */
export interface Keyset {
  /** Names this keyset; requests say which keyset they are sealed to (`Vouch-Key-Id`). {@link KID_PATTERN}. */
  kid: string
  enc: X25519PublicJwk
  sig: Ed25519PublicJwk
  /** Seconds since the epoch after which the enclave no longer accepts requests sealed to this keyset. */
  notAfter: number
}

/** A model loaded in the enclave. */
export interface ModelRef {
  name: string
  version: string
  /** `sha256:<64 hex>` of the model file. */
  digest: string
}

/** SEV-SNP evidence: the report and the certificates that sign it. */
export interface SevSnpEvidence {
  type: 'sev-snp'
  /** The raw ATTESTATION_REPORT, 1184 bytes. */
  report: Uint8Array
  /** The VCEK or VLEK certificate, DER. */
  vek: Uint8Array
  /** ASK (or ASVK), then ARK, DER. */
  chain: [Uint8Array, Uint8Array]
  /** CRLs from AMD KDS, DER, when the enclave has them. */
  crls?: Uint8Array[]
}

/** One confidential GPU's evidence. */
export interface GpuEvidence {
  type: 'nvidia-cc'
  arch: GpuArchitecture
  /** The SPDM GET_MEASUREMENTS request and signed response, as NVML returns them. */
  report: Uint8Array
  /** The device certificate chain, five DER certificates, leaf first. */
  chain: Uint8Array[]
}

/** The evidence bundle, DESIGN.md §3. */
export interface EvidenceBundle {
  v: 1
  platform: Platform
  /** The relying party's 32-byte challenge, or null for an unchallenged (cacheable) bundle. */
  nonce: Uint8Array | null
  keyset: Keyset
  models: ModelRef[]
  cpu: SevSnpEvidence
  gpus: GpuEvidence[]
  /** Seconds since the epoch when the enclave assembled the bundle. */
  issuedAt: number
}

/** Options for {@link decodeBundle}. */
export interface DecodeBundleOptions {
  /** Largest bundle read; larger throws `ERR_PROTOCOL_TOO_LARGE`. Unset: {@link DEFAULT_BUNDLE_MAX_BYTES}. */
  maxBytes?: number
}

const BUNDLE_FIELDS = ['v', 'platform', 'nonce', 'keyset', 'models', 'cpu', 'gpus', 'issuedAt'] as const
const JWK_X = /^[A-Za-z0-9_-]{43}$/

/** A DER certificate or CRL in form only: a SEQUENCE. Parsing is the verifier's. */
function der(value: unknown, path: string, issues: Issues): Uint8Array | undefined {
  const b = bytes(value, path, issues)
  if (b !== undefined && b[0] !== 0x30) {
    issues.add(path, 'must be DER (an ASN.1 SEQUENCE); PEM and other encodings are not accepted')
    return undefined
  }
  return b
}

function checkJwk(value: unknown, path: string, issues: Issues, crv: 'X25519' | 'Ed25519'): void {
  const jwk = record(value, path, issues, ['kty', 'crv', 'x'])
  if (jwk === undefined) return
  if (jwk['kty'] !== 'OKP') issues.add(at(path, 'kty'), 'must be "OKP"')
  if (jwk['crv'] !== crv) issues.add(at(path, 'crv'), `must be "${crv}"`)
  const x = jwk['x']
  if (typeof x !== 'string' || !JWK_X.test(x)) {
    issues.add(at(path, 'x'), 'must be 43 base64url characters (a 32-byte key)')
  } else {
    try {
      fromBase64Url(x, 'x', 32)
    } catch {
      issues.add(at(path, 'x'), 'must be the canonical base64url of a 32-byte key')
    }
  }
}

/** Checks a keyset into `issues`; shared by the bundle and the binding. */
export function checkKeyset(value: unknown, path: string, issues: Issues): void {
  const k = record(value, path, issues, ['kid', 'enc', 'sig', 'notAfter'])
  if (k === undefined) return
  const kid = k['kid']
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) {
    issues.add(at(path, 'kid'), 'must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -')
  }
  checkJwk(k['enc'], at(path, 'enc'), issues, 'X25519')
  checkJwk(k['sig'], at(path, 'sig'), issues, 'Ed25519')
  count(k['notAfter'], at(path, 'notAfter'), issues)
}

function checkModels(value: unknown, path: string, issues: Issues): void {
  list(value, path, issues, 256)?.forEach((m, i) => {
    const p = at(path, i)
    const model = record(m, p, issues, ['name', 'version', 'digest'])
    if (model === undefined) return
    text(model['name'], at(p, 'name'), issues)
    text(model['version'], at(p, 'version'), issues, 64)
    digest(model['digest'], at(p, 'digest'), issues)
  })
}

function checkCpu(value: unknown, path: string, issues: Issues): void {
  const cpu = record(value, path, issues, ['type', 'report', 'vek', 'chain'], ['crls'])
  if (cpu === undefined) return
  if (cpu['type'] !== 'sev-snp') issues.add(at(path, 'type'), 'must be "sev-snp"')
  bytes(cpu['report'], at(path, 'report'), issues, REPORT_SIZE)
  der(cpu['vek'], at(path, 'vek'), issues)
  const chain = list(cpu['chain'], at(path, 'chain'), issues)
  if (chain !== undefined && chain.length !== 2) {
    issues.add(at(path, 'chain'), `must hold 2 certificates (ASK or ASVK, then ARK), got ${chain.length}`)
  } else {
    chain?.forEach((c, i) => der(c, at(at(path, 'chain'), i), issues))
  }
  if (cpu['crls'] !== undefined) {
    list(cpu['crls'], at(path, 'crls'), issues, 16)?.forEach((c, i) => der(c, at(at(path, 'crls'), i), issues))
  }
}

function checkGpus(value: unknown, path: string, issues: Issues): void {
  list(value, path, issues, 64)?.forEach((g, i) => {
    const p = at(path, i)
    const gpu = record(g, p, issues, ['type', 'arch', 'report', 'chain'])
    if (gpu === undefined) return
    if (gpu['type'] !== 'nvidia-cc') issues.add(at(p, 'type'), 'must be "nvidia-cc"')
    oneOf(gpu['arch'], at(p, 'arch'), issues, GPU_ARCHITECTURES)
    bytes(gpu['report'], at(p, 'report'), issues)
    const chain = list(gpu['chain'], at(p, 'chain'), issues)
    if (chain !== undefined && chain.length !== GPU_CHAIN_LENGTH) {
      issues.add(at(p, 'chain'), `must hold ${GPU_CHAIN_LENGTH} certificates, leaf first, got ${chain.length}`)
    } else {
      chain?.forEach((c, j) => der(c, at(at(p, 'chain'), j), issues))
    }
  })
}

/**
 * Asserts `value` is a well-formed {@link EvidenceBundle}. A `v` other than 1 throws
 * `ERR_PROTOCOL_UNSUPPORTED_VERSION`; anything else wrong throws `ERR_PROTOCOL_MALFORMED` whose
 * `issues` name every bad field by path. Unknown fields are errors, so nothing unchecked rides along.
 */
export function assertBundle(value: unknown): asserts value is EvidenceBundle {
  const issues = new Issues()
  const b = record(value, '', issues, BUNDLE_FIELDS)
  if (b === undefined) issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence bundle')
  const v = b!['v']
  if (v !== undefined && v !== BUNDLE_VERSION) {
    throw unsupportedVersion('evidence bundle', v, BUNDLE_VERSION)
  }
  oneOf(b!['platform'], 'platform', issues, PLATFORMS)
  const nonce = b!['nonce']
  if (nonce !== null && nonce !== undefined) bytes(nonce, 'nonce', issues, NONCE_SIZE)
  checkKeyset(b!['keyset'], 'keyset', issues)
  checkModels(b!['models'], 'models', issues)
  checkCpu(b!['cpu'], 'cpu', issues)
  checkGpus(b!['gpus'], 'gpus', issues)
  count(b!['issuedAt'], 'issuedAt', issues)
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence bundle')
}

/** Copies the bundle's fields in their defined order (so unknown properties never reach the wire). */
function wireForm(b: EvidenceBundle): Record<string, unknown> {
  const cpu: Record<string, unknown> = { type: b.cpu.type, report: b.cpu.report, vek: b.cpu.vek, chain: [...b.cpu.chain] }
  if (b.cpu.crls !== undefined) cpu['crls'] = [...b.cpu.crls]
  return {
    v: b.v,
    platform: b.platform,
    nonce: b.nonce,
    keyset: { kid: b.keyset.kid, enc: { ...b.keyset.enc }, sig: { ...b.keyset.sig }, notAfter: b.keyset.notAfter },
    models: b.models.map((m) => ({ name: m.name, version: m.version, digest: m.digest })),
    cpu,
    gpus: b.gpus.map((g) => ({ type: g.type, arch: g.arch, report: g.report, chain: [...g.chain] })),
    issuedAt: b.issuedAt,
  }
}

/**
 * The CBOR bytes of `bundle` ({@link EVIDENCE_MEDIA_TYPE}). Validates first, so a malformed bundle is
 * never written: throws like {@link assertBundle}.
 */
export function encodeBundle(bundle: EvidenceBundle): Uint8Array {
  assertBundle(bundle)
  return encodeCbor(wireForm(bundle))
}

/** Reads a CBOR evidence bundle and validates every field (see {@link assertBundle}). */
export function decodeBundle(bytes: Uint8Array, options: DecodeBundleOptions = {}): EvidenceBundle {
  const cborOptions: CborDecodeOptions = { maxBytes: options.maxBytes ?? DEFAULT_BUNDLE_MAX_BYTES, maxDepth: 8 }
  const value = decodeCbor(bytes, cborOptions)
  assertBundle(value)
  return value
}

/** A bundle for people: the nonce as hex, every byte string as padded base64, the rest as in CBOR. */
export interface EvidenceBundleJson {
  v: 1
  platform: Platform
  nonce: string | null
  keyset: Keyset
  models: ModelRef[]
  cpu: { type: 'sev-snp'; report: string; vek: string; chain: [string, string]; crls?: string[] }
  gpus: { type: 'nvidia-cc'; arch: GpuArchitecture; report: string; chain: string[] }[]
  issuedAt: number
}

/** The JSON rendering of `bundle` (DESIGN.md §3): nonce in lower-case hex, bytes in padded base64. */
export function bundleToJson(bundle: EvidenceBundle): EvidenceBundleJson {
  assertBundle(bundle)
  const w = wireForm(bundle) as unknown as EvidenceBundle
  const cpu: EvidenceBundleJson['cpu'] = {
    type: 'sev-snp',
    report: toBase64(w.cpu.report),
    vek: toBase64(w.cpu.vek),
    chain: [toBase64(w.cpu.chain[0]), toBase64(w.cpu.chain[1])],
  }
  if (w.cpu.crls !== undefined) cpu.crls = w.cpu.crls.map(toBase64)
  return {
    v: 1,
    platform: w.platform,
    nonce: w.nonce === null ? null : toHex(w.nonce),
    keyset: w.keyset,
    models: w.models,
    cpu,
    gpus: w.gpus.map((g) => ({ type: g.type, arch: g.arch, report: toBase64(g.report), chain: g.chain.map(toBase64) })),
    issuedAt: w.issuedAt,
  }
}

/**
 * A bundle from its JSON rendering ({@link bundleToJson}). Strings must be canonical lower-case hex and
 * padded base64; the result is validated like {@link decodeBundle}, with the same field paths.
 */
export function bundleFromJson(json: unknown): EvidenceBundle {
  const issues = new Issues()
  const j = record(json, '', issues, BUNDLE_FIELDS)
  if (j === undefined) issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence bundle')
  const o = j!
  if (o['v'] !== undefined && o['v'] !== BUNDLE_VERSION) {
    throw unsupportedVersion('evidence bundle', o['v'], BUNDLE_VERSION)
  }
  const b64 = (value: unknown, path: string): unknown => {
    if (typeof value !== 'string') return value // left for assertBundle to name
    try {
      return fromBase64(value, path)
    } catch {
      issues.add(path, 'must be padded base64')
      return new Uint8Array(0)
    }
  }
  const b64List = (value: unknown, path: string): unknown => (Array.isArray(value) ? value.map((x, i) => b64(x, at(path, i))) : value)
  let nonce: unknown = o['nonce']
  if (typeof nonce === 'string') {
    if (!/^[0-9a-f]{64}$/.test(nonce)) {
      issues.add('nonce', 'must be 64 lower-case hex digits or null')
      nonce = null
    } else {
      nonce = fromHex(nonce)
    }
  }
  const convert = (value: unknown, path: string, fields: Record<string, (v: unknown, p: string) => unknown>): unknown => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    for (const [key, fn] of Object.entries(fields)) if (out[key] !== undefined) out[key] = fn(out[key], at(path, key))
    return out
  }
  const cpu = convert(o['cpu'], 'cpu', { report: b64, vek: b64, chain: b64List, crls: b64List })
  const gpus = Array.isArray(o['gpus']) ? o['gpus'].map((g, i) => convert(g, at('gpus', i), { report: b64, chain: b64List })) : o['gpus']
  const candidate = { ...o, nonce, cpu, gpus }
  try {
    assertBundle(candidate)
  } catch (e) {
    if (!(e instanceof ProtocolError) || e.code !== 'ERR_PROTOCOL_MALFORMED') throw e
    // One report naming every field: the encoding problems found above and the rest.
    const seen = new Set(issues.list.map((line) => line.slice(0, line.indexOf(': '))))
    for (const line of e.issues) if (!seen.has(line.slice(0, line.indexOf(': ')))) issues.list.push(line)
  }
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence bundle')
  return candidate as EvidenceBundle
}
