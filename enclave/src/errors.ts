/**
 * The enclave's error classes and codes. Every code is documented in `docs/errors.md` (section
 * "Enclave"); `test/errors-doc.test.ts` keeps the two in sync. Codes are stable; messages are for
 * operators and may change.
 */
import { CodedError } from '@vouch/protocol'

/**
 * Codes of TEE device failures (`tee/`): the hardware interface is missing, refused a request, or
 * answered with something a real device never returns.
 */
export const TEE_ERROR_CODES = [
  'ERR_TEE_UNAVAILABLE',
  'ERR_TEE_UNSUPPORTED',
  'ERR_TEE_REQUEST_FAILED',
  'ERR_TEE_RACE',
  'ERR_TEE_REPORT_INVALID',
  'ERR_TEE_CERTS_MISSING',
  'ERR_TEE_CLOSED',
] as const

export type TeeErrorCode = (typeof TEE_ERROR_CODES)[number]

/**
 * Raised by a TEE device (configfs-tsm, NVML, simulated). Messages name the interface and what it
 * returned (a path, an NVML function and its `nvmlReturn_t`); they never carry report bytes or keys.
 */
export class TeeError extends CodedError<TeeErrorCode> {}

/**
 * Codes of model loading failures (`inference/`): a manifest that is not valid, ONNX bytes that cannot be
 * found or do not match the manifest's digest, or a model onnxruntime cannot run.
 */
export const MODEL_ERROR_CODES = [
  'ERR_MODEL_MANIFEST_INVALID',
  'ERR_MODEL_SOURCE_NOT_FOUND',
  'ERR_MODEL_DIGEST_MISMATCH',
  'ERR_MODEL_DUPLICATE',
  'ERR_MODEL_UNSUPPORTED',
  'ERR_MODEL_LOAD',
  'ERR_MODEL_KNOWN_ANSWER',
] as const

export type ModelErrorCode = (typeof MODEL_ERROR_CODES)[number]

/**
 * Why a model was refused at load (`loadModels` returns it with the refused model). Messages name the manifest file
 * (and field, or ONNX or sample file); the enclave refuses that model, and serves the others, rather than serve a
 * model that is not exactly the one its manifest pins.
 */
export class ModelError extends CodedError<ModelErrorCode> {}

/**
 * Codes of inference failures (`inference/`): a request whose tensors do not match the model's metadata
 * (checked before anything reaches onnxruntime), or a run that onnxruntime refused.
 */
export const INFERENCE_ERROR_CODES = [
  'ERR_INFERENCE_INPUT_UNKNOWN',
  'ERR_INFERENCE_INPUT_DUPLICATE',
  'ERR_INFERENCE_INPUT_MISSING',
  'ERR_INFERENCE_DATATYPE',
  'ERR_INFERENCE_SHAPE',
  'ERR_INFERENCE_SIZE',
  'ERR_INFERENCE_DATA',
  'ERR_INFERENCE_OUTPUT_UNKNOWN',
  'ERR_INFERENCE_OUTPUT_DUPLICATE',
  'ERR_INFERENCE_RUNTIME',
  'ERR_INFERENCE_MODEL_CLOSED',
] as const

export type InferenceErrorCode = (typeof INFERENCE_ERROR_CODES)[number]

/**
 * Raised when a model runs (`runModel`). Messages name the tensor and say what was expected and what
 * arrived (names, datatypes, shapes, sizes), never tensor contents.
 */
export class InferenceError extends CodedError<InferenceErrorCode> {}

/**
 * Codes of the enclave service (`service/`, `link/`): what the host relays to clients. Each has a
 * fixed public message and the HTTP status the host answers with; the cause stays in the enclave's
 * logs and never crosses the link (no crypto detail, no plaintext).
 */
export const ENCLAVE_ERRORS = {
  ERR_ENCLAVE_UNKNOWN_KID: { status: 409, message: 'the request is sealed to a key this enclave does not hold: attest again' },
  ERR_ENCLAVE_OPEN_FAILED: { status: 400, message: 'the sealed request could not be opened' },
  ERR_ENCLAVE_REQUEST_MALFORMED: { status: 400, message: 'the request plaintext is malformed' },
  ERR_ENCLAVE_REQUEST_EXPIRED: { status: 400, message: 'the request timestamp is outside the replay window' },
  ERR_ENCLAVE_REPLAY: { status: 409, message: 'a request with this id was already served' },
  ERR_ENCLAVE_MODEL_MISMATCH: { status: 400, message: 'the sealed request names another model than the route' },
  ERR_ENCLAVE_MODEL_NOT_FOUND: { status: 404, message: 'no such model (or version) in this enclave' },
  ERR_ENCLAVE_ATTEST_RATE_LIMITED: { status: 429, message: 'too many attestation requests: retry later or use the cached bundle' },
  ERR_ENCLAVE_BUSY: { status: 503, message: 'the enclave is overloaded: retry later' },
  ERR_ENCLAVE_DRAINING: { status: 503, message: 'the enclave is draining and takes no new request: attest again and send it to another enclave' },
  ERR_ENCLAVE_TIMEOUT: { status: 504, message: 'the enclave did not answer in time' },
  ERR_ENCLAVE_INTERNAL: { status: 500, message: 'the enclave failed to serve the request' },
} as const satisfies Record<string, { status: number; message: string }>

export type EnclaveErrorCode = keyof typeof ENCLAVE_ERRORS
export const ENCLAVE_ERROR_CODES = Object.keys(ENCLAVE_ERRORS) as EnclaveErrorCode[]

/** A refusal of the enclave service; its message is the fixed public one for its code. */
export class EnclaveError extends CodedError<EnclaveErrorCode> {
  readonly status: number

  constructor(code: EnclaveErrorCode, options?: { cause?: unknown }) {
    super(code, ENCLAVE_ERRORS[code].message, options)
    this.status = ENCLAVE_ERRORS[code].status
  }
}

/**
 * Codes raised below the service that cross the link (a request that does not fit its model, a run onnxruntime
 * refused, a model refused at load, a link frame that is not the protocol): the HTTP status the host answers with
 * and a fixed public message. Their own messages name tensors, shapes and onnxruntime's words, which describe the
 * request's plaintext: those stay in the enclave's log ({@link toLinkError}) and never cross the link in the clear.
 */
export const RELAYED_ERRORS = {
  ...withStatus(400, {
    ERR_INFERENCE_INPUT_UNKNOWN: "an input is not one of the model's inputs",
    ERR_INFERENCE_INPUT_DUPLICATE: 'an input is given more than once',
    ERR_INFERENCE_INPUT_MISSING: 'a model input is missing from the request',
    ERR_INFERENCE_DATATYPE: "an input's datatype is not the model's",
    ERR_INFERENCE_SHAPE: "an input's shape does not fit the model: another rank, another size in a fixed dimension, or a dimension that is not a positive integer",
    ERR_INFERENCE_SIZE: "an input's data is not the size its shape and datatype give",
    ERR_INFERENCE_DATA: "an input's data holds a value its datatype does not allow",
    ERR_INFERENCE_OUTPUT_UNKNOWN: "a requested output is not one of the model's outputs",
    ERR_INFERENCE_OUTPUT_DUPLICATE: 'an output is requested more than once',
    ERR_LINK_MALFORMED: 'the link frame is not a request of the link protocol',
  }),
  ...withStatus(413, { ERR_LINK_FRAME_TOO_LARGE: 'the link frame is larger than the enclave accepts' }),
  ...withStatus(500, { ERR_INFERENCE_RUNTIME: 'the model could not run on these inputs although they match its metadata (a dimension its graph cannot take, for one)' }),
  ...withStatus(503, {
    ERR_INFERENCE_MODEL_CLOSED: 'the model is closed: retry later',
    ERR_MODEL_DIGEST_MISMATCH: 'this model was refused at load: its file does not match its manifest',
    ERR_MODEL_LOAD: 'this model was refused at load',
  }),
} satisfies Partial<Record<InferenceErrorCode | ModelErrorCode | 'ERR_LINK_MALFORMED' | 'ERR_LINK_FRAME_TOO_LARGE', { status: number; message: string }>>

/** Gives each code of `messages` the HTTP status `status`. */
function withStatus<C extends string>(status: number, messages: Record<C, string>): Record<C, { status: number; message: string }> {
  return Object.fromEntries(Object.entries<string>(messages).map(([code, message]) => [code, { status, message }])) as Record<C, { status: number; message: string }>
}

/** A code of {@link RELAYED_ERRORS}. */
export type RelayedErrorCode = keyof typeof RELAYED_ERRORS

/** The longest reason logged for a refusal: onnxruntime's messages are a few lines; more is not a reason but a dump. */
const MAX_LOGGED_REASON = 2_000

/**
 * What crosses the link for a failure: the code, the fixed public message of that code and its status. A coded
 * failure raised below the service ({@link RELAYED_ERRORS}) keeps its code; its own message, which names tensors
 * and shapes, is for the enclave's log only ({@link refusalReason}). Anything else becomes ERR_ENCLAVE_INTERNAL
 * and is logged here with its code only.
 */
export function toLinkError(error: unknown, log?: { error(obj: object, msg: string): void }): { code: string; message: string; status: number } {
  if (error instanceof EnclaveError) return { code: error.code, message: error.message, status: error.status }
  const code = (error as { code?: unknown })?.code
  if (code === 'ERR_ENCLAVE_TIMEOUT') return { code, message: ENCLAVE_ERRORS.ERR_ENCLAVE_TIMEOUT.message, status: 504 }
  if (isRelayed(code)) return { code, ...RELAYED_ERRORS[code] }
  log?.error({ err: { name: (error as Error)?.name, code } }, 'unexpected enclave failure')
  return { code: 'ERR_ENCLAVE_INTERNAL', message: ENCLAVE_ERRORS.ERR_ENCLAVE_INTERNAL.message, status: 500 }
}

/**
 * Why a request was refused, for the enclave's own log: the message of a failure {@link RELAYED_ERRORS} lists
 * (tensor names, shapes and sizes, onnxruntime's words; never tensor contents), at most 2,000 characters.
 * Undefined for others, whose messages (keys, ciphertext, plaintext) are not logged.
 */
export function refusalReason(error: unknown): string | undefined {
  return isRelayed((error as { code?: unknown })?.code) ? String((error as Error).message).slice(0, MAX_LOGGED_REASON) : undefined
}

function isRelayed(code: unknown): code is RelayedErrorCode {
  return typeof code === 'string' && Object.hasOwn(RELAYED_ERRORS, code)
}
