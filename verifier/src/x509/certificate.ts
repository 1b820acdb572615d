/**
 * The verifier's one X.509 stack for trust decisions: @peculiar/x509 parses, node:crypto checks
 * signatures over the exact to-be-signed bytes, and only algorithms a caller names are accepted.
 * Parsed certificates and verified signatures are cached by content hash, so re-verifying the
 * same chain costs a few hash lookups.
 */
import 'reflect-metadata'
import { createHash, createPublicKey, verify as verifySignatureRaw, constants, type KeyObject } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import { VerificationError } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import { signedPart } from './der.js'

/** A signature algorithm as the certificate or CRL declares it. */
export type SignatureAlgorithm =
  | { kind: 'rsa-pss'; hash: 'sha256' | 'sha384' | 'sha512'; saltLength: number }
  | { kind: 'ecdsa'; hash: 'sha256' | 'sha384' | 'sha512' }
  | { kind: 'other'; name: string }

/** A parsed certificate: what trust decisions read, with the raw parts signatures need. */
export interface Certificate {
  der: Uint8Array
  /** SHA-256 of the DER, lower-case hex: the cache key and a stable name in messages. */
  sha256: string
  subject: string
  issuer: string
  /** Serial number, lower-case hex without leading zero bytes. */
  serialNumber: string
  notBefore: Date
  notAfter: Date
  signatureAlgorithm: SignatureAlgorithm
  tbs: Uint8Array
  signature: Uint8Array
  publicKey: KeyObject
  /** SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex: what trust anchors pin. */
  spkiSha256: string
  /** Basic constraints `cA`; null when the extension is absent. */
  isCa: boolean | null
  /** Key usage flags; null when the extension is absent. */
  keyUsage: { keyCertSign: boolean; cRLSign: boolean; digitalSignature: boolean } | null
  /** Extensions by OID: criticality and the raw extnValue contents. */
  extensions: ReadonlyMap<string, { critical: boolean; value: Uint8Array }>
}

const HASHES: Record<string, 'sha256' | 'sha384' | 'sha512'> = { 'SHA-256': 'sha256', 'SHA-384': 'sha384', 'SHA-512': 'sha512' }

/** Maps @peculiar/x509's WebCrypto-style algorithm to ours; anything unfamiliar becomes `other`. */
export function toSignatureAlgorithm(algorithm: object): SignatureAlgorithm {
  const alg = algorithm as { name?: unknown; hash?: unknown; saltLength?: unknown }
  const hashName = typeof alg.hash === 'object' && alg.hash !== null ? (alg.hash as { name?: unknown }).name : undefined
  const hash = typeof hashName === 'string' ? HASHES[hashName] : undefined
  if (alg.name === 'RSA-PSS' && hash && typeof alg.saltLength === 'number') return { kind: 'rsa-pss', hash, saltLength: alg.saltLength }
  if (alg.name === 'ECDSA' && hash) return { kind: 'ecdsa', hash }
  const name = String(alg.name)
  return { kind: 'other', name: hash ? `${name} with ${String(hashName)}` : name }
}

/** Human form of an algorithm, for messages. */
export function describeAlgorithm(alg: SignatureAlgorithm): string {
  switch (alg.kind) {
    case 'rsa-pss':
      return `RSASSA-PSS ${alg.hash.toUpperCase()} salt ${alg.saltLength}`
    case 'ecdsa':
      return `ECDSA ${alg.hash.toUpperCase()}`
    case 'other':
      return alg.name
  }
}

/** Lower-case hex without leading zero bytes, so serials compare equal however they were encoded. */
export function normaliseSerial(hex: string): string {
  const lower = hex.toLowerCase().replace(/^(00)+/, '')
  return lower === '' ? '00' : lower
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

const certificateCache = new BoundedCache<Certificate>()

/** Parses a DER certificate (cached by content). Throws `ERR_CERT_MALFORMED` naming `what`. */
export function parseCertificate(der: Uint8Array, what = 'certificate'): Certificate {
  const sha256 = sha256Hex(der)
  const cached = certificateCache.get(sha256)
  if (cached) return cached
  let cert: x509.X509Certificate
  let tbs: Uint8Array
  let publicKey: KeyObject
  try {
    tbs = signedPart(der)
    cert = new x509.X509Certificate(der)
    publicKey = createPublicKey({ key: Buffer.from(cert.publicKey.rawData), format: 'der', type: 'spki' })
  } catch (cause) {
    throw new VerificationError('ERR_CERT_MALFORMED', `${what}: not a valid X.509 certificate`, { cause })
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension)
  const usage = cert.getExtension(x509.KeyUsagesExtension)
  const extensions = new Map<string, { critical: boolean; value: Uint8Array }>()
  for (const ext of cert.extensions) extensions.set(ext.type, { critical: ext.critical, value: new Uint8Array(ext.value) })
  const parsed: Certificate = {
    der,
    sha256,
    subject: cert.subject,
    issuer: cert.issuer,
    serialNumber: normaliseSerial(cert.serialNumber),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    signatureAlgorithm: toSignatureAlgorithm(cert.signatureAlgorithm),
    tbs,
    signature: new Uint8Array(cert.signature),
    publicKey,
    spkiSha256: sha256Hex(new Uint8Array(cert.publicKey.rawData)),
    isCa: basic ? basic.ca : null,
    keyUsage: usage
      ? {
          keyCertSign: (usage.usages & x509.KeyUsageFlags.keyCertSign) !== 0,
          cRLSign: (usage.usages & x509.KeyUsageFlags.cRLSign) !== 0,
          digitalSignature: (usage.usages & x509.KeyUsageFlags.digitalSignature) !== 0,
        }
      : null,
    extensions,
  }
  return certificateCache.set(sha256, parsed)
}

/** The CN of a distinguished name as @peculiar/x509 renders it, or '' when absent. */
export function commonName(dn: string): string {
  return /(?:^|,\s*)CN=([^,]*)/.exec(dn)?.[1] ?? ''
}

/** A named key type: what a certificate's public key must be. */
export type KeyRequirement = { type: 'rsa'; minBits: number } | { type: 'ec'; curve: 'P-256' | 'P-384' }

const CURVES: Record<string, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1' }

/** Throws `ERR_CHAIN_ALGORITHM` unless the certificate's key is of the required type. */
export function requireKey(cert: Certificate, want: KeyRequirement, what: string): void {
  const type = cert.publicKey.asymmetricKeyType
  const details = cert.publicKey.asymmetricKeyDetails ?? {}
  const ok =
    want.type === 'rsa'
      ? type === 'rsa' && (details.modulusLength ?? 0) >= want.minBits
      : type === 'ec' && details.namedCurve === CURVES[want.curve]
  if (!ok) {
    const got = type === 'rsa' ? `RSA-${details.modulusLength}` : type === 'ec' ? `EC ${details.namedCurve}` : String(type)
    const expected = want.type === 'rsa' ? `RSA of at least ${want.minBits} bits` : `EC ${want.curve}`
    throw new VerificationError('ERR_CHAIN_ALGORITHM', `${what}: key must be ${expected}, got ${got}`)
  }
}

/** Verifies `signature` over `data` under `key` with `alg` (DER-encoded ECDSA, as X.509 carries it). */
export function verifyWithAlgorithm(alg: SignatureAlgorithm, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    switch (alg.kind) {
      case 'rsa-pss':
        return verifySignatureRaw(alg.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: alg.saltLength }, signature)
      case 'ecdsa':
        return verifySignatureRaw(alg.hash, data, { key, dsaEncoding: 'der' }, signature)
      case 'other':
        return false
    }
  } catch {
    // OpenSSL throws on key/algorithm mismatches (an EC key for a PSS signature); that is a failed check.
    return false
  }
}

const signatureCache = new BoundedCache<boolean>()

function sameAlgorithm(a: SignatureAlgorithm, b: SignatureAlgorithm): boolean {
  if (a.kind !== b.kind) return false
  if (a.kind === 'rsa-pss' && b.kind === 'rsa-pss') return a.hash === b.hash && a.saltLength === b.saltLength
  if (a.kind === 'ecdsa' && b.kind === 'ecdsa') return a.hash === b.hash
  return false
}

/**
 * Checks that `issuer` issued `child`: names link, the declared algorithm is one of `allowed`, and
 * the signature verifies. Throws `ERR_CHAIN_BROKEN`, `ERR_CHAIN_ALGORITHM` or
 * `ERR_CHAIN_SIGNATURE_INVALID`. Successful checks are cached by the pair of certificate hashes.
 */
export function verifyIssuedBy(child: Certificate, issuer: Certificate, allowed: readonly SignatureAlgorithm[], what: string): void {
  if (child.issuer !== issuer.subject) {
    throw new VerificationError('ERR_CHAIN_BROKEN', `${what}: issuer "${child.issuer}" does not match the subject of its issuer "${issuer.subject}"`)
  }
  if (!allowed.some((a) => sameAlgorithm(a, child.signatureAlgorithm))) {
    throw new VerificationError(
      'ERR_CHAIN_ALGORITHM',
      `${what}: signature algorithm must be ${allowed.map(describeAlgorithm).join(' or ')}, got ${describeAlgorithm(child.signatureAlgorithm)}`,
    )
  }
  const key = `${child.sha256}:${issuer.sha256}`
  let ok = signatureCache.get(key)
  if (ok === undefined) {
    ok = verifyWithAlgorithm(child.signatureAlgorithm, issuer.publicKey, child.tbs, child.signature)
    signatureCache.set(key, ok)
  }
  if (!ok) throw new VerificationError('ERR_CHAIN_SIGNATURE_INVALID', `${what}: signature does not verify under ${commonName(issuer.subject) || 'its issuer'}`)
}

/** Throws `ERR_CHAIN_CONSTRAINTS` unless the certificate may act as a CA that signs certificates. */
export function requireCa(cert: Certificate, what: string): void {
  if (cert.isCa !== true) throw new VerificationError('ERR_CHAIN_CONSTRAINTS', `${what}: basic constraints do not mark it as a CA`)
  if (cert.keyUsage !== null && !cert.keyUsage.keyCertSign) {
    throw new VerificationError('ERR_CHAIN_CONSTRAINTS', `${what}: key usage does not allow certificate signing`)
  }
}

/** Throws `ERR_CHAIN_CONSTRAINTS` if a leaf certificate claims to be a CA. */
export function requireLeaf(cert: Certificate, what: string): void {
  if (cert.isCa === true) throw new VerificationError('ERR_CHAIN_CONSTRAINTS', `${what}: a leaf certificate must not be a CA`)
}

/** Throws `ERR_CHAIN_EXPIRED` or `ERR_CHAIN_NOT_YET_VALID` unless `at` is within the validity period. */
export function requireValidAt(cert: Certificate, at: Date, what: string): void {
  if (at < cert.notBefore) {
    throw new VerificationError('ERR_CHAIN_NOT_YET_VALID', `${what}: not valid before ${cert.notBefore.toISOString()} (checked at ${at.toISOString()})`)
  }
  if (at > cert.notAfter) {
    throw new VerificationError('ERR_CHAIN_EXPIRED', `${what}: expired ${cert.notAfter.toISOString()} (checked at ${at.toISOString()})`)
  }
}

/** Empties the parse and signature caches; benchmarks use it to measure cold verification. */
export function clearCertificateCaches(): void {
  certificateCache.clear()
  signatureCache.clear()
}
