/**
 * The evidence bundle (DESIGN.md §3): everything a relying party needs to decide whether to trust an
 * enclave, in one CBOR message of media type {@link EVIDENCE_MEDIA_TYPE}. The SEV-SNP report, the GPU
 * reports, the keyset the enclave's requests are sealed to and its receipts signed with, and the models
 * it has loaded; the binding (`binding.ts`) ties them together through REPORT_DATA and the GPU nonces.
 *
 * Version 2 (what enclaves write) binds every field outside the self-authenticating `cpu` section, lists
 * the challenges one hardware report answers (`nonces`), and carries each model's manifest and known
 * answer. Version 1 is still read and verified: its `issuedAt` and model names and versions are unbound.
 *
 * Decoding validates every field and names each bad one by path (`keyset.enc.x: must be 43 base64url
 * characters`); it checks form only: certificates are DER-shaped, not parsed, and nothing is verified.
 * The JSON rendering ({@link bundleToJson}) is for people: the nonce in hex, bytes in padded base64.
 */
import { fromBase64, fromBase64Url, fromHex, toBase64, toHex } from './bytes.js'
import { decodeCbor, encodeCbor, type CborDecodeOptions } from './cbor.js'
import { ProtocolError } from './errors.js'
import { at, bytes, count, digest, Issues, isRecord, list, oneOf, record, text, unsupportedVersion } from './issues.js'
import { canonicalJson } from './jcs.js'
import { REPORT_SIZE } from './sev-snp/report.js'

/** Media type of a CBOR evidence bundle. */
export const EVIDENCE_MEDIA_TYPE = 'application/vnd.vouch.evidence+cbor'
/** The bundle version this implementation writes. */
export const BUNDLE_VERSION = 2
/** The bundle versions this implementation reads. */
export const BUNDLE_VERSIONS = [1, 2] as const
/** Size of a challenge nonce. */
export const NONCE_SIZE = 32
/** Most challenges one v2 bundle answers: the enclave answers up to this many concurrent challenges with one hardware report. */
export const MAX_BUNDLE_NONCES = 64
/** Largest attested model manifest, as JCS text. */
export const MAX_MANIFEST_BYTES = 64 * 1024
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

/** Who contributed to a model, and so to its answers: its authors, data providers, converters, publisher, infrastructure. */
export interface Attribution {
  /** What they contributed, e.g. `model-author`, `data-provider`, `publisher`, `infrastructure`. */
  role: string
  /** A stable identifier (a URL, a DID, an organisation id). */
  id: string
  name: string
}

/**
 * A model's manifest as the enclave loaded it: the JSON data of its `models/*.yaml` file (without `$schema`). The
 * fields below are required; the others (description, source, threads, sample, …) are carried as written. Its
 * digest ({@link manifestDigest}) is bound into the evidence, so who is credited is attested.
 */
export interface ModelManifestData {
  name: string
  version: string
  /** SHA-256 of the ONNX bytes, 64 lower-case hex digits. */
  sha256: string
  /** The `id` of the contributor who published these bytes. */
  publisher: string
  license: string
  contributors: Attribution[]
  [field: string]: unknown
}

/**
 * What a model answered at start-up on its manifest's sample input (a known-answer test): the digests of the
 * input and output tensors ({@link tensorsDigest}). A policy can require the answer it expects.
 */
export interface KnownAnswer {
  input: string
  output: string
}

/** A model as a v2 bundle lists it: its reference, its manifest and its known answer (null without a sample input). */
export interface BundleModel extends ModelRef {
  manifest: ModelManifestData
  knownAnswer: KnownAnswer | null
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

/** What both bundle versions hold. */
interface BundleCommon {
  platform: Platform
  keyset: Keyset
  cpu: SevSnpEvidence
  gpus: GpuEvidence[]
  /** Seconds since the epoch when the enclave assembled the bundle. */
  issuedAt: number
}

/** A version 1 bundle (DESIGN.md §3): still verified, no longer written. Its `issuedAt` and model names are unbound. */
export interface EvidenceBundleV1 extends BundleCommon {
  v: 1
  /** The relying party's 32-byte challenge, or null for an unchallenged (cacheable) bundle. */
  nonce: Uint8Array | null
  models: ModelRef[]
}

/** A version 2 bundle: every field outside `cpu` is bound into REPORT_DATA (`binding.ts`). */
export interface EvidenceBundleV2 extends BundleCommon {
  v: 2
  /**
   * The 32-byte challenges this bundle answers, unique, at most {@link MAX_BUNDLE_NONCES}; empty for an
   * unchallenged (cacheable) bundle. Concurrent challenges share one hardware report.
   */
  nonces: Uint8Array[]
  models: BundleModel[]
}

/** An evidence bundle of either version. */
export type EvidenceBundle = EvidenceBundleV1 | EvidenceBundleV2

/** The challenges a bundle answers, whatever its version: empty for an unchallenged bundle. */
export function bundleNonces(bundle: EvidenceBundle): Uint8Array[] {
  if (bundle.v === 2) return bundle.nonces
  return bundle.nonce === null ? [] : [bundle.nonce]
}

/** Options for {@link decodeBundle}. */
export interface DecodeBundleOptions {
  /** Largest bundle read; larger throws `ERR_PROTOCOL_TOO_LARGE`. Unset: {@link DEFAULT_BUNDLE_MAX_BYTES}. */
  maxBytes?: number
}

const BUNDLE_FIELDS = { 1: ['v', 'platform', 'nonce', 'keyset', 'models', 'cpu', 'gpus', 'issuedAt'], 2: ['v', 'platform', 'nonces', 'keyset', 'models', 'cpu', 'gpus', 'issuedAt'] } as const
const MANIFEST_REQUIRED = ['name', 'version', 'sha256', 'publisher', 'license', 'contributors'] as const
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

/** Reports what in `value` is not plain JSON data (a byte string, say): a manifest is JSON. */
function checkJsonData(value: unknown, path: string, issues: Issues): void {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return
  if (Array.isArray(value)) value.forEach((item, i) => checkJsonData(item, at(path, i), issues))
  else if (isRecord(value)) for (const [key, item] of Object.entries(value)) checkJsonData(item, at(path, key), issues)
  else issues.add(path, 'must be JSON data (text, number, boolean, null, array or map)')
}

/** Checks an attested manifest: JSON, its required fields, bounded, and naming the model its entry names. */
function checkManifest(value: unknown, path: string, issues: Issues, model: Record<string, unknown>): void {
  if (!isRecord(value)) {
    issues.add(path, 'must be a map')
    return
  }
  for (const key of MANIFEST_REQUIRED) if (value[key] === undefined) issues.add(at(path, key), 'is missing')
  const before = issues.list.length
  checkJsonData(value, path, issues)
  text(value['name'], at(path, 'name'), issues)
  text(value['version'], at(path, 'version'), issues, 64)
  if (typeof value['sha256'] !== 'string' || !/^[0-9a-f]{64}$/.test(value['sha256'])) issues.add(at(path, 'sha256'), 'must be 64 lower-case hex digits')
  text(value['publisher'], at(path, 'publisher'), issues)
  text(value['license'], at(path, 'license'), issues)
  const contributors = list(value['contributors'], at(path, 'contributors'), issues, 64)
  if (contributors?.length === 0) issues.add(at(path, 'contributors'), 'must name at least one contributor')
  contributors?.forEach((c, i) => checkAttribution(c, at(at(path, 'contributors'), i), issues))
  if (issues.list.length > before) return
  // The manifest must describe the model its entry names: the entry is what receipts and policies quote.
  if (value['name'] !== model['name']) issues.add(at(path, 'name'), `must be the model's name ${JSON.stringify(model['name'])}`)
  if (value['version'] !== model['version']) issues.add(at(path, 'version'), `must be the model's version ${JSON.stringify(model['version'])}`)
  if (`sha256:${String(value['sha256'])}` !== model['digest']) issues.add(at(path, 'sha256'), "must be the model's digest")
  if (canonicalJson(value).length > MAX_MANIFEST_BYTES) issues.add(path, `must be at most ${MAX_MANIFEST_BYTES} bytes as JCS text`)
}

/** Checks a `{ role, id, name }` contributor into `issues`; shared by manifests and receipts. */
export function checkAttribution(value: unknown, path: string, issues: Issues): void {
  const entry = record(value, path, issues, ['role', 'id', 'name'])
  if (entry === undefined) return
  text(entry['role'], at(path, 'role'), issues, 64)
  text(entry['id'], at(path, 'id'), issues)
  text(entry['name'], at(path, 'name'), issues)
}

function checkModels(value: unknown, path: string, issues: Issues, version: 1 | 2): void {
  const seen = new Set<string>()
  list(value, path, issues, 256)?.forEach((m, i) => {
    const p = at(path, i)
    const model = record(m, p, issues, version === 1 ? ['name', 'version', 'digest'] : ['name', 'version', 'digest', 'manifest', 'knownAnswer'])
    if (model === undefined) return
    text(model['name'], at(p, 'name'), issues)
    text(model['version'], at(p, 'version'), issues, 64)
    digest(model['digest'], at(p, 'digest'), issues)
    if (version === 1) return
    const key = `${String(model['name'])}\u0000${String(model['version'])}`
    if (seen.has(key)) issues.add(p, 'names a model and version listed before it')
    seen.add(key)
    checkManifest(model['manifest'], at(p, 'manifest'), issues, model)
    const known = model['knownAnswer']
    if (known !== null) {
      const answer = record(known, at(p, 'knownAnswer'), issues, ['input', 'output'])
      if (answer !== undefined) {
        digest(answer['input'], at(at(p, 'knownAnswer'), 'input'), issues)
        digest(answer['output'], at(at(p, 'knownAnswer'), 'output'), issues)
      }
    }
  })
}

function checkNonces(value: unknown, path: string, issues: Issues): void {
  const seen = new Set<string>()
  list(value, path, issues, MAX_BUNDLE_NONCES)?.forEach((n, i) => {
    const nonce = bytes(n, at(path, i), issues, NONCE_SIZE)
    if (nonce === undefined) return
    const key = toHex(nonce)
    if (seen.has(key)) issues.add(at(path, i), 'repeats an earlier nonce')
    seen.add(key)
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

/** The bundle version `value` declares: 1 or 2; another throws `ERR_PROTOCOL_UNSUPPORTED_VERSION`, none defaults to the current one. */
function declaredVersion(value: unknown): 1 | 2 {
  const v = isRecord(value) ? value['v'] : undefined
  if (v === undefined) return BUNDLE_VERSION
  if (v !== 1 && v !== 2) throw unsupportedVersion('evidence bundle', v, BUNDLE_VERSIONS)
  return v
}

/**
 * Asserts `value` is a well-formed {@link EvidenceBundle} of version 1 or 2. Another `v` throws
 * `ERR_PROTOCOL_UNSUPPORTED_VERSION`; anything else wrong throws `ERR_PROTOCOL_MALFORMED` whose `issues` name
 * every bad field by path. Unknown fields are errors, so nothing unchecked rides along.
 */
export function assertBundle(value: unknown): asserts value is EvidenceBundle {
  const issues = new Issues()
  const version = declaredVersion(value)
  const b = record(value, '', issues, BUNDLE_FIELDS[version])
  if (b === undefined) issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence bundle')
  oneOf(b!['platform'], 'platform', issues, PLATFORMS)
  if (version === 1) {
    const nonce = b!['nonce']
    if (nonce !== null && nonce !== undefined) bytes(nonce, 'nonce', issues, NONCE_SIZE)
  } else checkNonces(b!['nonces'], 'nonces', issues)
  checkKeyset(b!['keyset'], 'keyset', issues)
  checkModels(b!['models'], 'models', issues, version)
  checkCpu(b!['cpu'], 'cpu', issues)
  checkGpus(b!['gpus'], 'gpus', issues)
  count(b!['issuedAt'], 'issuedAt', issues)
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence bundle')
}

/** Copies the bundle's fields in their defined order (so unknown properties never reach the wire). */
function wireForm(b: EvidenceBundle): EvidenceBundle {
  const cpu: SevSnpEvidence = { type: b.cpu.type, report: b.cpu.report, vek: b.cpu.vek, chain: [b.cpu.chain[0], b.cpu.chain[1]] }
  if (b.cpu.crls !== undefined) cpu.crls = [...b.cpu.crls]
  const common = {
    platform: b.platform,
    keyset: { kid: b.keyset.kid, enc: { ...b.keyset.enc }, sig: { ...b.keyset.sig }, notAfter: b.keyset.notAfter },
    cpu,
    gpus: b.gpus.map((g) => ({ type: g.type, arch: g.arch, report: g.report, chain: [...g.chain] })),
    issuedAt: b.issuedAt,
  }
  const ref = (m: ModelRef): ModelRef => ({ name: m.name, version: m.version, digest: m.digest })
  if (b.v === 1) return { v: 1, nonce: b.nonce, models: b.models.map(ref), ...common }
  return {
    v: 2,
    nonces: [...b.nonces],
    // The manifest is JSON data, checked by assertBundle: encoded as it is.
    models: b.models.map((m) => ({ ...ref(m), manifest: m.manifest, knownAnswer: m.knownAnswer === null ? null : { input: m.knownAnswer.input, output: m.knownAnswer.output } })),
    ...common,
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

/** The bytes of a bundle's `cpu` section for people: padded base64. */
interface SevSnpEvidenceJson {
  type: 'sev-snp'
  report: string
  vek: string
  chain: [string, string]
  crls?: string[]
}

/** What both versions' JSON renderings hold. */
interface BundleJsonCommon {
  platform: Platform
  keyset: Keyset
  cpu: SevSnpEvidenceJson
  gpus: { type: 'nvidia-cc'; arch: GpuArchitecture; report: string; chain: string[] }[]
  issuedAt: number
}

/** A bundle for people: nonces as hex, every byte string as padded base64, the rest as in CBOR. */
export type EvidenceBundleJson =
  | (BundleJsonCommon & { v: 1; nonce: string | null; models: ModelRef[] })
  | (BundleJsonCommon & { v: 2; nonces: string[]; models: BundleModel[] })

/** The JSON rendering of `bundle` (DESIGN.md §3): nonces in lower-case hex, bytes in padded base64. */
export function bundleToJson(bundle: EvidenceBundle): EvidenceBundleJson {
  assertBundle(bundle)
  const w = wireForm(bundle)
  const cpu: SevSnpEvidenceJson = {
    type: 'sev-snp',
    report: toBase64(w.cpu.report),
    vek: toBase64(w.cpu.vek),
    chain: [toBase64(w.cpu.chain[0]), toBase64(w.cpu.chain[1])],
  }
  if (w.cpu.crls !== undefined) cpu.crls = w.cpu.crls.map(toBase64)
  const common: BundleJsonCommon = {
    platform: w.platform,
    keyset: w.keyset,
    cpu,
    gpus: w.gpus.map((g) => ({ type: g.type, arch: g.arch, report: toBase64(g.report), chain: g.chain.map(toBase64) })),
    issuedAt: w.issuedAt,
  }
  if (w.v === 1) return { v: 1, nonce: w.nonce === null ? null : toHex(w.nonce), models: w.models, ...common }
  return { v: 2, nonces: w.nonces.map(toHex), models: w.models, ...common }
}

/**
 * A bundle from its JSON rendering ({@link bundleToJson}). Strings must be canonical lower-case hex and
 * padded base64; the result is validated like {@link decodeBundle}, with the same field paths.
 */
export function bundleFromJson(json: unknown): EvidenceBundle {
  const issues = new Issues()
  const version = declaredVersion(json)
  const j = record(json, '', issues, BUNDLE_FIELDS[version])
  if (j === undefined) issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'evidence bundle')
  const o = j!
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
  const hexNonce = (value: unknown, path: string): unknown => {
    if (typeof value !== 'string') return value // null, or left for assertBundle to name
    if (/^[0-9a-f]{64}$/.test(value)) return fromHex(value)
    issues.add(path, version === 1 ? 'must be 64 lower-case hex digits or null' : 'must be 64 lower-case hex digits')
    return version === 1 ? null : new Uint8Array(NONCE_SIZE)
  }
  const convert = (value: unknown, path: string, fields: Record<string, (v: unknown, p: string) => unknown>): unknown => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
    const out: Record<string, unknown> = { ...(value as Record<string, unknown>) }
    for (const [key, fn] of Object.entries(fields)) if (out[key] !== undefined) out[key] = fn(out[key], at(path, key))
    return out
  }
  const cpu = convert(o['cpu'], 'cpu', { report: b64, vek: b64, chain: b64List, crls: b64List })
  const gpus = Array.isArray(o['gpus']) ? o['gpus'].map((g, i) => convert(g, at('gpus', i), { report: b64, chain: b64List })) : o['gpus']
  const nonces =
    version === 1
      ? { nonce: hexNonce(o['nonce'], 'nonce') }
      : { nonces: Array.isArray(o['nonces']) ? o['nonces'].map((n, i) => hexNonce(n, at('nonces', i))) : o['nonces'] }
  const candidate = { ...o, ...nonces, cpu, gpus }
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
