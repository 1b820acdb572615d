/** Files the CLI (and scripts) read: policies and OIP v2 JSON inference requests, plain or gzipped. */
import { gunzipSync } from 'node:zlib'
import { type Policy } from '@vouch/verifier'
import { InputFileTooLargeError, loadPolicyFile, readInputFile } from '@vouch/verifier/files'
import { ClientError } from './errors.js'
import { parseInferenceRequest, type InferenceRequest } from './tensors.js'

/** Largest inference request file read, after decompression: room for a 1×3×1024×1024 FP32 input as JSON text. */
export const MAX_REQUEST_FILE_BYTES = 256 * 1024 * 1024

/**
 * Reads and parses a policy file (YAML or JSON). Throws the file system's error for an unreadable
 * file, and `PolicyInvalidError` (`ERR_POLICY_INVALID`) listing every problem for an invalid policy,
 * including a file over the verifier's `MAX_POLICY_BYTES` (not read whole) and aliases that expand
 * too far.
 */
export function loadPolicy(path: string): Policy {
  return loadPolicyFile(path)
}

/**
 * Reads an OIP v2 JSON inference request (`{ "inputs": [...], "outputs"?: [...], "parameters"?: {...} }`),
 * gzipped or not (recognised by its magic bytes, whatever the file is called). Throws the file system's
 * error for an unreadable file, `ERR_CLIENT_REQUEST_INVALID` for one that is not such a request.
 */
export function loadInferenceRequest(path: string): InferenceRequest {
  let bytes: Buffer
  try {
    bytes = Buffer.from(readInputFile(path, { maxBytes: MAX_REQUEST_FILE_BYTES, what: 'an inference request file' }))
  } catch (cause) {
    if (cause instanceof InputFileTooLargeError) throw new ClientError('ERR_CLIENT_REQUEST_INVALID', cause.message, { cause })
    throw cause
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: MAX_REQUEST_FILE_BYTES })
    } catch (cause) {
      throw new ClientError('ERR_CLIENT_REQUEST_INVALID', `${path}: not a readable gzip file (or over ${MAX_REQUEST_FILE_BYTES} bytes once decompressed)`, { cause })
    }
  }
  let json: unknown
  try {
    json = JSON.parse(bytes.toString('utf8'))
  } catch (cause) {
    throw new ClientError('ERR_CLIENT_REQUEST_INVALID', `${path}: not JSON (${(cause as Error).message})`, { cause })
  }
  try {
    return parseInferenceRequest(json)
  } catch (error) {
    if (error instanceof ClientError) throw new ClientError(error.code, `${path}: ${error.message}`, { cause: error.cause })
    throw error
  }
}
