/** File and argument handling for the CLI: the only place the verifier package reads files for verification. */
import { existsSync, readFileSync } from 'node:fs'
import { fromHex, UsageError } from '@vouch/protocol'
import { parsePolicy } from '../policy/parse.js'
import type { Policy } from '../policy/types.js'
import { defaultTrustDir, TrustStore } from '../trust/store.js'

/** A problem with how the command was called or with an input it could not read: exit code 2 (shared by every Vouch CLI). */
export { UsageError }

/** Reads a file as bytes, or fails with a UsageError naming the flag. */
export function readInput(path: string, flag: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path))
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new UsageError(`${flag} ${path}: cannot read (${reason})`)
  }
}

/** Reads and parses a policy file. An invalid policy is a UsageError listing every issue. */
export function loadPolicy(path: string): Policy {
  const text = Buffer.from(readInput(path, '--policy')).toString('utf8')
  try {
    return parsePolicy(text, path)
  } catch (error) {
    throw new UsageError((error as Error).message)
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
