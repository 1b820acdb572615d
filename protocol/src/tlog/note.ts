/**
 * Signed notes (C2SP signed-note), with Ed25519 signatures only (signature type 0x01): a text ending in a newline,
 * a blank line, then one line per signature, `— <key name> <base64(key id ‖ signature)>`. Checkpoints travel as
 * signed notes, so witnesses and monitors built for Go's sumdb, Sigsum or Sunlight read them as they are.
 *
 * Keys are written as Go's golang.org/x/mod/sumdb/note writes them:
 * - verifier key `<name>+<key id, 8 hex>+<base64(0x01 ‖ 32-byte public key)>`, given to anyone who checks;
 * - signer key `PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ 32-byte seed)>`, kept secret.
 * The key id is the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key).
 */
import { concatBytes, fromBase64, toHex } from '../bytes.js'
import { ProtocolError } from '../errors.js'
import { ed25519Spki } from '../platform-keys.js'
import { platform } from '../platform.js'

/** The signature type byte of Ed25519 note signatures. */
export const ED25519 = 0x01
/** Signatures a note may carry: C2SP asks verifiers to take at least 16; more is refused as a denial of service. */
export const MAX_NOTE_SIGNATURES = 100
export const SIGNATURE_PREFIX = '\u2014 '
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/
const LONE_SURROGATE = /\p{Surrogate}/u
// eslint-disable-next-line no-control-regex
const NOT_IN_NAME = /[\p{White_Space}+\u0000-\u001f]/u
const KEY_ID = /^[0-9a-f]{8}$/
export const utf8 = new TextEncoder()

/** One signature line of a note. */
export interface NoteSignature {
  /** The key name. */
  readonly name: string
  /** The key id, 8 lower-case hex digits. */
  readonly keyId: string
  /** The signature as the note carries it: base64 of key id ‖ signature. */
  readonly signature: string
}

/** A note whose signatures by known keys all verified. */
export interface OpenedNote {
  /** The signed text, its final newline included (not the blank line after it). */
  readonly text: string
  /** The signatures by known keys, each verified, one per key. */
  readonly signatures: readonly NoteSignature[]
  /** Signatures by keys the caller did not name: not checked, only listed (a witness's cosignature, a rotated key). */
  readonly unverified: readonly NoteSignature[]
}

/** A parsed key: its name, its id and the 32 bytes of its Ed25519 public key. */
export interface NoteKey {
  readonly name: string
  readonly keyId: string
  readonly publicKey: Uint8Array
}

export function malformed(message: string): ProtocolError {
  return new ProtocolError('ERR_NOTE_MALFORMED', message)
}

function isKeyName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && !NOT_IN_NAME.test(name) && !LONE_SURROGATE.test(name)
}

export function assertKeyName(name: unknown): asserts name is string {
  if (!isKeyName(name)) throw malformed(`key name ${JSON.stringify(name)}: must be non-empty, without spaces, plus signs or control characters`)
}

/** The key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), first 4 bytes, as hex. */
export function keyIdOf(name: string, publicKey: Uint8Array): string {
  return toHex(platform.digest('sha256', concatBytes(utf8.encode(name), Uint8Array.of(0x0a, ED25519), publicKey)).subarray(0, 4))
}

/** The fields of `<name>+<key id>+<base64(0x01 ‖ 32 bytes)>`; `what` names the text in messages (never its content). */
export function splitKeyText(text: string, what: string): { name: string; keyId: string; key: Uint8Array } {
  const first = text.indexOf('+')
  const second = text.indexOf('+', first + 1)
  if (first < 0 || second < 0) throw malformed(`${what}: expected <name>+<key id>+<key>`)
  const name = text.slice(0, first)
  const keyId = text.slice(first + 1, second)
  if (!isKeyName(name)) throw malformed(`${what}: the key name must be non-empty, without spaces, plus signs or control characters`)
  if (!KEY_ID.test(keyId)) throw malformed(`${what}: the key id must be 8 lower-case hex digits`)
  let key: Uint8Array
  try {
    key = fromBase64(text.slice(second + 1), 'key')
  } catch {
    throw malformed(`${what}: the key is not padded base64`)
  }
  if (key[0] !== ED25519) throw malformed(`${what}: signature type ${key.length === 0 ? 'missing' : `0x${toHex(key.subarray(0, 1))}`}; only Ed25519 (0x01) is supported`)
  if (key.length !== 33) throw malformed(`${what}: an Ed25519 key is 32 bytes after the type byte, got ${key.length - 1}`)
  return { name, keyId, key: key.subarray(1) }
}

/**
 * Remembers parsed keys by their text in `cache`: a host signs a checkpoint per batch with one key, a client opens
 * every checkpoint with the same few, so each key text is parsed (and its id hashed) once. Bounded, oldest first
 * out; only keys that parsed.
 */
export function remember<K>(cache: Map<string, K>, text: string, parse: () => K): K {
  const known = cache.get(text)
  if (known !== undefined) return known
  const key = parse()
  if (cache.size >= 64) cache.delete(cache.keys().next().value!)
  cache.set(text, key)
  return key
}

const verifierKeys = new Map<string, NoteKey>()

function parseVerifierKey(text: string, what: string): NoteKey {
  if (typeof text !== 'string') throw malformed(`${what}: expected text`)
  return remember(verifierKeys, text, () => {
    const { name, keyId, key } = splitKeyText(text, what)
    if (keyIdOf(name, key) !== keyId) throw malformed(`${what}: the key id does not match the name and key`)
    return { name, keyId, publicKey: key }
  })
}

/** The 1-based line of `text` that character `offset` is on. */
function lineOf(text: string, offset: number): number {
  let line = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++
  return line
}

/** Throws `ERR_NOTE_MALFORMED` naming the line unless `text` holds only what a note may (C2SP: no control characters but newline). */
export function assertNoteCharacters(text: string): void {
  const control = CONTROL.exec(text)
  if (control !== null) throw malformed(`line ${lineOf(text, control.index)}: control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`)
  const surrogate = LONE_SURROGATE.exec(text)
  if (surrogate !== null) throw malformed(`line ${lineOf(text, surrogate.index)}: not well-formed Unicode`)
}

/**
 * Known keys by `name+keyId`. Two different keys under one name and id are refused, as Go's sumdb/note refuses them:
 * the id is only 32 bits, so a key made to collide with another could otherwise be taken for it (a hostile list).
 */
function keyTable(verifierKeys: readonly string[]): Map<string, NoteKey & { text: string }> {
  if (!Array.isArray(verifierKeys)) throw malformed('expected a list of verifier keys')
  const table = new Map<string, NoteKey & { text: string }>()
  verifierKeys.forEach((text, i) => {
    const key = parseVerifierKey(text, `verifier key ${i + 1}`)
    const id = `${key.name}+${key.keyId}`
    const known = table.get(id)
    if (known !== undefined && known.text !== text) throw malformed(`verifier key ${i + 1}: another key has the same name and key id (${id})`)
    table.set(id, { ...key, text })
  })
  return table
}

/** The note's text as a string, refusing what is not UTF-8. */
function noteText(note: string | Uint8Array): string {
  if (typeof note === 'string') return note
  if (!(note instanceof Uint8Array)) throw malformed('a note is text or bytes')
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(note)
  } catch {
    throw malformed('the note is not valid UTF-8')
  }
}

/**
 * Opens a signed note: checks its form and every signature by a key in `verifierKeys` (verifier key texts), lists
 * the others unchecked, and returns the text. Refuses, by code:
 * - `ERR_NOTE_MALFORMED`: not UTF-8, a control character, no blank line before the signatures, a signature line
 *   out of form, more than 100 signatures, or a verifier key that does not parse (the message names the line);
 * - `ERR_NOTE_SIGNATURE_INVALID`: a signature by a known key that does not verify (the whole note is refused);
 * - `ERR_NOTE_UNKNOWN_KEY`: no signature by a known key.
 */
export async function openNote(note: string | Uint8Array, verifierKeys: readonly string[]): Promise<OpenedNote> {
  const keys = keyTable(verifierKeys)
  const all = noteText(note)
  assertNoteCharacters(all)
  const split = all.lastIndexOf('\n\n')
  if (split < 0) throw malformed('no blank line between the text and the signatures')
  const text = all.slice(0, split + 1)
  const block = all.slice(split + 2)
  const firstLine = lineOf(all, split + 2)
  if (block === '') throw malformed(`line ${firstLine}: no signature after the blank line`)
  if (!block.endsWith('\n')) throw malformed(`line ${lineOf(all, all.length)}: the last signature line does not end in a newline`)
  const lines = block.slice(0, -1).split('\n')
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`${lines.length} signatures, more than the ${MAX_NOTE_SIGNATURES} accepted`)
  const message = utf8.encode(text)
  const signatures: NoteSignature[] = []
  const unverified: NoteSignature[] = []
  const seen = new Set<string>()
  for (const [i, line] of lines.entries()) {
    const where = `line ${firstLine + i}`
    if (!line.startsWith(SIGNATURE_PREFIX)) throw malformed(`${where}: a signature line starts with an em dash and a space`)
    const rest = line.slice(SIGNATURE_PREFIX.length)
    const space = rest.indexOf(' ')
    const name = space < 0 ? rest : rest.slice(0, space)
    const encoded = space < 0 ? '' : rest.slice(space + 1)
    if (!isKeyName(name)) throw malformed(`${where}: the key name must be non-empty, without spaces or plus signs`)
    let bytes: Uint8Array
    try {
      bytes = fromBase64(encoded, 'signature')
    } catch {
      throw malformed(`${where}: the signature is not padded base64`)
    }
    if (bytes.length < 5) throw malformed(`${where}: a signature is a 4-byte key id and at least one byte`)
    const signature: NoteSignature = { name, keyId: toHex(bytes.subarray(0, 4)), signature: encoded }
    const id = `${name}+${signature.keyId}`
    const key = keys.get(id)
    if (key === undefined) {
      if (!seen.has(line)) unverified.push(signature)
      seen.add(line)
      continue
    }
    if (!(await platform.verifySignature({ kind: 'ed25519' }, ed25519Spki(key.publicKey), message, bytes.subarray(4)))) {
      throw new ProtocolError('ERR_NOTE_SIGNATURE_INVALID', `${where}: the signature by ${id} does not verify`)
    }
    if (!seen.has(id)) signatures.push(signature)
    seen.add(id)
  }
  if (signatures.length === 0) {
    const by = unverified.map((s) => `${s.name}+${s.keyId}`).join(', ')
    throw new ProtocolError('ERR_NOTE_UNKNOWN_KEY', `no signature by a known key (signed by ${by})`)
  }
  return { text, signatures, unverified }
}
