/**
 * The operations of the host ↔ enclave link (docs/protocol.md, "Host ↔ enclave link"): one map from each op to
 * the fields of its request and the fields of its result, and the one place where both are checked. The host's
 * link client and the enclave's link server are both typed from {@link LinkOperations}, so an op, a field or a
 * result type changes here and nowhere else, and the compiler finds every side that has to follow.
 */
import { ProtocolError } from './errors.js'
import { isRecord } from './issues.js'
import { decodeReceipt, MAX_RECEIPT_LENGTH } from './receipt.js'

/** Longest model name a request may carry (as the host's routes accept it). */
export const MAX_LINK_MODEL_NAME = 256
/** Longest model version a request may carry. */
export const MAX_LINK_MODEL_VERSION = 64
/** Longest key id a request may carry. */
export const MAX_LINK_KID = 256

/** An input or output of a model, in OIP v2 metadata: `-1` in `shape` is a dimension of any size. */
export interface LinkTensorMetadata {
  name: string
  datatype: string
  shape: number[]
}

/** A model as the enclave lists it: its OIP v2 metadata, the digest its evidence attests, its publisher and licence. */
export interface LinkModel {
  name: string
  versions: string[]
  platform?: string
  inputs?: LinkTensorMetadata[]
  outputs?: LinkTensorMetadata[]
  /** `sha256:<hex>` of the ONNX bytes. */
  digest?: string
  publisher?: string
  license?: string
}

/** A model the enclave was configured with but refused at load, and the code that says why. */
export interface LinkRefusedModel {
  name: string
  code: string
}

/** A request without fields besides `id` and `op`. */
export type NoFields = Record<never, never>

/**
 * Every operation the enclave serves: the fields of its request (besides `id` and `op`) and of its result.
 * The wire form of each is in docs/protocol.md; {@link LINK_OPERATIONS} checks them.
 */
export interface LinkOperations {
  /**
   * Is the enclave up? The host's handshake and heartbeat. `kid` names the keyset requests are sealed to (the one
   * before it is refused once replaced); `draining` is true once it takes no new request (it finishes those it holds,
   * then stops). An enclave that predates the fleet does not send `draining`: false.
   */
  ping: { request: NoFields; result: { ready: boolean; platform: string; kid: string; models: number; draining: boolean } }
  /** Stop taking new requests, finish those in hand, then stop (a rolling change): the enclave's state afterwards. */
  drain: { request: NoFields; result: { draining: boolean } }
  /** Generate a new keyset now; requests sealed to the one before are refused once it is replaced: the new kid. */
  rotate: { request: NoFields; result: { kid: string } }
  /** An evidence bundle: answering `nonce`, or the cached unchallenged one for `null`. */
  attest: { request: { nonce: Uint8Array | null }; result: { bundle: Uint8Array } }
  /** The models the enclave serves, and those it refused at load. */
  models: { request: NoFields; result: { models: LinkModel[]; refused: LinkRefusedModel[] } }
  /**
   * A sealed inference request for `model` (and `version`, null for any) sealed to the keyset `kid`; the result is the
   * sealed answer and, beside it, the receipt sealed inside it (a v2 compact JWS, whose commitments reveal nothing of
   * the request or the answer), for the host's receipt log.
   */
  infer: { request: { kid: string; model: string; version: string | null; body: Uint8Array }; result: { body: Uint8Array; receipt: string } }
}

/** An operation the enclave serves. */
export type LinkOp = keyof LinkOperations
/** The fields of an `op` request besides `id` and `op`. */
export type LinkRequestFields<O extends LinkOp> = LinkOperations[O]['request']
/** The result of an `op` request. */
export type LinkResult<O extends LinkOp> = LinkOperations[O]['result']
/** A request of one of `O` without its id: what the host asks for. */
export type LinkCall<O extends LinkOp = LinkOp> = { [P in O]: { op: P } & LinkRequestFields<P> }[O]
/** A request of one of `O` as it travels: with the id its response repeats. */
export type LinkRequest<O extends LinkOp = LinkOp> = { [P in O]: { id: number; op: P } & LinkRequestFields<P> }[O]

/** What the link knows of one operation: how its request and result are checked, and which byte string each carries. */
interface LinkOperationCodec<O extends LinkOp> {
  /** The request's fields from a decoded message (whose `id` and `op` are checked); `ERR_LINK_MALFORMED` naming what is wrong. */
  request(message: Record<string, unknown>): LinkRequestFields<O>
  /** The result from a decoded response; `ERR_LINK_MALFORMED` naming what is wrong. */
  result(result: Record<string, unknown>): LinkResult<O>
  /** The large byte string of a request (a sealed body), which a frame carries by reference and byte limits count. */
  requestPayload?(request: LinkRequestFields<O>): Uint8Array
  /** The large byte string of a result, likewise. */
  resultPayload?(result: LinkResult<O>): Uint8Array
}

function malformed(message: string): ProtocolError {
  return new ProtocolError('ERR_LINK_MALFORMED', message)
}

/** Refuses a request holding a field other than `id`, `op` and `fields`. */
function onlyFields(message: Record<string, unknown>, fields: readonly string[]): void {
  for (const k of Object.keys(message)) if (k !== 'id' && k !== 'op' && !fields.includes(k)) throw malformed(`unknown field "${k}"`)
}

/** A non-empty byte string, or what is wrong with it. */
function nonEmptyBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length === 0) throw malformed(`${what} must be a non-empty byte string`)
  return value
}

/**
 * The receipt beside a sealed answer: a well-formed v2 receipt of at most {@link MAX_RECEIPT_LENGTH} characters. The
 * host cannot verify its signature (it does not check evidence); it checks the form, so the log it feeds never holds
 * junk, and the version, so it never holds a v1 receipt, whose plain digests would let anyone test guesses.
 */
function v2Receipt(value: unknown): string {
  if (typeof value !== 'string' || value.length > MAX_RECEIPT_LENGTH) throw malformed(`receipt must be a string of at most ${MAX_RECEIPT_LENGTH} characters`)
  let v: number
  try {
    v = decodeReceipt(value).payload.v
  } catch (cause) {
    throw new ProtocolError('ERR_LINK_MALFORMED', `receipt is not a receipt: ${(cause as Error).message}`, { cause })
  }
  if (v !== 2) throw malformed(`receipt must be a v2 receipt, got v${v}`)
  return value
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
}

function isTensorList(value: unknown): value is LinkTensorMetadata[] {
  return (
    Array.isArray(value) &&
    value.every((t) => isRecord(t) && typeof t['name'] === 'string' && typeof t['datatype'] === 'string' && Array.isArray(t['shape']) && t['shape'].every((d) => Number.isSafeInteger(d)))
  )
}

/** The fields of a listed model the API documents, each kept only in the type it documents; a model needs its name and versions. */
function toLinkModel(value: unknown, at: number): LinkModel {
  if (!isRecord(value) || typeof value['name'] !== 'string' || !isStrings(value['versions'])) throw malformed(`models[${at}] must hold a name and a list of versions`)
  const model: LinkModel = { name: value['name'], versions: value['versions'] }
  if (typeof value['platform'] === 'string') model.platform = value['platform']
  if (isTensorList(value['inputs'])) model.inputs = value['inputs']
  if (isTensorList(value['outputs'])) model.outputs = value['outputs']
  if (typeof value['digest'] === 'string') model.digest = value['digest']
  if (typeof value['publisher'] === 'string') model.publisher = value['publisher']
  if (typeof value['license'] === 'string') model.license = value['license']
  return model
}

/** The models refused at load; absent: none. */
function toRefusedModels(value: unknown): LinkRefusedModel[] {
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((r) => isRecord(r) && typeof r['name'] === 'string' && typeof r['code'] === 'string')) {
    throw malformed('refused must be a list of { name, code }')
  }
  return value.map((r: Record<string, string>) => ({ name: r['name']!, code: r['code']! }))
}

/** Each operation's checks: the one place the link's fields are read. */
export const LINK_OPERATIONS: { readonly [O in LinkOp]: LinkOperationCodec<O> } = {
  ping: {
    request: (message) => {
      onlyFields(message, [])
      return {}
    },
    result: (r) => {
      if (typeof r['ready'] !== 'boolean' || typeof r['platform'] !== 'string' || typeof r['kid'] !== 'string' || !Number.isSafeInteger(r['models'])) {
        throw malformed('a ping result must be { ready, platform, kid, models }')
      }
      const draining = r['draining'] ?? false
      if (typeof draining !== 'boolean') throw malformed('draining must be true or false')
      return { ready: r['ready'], platform: r['platform'], kid: r['kid'], models: r['models'] as number, draining }
    },
  },
  drain: {
    request: (message) => {
      onlyFields(message, [])
      return {}
    },
    result: (r) => {
      if (typeof r['draining'] !== 'boolean') throw malformed('a drain result must be { draining }')
      return { draining: r['draining'] }
    },
  },
  rotate: {
    request: (message) => {
      onlyFields(message, [])
      return {}
    },
    result: (r) => {
      if (typeof r['kid'] !== 'string' || r['kid'].length === 0 || r['kid'].length > MAX_LINK_KID) throw malformed('a rotate result must be { kid }')
      return { kid: r['kid'] }
    },
  },
  attest: {
    request: (message) => {
      onlyFields(message, ['nonce'])
      const nonce = message['nonce'] ?? null
      if (nonce !== null && !(nonce instanceof Uint8Array && nonce.length === 32)) throw malformed('nonce must be 32 bytes or null')
      return { nonce }
    },
    result: (r) => ({ bundle: nonEmptyBytes(r['bundle'], 'bundle') }),
  },
  models: {
    request: (message) => {
      onlyFields(message, [])
      return {}
    },
    result: (r) => {
      const list = r['models']
      if (!Array.isArray(list)) throw malformed('models must be a list')
      return { models: list.map(toLinkModel), refused: toRefusedModels(r['refused']) }
    },
  },
  infer: {
    request: (message) => {
      onlyFields(message, ['kid', 'model', 'version', 'body'])
      const { kid, model, body } = message
      const version = message['version'] ?? null
      if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_LINK_KID) throw malformed('kid must be a non-empty string')
      if (typeof model !== 'string' || model.length === 0 || model.length > MAX_LINK_MODEL_NAME) throw malformed('model must be a non-empty string')
      if (version !== null && (typeof version !== 'string' || version.length > MAX_LINK_MODEL_VERSION)) throw malformed('version must be a string or null')
      if (!(body instanceof Uint8Array)) throw malformed('body must be bytes')
      return { kid, model, version, body }
    },
    result: (r) => ({ body: nonEmptyBytes(r['body'], 'body'), receipt: v2Receipt(r['receipt']) }),
    requestPayload: (request) => request.body,
    resultPayload: (result) => result.body,
  },
}

/** Whether `op` is an operation of the link. */
export function isLinkOp(op: unknown): op is LinkOp {
  return typeof op === 'string' && Object.hasOwn(LINK_OPERATIONS, op)
}

/** Checks the result of an `op` request (host side). Throws `ERR_LINK_MALFORMED` naming what is wrong. */
export function decodeLinkResult<O extends LinkOp>(op: O, result: Record<string, unknown>): LinkResult<O> {
  const codec: LinkOperationCodec<O> = LINK_OPERATIONS[op]
  return codec.result(result)
}

/** The large byte string an `op` request carries (its sealed body), if any: framed by reference, counted by byte limits. */
export function linkRequestPayload<O extends LinkOp>(op: O, request: LinkRequestFields<O>): Uint8Array | undefined {
  const codec: LinkOperationCodec<O> = LINK_OPERATIONS[op]
  return codec.requestPayload?.(request)
}

/** The large byte string an `op` result carries, if any: framed by reference. */
export function linkResultPayload<O extends LinkOp>(op: O, result: LinkResult<O>): Uint8Array | undefined {
  const codec: LinkOperationCodec<O> = LINK_OPERATIONS[op]
  return codec.resultPayload?.(result)
}
