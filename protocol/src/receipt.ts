/**
 * The receipt (DESIGN.md §4): what the enclave signs for every answer, with the Ed25519 key the evidence
 * bundle attests. A compact JWS (RFC 7515), `alg: "EdDSA"` (RFC 8037), protected header exactly
 * `{ alg, typ: "vouch-receipt+jws", kid }`, payload the UTF-8 JCS text (RFC 8785) of
 * {@link ReceiptPayload}. Ed25519 is deterministic and the payload canonical, so one payload and key
 * give one receipt, byte for byte (`docs/protocol.md` has vectors).
 *
 * The payload names the keyset and the evidence bundle by digest, and commits to the request plaintext and the
 * response's outputs. Receipts go into a public log, so in version 2 those two are not plain digests, which anyone
 * could test a guess against (a classifier has few possible outputs), but HMAC-SHA-256 commitments keyed with the
 * request's **opening**, a secret exported from its HPKE context that only the client and the enclave hold
 * (`exportReceiptOpening`). Anyone can check the signature with the bundle's `keyset.sig`; whoever holds the
 * opening (the client, or whom it hands it to) can also check what was asked and answered. Version 1 receipts,
 * with SHA-256 digests, still decode and verify. Signing and checking use jose.
 */
import type { KeyObject } from 'node:crypto'
import { CompactSign, compactVerify, type CryptoKey, type JWK } from 'jose'
import { fromBase64Url, toBase64Url, toHex } from './bytes.js'
import { checkAttribution, KID_PATTERN, PLATFORMS, type Attribution, type Ed25519PublicJwk, type ModelRef, type Platform } from './bundle.js'
import { encodeCbor, encodeCborPieces } from './cbor.js'
import { ProtocolError } from './errors.js'
import { at, count, digest, DIGEST_PATTERN, Issues, isRecord, list, oneOf, record, text, unsupportedVersion } from './issues.js'
import { canonicalJson, sha256Digest } from './jcs.js'
import { tensorWire, type TensorData } from './oip.js'
import { ed25519Spki } from './platform-keys.js'
import { platform } from './platform.js'

/** The JWS `typ` of a receipt. */
export const RECEIPT_TYPE = 'vouch-receipt+jws'
/** The one JWS algorithm a receipt uses. */
export const RECEIPT_ALGORITHM = 'EdDSA'
/** The receipt payload version enclaves write: 2, whose request and response commit to the request's opening. */
export const RECEIPT_VERSION = 2
/** Every receipt payload version this implementation reads. */
const RECEIPT_VERSIONS: readonly ReceiptPayload['v'][] = [1, 2]
/** The longest receipt (compact JWS) read, in characters. */
export const MAX_RECEIPT_LENGTH = 65536
/** Size of a receipt's opening. */
export const RECEIPT_OPENING_SIZE = 32
/** `hmac-sha256:` and 64 lower-case hex digits: how a v2 receipt writes a commitment. */
const COMMITMENT_PATTERN = /^hmac-sha256:[0-9a-f]{64}$/

/**
 * The signed content of a receipt. Digests are `sha256:<64 hex>`, commitments `hmac-sha256:<64 hex>`
 * ({@link receiptCommitment}).
 */
export interface ReceiptPayload {
  /** 2: `request` and `response` are commitments keyed with the opening; 1 (older enclaves): plain digests. */
  v: 1 | 2
  /** The request's id. */
  id: string
  /** Seconds since the epoch when the enclave signed. */
  iat: number
  model: ModelRef
  /** Of the request plaintext bytes (the CBOR the client sealed): v2 its {@link receiptCommitment}, v1 its SHA-256 digest. */
  request: string
  /** Of {@link encodeTensors} of the response's outputs: v2 its {@link receiptCommitment}, v1 its SHA-256 digest ({@link outputsDigest}). */
  response: string
  /** `keysetDigest` of the keyset whose `sig` key signed. */
  keyset: string
  /** Digest of the CBOR evidence bundle bytes that attest the keyset. */
  evidence: string
  platform: Platform
  attribution: Attribution[]
}

/** A receipt's protected header. */
export interface ReceiptHeader {
  alg: typeof RECEIPT_ALGORITHM
  typ: typeof RECEIPT_TYPE
  kid: string
}

/** A receipt taken apart. */
export interface DecodedReceipt {
  header: ReceiptHeader
  payload: ReceiptPayload
}

/** An Ed25519 private key as a JWK (RFC 8037). */
export interface Ed25519PrivateJwk extends Ed25519PublicJwk {
  d: string
}

const PAYLOAD_FIELDS = ['v', 'id', 'iat', 'model', 'request', 'response', 'keyset', 'evidence', 'platform', 'attribution'] as const
const utf8 = new TextEncoder()

/** A `hmac-sha256:<hex>` commitment string; reports and returns undefined otherwise. */
function commitment(value: unknown, path: string, issues: Issues): string | undefined {
  if (typeof value !== 'string' || !COMMITMENT_PATTERN.test(value)) {
    issues.add(path, 'must be "hmac-sha256:" followed by 64 lower-case hex digits')
    return undefined
  }
  return value
}

function checkPayload(value: unknown, issues: Issues): void {
  const p = record(value, 'payload', issues, PAYLOAD_FIELDS)
  if (p === undefined) return
  const v = p['v']
  if (v !== undefined && !(RECEIPT_VERSIONS as readonly unknown[]).includes(v)) throw unsupportedVersion('receipt', v, RECEIPT_VERSIONS)
  text(p['id'], 'payload.id', issues, 128)
  count(p['iat'], 'payload.iat', issues)
  const model = record(p['model'], 'payload.model', issues, ['name', 'version', 'digest'])
  if (model !== undefined) {
    text(model['name'], 'payload.model.name', issues)
    text(model['version'], 'payload.model.version', issues, 64)
    digest(model['digest'], 'payload.model.digest', issues)
  }
  for (const field of ['keyset', 'evidence'] as const) digest(p[field], `payload.${field}`, issues)
  // A v2 receipt that held a plain digest would be the very thing v2 exists to avoid: a guess could be tested against it.
  const checkRequestResponse = v === 1 ? digest : commitment
  for (const field of ['request', 'response'] as const) checkRequestResponse(p[field], `payload.${field}`, issues)
  oneOf(p['platform'], 'payload.platform', issues, PLATFORMS)
  list(p['attribution'], 'payload.attribution', issues, 64)?.forEach((a, i) => checkAttribution(a, at('payload.attribution', i), issues))
}

/** Asserts `value` is a well-formed {@link ReceiptPayload}; throws `ERR_RECEIPT_MALFORMED` naming each bad field. */
export function assertReceiptPayload(value: unknown): asserts value is ReceiptPayload {
  const issues = new Issues()
  checkPayload(value, issues)
  issues.throwIfAny('ERR_RECEIPT_MALFORMED', 'receipt')
}

/** The payload's fields in order: extra properties of the object passed never get signed. */
function payloadFields(p: ReceiptPayload): ReceiptPayload {
  return {
    v: p.v,
    id: p.id,
    iat: p.iat,
    model: { name: p.model.name, version: p.model.version, digest: p.model.digest },
    request: p.request,
    response: p.response,
    keyset: p.keyset,
    evidence: p.evidence,
    platform: p.platform,
    attribution: p.attribution.map((a) => ({ role: a.role, id: a.id, name: a.name })),
  }
}

/** `sha256:` of {@link encodeTensors}: a v1 receipt's `response`, and both digests of a model's known answer. */
export function tensorsDigest(tensors: readonly TensorData[]): string {
  return sha256Digest(encodeTensors(tensors))
}

/** The digest a v1 receipt's `response` holds: {@link tensorsDigest} of the outputs. */
export function outputsDigest(outputs: readonly TensorData[]): string {
  return tensorsDigest(outputs)
}

/**
 * The CBOR encoding of a tensor array, as the request and response plaintexts carry tensors: of the outputs, the
 * bytes a receipt's `response` covers.
 */
export function encodeTensors(tensors: readonly TensorData[]): Uint8Array {
  return encodeCbor(tensors.map(tensorWire))
}

/**
 * {@link encodeTensors} as pieces whose concatenation is its bytes, each tensor's `data` a piece itself (not copied):
 * what {@link receiptCommitment} takes to commit to a detector's megabytes of outputs without a copy of them.
 */
export function tensorPieces(tensors: readonly TensorData[]): Uint8Array[] {
  return encodeCborPieces(tensors.map(tensorWire), tensors.map((t) => t.data)).pieces
}

/**
 * A v2 receipt's commitment to `bytes` (the request plaintext, or {@link encodeTensors} of the outputs, which may
 * come as pieces, {@link tensorPieces}):
 * `hmac-sha256:` and the hex of HMAC-SHA-256 keyed with the request's 32-byte `opening`
 * (`exportReceiptOpening`). Without the opening it is a pseudorandom value that confirms no guess; with it, it
 * names exactly one byte string (HMAC-SHA-256 under a fixed key is collision-resistant as SHA-256 is). The two
 * inputs never coincide: a request plaintext is a CBOR map, the outputs a CBOR array. Throws a TypeError for an
 * opening that is not 32 bytes.
 */
export function receiptCommitment(opening: Uint8Array, bytes: Uint8Array | readonly Uint8Array[]): string {
  if (!(opening instanceof Uint8Array) || opening.length !== RECEIPT_OPENING_SIZE) throw new TypeError(`receiptCommitment: the opening must be ${RECEIPT_OPENING_SIZE} bytes`)
  return `hmac-sha256:${toHex(platform.hmacSha256(opening, bytes))}`
}

/**
 * Signs `payload` with the enclave's Ed25519 private key, naming `kid` (the keyset's). Returns the
 * compact JWS. Throws `ERR_RECEIPT_MALFORMED` for a malformed payload or kid.
 */
export async function signReceipt(
  payload: ReceiptPayload,
  privateKey: KeyObject | CryptoKey | Ed25519PrivateJwk,
  kid: string,
): Promise<string> {
  assertReceiptPayload(payload)
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) throw malformed('kid must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -')
  const header: ReceiptHeader = { alg: RECEIPT_ALGORITHM, typ: RECEIPT_TYPE, kid }
  const body = utf8.encode(canonicalJson(payloadFields(payload)))
  // The enclave signs every response: node:crypto's one-shot Ed25519 takes ~40 µs where jose's WebCrypto
  // path takes ~250 µs. The JWS is the same bytes either way (Ed25519 is deterministic; the tests check
  // that jose verifies it and produces it identically).
  const signingInput = `${toBase64Url(utf8.encode(JSON.stringify(header)))}.${toBase64Url(body)}`
  const signature = platform.signWithKeyObject(privateKey, utf8.encode(signingInput))
  if (signature !== null) return `${signingInput}.${toBase64Url(signature)}`
  // A copy of a JWK: jose freezes the object it is given.
  const key = isRecord(privateKey) ? ({ ...(privateKey as unknown as JWK) } as JWK) : (privateKey as CryptoKey)
  return new CompactSign(body).setProtectedHeader({ ...header }).sign(key)
}

function malformed(message: string, cause?: unknown): ProtocolError {
  return new ProtocolError('ERR_RECEIPT_MALFORMED', `receipt: ${message}`, cause === undefined ? undefined : { cause })
}

function jsonPart(part: string, what: string): unknown {
  let bytes: Uint8Array
  try {
    bytes = fromBase64Url(part, what)
  } catch (cause) {
    throw malformed(`the ${what} is not base64url`, cause)
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown
  } catch (cause) {
    throw malformed(`the ${what} is not UTF-8 JSON`, cause)
  }
}

/**
 * Takes a receipt apart and validates its structure: a compact JWS whose protected header is exactly
 * `{ alg: "EdDSA", typ: "vouch-receipt+jws", kid }` and whose payload is a well-formed
 * {@link ReceiptPayload}. Does not check the signature ({@link verifyReceiptSignature} does). Throws
 * `ERR_RECEIPT_MALFORMED` naming what is wrong.
 */
export function decodeReceipt(jws: string): DecodedReceipt {
  if (typeof jws !== 'string' || jws.length > MAX_RECEIPT_LENGTH) throw malformed('must be a compact JWS string of at most 64 KiB')
  const parts = jws.split('.')
  if (parts.length !== 3) throw malformed(`a compact JWS has 3 parts, got ${parts.length}`)
  const [h, p, s] = parts as [string, string, string]
  const issues = new Issues()
  const header = record(jsonPart(h, 'header'), 'header', issues, ['alg', 'typ', 'kid'])
  if (header !== undefined) {
    if (header['alg'] !== RECEIPT_ALGORITHM) issues.add('header.alg', `must be "${RECEIPT_ALGORITHM}", got ${JSON.stringify(header['alg'])}`)
    if (header['typ'] !== RECEIPT_TYPE) issues.add('header.typ', `must be "${RECEIPT_TYPE}", got ${JSON.stringify(header['typ'])}`)
    if (typeof header['kid'] !== 'string' || !KID_PATTERN.test(header['kid'])) {
      issues.add('header.kid', 'must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -')
    }
  }
  const payload = jsonPart(p, 'payload')
  checkPayload(payload, issues)
  try {
    fromBase64Url(s, 'signature', 64)
  } catch {
    issues.add('signature', 'must be 64 bytes of base64url (Ed25519)')
  }
  issues.throwIfAny('ERR_RECEIPT_MALFORMED', 'receipt')
  return { header: header as unknown as ReceiptHeader, payload: payload as ReceiptPayload }
}

/**
 * The digest of the evidence bundle receipt `jws` names (`payload.evidence`), read without checking the rest: what a
 * relay needs per answer to know which bundle goes with the receipt (the host logs that bundle before the receipt),
 * at a fraction of {@link decodeReceipt}'s cost (one base64url decode and one JSON parse, no field-by-field
 * validation, nothing else kept). It vouches for nothing else: whoever relies on a receipt decodes and verifies it
 * in full. Throws `ERR_RECEIPT_MALFORMED` for a string that is no compact JWS of at most {@link MAX_RECEIPT_LENGTH}
 * characters, a payload that is not a UTF-8 JSON object, or an `evidence` that is not `sha256:` and 64 hex digits.
 */
export function receiptEvidence(jws: string): string {
  if (typeof jws !== 'string' || jws.length > MAX_RECEIPT_LENGTH) throw malformed('must be a compact JWS string of at most 64 KiB')
  const start = jws.indexOf('.')
  const end = jws.indexOf('.', start + 1)
  if (start < 0 || end < 0 || jws.includes('.', end + 1)) throw malformed(`a compact JWS has 3 parts, got ${jws.split('.').length}`)
  const payload = jsonPart(jws.slice(start + 1, end), 'payload')
  const evidence = isRecord(payload) ? payload['evidence'] : undefined
  if (typeof evidence !== 'string' || !DIGEST_PATTERN.test(evidence)) throw malformed('payload.evidence must be "sha256:" followed by 64 lower-case hex digits')
  return evidence
}

/** Options for {@link verifyReceiptSignature}. */
export interface VerifyReceiptSignatureOptions {
  /** The kid the header must name (the attested keyset's). Unset: the header's kid is not compared. */
  kid?: string
}

/**
 * Checks a receipt's structure ({@link decodeReceipt}) and its EdDSA signature under `publicKey`, the
 * attested `keyset.sig`. Only EdDSA is accepted, whatever the header says. Resolves to the decoded
 * receipt; rejects with `ERR_RECEIPT_MALFORMED` for structure (or another kid than `options.kid`), and
 * `ERR_RECEIPT_SIGNATURE_INVALID` when the signature does not verify.
 */
export async function verifyReceiptSignature(
  jws: string,
  publicKey: Ed25519PublicJwk | KeyObject | CryptoKey,
  options: VerifyReceiptSignatureOptions = {},
): Promise<DecodedReceipt> {
  const decoded = decodeReceipt(jws)
  if (options.kid !== undefined && decoded.header.kid !== options.kid) {
    throw malformed(`header.kid is ${JSON.stringify(decoded.header.kid)}, expected ${JSON.stringify(options.kid)}`)
  }
  const invalid = (cause?: unknown): ProtocolError =>
    new ProtocolError('ERR_RECEIPT_SIGNATURE_INVALID', 'receipt: the signature does not verify under the given key', cause === undefined ? undefined : { cause })
  let x: string | null = null
  if (isRecord(publicKey)) {
    const jwk = publicKey as unknown as Record<string, unknown>
    if (jwk['kty'] !== 'OKP' || jwk['crv'] !== 'Ed25519' || typeof jwk['x'] !== 'string' || jwk['d'] !== undefined) {
      throw new TypeError('verifyReceiptSignature: the key must be an Ed25519 public JWK { kty: "OKP", crv: "Ed25519", x }')
    }
    fromBase64Url(jwk['x'], 'verifyReceiptSignature: x', 32) // a TypeError for a key that is not 32 bytes
    x = jwk['x']
  } else if (isKeyObject(publicKey)) {
    if (publicKey.asymmetricKeyType !== 'ed25519') throw invalid()
    x = publicKey.export({ format: 'jwk' }).x ?? ''
  }
  if (x !== null) {
    // The platform's Ed25519 (node:crypto's one-shot verify in Node, ~60 µs, rather than jose's WebCrypto path,
    // ~300 µs: a client checks a receipt on every answer). decodeReceipt has already pinned the header to EdDSA.
    const dot = jws.lastIndexOf('.')
    let ok: boolean
    try {
      ok = await platform.verifySignature({ kind: 'ed25519' }, ed25519Spki(fromBase64Url(x, 'x', 32)), utf8.encode(jws.slice(0, dot)), fromBase64Url(jws.slice(dot + 1), 'signature', 64))
    } catch (cause) {
      throw invalid(cause)
    }
    if (!ok) throw invalid()
    return decoded
  }
  try {
    await compactVerify(jws, publicKey as CryptoKey, { algorithms: [RECEIPT_ALGORITHM] })
  } catch (cause) {
    throw invalid(cause)
  }
  return decoded
}

/** A node:crypto KeyObject, told apart without importing node:crypto (this module also runs in browsers). */
function isKeyObject(key: unknown): key is KeyObject {
  return typeof key === 'object' && key !== null && typeof (key as { export?: unknown }).export === 'function' && 'asymmetricKeyType' in key
}
