/**
 * The field checks the message validators share: each check reports `path: what is wrong` into one
 * {@link Issues} list, so a bad message is reported whole (go-sev-guest's `multierr` habit) rather than
 * one field per round trip. Internal to `@vouch/protocol`.
 */
import { ProtocolError, type ProtocolErrorCode } from './errors.js'

/** Collects `path: message` lines. */
export class Issues {
  readonly list: string[] = []

  add(path: string, message: string): void {
    this.list.push(`${path === '' ? '(root)' : path}: ${message}`)
  }

  /** Throws one ProtocolError listing every issue, if there is any. */
  throwIfAny(code: ProtocolErrorCode, what: string): void {
    if (this.list.length === 0) return
    throw new ProtocolError(code, `${what}: ${this.list.join('; ')}`, { issues: [...this.list] })
  }
}

/** `ERR_PROTOCOL_UNSUPPORTED_VERSION` for a message `what` that declares version `v`. */
export function unsupportedVersion(what: string, v: unknown, supported: number | readonly number[]): ProtocolError {
  const versions = (typeof supported === 'number' ? [supported] : supported).map((n) => `v${n}`).join(' and ')
  const message = `${what}: version ${JSON.stringify(v)} is not supported (this implementation reads ${versions})`
  return new ProtocolError('ERR_PROTOCOL_UNSUPPORTED_VERSION', message)
}

/** `path.key`, or `key` at the root. */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`
  return path === '' ? key : `${path}.${key}`
}

/** A plain object (a decoded CBOR map or JSON object): not null, an array or bytes. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || ArrayBuffer.isView(value)) return false
  const proto = Object.getPrototypeOf(value) as unknown
  return proto === Object.prototype || proto === null
}

/**
 * `value` as a record holding every `required` key, no key outside `required` and `optional`, and no
 * `undefined` value; reports what is wrong and returns undefined when it is not even a record.
 */
export function record(
  value: unknown,
  path: string,
  issues: Issues,
  required: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> | undefined {
  if (!isRecord(value)) {
    issues.add(path, 'must be a map')
    return undefined
  }
  for (const key of required) if (value[key] === undefined) issues.add(at(path, key), 'is missing')
  for (const key of Object.keys(value)) {
    if (!required.includes(key) && !optional.includes(key)) issues.add(at(path, key), 'is not a known field')
  }
  return value
}

/** A string of 1 to `max` UTF-16 units; reports and returns undefined otherwise. */
export function text(value: unknown, path: string, issues: Issues, max = 256): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    issues.add(path, `must be a non-empty string of at most ${max} characters`)
    return undefined
  }
  return value
}

/** A safe non-negative integer; reports and returns undefined otherwise. */
export function count(value: unknown, path: string, issues: Issues): number | undefined {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    issues.add(path, 'must be a non-negative integer')
    return undefined
  }
  return value
}

/** Bytes, of exactly `length` when given and at least one byte otherwise. */
export function bytes(value: unknown, path: string, issues: Issues, length?: number): Uint8Array | undefined {
  if (!(value instanceof Uint8Array)) {
    issues.add(path, 'must be a byte string')
    return undefined
  }
  if (length !== undefined && value.length !== length) {
    issues.add(path, `must be ${length} bytes, got ${value.length}`)
    return undefined
  }
  if (length === undefined && value.length === 0) {
    issues.add(path, 'must not be empty')
    return undefined
  }
  return value
}

/** One of `allowed`; reports and returns undefined otherwise. */
export function oneOf<T extends string>(value: unknown, path: string, issues: Issues, allowed: readonly T[]): T | undefined {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    issues.add(path, `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`)
    return undefined
  }
  return value as T
}

/** An array (of at most `max` items); reports and returns undefined otherwise. */
export function list(value: unknown, path: string, issues: Issues, max = 4096): unknown[] | undefined {
  if (!Array.isArray(value)) {
    issues.add(path, 'must be an array')
    return undefined
  }
  if (value.length > max) {
    issues.add(path, `must hold at most ${max} items, got ${value.length}`)
    return undefined
  }
  return value
}

/** `sha256:` and 64 lower-case hex digits: how Vouch writes every digest. */
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/

/** A `sha256:<hex>` digest string; reports and returns undefined otherwise. */
export function digest(value: unknown, path: string, issues: Issues): string | undefined {
  if (typeof value !== 'string' || !DIGEST_PATTERN.test(value)) {
    issues.add(path, 'must be "sha256:" followed by 64 lower-case hex digits')
    return undefined
  }
  return value
}
