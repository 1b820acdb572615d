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
import { createPrivateKey, createPublicKey, generateKeyPairSync, hash, KeyObject, sign, verify } from 'node:crypto'
import { concatBytes, fromBase64, fromHex, toBase64, toBase64Url, toHex } from '../bytes.js'
import { ProtocolError } from '../errors.js'

/** The signature type byte of Ed25519 note signatures. */
const ED25519 = 0x01
/** Signatures a note may carry: C2SP asks verifiers to take at least 16; more is refused as a denial of service. */
const MAX_NOTE_SIGNATURES = 100
const SIGNATURE_PREFIX = '\u2014 '
const PKCS8_ED25519_PREFIX = fromHex('302e020100300506032b657004220420')
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/
const LONE_SURROGATE = /\p{Surrogate}/u
// eslint-disable-next-line no-control-regex
const NOT_IN_NAME = /[\p{White_Space}+\u0000-\u001f]/u
const KEY_ID = /^[0-9a-f]{8}$/
const utf8 = new TextEncoder()

/** A new Ed25519 note key: the signer key (secret) and the verifier key to publish. */
export interface NoteKeys {
  readonly signerKey: string
  readonly verifierKey: string
}

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

interface NoteKey {
  readonly name: string
  readonly keyId: string
  readonly key: KeyObject
}

function malformed(message: string): ProtocolError {
  return new ProtocolError('ERR_NOTE_MALFORMED', message)
}

function isKeyName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && !NOT_IN_NAME.test(name) && !LONE_SURROGATE.test(name)
}

function assertKeyName(name: unknown): asserts name is string {
  if (!isKeyName(name)) throw malformed(`key name ${JSON.stringify(name)}: must be non-empty, without spaces, plus signs or control characters`)
}

/** The key id of an Ed25519 key: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), first 4 bytes, as hex. */
function keyIdOf(name: string, publicKey: Uint8Array): string {
  return toHex(hash('sha256', concatBytes(utf8.encode(name), Uint8Array.of(0x0a, ED25519), publicKey), 'buffer').subarray(0, 4))
}

/** The 32 raw bytes of an Ed25519 public key (of the private key's public half, given a private key). */
function rawPublicKey(key: KeyObject): Uint8Array {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' })
  return new Uint8Array(spki.subarray(spki.length - 32))
}

/** The fields of `<name>+<key id>+<base64(0x01 ‖ 32 bytes)>`; `what` names the text in messages (never its content). */
function splitKeyText(text: string, what: string): { name: string; keyId: string; key: Uint8Array } {
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
 * Parsed keys by their text. Importing a key costs OpenSSL far more than a signature (about 0.5 ms for a private
 * key, 0.04 ms for a public one), and a host signs a checkpoint per batch with one key, a client opens every
 * checkpoint with the same few: each key text is parsed once. Bounded, oldest first out; only keys that parsed.
 */
const parsedKeys = new Map<string, NoteKey & { publicKey: Uint8Array }>()
const MAX_PARSED_KEYS = 64

function remember(text: string, parse: () => NoteKey & { publicKey: Uint8Array }): NoteKey & { publicKey: Uint8Array } {
  const known = parsedKeys.get(text)
  if (known !== undefined) return known
  const key = parse()
  if (parsedKeys.size >= MAX_PARSED_KEYS) parsedKeys.delete(parsedKeys.keys().next().value!)
  parsedKeys.set(text, key)
  return key
}

function parseVerifierKey(text: string, what: string): NoteKey {
  if (typeof text !== 'string') throw malformed(`${what}: expected text`)
  return remember(text, () => {
    const { name, keyId, key } = splitKeyText(text, what)
    if (keyIdOf(name, key) !== keyId) throw malformed(`${what}: the key id does not match the name and key`)
    return { name, keyId, publicKey: key, key: createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: toBase64Url(key) }, format: 'jwk' }) }
  })
}

function parseSignerKey(text: string): NoteKey & { publicKey: Uint8Array } {
  const what = 'signer key'
  if (typeof text !== 'string' || !text.startsWith('PRIVATE+KEY+')) throw malformed(`${what}: expected PRIVATE+KEY+<name>+<key id>+<key>`)
  return remember(text, () => {
    const { name, keyId, key: seed } = splitKeyText(text.slice('PRIVATE+KEY+'.length), what)
    const key = createPrivateKey({ key: Buffer.from(concatBytes(PKCS8_ED25519_PREFIX, seed)), format: 'der', type: 'pkcs8' })
    const publicKey = rawPublicKey(key)
    if (keyIdOf(name, publicKey) !== keyId) throw malformed(`${what}: the key id does not match the name and key`)
    return { name, keyId, key, publicKey }
  })
}

/** A new Ed25519 key for signing notes under `name` (a schema-less URL such as `example.com/log`, by convention). */
export function generateNoteKey(name: string): NoteKeys {
  assertKeyName(name)
  const { privateKey } = generateKeyPairSync('ed25519')
  const jwk = privateKey.export({ format: 'jwk' })
  const seed = new Uint8Array(Buffer.from(jwk.d!, 'base64url'))
  const publicKey = new Uint8Array(Buffer.from(jwk.x!, 'base64url'))
  const keyId = keyIdOf(name, publicKey)
  return {
    signerKey: `PRIVATE+KEY+${name}+${keyId}+${toBase64(concatBytes(Uint8Array.of(ED25519), seed))}`,
    verifierKey: `${name}+${keyId}+${toBase64(concatBytes(Uint8Array.of(ED25519), publicKey))}`,
  }
}

/** The verifier key that goes with a signer key (what to publish for a key kept in a configuration). */
export function noteVerifierKey(signerKey: string): string
/** The verifier key of Ed25519 public key `publicKey` (32 raw bytes or a KeyObject) under `name`. */
export function noteVerifierKey(name: string, publicKey: Uint8Array | KeyObject): string
export function noteVerifierKey(nameOrSigner: string, publicKey?: Uint8Array | KeyObject): string {
  let name: string
  let raw: Uint8Array
  if (publicKey === undefined) {
    ;({ name, publicKey: raw } = parseSignerKey(nameOrSigner))
  } else {
    assertKeyName(nameOrSigner)
    name = nameOrSigner
    if (publicKey instanceof KeyObject) {
      if (publicKey.asymmetricKeyType !== 'ed25519') throw malformed(`expected an Ed25519 key, got ${publicKey.asymmetricKeyType ?? publicKey.type}`)
      raw = rawPublicKey(publicKey)
    } else if (publicKey instanceof Uint8Array && publicKey.length === 32) {
      raw = publicKey
    } else {
      throw malformed('expected a 32-byte Ed25519 public key')
    }
  }
  return `${name}+${keyIdOf(name, raw)}+${toBase64(concatBytes(Uint8Array.of(ED25519), raw))}`
}

/** The 1-based line of `text` that character `offset` is on. */
function lineOf(text: string, offset: number): number {
  let line = 1
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++
  return line
}

/** Throws `ERR_NOTE_MALFORMED` naming the line unless `text` holds only what a note may (C2SP: no control characters but newline). */
function assertNoteCharacters(text: string): void {
  const control = CONTROL.exec(text)
  if (control !== null) throw malformed(`line ${lineOf(text, control.index)}: control character U+${control[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`)
  const surrogate = LONE_SURROGATE.exec(text)
  if (surrogate !== null) throw malformed(`line ${lineOf(text, surrogate.index)}: not well-formed Unicode`)
}

/**
 * Signs `text` (ending in a newline, no control characters but newlines) with one or more signer keys; returns the
 * signed note. Ed25519 is deterministic: one text and key give one note.
 */
export function signNote(text: string, signerKeys: string | readonly string[]): string {
  if (typeof text !== 'string' || !text.endsWith('\n')) throw malformed('a note text ends in a newline')
  assertNoteCharacters(text)
  const keys = (typeof signerKeys === 'string' ? [signerKeys] : signerKeys).map(parseSignerKey)
  if (keys.length === 0 || keys.length > MAX_NOTE_SIGNATURES) throw malformed(`a note is signed by 1 to ${MAX_NOTE_SIGNATURES} keys, got ${keys.length}`)
  const message = utf8.encode(text)
  const seen = new Set<string>()
  let lines = ''
  for (const { name, keyId, key } of keys) {
    if (seen.has(`${name}+${keyId}`)) continue
    seen.add(`${name}+${keyId}`)
    lines += `${SIGNATURE_PREFIX}${name} ${toBase64(concatBytes(fromHex(keyId), sign(null, message, key)))}\n`
  }
  return `${text}\n${lines}`
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
export function openNote(note: string | Uint8Array, verifierKeys: readonly string[]): OpenedNote {
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
  lines.forEach((line, i) => {
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
      return
    }
    if (!verifies(message, key.key, bytes.subarray(4))) {
      throw new ProtocolError('ERR_NOTE_SIGNATURE_INVALID', `${where}: the signature by ${id} does not verify`)
    }
    if (!seen.has(id)) signatures.push(signature)
    seen.add(id)
  })
  if (signatures.length === 0) {
    const by = unverified.map((s) => `${s.name}+${s.keyId}`).join(', ')
    throw new ProtocolError('ERR_NOTE_UNKNOWN_KEY', `no signature by a known key (signed by ${by})`)
  }
  return { text, signatures, unverified }
}

function verifies(message: Uint8Array, key: KeyObject, signature: Uint8Array): boolean {
  try {
    return verify(null, message, key, signature)
  } catch {
    return false
  }
}
