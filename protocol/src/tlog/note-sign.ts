/**
 * Signing notes (note.ts describes them): making note keys and signing checkpoints, with node:crypto, on the host.
 * Kept apart from note.ts, which opens notes anywhere, a browser included.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, KeyObject, sign } from 'node:crypto'
import { concatBytes, fromHex, toBase64 } from '../bytes.js'
import { assertKeyName, assertNoteCharacters, ED25519, keyIdOf, malformed, MAX_NOTE_SIGNATURES, remember, SIGNATURE_PREFIX, splitKeyText, utf8, type NoteKey } from './note.js'

const PKCS8_ED25519_PREFIX = fromHex('302e020100300506032b657004220420')

/** A new Ed25519 note key: the signer key (secret) and the verifier key to publish. */
export interface NoteKeys {
  readonly signerKey: string
  readonly verifierKey: string
}

/** Signer keys by their text: importing a private key costs OpenSSL about 0.5 ms. */
const signerKeys = new Map<string, NoteKey & { key: KeyObject }>()

/** The 32 raw bytes of an Ed25519 public key (of the private key's public half, given a private key). */
function rawPublicKey(key: KeyObject): Uint8Array {
  const spki = (key.type === 'private' ? createPublicKey(key) : key).export({ format: 'der', type: 'spki' })
  return new Uint8Array(spki.subarray(spki.length - 32))
}

function parseSignerKey(text: string): NoteKey & { key: KeyObject } {
  const what = 'signer key'
  if (typeof text !== 'string' || !text.startsWith('PRIVATE+KEY+')) throw malformed(`${what}: expected PRIVATE+KEY+<name>+<key id>+<key>`)
  return remember(signerKeys, text, () => {
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
