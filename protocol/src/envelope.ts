/**
 * The sealed envelope (DESIGN.md §4). A request is sealed with HPKE (RFC 9180) base mode,
 * DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, to the enclave's attested X25519 key:
 *
 *   info         = UTF-8("vouch/request/v1") ‖ UTF-8(kid)
 *   request body = enc (32 bytes) ‖ AES-256-GCM ciphertext of the plaintext (aad empty, sequence 0)
 *
 * The response is sealed under a key exported from that same HPKE context, exactly as Oblivious HTTP
 * does (RFC 9458 §4.4), so only the client that sealed the request can open it and it cannot be moved
 * onto another request:
 *
 *   secret         = context.Export("vouch/response/v1", 32)
 *   response_nonce = 32 random bytes
 *   prk            = HKDF-Extract(salt = enc ‖ response_nonce, ikm = secret)
 *   key            = HKDF-Expand(prk, "key", 32);  nonce = HKDF-Expand(prk, "nonce", 12)
 *   response body  = response_nonce ‖ AES-256-GCM(key, nonce, plaintext, aad empty)
 *
 * A second secret is exported from the same context for the receipt (receipt v2, `receipt.ts`): the
 * **opening** its request and response commitments are keyed with. Client and enclave both derive it; the host,
 * which never holds the context, cannot. HPKE's exporter gives independent secrets for distinct labels
 * (RFC 9180 §5.3), so handing the opening to a third party reveals nothing of the response key:
 *
 *   opening        = context.Export("vouch/receipt-commitment/v1", 32)
 *
 * Failing to open is one error, `ERR_ENVELOPE_OPEN_FAILED`, with one fixed message and no cause: a wrong
 * key, another kid, a flipped bit and a truncated body look alike from outside. Plaintexts are CBOR
 * ({@link encodeRequestPlaintext}, {@link encodeResponsePlaintext}) with tensors as OIP v2 raw bytes.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto'
import type { RecipientContext, SenderContext } from 'hpke'
import { concatBytes, fromBase64Url } from './bytes.js'
import { KID_PATTERN, type ModelRef, type X25519PublicJwk } from './bundle.js'
import { decodeCbor, encodeCbor, encodeCborPieces } from './cbor.js'
import { ProtocolError } from './errors.js'
import { createNodeSuite, hkdfExpand, hkdfExtract, openOver, SEAL_HEADROOM, updateInto, X25519Key, x25519PublicKeyFromRaw } from './hpke-suite.js'
import { at, count, digest, Issues, list, record, text, unsupportedVersion } from './issues.js'
import { checkParameters, checkTensorData, tensorWire, type TensorData, type TensorParameters } from './oip.js'
import { RECEIPT_OPENING_SIZE } from './receipt.js'

/** Content type of sealed request and response bodies. */
export const SEALED_MEDIA_TYPE = 'application/vnd.vouch.sealed'
/** HTTP header naming the keyset a request is sealed to. */
export const KEY_ID_HEADER = 'Vouch-Key-Id'
/** First part of the HPKE `info` of a request; the kid follows. */
export const REQUEST_INFO_LABEL = 'vouch/request/v1'
/** HPKE exporter context of the response secret. */
export const RESPONSE_EXPORT_LABEL = 'vouch/response/v1'
/** HPKE exporter context of a receipt's opening: the key of its request and response commitments (receipt v2). */
export const RECEIPT_OPENING_EXPORT_LABEL = 'vouch/receipt-commitment/v1'
/** Size of `enc`, the encapsulated X25519 key that starts a request body. */
export const ENC_SIZE = 32
/** Size of the AES-GCM tag that ends both bodies. */
export const TAG_SIZE = 16
/** Size of the random nonce that starts a response body (max(Nn, Nk), as RFC 9458 §4.4). */
export const RESPONSE_NONCE_SIZE = 32
/** Default largest sealed body opened, and plaintext sealed: 24 MiB (a 1×3×1024×1024 FP32 input is 12.6 MB). */
export const DEFAULT_MAX_SEALED_BYTES = 24 * 1024 * 1024
/** The request and response plaintext version. */
export const PLAINTEXT_VERSION = 1

/** An X25519 private key as a JWK (RFC 8037). */
export interface X25519PrivateJwk extends X25519PublicJwk {
  /** The 32-byte private key, unpadded base64url. */
  d: string
}

/** Size limits of the envelope functions. */
export interface EnvelopeOptions {
  /**
   * Largest plaintext sealed or opened, in bytes; larger throws `ERR_PROTOCOL_TOO_LARGE` (a sealed body
   * is checked against it plus its fixed overhead, before any work). Unset: {@link DEFAULT_MAX_SEALED_BYTES}.
   */
  maxPlaintextBytes?: number
}

/** Options of {@link openRequest} and {@link openResponse}. */
export interface OpenRequestOptions extends EnvelopeOptions {
  /**
   * Decrypt over the body: its bytes become the plaintext (the returned plaintext is a view of them), or zeros
   * when it does not open, and no buffer of the plaintext's size is allocated. For a caller that owns the body and
   * needs it no more (the enclave, with a frame just read; the client, with an answer just received). Unset: false,
   * the body is left as it was.
   */
  inPlace?: boolean
}

/**
 * One request's HPKE context, on the client (`role: 'client'`, from {@link sealRequest}) or in the
 * enclave (`'enclave'`, from {@link openRequest}). It holds the secrets the response is sealed under;
 * keep it in memory for the one response and never serialise it.
 */
export interface EnvelopeContext {
  readonly role: 'client' | 'enclave'
  readonly kid: string
  /** The request's encapsulated key, part of the response key derivation. */
  readonly enc: Uint8Array
}

/** A sealed request: the body to send and the context to open the response with. */
export interface SealedRequest {
  body: Uint8Array
  context: EnvelopeContext
}

/** An opened request: its plaintext and the context to seal the response with. */
export interface OpenedRequest {
  plaintext: Uint8Array
  context: EnvelopeContext
}

const suite = createNodeSuite()
const inPlaceSuite = createNodeSuite({ openInPlace: true })
const utf8 = new TextEncoder()
// The HPKE contexts stay out of reach: only this module can export a secret from them.
// `enc` is kept here too: the context object's copy is the caller's to read (or break), not this module's.
const hpkeContexts = new WeakMap<EnvelopeContext, { ctx: SenderContext | RecipientContext; enc: Uint8Array }>()

function openFailed(): ProtocolError {
  return new ProtocolError('ERR_ENVELOPE_OPEN_FAILED', 'the sealed body could not be opened')
}

function tooLarge(what: string, size: number, limit: number): ProtocolError {
  return new ProtocolError('ERR_PROTOCOL_TOO_LARGE', `${what} of ${size} bytes exceeds the ${limit}-byte limit`)
}

/** The HPKE `info` of a request sealed to `kid`. */
export function requestInfo(kid: string): Uint8Array {
  return concatBytes(utf8.encode(REQUEST_INFO_LABEL), utf8.encode(kid))
}

function recipientKey(key: X25519PublicJwk | KeyObject): X25519Key {
  if (isKeyObject(key)) {
    if (key.type !== 'public') throw new TypeError('sealRequest: the recipient key must be an X25519 public key')
    return new X25519Key(key)
  }
  if (key?.kty !== 'OKP' || key.crv !== 'X25519' || typeof key.x !== 'string') {
    throw new TypeError('sealRequest: the recipient key must be an X25519 public JWK { kty: "OKP", crv: "X25519", x }')
  }
  let imported = recipients.get(key.x)
  if (imported === undefined) {
    imported = new X25519Key(x25519PublicKeyFromRaw(fromBase64Url(key.x, 'x', 32)))
    if (recipients.size >= MAX_RECIPIENTS) recipients.delete(recipients.keys().next().value!)
    recipients.set(key.x, imported)
  }
  return imported
}

/** Recipient keys imported, by their JWK `x`: a client seals request after request to the same few enclaves. */
const recipients = new Map<string, X25519Key>()
const MAX_RECIPIENTS = 64

function isKeyObject(key: unknown): key is KeyObject {
  return typeof key === 'object' && key !== null && (key as { [Symbol.toStringTag]?: unknown })[Symbol.toStringTag] === 'KeyObject'
}

function privateKey(key: X25519PrivateJwk | KeyObject): X25519Key {
  if (isKeyObject(key)) {
    if (key.type !== 'private') throw new TypeError('openRequest: the key must be an X25519 private key')
    return new X25519Key(key)
  }
  if (key?.kty !== 'OKP' || key.crv !== 'X25519' || typeof key.d !== 'string') {
    throw new TypeError('openRequest: the key must be an X25519 private JWK { kty: "OKP", crv: "X25519", x, d }')
  }
  return new X25519Key(createPrivateKey({ key: { kty: key.kty, crv: key.crv, x: key.x, d: key.d }, format: 'jwk' }))
}

function checkKid(kid: string, fail: (message: string) => Error): void {
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) fail(`kid must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -`)
}

/** enc ‖ ciphertext, written into the headroom the AEAD left before the ciphertext when it is there. */
function withEnc(enc: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  // Large ciphertexts own their ArrayBuffer (small ones share Node's pool, and are cheap to copy).
  const ownsBuffer = ciphertext.byteOffset === SEAL_HEADROOM && ciphertext.buffer.byteLength === SEAL_HEADROOM + ciphertext.length
  if (ENC_SIZE === SEAL_HEADROOM && ownsBuffer) {
    const body = new Uint8Array(ciphertext.buffer, 0, SEAL_HEADROOM + ciphertext.length)
    body.set(enc)
    return body
  }
  return concatBytes(enc, ciphertext)
}

async function seal(
  recipient: X25519PublicJwk | KeyObject,
  kid: string,
  plaintext: Uint8Array,
  options: EnvelopeOptions,
  ephemeral?: KeyObject,
): Promise<SealedRequest> {
  checkKid(kid, (m) => {
    throw new TypeError(`sealRequest: ${m}`)
  })
  const limit = options.maxPlaintextBytes ?? DEFAULT_MAX_SEALED_BYTES
  if (plaintext.length > limit) throw tooLarge('a request plaintext', plaintext.length, limit)
  const s = ephemeral === undefined ? suite : createNodeSuite({ ephemeral: () => ephemeral })
  const { encapsulatedSecret: enc, ctx } = await s.SetupSender(recipientKey(recipient), { info: requestInfo(kid) })
  const ciphertext = await ctx.Seal(plaintext)
  const context: EnvelopeContext = Object.freeze({ role: 'client', kid, enc: Uint8Array.from(enc) })
  hpkeContexts.set(context, { ctx, enc })
  return { body: withEnc(enc, ciphertext), context }
}

/**
 * Seals a request plaintext to the enclave's X25519 key (the bundle's `keyset.enc`) under `kid` (the
 * bundle's `keyset.kid`). Returns the body to POST and the context that opens the response. Throws
 * `ERR_PROTOCOL_TOO_LARGE` for a plaintext over the limit, a TypeError for a bad key or kid.
 */
export function sealRequest(
  recipient: X25519PublicJwk | KeyObject,
  kid: string,
  plaintext: Uint8Array,
  options: EnvelopeOptions = {},
): Promise<SealedRequest> {
  return seal(recipient, kid, plaintext, options)
}

/**
 * {@link sealRequest} with a fixed ephemeral key, so the body is reproducible. For test vectors only
 * (`scripts/protocol-vectors.ts`); reusing an ephemeral key breaks HPKE's security. Not exported from
 * the package index.
 */
export function sealRequestWithEphemeral(
  recipient: X25519PublicJwk | KeyObject,
  kid: string,
  plaintext: Uint8Array,
  ephemeral: KeyObject,
): Promise<SealedRequest> {
  return seal(recipient, kid, plaintext, {}, ephemeral)
}

/**
 * Opens a sealed request body with the enclave's X25519 private key, under the `kid` it was sent with
 * (`Vouch-Key-Id`). Throws `ERR_ENVELOPE_OPEN_FAILED` when it does not open (for any reason),
 * `ERR_PROTOCOL_TOO_LARGE` for a body over the limit, `ERR_PROTOCOL_MALFORMED` for a malformed kid. With
 * `options.inPlace`, the body's bytes are decrypted over and are the plaintext's afterwards.
 */
export async function openRequest(
  key: X25519PrivateJwk | KeyObject,
  kid: string,
  body: Uint8Array,
  options: OpenRequestOptions = {},
): Promise<OpenedRequest> {
  checkKid(kid, (m) => {
    throw new ProtocolError('ERR_PROTOCOL_MALFORMED', `${KEY_ID_HEADER}: ${m}`)
  })
  const limit = options.maxPlaintextBytes ?? DEFAULT_MAX_SEALED_BYTES
  if (body.length > limit + ENC_SIZE + TAG_SIZE) throw tooLarge('a sealed request', body.length, limit + ENC_SIZE + TAG_SIZE)
  const recipient = privateKey(key)
  if (body.length < ENC_SIZE + TAG_SIZE) throw openFailed()
  const enc = new Uint8Array(body.subarray(0, ENC_SIZE)) // a copy: the context outlives the body
  let ctx: RecipientContext
  let plaintext: Uint8Array
  try {
    ctx = await (options.inPlace === true ? inPlaceSuite : suite).SetupRecipient(recipient, enc, { info: requestInfo(kid) })
    plaintext = await ctx.Open(body.subarray(ENC_SIZE))
  } catch {
    throw openFailed()
  }
  const context: EnvelopeContext = Object.freeze({ role: 'enclave', kid, enc: Uint8Array.from(enc) })
  hpkeContexts.set(context, { ctx, enc })
  return { plaintext, context }
}

function hpkeContext(
  context: EnvelopeContext,
  role: EnvelopeContext['role'],
  fn: string,
): { ctx: SenderContext | RecipientContext; enc: Uint8Array } {
  const entry = hpkeContexts.get(context)
  if (entry === undefined) throw new TypeError(`${fn}: not a context from sealRequest or openRequest`)
  if (context.role !== role) throw new TypeError(`${fn}: needs the ${role}'s context (from ${role === 'client' ? 'sealRequest' : 'openRequest'})`)
  return entry
}

/** The response AEAD key and nonce of RFC 9458 §4.4 for `responseNonce`. */
async function responseKeys(
  ctx: SenderContext | RecipientContext,
  enc: Uint8Array,
  responseNonce: Uint8Array,
): Promise<{ key: Uint8Array; nonce: Uint8Array }> {
  const secret = await ctx.Export(utf8.encode(RESPONSE_EXPORT_LABEL), 32)
  const prk = hkdfExtract(concatBytes(enc, responseNonce), secret)
  return { key: hkdfExpand(prk, utf8.encode('key'), 32), nonce: hkdfExpand(prk, utf8.encode('nonce'), 12) }
}

/**
 * Seals the response plaintext that `pieces` make up, in order, into one new buffer: the response nonce, the
 * ciphertext (each piece encrypted straight into its place, read once and never copied first) and the tag, which is
 * the response body. The RFC 9458 §4.4 derivation (module comment) under the request's context. Throws a TypeError
 * for a client context, `ERR_PROTOCOL_TOO_LARGE` over the limit.
 */
async function sealPieces(context: EnvelopeContext, pieces: readonly Uint8Array[], responseNonce: Uint8Array, options: EnvelopeOptions): Promise<Uint8Array> {
  const { ctx, enc } = hpkeContext(context, 'enclave', 'sealResponse')
  const length = pieces.reduce((n, p) => n + p.length, 0)
  const limit = options.maxPlaintextBytes ?? DEFAULT_MAX_SEALED_BYTES
  if (length > limit) throw tooLarge('a response plaintext', length, limit)
  const { key, nonce } = await responseKeys(ctx, enc, responseNonce)
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_SIZE })
  // allocUnsafe: every byte is written.
  const room = Buffer.allocUnsafe(RESPONSE_NONCE_SIZE + length + TAG_SIZE)
  const sealed = new Uint8Array(room.buffer, room.byteOffset, room.length)
  sealed.set(responseNonce)
  let at = RESPONSE_NONCE_SIZE
  for (const piece of pieces) at += updateInto(cipher, piece, sealed, at)
  cipher.final() // AES-GCM: nothing held back
  sealed.set(cipher.getAuthTag(), at)
  return sealed
}

/**
 * Seals a response plaintext under the request's context (enclave side): a fresh 32-byte response
 * nonce, then the RFC 9458 §4.4 derivation (module comment). Returns the response body.
 */
export function sealResponse(context: EnvelopeContext, plaintext: Uint8Array, options: EnvelopeOptions = {}): Promise<Uint8Array> {
  return sealPieces(context, [plaintext], new Uint8Array(randomBytes(RESPONSE_NONCE_SIZE)), options)
}

/**
 * Encodes `response` ({@link encodeResponsePlaintext}) and seals it ({@link sealResponse}) in one go: the encoding
 * is made in pieces around the outputs' data ({@link encodeCborPieces}), and each piece is encrypted straight into the
 * sealed body, so the outputs are read once and never copied first (the detector's are 1.6 MB, and a fresh buffer of
 * that size costs the enclave its page faults: docs/benchmarks.md, "Enclave allocator"). The bytes are exactly those
 * of `sealResponse(context, encodeResponsePlaintext(response))`. Throws as both do.
 */
export async function sealResponsePlaintext(context: EnvelopeContext, response: ResponsePlaintext, options: EnvelopeOptions = {}): Promise<Uint8Array> {
  hpkeContext(context, 'enclave', 'sealResponse')
  assertResponsePlaintext(response)
  const { pieces } = encodeCborPieces(responseWire(response), response.outputs.map((t) => t.data))
  return sealPieces(context, pieces, new Uint8Array(randomBytes(RESPONSE_NONCE_SIZE)), options)
}

/** {@link sealResponse} with a fixed response nonce: for test vectors only. Not exported from the package index. */
export function sealResponseWithNonce(context: EnvelopeContext, plaintext: Uint8Array, responseNonce: Uint8Array): Promise<Uint8Array> {
  if (responseNonce.length !== RESPONSE_NONCE_SIZE) throw new TypeError(`the response nonce is ${RESPONSE_NONCE_SIZE} bytes`)
  return sealPieces(context, [plaintext], responseNonce, {})
}

/**
 * The opening of the receipt of this request (receipt v2): `Export("vouch/receipt-commitment/v1", 32)` of the
 * request's HPKE context, on either side (the client's from {@link sealRequest}, the enclave's from
 * {@link openRequest}), so both derive the same 32 bytes and nobody else can. Whoever holds it can check the
 * receipt's commitments against a request and outputs, and so confirm guesses of them: hand it only to whom the
 * answer is shown. Throws a TypeError for a context that is not one of this module's.
 */
export async function exportReceiptOpening(context: EnvelopeContext): Promise<Uint8Array> {
  const entry = hpkeContexts.get(context)
  if (entry === undefined) throw new TypeError('exportReceiptOpening: not a context from sealRequest or openRequest')
  return new Uint8Array(await entry.ctx.Export(utf8.encode(RECEIPT_OPENING_EXPORT_LABEL), RECEIPT_OPENING_SIZE))
}

/**
 * Opens a response body with the context {@link sealRequest} returned (client side). Throws
 * `ERR_ENVELOPE_OPEN_FAILED` when it does not open (another request's response, altered, truncated),
 * `ERR_PROTOCOL_TOO_LARGE` for a body over the limit. With `options.inPlace`, the body's bytes are decrypted over
 * (from its 33rd byte on) and the plaintext is a view of them.
 */
export async function openResponse(context: EnvelopeContext, body: Uint8Array, options: OpenRequestOptions = {}): Promise<Uint8Array> {
  const { ctx, enc } = hpkeContext(context, 'client', 'openResponse')
  const limit = options.maxPlaintextBytes ?? DEFAULT_MAX_SEALED_BYTES
  if (body.length > limit + RESPONSE_NONCE_SIZE + TAG_SIZE) throw tooLarge('a sealed response', body.length, limit + RESPONSE_NONCE_SIZE + TAG_SIZE)
  if (body.length < RESPONSE_NONCE_SIZE + TAG_SIZE) throw openFailed()
  const { key, nonce } = await responseKeys(ctx, enc, body.subarray(0, RESPONSE_NONCE_SIZE))
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_SIZE })
    decipher.setAuthTag(body.subarray(body.length - TAG_SIZE))
    if (options.inPlace === true) return await openOver(decipher, body.subarray(RESPONSE_NONCE_SIZE, body.length - TAG_SIZE))
    const out = decipher.update(body.subarray(RESPONSE_NONCE_SIZE, body.length - TAG_SIZE))
    const tail = decipher.final()
    const plaintext = tail.length === 0 ? out : Buffer.concat([out, tail])
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength)
  } catch {
    throw openFailed()
  }
}

// ---------------------------------------------------------------------------------------------------
// Plaintexts

/** Request parameters: OIP v2 inference request parameters, a flat map. */
export type RequestParameters = TensorParameters

/** The plaintext of a sealed request (CBOR), DESIGN.md §4. */
export interface RequestPlaintext {
  v: 1
  /** Unique per request; the enclave refuses an id it has seen within its replay window. 1–128 characters. */
  id: string
  /** Milliseconds since the epoch when the client sealed the request. */
  ts: number
  model: { name: string; version?: string }
  inputs: TensorData[]
  /** The outputs wanted, by name; all of the model's when absent. */
  outputs?: { name: string }[]
  parameters?: RequestParameters
}

/** The plaintext of a sealed response (CBOR), DESIGN.md §4. */
export interface ResponsePlaintext {
  v: 1
  /** The request's id. */
  id: string
  /** The model that ran, as the bundle lists it. */
  model: ModelRef
  outputs: TensorData[]
  /** The receipt (a compact JWS, `receipt.ts`). */
  receipt: string
}

/** Options for decoding plaintexts. */
export interface DecodePlaintextOptions {
  /** Largest plaintext read; larger throws `ERR_PROTOCOL_TOO_LARGE`. Unset: {@link DEFAULT_MAX_SEALED_BYTES}. */
  maxBytes?: number
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

function checkVersion(value: Record<string, unknown> | undefined, what: string): void {
  const v = value?.['v']
  if (v !== undefined && v !== PLAINTEXT_VERSION) {
    throw unsupportedVersion(what, v, PLAINTEXT_VERSION)
  }
}

function checkTensors(value: unknown, path: string, issues: Issues, min: number): void {
  const tensors = list(value, path, issues, 256)
  if (tensors === undefined) return
  if (tensors.length < min) issues.add(path, `must hold at least ${min} tensor`)
  const names = new Map<string, number>()
  tensors.forEach((t, i) => {
    const tensor = checkTensorData(t, at(path, i), issues)
    if (tensor === undefined) return
    const first = names.get(tensor.name)
    if (first !== undefined) issues.add(at(at(path, i), 'name'), `duplicates ${path}[${first}].name`)
    else names.set(tensor.name, i)
  })
}

/** Asserts `value` is a well-formed {@link RequestPlaintext}; errors name every bad field by path. */
export function assertRequestPlaintext(value: unknown): asserts value is RequestPlaintext {
  const issues = new Issues()
  const r = record(value, '', issues, ['v', 'id', 'ts', 'model', 'inputs'], ['outputs', 'parameters'])
  checkVersion(r, 'request')
  if (r !== undefined) {
    text(r['id'], 'id', issues, 128)
    count(r['ts'], 'ts', issues)
    const model = record(r['model'], 'model', issues, ['name'], ['version'])
    if (model !== undefined) {
      text(model['name'], 'model.name', issues)
      if (model['version'] !== undefined) text(model['version'], 'model.version', issues, 64)
    }
    checkTensors(r['inputs'], 'inputs', issues, 1)
    if (r['outputs'] !== undefined) {
      const seen = new Set<string>()
      list(r['outputs'], 'outputs', issues, 256)?.forEach((o, i) => {
        const out = record(o, at('outputs', i), issues, ['name'])
        const name = out === undefined ? undefined : text(out['name'], at(at('outputs', i), 'name'), issues)
        if (name !== undefined && seen.has(name)) issues.add(at(at('outputs', i), 'name'), 'is requested twice')
        if (name !== undefined) seen.add(name)
      })
    }
    if (r['parameters'] !== undefined) checkParameters(r['parameters'], 'parameters', issues)
  }
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'request')
}

/** Asserts `value` is a well-formed {@link ResponsePlaintext}; errors name every bad field by path. */
export function assertResponsePlaintext(value: unknown): asserts value is ResponsePlaintext {
  const issues = new Issues()
  const r = record(value, '', issues, ['v', 'id', 'model', 'outputs', 'receipt'])
  checkVersion(r, 'response')
  if (r !== undefined) {
    text(r['id'], 'id', issues, 128)
    const model = record(r['model'], 'model', issues, ['name', 'version', 'digest'])
    if (model !== undefined) {
      text(model['name'], 'model.name', issues)
      text(model['version'], 'model.version', issues, 64)
      digest(model['digest'], 'model.digest', issues)
    }
    checkTensors(r['outputs'], 'outputs', issues, 0)
    const receipt = r['receipt']
    if (typeof receipt !== 'string' || receipt.length > 65536 || !COMPACT_JWS.test(receipt)) issues.add('receipt', 'must be a compact JWS')
  }
  issues.throwIfAny('ERR_PROTOCOL_MALFORMED', 'response')
}

/** The CBOR plaintext of a request. Validates first: throws like {@link assertRequestPlaintext}. */
export function encodeRequestPlaintext(request: RequestPlaintext): Uint8Array {
  assertRequestPlaintext(request)
  const w: Record<string, unknown> = {
    v: request.v,
    id: request.id,
    ts: request.ts,
    model: request.model.version === undefined ? { name: request.model.name } : { name: request.model.name, version: request.model.version },
    inputs: request.inputs.map(tensorWire),
  }
  if (request.outputs !== undefined) w['outputs'] = request.outputs.map((o) => ({ name: o.name }))
  if (request.parameters !== undefined) w['parameters'] = { ...request.parameters }
  // Encoded around the inputs' data, then joined: the data is copied once, into the plaintext, not twice (into the
  // encoder's buffer first).
  return concatBytes(...encodeCborPieces(w, request.inputs.map((t) => t.data)).pieces)
}

/** Reads a request plaintext (tensor data are views into `bytes`). Throws `ERR_PROTOCOL_MALFORMED` naming each bad field. */
export function decodeRequestPlaintext(bytes: Uint8Array, options: DecodePlaintextOptions = {}): RequestPlaintext {
  const value = decodeCbor(bytes, { maxBytes: options.maxBytes ?? DEFAULT_MAX_SEALED_BYTES, maxDepth: 8 })
  assertRequestPlaintext(value)
  return value
}

/** The CBOR plaintext of a response. Validates first: throws like {@link assertResponsePlaintext}. */
export function encodeResponsePlaintext(response: ResponsePlaintext): Uint8Array {
  assertResponsePlaintext(response)
  return encodeCbor(responseWire(response))
}

/** What a response plaintext encodes: its fields, and only them. */
function responseWire(response: ResponsePlaintext): Record<string, unknown> {
  return {
    v: response.v,
    id: response.id,
    model: { name: response.model.name, version: response.model.version, digest: response.model.digest },
    outputs: response.outputs.map(tensorWire),
    receipt: response.receipt,
  }
}

/** Reads a response plaintext. Throws `ERR_PROTOCOL_MALFORMED` naming each bad field. */
export function decodeResponsePlaintext(bytes: Uint8Array, options: DecodePlaintextOptions = {}): ResponsePlaintext {
  const value = decodeCbor(bytes, { maxBytes: options.maxBytes ?? DEFAULT_MAX_SEALED_BYTES, maxDepth: 8 })
  assertResponsePlaintext(value)
  return value
}
