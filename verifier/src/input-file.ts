/**
 * Input files with a size bound: how `vouch-verify`, the trust directory and the client's `vouch` CLI read
 * policies, evidence and collateral from disk. Each kind of file has a limit well above any real one; a file
 * over it is refused before it is read whole (a regular file by its size, anything else after at most one
 * chunk past the limit), so a 100 MB file or an endless device costs nothing.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { ARCHIVE_LIMITS, DEFAULT_BUNDLE_MAX_BYTES, DEFAULT_MAX_SEALED_BYTES } from '@vouch/protocol'
import { VerificationError } from './errors.js'
import { MAX_RIM_BYTES } from './nvidia/rim.js'
import { MAX_POLICY_BYTES, parsePolicy, PolicyInvalidError } from './policy/parse.js'
import type { Policy } from './policy/types.js'

const KIB = 1024
const MIB = 1024 * KIB

/** The largest size of a kind of input file, and how messages name what it holds ("a policy"). */
export interface InputFileLimit {
  maxBytes: number
  what: string
}

/** The kinds of input file the verifier knows, each with its {@link InputFileLimit}. */
export const INPUT_FILE_LIMITS = {
  /** A policy (YAML or JSON): {@link MAX_POLICY_BYTES}, the limit `parsePolicy` holds text to. */
  policy: { maxBytes: MAX_POLICY_BYTES, what: 'a policy' },
  /** A raw SEV-SNP ATTESTATION_REPORT, 1184 bytes in every version so far. */
  sevSnpReport: { maxBytes: 64 * KIB, what: 'an SEV-SNP report' },
  /** One certificate (a VCEK or VLEK), PEM or DER; real ones are about 1.4 KB. */
  certificate: { maxBytes: 64 * KIB, what: 'a certificate' },
  /** Certificates, PEM or concatenated DER (an AMD chain, a GPU device chain, a TLS CA bundle). */
  certificates: { maxBytes: 1 * MIB, what: 'a certificate file' },
  /** A CRL; AMD's are about 1 KB, and `trust fetch` accepts at most 1 MiB from KDS. */
  crl: { maxBytes: 1 * MIB, what: 'a CRL' },
  /** An NVIDIA GPU attestation report as NVML returns it (at most 8 KiB). */
  gpuReport: { maxBytes: 64 * KIB, what: 'a GPU attestation report' },
  /** A RIM: {@link MAX_RIM_BYTES}, the limit `verifyRim` holds XML to. */
  rim: { maxBytes: MAX_RIM_BYTES, what: 'a RIM' },
  /** An OCSP response (DER); `trust fetch` accepts at most 64 KiB from NVIDIA's responder. */
  ocsp: { maxBytes: 64 * KIB, what: 'an OCSP response' },
  /** An evidence bundle: CBOR up to `DEFAULT_BUNDLE_MAX_BYTES`, or its JSON rendering, which spells bytes in hex. */
  bundle: { maxBytes: 3 * DEFAULT_BUNDLE_MAX_BYTES, what: 'an evidence bundle' },
  /** An evidence archive: a bundle and its stapled collateral, CBOR up to `ARCHIVE_LIMITS.maxBytes`. */
  archive: { maxBytes: ARCHIVE_LIMITS.maxBytes, what: 'an evidence archive' },
  /** A receipt (a compact JWS of a few KB). */
  receipt: { maxBytes: 64 * KIB, what: 'a receipt' },
  /** A receipt's log inclusion proof (JSON): about 1.5 KB at a billion entries, more with witness cosignatures. */
  logProof: { maxBytes: 64 * KIB, what: 'a log inclusion proof' },
  /** A receipt's opening: 32 bytes, raw or as 64 hex digits (and a line end). */
  opening: { maxBytes: 1 * KIB, what: 'a receipt opening' },
  /** A request plaintext or a tensor array (CBOR): at most the plaintext a sealed envelope carries. */
  plaintext: { maxBytes: DEFAULT_MAX_SEALED_BYTES, what: 'a request plaintext or outputs file' },
  /** The trust directory's record of its last KDS request (an RFC 3339 time). */
  timestamp: { maxBytes: 1 * KIB, what: 'a timestamp file' },
} as const satisfies Record<string, InputFileLimit>

/** A kind of input file: a key of {@link INPUT_FILE_LIMITS}. */
export type InputFileKind = keyof typeof INPUT_FILE_LIMITS

/** An input file over the limit of its kind (`ERR_INPUT_INVALID`); it was not read whole. */
export class InputFileTooLargeError extends VerificationError {
  readonly path: string
  readonly limit: InputFileLimit
  /** The message without the path: what the limit is and what the file holds. */
  readonly detail: string

  /** `size`: the file's size in bytes, or "more" when it has none (a pipe) and was read one chunk past the limit. */
  constructor(path: string, limit: InputFileLimit, size: string) {
    const detail = `${limit.what} is at most ${limit.maxBytes} bytes, and this file holds ${size}`
    super('ERR_INPUT_INVALID', `${path}: ${detail}`)
    this.detail = detail
    this.path = path
    this.limit = limit
  }
}

const CHUNK_BYTES = 64 * KIB

/**
 * Reads a whole input file of at most the limit of its kind.
 *
 * @param path - The file.
 * @param kind - What the file holds, which sets the limit: a kind of {@link INPUT_FILE_LIMITS}, or a limit of the
 *   caller's own.
 * @returns The file's bytes.
 * @throws {@link InputFileTooLargeError} (`ERR_INPUT_INVALID`) for a file over the limit; the file system's error
 *   (`ENOENT`, `EISDIR`, ...) for one that cannot be read.
 */
export function readInputFile(path: string, kind: InputFileKind | InputFileLimit): Uint8Array {
  const limit = typeof kind === 'string' ? INPUT_FILE_LIMITS[kind] : kind
  const { maxBytes } = limit
  const fd = openSync(path, 'r')
  try {
    const stat = fstatSync(fd)
    if (stat.isFile() && stat.size > maxBytes) throw new InputFileTooLargeError(path, limit, String(stat.size))
    // A pipe or device has no size, and a file may grow while it is read: stop one chunk past the limit.
    const chunks: Buffer[] = []
    let total = 0
    for (;;) {
      const chunk = Buffer.allocUnsafe(CHUNK_BYTES)
      const n = readSync(fd, chunk, 0, CHUNK_BYTES, null)
      if (n === 0) break
      total += n
      if (total > maxBytes) throw new InputFileTooLargeError(path, limit, 'more')
      chunks.push(chunk.subarray(0, n))
    }
    return new Uint8Array(Buffer.concat(chunks, total))
  } finally {
    closeSync(fd)
  }
}

/**
 * Reads and parses a policy file (YAML or JSON), as `vouch-verify --policy` and the client's `loadPolicy` do.
 *
 * @param path - The file; also the name messages and `Policy.source` give it.
 * @returns The policy, as {@link parsePolicy} returns it.
 * @throws `PolicyInvalidError` (`ERR_POLICY_INVALID`) listing every problem, including a file over
 *   {@link MAX_POLICY_BYTES} (then not read whole); the file system's error for a file that cannot be read.
 */
export function loadPolicyFile(path: string): Policy {
  let bytes: Uint8Array
  try {
    bytes = readInputFile(path, 'policy')
  } catch (error) {
    if (!(error instanceof InputFileTooLargeError)) throw error
    throw new PolicyInvalidError([{ file: path, line: 1, column: 1, field: '', message: error.detail }], { cause: error })
  }
  return parsePolicy(Buffer.from(bytes).toString('utf8'), path)
}
