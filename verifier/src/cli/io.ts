/** File and argument handling for the CLI. Files are read through `readInputFile`, each kind with its size bound. */
import { existsSync } from 'node:fs'
import { fromHex, unreadableFile, UsageError } from '@vouch/protocol'
import { InputFileTooLargeError, loadPolicyFile, readInputFile, type InputFileKind } from '../input-file.js'
import { PolicyInvalidError } from '../policy/parse.js'
import type { Policy } from '../policy/types.js'
import { defaultTrustDir, TrustStore } from '../trust/store.js'

/** A problem with how the command was called or with an input it could not read: exit code 2 (shared by every Vouch CLI). */
export { UsageError }

/**
 * Reads a file as bytes, at most the limit of its kind. A file that cannot be read, or is over the limit
 * (`ERR_INPUT_INVALID`, and then not read whole), is a UsageError naming the flag.
 */
export function readInput(path: string, flag: string, kind: InputFileKind): Uint8Array {
  try {
    return readInputFile(path, kind)
  } catch (error) {
    throw unreadableFile(error, path, flag)
  }
}

/**
 * Reads and parses a policy file. An unreadable file, or an invalid policy (`ERR_POLICY_INVALID`, every issue
 * listed), is a UsageError.
 */
export function loadPolicy(path: string, flag = '--policy'): Policy {
  try {
    return loadPolicyFile(path)
  } catch (error) {
    throw unreadableFile(error, path, flag)
  }
}

/** Whether `loadPolicyFile` refused a policy file without reading it whole: unreadable input, not a finding. */
export function isPolicyTooLarge(error: unknown): boolean {
  return error instanceof PolicyInvalidError && error.cause instanceof InputFileTooLargeError
}


/** Runs `read` on the trust directory; a cached file over the limit of its kind (`ERR_INPUT_INVALID`) is a UsageError. */
export function fromTrustDir<T>(store: TrustStore, read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (error instanceof InputFileTooLargeError) throw new UsageError(`trust directory ${store.dir}: ${error.code}: ${error.message}`)
    throw error
  }
}

/** Parses `--at` (RFC 3339); unset means now. */
export function parseAt(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined
  const at = new Date(value)
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(at.getTime())) {
    throw new UsageError(`--at ${value}: not an RFC 3339 time such as 2025-01-16T21:21:54Z`)
  }
  return at
}

/** Parses a hex flag of an exact byte length. */
export function parseHexFlag(value: string | undefined, flag: string, length: number): Uint8Array | undefined {
  if (value === undefined) return undefined
  try {
    return fromHex(value, flag, length)
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

/**
 * The trust directory a verification may complete its inputs from: `--trust-dir DIR` (which must
 * exist), else the default one when it exists; none with `--no-trust-dir`.
 */
export function openTrustDir(values: { 'trust-dir'?: string | undefined; 'no-trust-dir'?: boolean | undefined }): TrustStore | null {
  if (values['no-trust-dir'] && values['trust-dir'] !== undefined) throw new UsageError('--trust-dir and --no-trust-dir exclude each other')
  if (values['no-trust-dir']) return null
  const dir = values['trust-dir'] ?? defaultTrustDir()
  if (existsSync(dir)) return new TrustStore(dir)
  if (values['trust-dir'] !== undefined) throw new UsageError(`--trust-dir ${dir}: no such directory`)
  return null
}
