/**
 * The HPKE suite of DESIGN.md §4 for the `hpke` package, with its three primitives backed by node:crypto:
 * DHKEM(X25519, HKDF-SHA256) 0x0020, HKDF-SHA256 0x0001, AES-256-GCM 0x0002. `hpke` keeps the key
 * schedule, the labelled derivations, nonce sequencing and the exporter; only the primitives are ours.
 *
 * Why not `hpke`'s own WebCrypto primitives: every step goes through `crypto.subtle` (a thread-pool hop
 * and a key import per operation). Measured here for a 110 KB body, a whole seal then open takes about
 * 1.2 + 0.6 ms with them and 0.25 + 0.16 ms with node:crypto; at 4.9 MB both are bound by AES-GCM
 * itself (4.3 + 4.5 ms against 4.4 + 2.9 ms). `protocol/test/envelope.test.ts` reports the current
 * figures. The bytes are the same either way: the RFC 9180 vectors run through this code path, and a
 * test seals with one suite and opens with the other.
 *
 * Internal to `@vouch/protocol`: the envelope is the public API.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type DecipherGCM,
  type KeyObject,
} from 'node:crypto'
import {
  CipherSuite,
  concat,
  encode,
  I2OSP,
  LabeledExpand,
  LabeledExtract,
  type AEAD,
  type AEADFactory,
  type Key,
  type KDF,
  type KDFFactory,
  type KEM,
  type KEMFactory,
  type KeyPair,
} from 'hpke'
import { fromBase64Url, isAllZero, toBase64Url } from './bytes.js'

/** An X25519 key held as a node:crypto KeyObject, in the shape `hpke` expects of a key. */
export class X25519Key implements Key {
  readonly algorithm = { name: 'X25519' } as const
  // A KeyObject can always be exported; `hpke` asks this before it serialises a key.
  readonly extractable = true
  readonly type: 'public' | 'private'

  constructor(readonly keyObject: KeyObject) {
    if (keyObject.asymmetricKeyType !== 'x25519' || keyObject.type === 'secret') throw new TypeError('an X25519 key is required')
    this.type = keyObject.type
  }
}

// The DER prefix that turns 32 raw bytes into a PKCS#8 X25519 private key (RFC 8410). Slow (OpenSSL's
// DER decoder) but only for derived and deserialised keys, never per request.
const X25519_PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])

/** The KeyObject of a raw 32-byte X25519 private key. */
export function x25519PrivateKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError('an X25519 private key is 32 bytes')
  return createPrivateKey({ key: Buffer.from(concat(X25519_PKCS8_PREFIX, raw)), format: 'der', type: 'pkcs8' })
}

/**
 * The KeyObject of a raw 32-byte X25519 public key. Through JWK: OpenSSL 3 takes about 100 µs to parse
 * an SPKI and 9 µs to import a JWK, and this runs for every request opened.
 */
export function x25519PublicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError('an X25519 public key is 32 bytes')
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: toBase64Url(raw) }, format: 'jwk' })
}

const rawPublicCache = new WeakMap<KeyObject, Uint8Array>()

/**
 * The 32 raw bytes of the public half of an X25519 key, from its JWK export (about 1 µs; the DER export
 * takes about 90 µs). Cached per KeyObject, since the recipient's is asked for every request.
 */
export function x25519RawPublic(key: KeyObject): Uint8Array {
  let raw = rawPublicCache.get(key)
  if (raw === undefined) {
    raw = fromBase64Url(key.export({ format: 'jwk' }).x ?? '', 'x', 32)
    rawPublicCache.set(key, raw)
  }
  return raw
}

function x25519RawPrivate(key: KeyObject): Uint8Array {
  return fromBase64Url(key.export({ format: 'jwk' }).d ?? '', 'd', 32)
}

function hmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', key).update(data).digest())
}

/** HKDF-Extract with SHA-256 (RFC 5869 §2.2); an empty salt is HashLen zero bytes. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmac(salt.length === 0 ? new Uint8Array(32) : salt, ikm)
}

/** HKDF-Expand with SHA-256 (RFC 5869 §2.3). */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (prk.length < 32) throw new Error('prk shorter than HashLen')
  if (length > 255 * 32) throw new Error('HKDF-Expand length over 255*HashLen')
  const out = new Uint8Array(Math.ceil(length / 32) * 32)
  let previous = new Uint8Array(0)
  for (let i = 0; i * 32 < length; i++) {
    const h = createHmac('sha256', prk)
    h.update(previous)
    h.update(info)
    h.update(Uint8Array.of(i + 1))
    previous = new Uint8Array(h.digest())
    out.set(previous, i * 32)
  }
  return out.subarray(0, length)
}

/** HKDF-SHA256 (0x0001) on node:crypto HMAC. */
export const KDF_HKDF_SHA256_NODE: KDFFactory = (): KDF => ({
  id: 0x0001,
  type: 'KDF',
  name: 'HKDF-SHA256',
  Nh: 32,
  stages: 2,
  Extract: (salt, ikm) => Promise.resolve(hkdfExtract(salt, ikm)),
  Expand: (prk, info, L) => Promise.resolve(hkdfExpand(prk, info, L)),
  Derive: () => Promise.reject(new Error('HKDF is a two-stage KDF')),
})

/** Spare bytes before every ciphertext the AEAD returns: room for the 32-byte `enc` of a request body. */
export const SEAL_HEADROOM = 32

/**
 * Bytes decrypted per `update` when a ciphertext is opened in place: each piece's output is a block small enough for
 * the C library to hand out again from memory already faulted in, where one whole output of 4.9 MB is a fresh mapping
 * faulted in page by page (docs/benchmarks.md, "Enclave allocator").
 */
const IN_PLACE_PIECE = 64 * 1024

/**
 * AES-GCM on node:crypto, for a 16- or 32-byte key (AES-128-GCM 0x0001 exists for RFC 9180 A.1.1 only). With
 * `openInPlace`, Open writes the plaintext over the ciphertext it was given, piece by piece, and returns a view of it:
 * the caller gives up the ciphertext's bytes and nothing the plaintext's size is allocated. Until the tag verifies the
 * plaintext is released to nobody; when it does not, the bytes written are zeroed before the error is thrown.
 */
function aesGcm(id: 0x0001 | 0x0002, openInPlace = false): AEADFactory {
  const Nk = id === 0x0001 ? 16 : 32
  const cipher = id === 0x0001 ? 'aes-128-gcm' : 'aes-256-gcm'
  return (): AEAD => ({
    id,
    type: 'AEAD',
    name: id === 0x0001 ? 'AES-128-GCM' : 'AES-256-GCM',
    Nk,
    Nn: 12,
    Nt: 16,
    Seal(key, nonce, aad, pt) {
      const c = createCipheriv(cipher, key, nonce, { authTagLength: 16 })
      c.setAAD(aad)
      // SEAL_HEADROOM spare bytes in front let the envelope put `enc` there instead of copying the
      // whole ciphertext once more (1 ms for 4.9 MB); the ciphertext itself is the view after them, encrypted straight
      // into place piece by piece (no whole-size output of its own, faulted in and copied).
      // allocUnsafe: every byte is written below, and zero-filling 4.9 MB first costs 0.5 ms.
      const buf = Buffer.allocUnsafe(SEAL_HEADROOM + pt.length + 16)
      buf.fill(0, 0, SEAL_HEADROOM)
      let at = SEAL_HEADROOM + updateInto(c, pt, buf, SEAL_HEADROOM)
      const tail = c.final()
      buf.set(tail, at)
      at += tail.length
      buf.set(c.getAuthTag(), at)
      return Promise.resolve(new Uint8Array(buf.buffer, buf.byteOffset + SEAL_HEADROOM, buf.length - SEAL_HEADROOM))
    },
    Open(key, nonce, aad, ct) {
      if (ct.length < 16) return Promise.reject(new Error('ciphertext shorter than the tag'))
      const d = createDecipheriv(cipher, key, nonce, { authTagLength: 16 })
      d.setAAD(aad)
      d.setAuthTag(ct.subarray(ct.length - 16))
      if (openInPlace) return openOver(d, ct.subarray(0, ct.length - 16))
      const body = d.update(ct.subarray(0, ct.length - 16))
      const tail = d.final() // throws when the tag does not verify
      const out = tail.length === 0 ? body : Buffer.concat([body, tail])
      return Promise.resolve(new Uint8Array(out.buffer, out.byteOffset, out.byteLength))
    },
  })
}

/**
 * Runs `bytes` through `c` (AES-GCM, either way) into `into` from `at`, in pieces of {@link IN_PLACE_PIECE}: each
 * piece's output is written as soon as it is made, so `into` may be `bytes` itself (at 0: written where it was read,
 * never ahead of what is read). Returns the bytes written; `final` is the caller's.
 */
export function updateInto(c: { update(data: Uint8Array): Buffer }, bytes: Uint8Array, into: Uint8Array, at: number): number {
  let written = 0
  for (let from = 0; from < bytes.length; from += IN_PLACE_PIECE) {
    const piece = c.update(bytes.subarray(from, Math.min(bytes.length, from + IN_PLACE_PIECE)))
    into.set(piece, at + written)
    written += piece.length
  }
  return written
}

/**
 * Decrypts `ct` (the ciphertext without its tag, which `d` holds) over itself ({@link updateInto} with `ct` as both).
 * Resolves to the plaintext, a view of `ct`'s bytes, once the tag verifies; otherwise zeroes what it wrote and rejects.
 */
export function openOver(d: DecipherGCM, ct: Uint8Array): Promise<Uint8Array> {
  let written = 0
  try {
    written = updateInto(d, ct, ct, 0)
    const tail = d.final() // throws when the tag does not verify
    ct.set(tail, written)
    written += tail.length
  } catch (error) {
    ct.fill(0, 0, written)
    return Promise.reject(error)
  }
  return Promise.resolve(ct.subarray(0, written))
}

/** AES-256-GCM (0x0002) on node:crypto. */
export const AEAD_AES_256_GCM_NODE: AEADFactory = aesGcm(0x0002)
/** AES-256-GCM (0x0002) on node:crypto, opening in place (see {@link aesGcm}). */
const AEAD_AES_256_GCM_NODE_IN_PLACE: AEADFactory = aesGcm(0x0002, true)
/** AES-128-GCM (0x0001) on node:crypto: only for checking the code path against RFC 9180 A.1.1. */
export const AEAD_AES_128_GCM_NODE: AEADFactory = aesGcm(0x0001)

/**
 * Where the ephemeral key of an encapsulation comes from. Unset: a fresh random key each time. Test
 * vectors pass a fixed one; nothing else should.
 */
export type EphemeralSource = () => KeyObject

const KEM_ID = 0x0020
const KEM_SUITE_ID = concat(encode('KEM'), I2OSP(KEM_ID, 2))

/**
 * DHKEM(X25519, HKDF-SHA256) (RFC 9180 §4.1, 0x0020) on node:crypto X25519, with keys as
 * {@link X25519Key}. `ephemeral` fixes the sender's ephemeral key (test vectors only).
 */
export function kemX25519Node(ephemeral?: EphemeralSource): KEMFactory<X25519Key> {
  const kdf = KDF_HKDF_SHA256_NODE()
  const extractAndExpand = async (dh: Uint8Array, kemContext: Uint8Array): Promise<Uint8Array> => {
    if (isAllZero(dh)) throw new Error('X25519 produced the all-zero value') // RFC 9180 §7.1.4
    const prk = await LabeledExtract(kdf, KEM_SUITE_ID, new Uint8Array(0), encode('eae_prk'), dh)
    return LabeledExpand(kdf, KEM_SUITE_ID, prk, encode('shared_secret'), kemContext, 32)
  }
  const dh = (privateKey: KeyObject, publicKey: KeyObject): Uint8Array => new Uint8Array(diffieHellman({ privateKey, publicKey }))
  const pair = (privateKey: KeyObject): KeyPair<X25519Key> => ({
    privateKey: new X25519Key(privateKey),
    publicKey: new X25519Key(createPublicKey(privateKey)),
  })
  return (): KEM<X25519Key> => ({
    id: KEM_ID,
    type: 'KEM',
    name: 'DHKEM(X25519, HKDF-SHA256)',
    Nsecret: 32,
    Nenc: 32,
    Npk: 32,
    Nsk: 32,
    async DeriveKeyPair(ikm) {
      // RFC 9180 §7.1.3: for X25519 the derived bytes are the private key as is.
      const prk = await LabeledExtract(kdf, KEM_SUITE_ID, new Uint8Array(0), encode('dkp_prk'), ikm)
      const sk = await LabeledExpand(kdf, KEM_SUITE_ID, prk, encode('sk'), new Uint8Array(0), 32)
      return pair(x25519PrivateKeyFromRaw(sk))
    },
    GenerateKeyPair() {
      return Promise.resolve(pair(generateKeyPairSync('x25519').privateKey))
    },
    SerializePublicKey(key) {
      return Promise.resolve(x25519RawPublic(key.keyObject))
    },
    DeserializePublicKey(key) {
      return Promise.resolve(new X25519Key(x25519PublicKeyFromRaw(key)))
    },
    SerializePrivateKey(key) {
      return Promise.resolve(x25519RawPrivate(key.keyObject))
    },
    DeserializePrivateKey(key) {
      return Promise.resolve(new X25519Key(x25519PrivateKeyFromRaw(key)))
    },
    async Encap(pkR) {
      const skE = ephemeral?.() ?? generateKeyPairSync('x25519').privateKey
      const enc = x25519RawPublic(skE)
      const shared_secret = await extractAndExpand(dh(skE, pkR.keyObject), concat(enc, x25519RawPublic(pkR.keyObject)))
      return { shared_secret, enc }
    },
    async Decap(enc, skR, pkR) {
      const pkE = x25519PublicKeyFromRaw(enc)
      const pkRm = x25519RawPublic((pkR ?? skR).keyObject)
      return extractAndExpand(dh(skR.keyObject, pkE), concat(enc, pkRm))
    },
  })
}

/** Which AEAD a suite uses: Vouch's AES-256-GCM, or AES-128-GCM for RFC 9180 A.1.1. */
export type SuiteAead = 'AES-256-GCM' | 'AES-128-GCM'

/**
 * A CipherSuite of DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and `aead` on node:crypto. With `openInPlace` (AES-256-GCM
 * only), its contexts' Open decrypts over the ciphertext it is given and returns a view of it (see {@link aesGcm}).
 */
export function createNodeSuite(options: { aead?: SuiteAead; ephemeral?: EphemeralSource; openInPlace?: boolean } = {}): CipherSuite<X25519Key> {
  if (options.openInPlace === true && options.aead === 'AES-128-GCM') throw new TypeError('opening in place is for AES-256-GCM only')
  return new CipherSuite(
    kemX25519Node(options.ephemeral),
    KDF_HKDF_SHA256_NODE,
    options.aead === 'AES-128-GCM' ? AEAD_AES_128_GCM_NODE : options.openInPlace === true ? AEAD_AES_256_GCM_NODE_IN_PLACE : AEAD_AES_256_GCM_NODE,
  )
}
