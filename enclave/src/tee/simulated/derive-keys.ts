/**
 * Deterministic keys for the simulated TEE (DESIGN.md §7). Every simulated key derives from a public
 * seed and a label, so the simulated roots have known, stable SPKIs that `dev-simulated` pins and
 * `production` rejects. Nothing derived here is secret: simulated evidence proves nothing.
 */
import { checkPrimeSync, createECDH, createHmac, createPrivateKey, type KeyObject } from 'node:crypto'

/**
 * The public seed every simulated key derives from unless a caller passes another one. Public by
 * design: anyone can recompute the simulated keys, which is why no real policy may trust them.
 */
export const SIMULATED_SEED = 'vouch/simulated-tee/v1'

/** Curves {@link deriveEcPrivateKey} supports, by their WebCrypto/JWK names. */
export type DerivedCurve = 'P-384' | 'P-256'

/**
 * HMAC_DRBG with SHA-512 (NIST SP 800-90A §10.1.2), instantiated once from the seed material and
 * never reseeded: a deterministic byte stream, not a source of secrets.
 */
class HmacDrbg {
  private key: Buffer = Buffer.alloc(64, 0)
  private value: Buffer = Buffer.alloc(64, 1)

  constructor(seedMaterial: Buffer) {
    this.update(seedMaterial)
  }

  private hmac(...parts: Buffer[]): Buffer {
    const h = createHmac('sha512', this.key)
    for (const p of parts) h.update(p)
    return h.digest()
  }

  private update(provided?: Buffer): void {
    this.key = this.hmac(this.value, Buffer.of(0), provided ?? Buffer.alloc(0))
    this.value = this.hmac(this.value)
    if (provided === undefined || provided.length === 0) return
    this.key = this.hmac(this.value, Buffer.of(1), provided)
    this.value = this.hmac(this.value)
  }

  generate(length: number): Buffer {
    const out = Buffer.allocUnsafe(length)
    let filled = 0
    while (filled < length) {
      this.value = this.hmac(this.value)
      filled += this.value.copy(out, filled)
    }
    this.update()
    return out
  }
}

/** Length-prefixed concatenation, so that no (seed, label) pair can collide with another. */
function seedMaterial(kind: string, seed: string, label: string): Buffer {
  const parts = ['vouch/derive-keys/v1', kind, seed, label].map((s) => Buffer.from(s, 'utf8'))
  const chunks: Buffer[] = []
  for (const p of parts) {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(p.length)
    chunks.push(len, p)
  }
  return Buffer.concat(chunks)
}

/** A deterministic stream of bytes for (seed, label); exposed for identifiers such as a simulated CHIP_ID. */
export function deriveBytes(seed: string, label: string, length: number): Uint8Array {
  return new Uint8Array(new HmacDrbg(seedMaterial('bytes', seed, label)).generate(length))
}

// Odd primes below 2^16 for the sieve. Past that bound the sieve costs more than the primality tests it
// saves: OpenSSL's test (about 2 ms per composite, 64 rounds on the prime) dominates the search.
const SIEVE_LIMIT = 1 << 16
const SMALL_PRIMES: Uint32Array = (() => {
  const composite = new Uint8Array(SIEVE_LIMIT)
  const primes: number[] = []
  for (let i = 3; i < SIEVE_LIMIT; i += 2) {
    if (composite[i] === 1) continue
    primes.push(i)
    for (let j = i * i; j < SIEVE_LIMIT; j += 2 * i) composite[j] = 1
  }
  return Uint32Array.from(primes)
})()
const RSA_E = 65537
/** Odd offsets searched from one candidate: 2^13 of them hold ~11 primes of 2048 bits on average. */
const WINDOW = 1 << 13

/** `bytes` (big-endian) mod `modulus` < 2^21, three bytes at a time so every step stays below 2^53. */
function residue(bytes: Uint8Array, modulus: number): number {
  let r = 0
  let i = bytes.length % 3
  for (let j = 0; j < i; j++) r = (r * 256 + bytes[j]!) % modulus
  for (; i < bytes.length; i += 3) {
    r = (r * 0x1000000 + ((bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!)) % modulus
  }
  return r
}

function bigintFromBytes(bytes: Uint8Array): bigint {
  return BigInt('0x' + Buffer.from(bytes).toString('hex'))
}

/** The first k ≥ 0 with (r + 2k) ≡ target (mod m), m odd. */
function firstOffset(r: number, target: number, m: number): number {
  return ((((target - r) % m) + m) % m) * ((m + 1) / 2) % m
}

/**
 * Incremental prime search: an odd candidate with its top two bits set (so p·q has exactly 2·bits
 * bits), then the first candidate + 2k that survives a sieve over small primes, keeps gcd(e, p − 1) = 1
 * and passes OpenSSL's probabilistic test. The sieve marks a window from residues computed once per
 * candidate, so no BigInt arithmetic runs per step.
 */
function findPrime(drbg: HmacDrbg, bits: number): bigint {
  const byteLength = bits / 8
  const composite = new Uint8Array(WINDOW)
  for (;;) {
    const bytes = drbg.generate(byteLength)
    bytes[0] = bytes[0]! | 0xc0
    bytes[byteLength - 1] = bytes[byteLength - 1]! | 1
    composite.fill(0)
    for (const p of SMALL_PRIMES) {
      for (let k = firstOffset(residue(bytes, p), 0, p); k < WINDOW; k += p) composite[k] = 1
    }
    // e is prime, so gcd(e, p − 1) = 1 unless p ≡ 1 (mod e).
    for (let k = firstOffset(residue(bytes, RSA_E), 1, RSA_E); k < WINDOW; k += RSA_E) composite[k] = 1
    const base = bigintFromBytes(bytes)
    for (let k = 0; k < WINDOW; k++) {
      if (composite[k] === 1) continue
      const candidate = base + BigInt(2 * k)
      if (candidate >> BigInt(bits) !== 0n) break
      if (checkPrimeSync(candidate)) return candidate
    }
  }
}

function modInverse(a: bigint, m: bigint): bigint {
  let [oldR, r] = [a % m, m]
  let [oldS, s] = [1n, 0n]
  while (r !== 0n) {
    const q = oldR / r
    ;[oldR, r] = [r, oldR - q * r]
    ;[oldS, s] = [s, oldS - q * s]
  }
  if (oldR !== 1n) throw new RangeError('not invertible')
  return ((oldS % m) + m) % m
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

function toBase64Url(value: bigint): string {
  let hex = value.toString(16)
  if (hex.length % 2 === 1) hex = '0' + hex
  return Buffer.from(hex, 'hex').toString('base64url')
}

const rsaCache = new Map<string, KeyObject>()
const ecCache = new Map<string, KeyObject>()

/**
 * Derives an RSA private key (e = 65537) from a public seed and a label: the same inputs give the same
 * key in every process. Keys are memoised per (seed, label, bits); a 4096-bit key takes about half a
 * second the first time.
 *
 * @param seed - public seed, usually {@link SIMULATED_SEED}
 * @param label - what the key is for, such as `amd/Genoa/ark`
 * @param bits - modulus size, a multiple of 16 from 1024; 4096 like AMD's ARK, ASK and ASVK
 */
export function deriveRsaPrivateKey(seed: string, label: string, bits = 4096): KeyObject {
  if (!Number.isInteger(bits) || bits < 1024 || bits % 16 !== 0) {
    throw new RangeError(`RSA modulus size must be a multiple of 16 from 1024, got ${bits}`)
  }
  const cacheKey = JSON.stringify([seed, label, bits])
  const cached = rsaCache.get(cacheKey)
  if (cached !== undefined) return cached

  const drbg = new HmacDrbg(seedMaterial(`rsa-${bits}`, seed, label))
  const e = BigInt(RSA_E)
  let p = findPrime(drbg, bits / 2)
  let q = findPrime(drbg, bits / 2)
  while (q === p) q = findPrime(drbg, bits / 2)
  if (p < q) [p, q] = [q, p]
  const n = p * q
  const lambda = ((p - 1n) * (q - 1n)) / gcd(p - 1n, q - 1n)
  const d = modInverse(e, lambda)
  const key = createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'RSA',
      n: toBase64Url(n),
      e: toBase64Url(e),
      d: toBase64Url(d),
      p: toBase64Url(p),
      q: toBase64Url(q),
      dp: toBase64Url(d % (p - 1n)),
      dq: toBase64Url(d % (q - 1n)),
      qi: toBase64Url(modInverse(q, p)),
    },
  })
  rsaCache.set(cacheKey, key)
  return key
}

const CURVES: Readonly<Record<DerivedCurve, { openssl: string; size: number; order: bigint }>> = {
  'P-384': {
    openssl: 'secp384r1',
    size: 48,
    order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  },
  'P-256': {
    openssl: 'prime256v1',
    size: 32,
    order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  },
}

/**
 * Derives an EC private key from a public seed and a label. The scalar is drawn with 128 extra bits and
 * reduced into [1, n − 1], so its bias is negligible. Memoised per (seed, label, curve).
 *
 * @param seed - public seed, usually {@link SIMULATED_SEED}
 * @param label - what the key is for, such as `amd/Genoa/vcek/<hwid>/<tcb>`
 * @param curve - `P-384` (the VCEK/VLEK curve) or `P-256`
 */
export function deriveEcPrivateKey(seed: string, label: string, curve: DerivedCurve = 'P-384'): KeyObject {
  const params = CURVES[curve]
  const cacheKey = JSON.stringify([seed, label, curve])
  const cached = ecCache.get(cacheKey)
  if (cached !== undefined) return cached

  const drbg = new HmacDrbg(seedMaterial(`ec-${curve}`, seed, label))
  const scalar = (bigintFromBytes(drbg.generate(params.size + 16)) % (params.order - 1n)) + 1n
  const d = Buffer.from(scalar.toString(16).padStart(params.size * 2, '0'), 'hex')
  const ecdh = createECDH(params.openssl)
  ecdh.setPrivateKey(d)
  const point = ecdh.getPublicKey() // uncompressed: 0x04 ‖ X ‖ Y
  const key = createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv: curve,
      x: point.subarray(1, 1 + params.size).toString('base64url'),
      y: point.subarray(1 + params.size).toString('base64url'),
      d: d.toString('base64url'),
    },
  })
  ecCache.set(cacheKey, key)
  return key
}
