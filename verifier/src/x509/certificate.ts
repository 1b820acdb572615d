/**
 * The verifier's one X.509 stack for trust decisions: a strict DER decoder (der.ts) reads the
 * fields, the platform's crypto (node:crypto in Node, WebCrypto in a browser: `platform` of @vouch/protocol) checks
 * signatures over the exact to-be-signed bytes, and only algorithms a caller names are accepted.
 * Parsed certificates and verified signatures are cached by content hash, so re-verifying the
 * same chain costs a few hash lookups.
 */
import { bytesEqual, platform, toHex, type SignatureScheme } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import { booleanValue, contextTag, decodeExtensions, decodeOid, DerReader, integerHex, integerValue, readSingle, stringValue, TAG, timeValue, type Element, type Extension } from './der.js'

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
  /** Distinguished names rendered `OU=Engineering, C=US, ..., CN=SEV-VCEK`, in encoded order. */
  subject: string
  issuer: string
  /** The exact encoded names: issuer/subject linkage compares these bytes. */
  subjectDer: Uint8Array
  issuerDer: Uint8Array
  /** Serial number, lower-case hex without leading zero bytes. */
  serialNumber: string
  notBefore: Date
  notAfter: Date
  signatureAlgorithm: SignatureAlgorithm
  tbs: Uint8Array
  signature: Uint8Array
  /** The DER SubjectPublicKeyInfo: what signatures are verified under. */
  spki: Uint8Array
  /** The key's type and size as the SubjectPublicKeyInfo declares them. */
  publicKey: PublicKeyType
  /** SHA-256 of the DER SubjectPublicKeyInfo, lower-case hex: what trust anchors pin. */
  spkiSha256: string
  /** Basic constraints `cA`; null when the extension is absent. */
  isCa: boolean | null
  /** Key usage flags; null when the extension is absent. */
  keyUsage: { keyCertSign: boolean; cRLSign: boolean; digitalSignature: boolean } | null
  /** Extensions by OID: criticality and the raw extnValue contents. */
  extensions: ReadonlyMap<string, Extension>
}

/** A public key's type and size, read from its SubjectPublicKeyInfo. */
export type PublicKeyType =
  | { type: 'rsa'; bits: number }
  | { type: 'ec'; curve: string }
  | { type: 'ed25519' }
  | { type: 'other'; name: string }

const OID = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  ecPublicKey: '1.2.840.10045.2.1',
  ed25519: '1.3.101.112',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  rsaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
} as const

const ECDSA_HASH: Readonly<Record<string, 'sha256' | 'sha384' | 'sha512'>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
}
const DIGEST: Readonly<Record<string, 'sha1' | 'sha256' | 'sha384' | 'sha512'>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
}
const NAMED_ALGORITHMS: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.3.101.112': 'Ed25519',
}
const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '1.2.840.113549.1.9.1': 'E',
}

/** Decodes an AlgorithmIdentifier of a signature; parameters are checked, unknown algorithms become `other`. */
export function decodeSignatureAlgorithm(element: Element): SignatureAlgorithm {
  const reader = new DerReader(element.content)
  const oid = decodeOid(reader.next(TAG.oid, 'algorithm').content)
  const ecdsaHash = ECDSA_HASH[oid]
  if (ecdsaHash !== undefined) {
    reader.end('ECDSA algorithm parameters')
    return { kind: 'ecdsa', hash: ecdsaHash }
  }
  if (oid !== OID.rsaPss) {
    reader.optional(TAG.null)
    return { kind: 'other', name: NAMED_ALGORITHMS[oid] ?? oid }
  }
  // RSASSA-PSS-params (RFC 4055): hash, MGF1 with the same hash, salt length, trailer 1.
  const params = reader.enter(TAG.sequence, 'RSASSA-PSS parameters')
  reader.end('RSASSA-PSS algorithm')
  const hashOf = (algId: Uint8Array): string | undefined => {
    const r = new DerReader(algId)
    const hashOid = decodeOid(r.next(TAG.oid, 'hash algorithm').content)
    r.optional(TAG.null)
    r.end('hash algorithm')
    return DIGEST[hashOid]
  }
  let hash: string | undefined = 'sha1'
  let mgfHash: string | undefined = 'sha1'
  let saltLength = 20
  const hashField = params.optional(contextTag(0))
  if (hashField) hash = hashOf(readSingle(hashField.content, TAG.sequence, 'hash algorithm').content)
  const mgfField = params.optional(contextTag(1))
  if (mgfField) {
    const mgf = new DerReader(readSingle(mgfField.content, TAG.sequence, 'mask generation').content)
    if (decodeOid(mgf.next(TAG.oid, 'mask generation').content) !== OID.mgf1) return { kind: 'other', name: 'RSASSA-PSS with an unknown mask generation function' }
    mgfHash = hashOf(mgf.next(TAG.sequence, 'MGF1 hash').content)
  }
  const saltField = params.optional(contextTag(2))
  if (saltField) saltLength = integerValue(readSingle(saltField.content, TAG.integer, 'salt length').content)
  const trailerField = params.optional(contextTag(3))
  if (trailerField && integerValue(readSingle(trailerField.content, TAG.integer, 'trailer field').content) !== 1) {
    return { kind: 'other', name: 'RSASSA-PSS with a trailer field other than 1' }
  }
  params.end('RSASSA-PSS parameters')
  if ((hash !== 'sha256' && hash !== 'sha384' && hash !== 'sha512') || mgfHash !== hash) {
    return { kind: 'other', name: `RSASSA-PSS with ${hash ?? 'an unknown hash'} and MGF1-${mgfHash ?? 'unknown'}` }
  }
  return { kind: 'rsa-pss', hash, saltLength }
}

/** Renders a Name as `OU=Engineering, C=US, ..., CN=...` in encoded order. */
export function decodeName(element: Element): string {
  const rdns: string[] = []
  const reader = new DerReader(element.content)
  while (!reader.done) {
    const set = reader.enter(TAG.set, 'RDN')
    const parts: string[] = []
    while (!set.done) {
      const atv = set.enter(TAG.sequence, 'attribute')
      const type = decodeOid(atv.next(TAG.oid, 'attribute type').content)
      const value = stringValue(atv.next(undefined, 'attribute value'))
      atv.end('attribute')
      parts.push(`${ATTRIBUTE_NAMES[type] ?? type}=${value}`)
    }
    rdns.push(parts.join('+'))
  }
  return rdns.join(', ')
}

/** The three parts of a signed structure (certificate or CRL), with the outer and inner algorithms checked equal. */
export function decodeSigned(der: Uint8Array, code: 'ERR_CERT_MALFORMED' | 'ERR_CRL_MALFORMED'): { tbs: Element; algorithm: Element; signature: Uint8Array } {
  const outer = new DerReader(readSingle(der, TAG.sequence, 'signed structure', code).content, code)
  const tbs = outer.next(TAG.sequence, 'to-be-signed part')
  const algorithm = outer.next(TAG.sequence, 'signature algorithm')
  const bits = outer.next(TAG.bitString, 'signature')
  outer.end('signed structure')
  if (bits.content.length < 1 || bits.content[0] !== 0) throw outer.error('signature BIT STRING has unused bits')
  return { tbs, algorithm, signature: bits.content.subarray(1) }
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

/** Lower-case hex SHA-256 of `data` (a string as its UTF-8 bytes, which Node hashes without a copy). */
export function sha256Hex(data: Uint8Array | string): string {
  return toHex(platform.digest('sha256', data))
}

/**
 * Decodes `der` once per content: the cache is keyed by its SHA-256. Any decoding failure becomes
 * `code`, its message prefixed with `what` (the role of the structure, such as "ARK").
 */
export function decodeCached<T>(
  cache: BoundedCache<T>,
  der: Uint8Array,
  code: 'ERR_CERT_MALFORMED' | 'ERR_CRL_MALFORMED',
  what: string,
  decode: (der: Uint8Array, sha256: string) => T,
): T {
  const sha256 = sha256Hex(der)
  const cached = cache.get(sha256)
  if (cached) return cached
  try {
    return cache.set(sha256, decode(der, sha256))
  } catch (cause) {
    const reason = cause instanceof VerificationError ? cause.message : 'not valid DER'
    throw new VerificationError(code, `${what}: ${reason}`, { cause })
  }
}

const certificateCache = new BoundedCache<Certificate>()

/** Parses a DER certificate (X.509 v3, RFC 5280), cached by content. Throws `ERR_CERT_MALFORMED` naming `what`. */
export function parseCertificate(der: Uint8Array, what = 'certificate'): Certificate {
  return decodeCached(certificateCache, der, 'ERR_CERT_MALFORMED', what, decodeCertificate)
}

function decodeCertificate(der: Uint8Array, sha256: string): Certificate {
  const { tbs, algorithm, signature } = decodeSigned(der, 'ERR_CERT_MALFORMED')
  const fields = new DerReader(tbs.content)
  const version = fields.optional(contextTag(0), 'version')
  if (version === undefined || integerValue(readSingle(version.content, TAG.integer, 'version').content) !== 2) {
    throw fields.error('only X.509 v3 certificates are accepted')
  }
  const serialNumber = integerHex(fields.next(TAG.integer, 'serial number').content)
  const innerAlgorithm = fields.next(TAG.sequence, 'signature algorithm')
  if (!bytesEqual(innerAlgorithm.raw, algorithm.raw)) throw fields.error('the signature algorithm inside and outside the signed part differ')
  const issuer = fields.next(TAG.sequence, 'issuer')
  const validity = fields.enter(TAG.sequence, 'validity')
  const notBefore = timeValue(validity.next(undefined, 'notBefore'))
  const notAfter = timeValue(validity.next(undefined, 'notAfter'))
  validity.end('validity')
  const subject = fields.next(TAG.sequence, 'subject')
  const spki = fields.next(TAG.sequence, 'subject public key info')
  fields.optional(0x81, 'issuerUniqueID')
  fields.optional(0x82, 'subjectUniqueID')
  const extensionsField = fields.optional(contextTag(3), 'extensions')
  fields.end('TBSCertificate')
  let extensions = new Map<string, Extension>()
  if (extensionsField) {
    const list = new DerReader(readSingle(extensionsField.content, TAG.sequence, 'extensions').content)
    extensions = decodeExtensions(list, (oid) => list.error(`extension ${oid} appears twice`))
  }
  return {
    der,
    sha256,
    subject: decodeName(subject),
    issuer: decodeName(issuer),
    subjectDer: subject.raw,
    issuerDer: issuer.raw,
    serialNumber,
    notBefore,
    notAfter,
    signatureAlgorithm: decodeSignatureAlgorithm(algorithm),
    tbs: tbs.raw,
    signature,
    spki: spki.raw,
    publicKey: decodePublicKeyType(spki),
    spkiSha256: sha256Hex(spki.raw),
    isCa: decodeBasicConstraints(extensions.get(OID.basicConstraints)?.value),
    keyUsage: decodeKeyUsage(extensions.get(OID.keyUsage)?.value),
    extensions,
  }
}

const CURVE_NAMES: Readonly<Record<string, string>> = { '1.2.840.10045.3.1.7': 'P-256', '1.3.132.0.34': 'P-384', '1.3.132.0.35': 'P-521' }

/** The key type a SubjectPublicKeyInfo declares (RFC 5280 §4.1.2.7), with an RSA modulus's size in bits. */
function decodePublicKeyType(spki: Element): PublicKeyType {
  const reader = new DerReader(spki.content)
  const algorithm = new DerReader(reader.next(TAG.sequence, 'public key algorithm').content)
  const bits = reader.next(TAG.bitString, 'subject public key').content
  reader.end('subject public key info')
  if (bits.length < 1 || bits[0] !== 0) throw reader.error('subject public key BIT STRING has unused bits')
  const oid = decodeOid(algorithm.next(TAG.oid, 'public key algorithm').content)
  if (oid === OID.ecPublicKey) {
    const curve = decodeOid(algorithm.next(TAG.oid, 'named curve').content)
    algorithm.end('EC parameters')
    return { type: 'ec', curve: CURVE_NAMES[curve] ?? curve }
  }
  if (oid === OID.ed25519) return { type: 'ed25519' }
  if (oid !== OID.rsaEncryption) return { type: 'other', name: NAMED_ALGORITHMS[oid] ?? oid }
  const rsa = new DerReader(readSingle(bits.subarray(1), TAG.sequence, 'RSA public key').content)
  const modulus = rsa.next(TAG.integer, 'modulus').content
  rsa.next(TAG.integer, 'public exponent')
  rsa.end('RSA public key')
  let i = 0
  while (i < modulus.length - 1 && modulus[i] === 0) i++
  return { type: 'rsa', bits: (modulus.length - i - 1) * 8 + (32 - Math.clz32(modulus[i]!)) }
}

function decodeBasicConstraints(value: Uint8Array | undefined): boolean | null {
  if (value === undefined) return null
  const reader = new DerReader(readSingle(value, TAG.sequence, 'basic constraints').content)
  const ca = reader.optional(TAG.boolean, 'cA')
  reader.optional(TAG.integer, 'pathLenConstraint')
  reader.end('basic constraints')
  return ca ? booleanValue(ca.content) : false
}

function decodeKeyUsage(value: Uint8Array | undefined): Certificate['keyUsage'] {
  if (value === undefined) return null
  const bits = readSingle(value, TAG.bitString, 'key usage').content
  const first = bits[1] ?? 0
  // Bit 0 is the most significant bit of the first byte after the unused-bits count.
  return { digitalSignature: (first & 0x80) !== 0, keyCertSign: (first & 0x04) !== 0, cRLSign: (first & 0x02) !== 0 }
}

/** The CN of a distinguished name as {@link decodeName} renders it, or '' when absent. */
export function commonName(dn: string): string {
  return /(?:^|,\s*)CN=([^,]*)/.exec(dn)?.[1] ?? ''
}

/** A named key type: what a certificate's public key must be. */
export type KeyRequirement = { type: 'rsa'; minBits: number } | { type: 'ec'; curve: 'P-256' | 'P-384' }

/** Human form of a key type, for messages. */
function describeKey(key: PublicKeyType): string {
  switch (key.type) {
    case 'rsa':
      return `RSA-${key.bits}`
    case 'ec':
      return `EC ${key.curve}`
    case 'ed25519':
      return 'Ed25519'
    case 'other':
      return key.name
  }
}

/** Throws `ERR_CHAIN_ALGORITHM` unless the certificate's key is of the required type. */
export function requireKey(cert: Certificate, want: KeyRequirement, what: string): void {
  const key = cert.publicKey
  const ok = want.type === 'rsa' ? key.type === 'rsa' && key.bits >= want.minBits : key.type === 'ec' && key.curve === want.curve
  if (!ok) {
    const got = describeKey(key)
    const expected = want.type === 'rsa' ? `RSA of at least ${want.minBits} bits` : `EC ${want.curve}`
    throw new VerificationError('ERR_CHAIN_ALGORITHM', `${what}: key must be ${expected}, got ${got}`)
  }
}

/** The platform's scheme for `alg` under `key`, or null when the key cannot make such signatures. */
function toScheme(alg: SignatureAlgorithm, key: PublicKeyType, encoding: 'der' | 'ieee-p1363'): SignatureScheme | null {
  if (alg.kind === 'rsa-pss' && key.type === 'rsa') return { kind: 'rsa-pss', hash: alg.hash, saltLength: alg.saltLength }
  if (alg.kind === 'ecdsa' && key.type === 'ec' && (key.curve === 'P-256' || key.curve === 'P-384')) return { kind: 'ecdsa', hash: alg.hash, curve: key.curve, encoding }
  return null
}

/**
 * Whether `signature` over `data` verifies under `signer`'s key with `alg`: ECDSA signatures DER-encoded as X.509
 * carries them, or `ieee-p1363` (r ‖ s) as SEV-SNP and SPDM reports do. A key that cannot make such a signature
 * (an EC key for a PSS signature) is a failed check.
 */
export async function verifyWithAlgorithm(alg: SignatureAlgorithm, signer: Certificate, data: Uint8Array, signature: Uint8Array, encoding: 'der' | 'ieee-p1363' = 'der'): Promise<boolean> {
  const scheme = toScheme(alg, signer.publicKey, encoding)
  return scheme !== null && (await platform.verifySignature(scheme, signer.spki, data, signature))
}

const signatureCache = new BoundedCache<boolean>()
/** Extensions whose meaning the chain checks enforce, and which may therefore be critical. */
const PROCESSED_CRITICAL: ReadonlySet<string> = new Set([OID.basicConstraints, OID.keyUsage])

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
export async function verifyIssuedBy(child: Certificate, issuer: Certificate, allowed: readonly SignatureAlgorithm[], what: string): Promise<void> {
  if (!bytesEqual(child.issuerDer, issuer.subjectDer)) {
    throw new VerificationError('ERR_CHAIN_BROKEN', `${what}: issuer "${child.issuer}" does not match the subject of its issuer "${issuer.subject}"`)
  }
  for (const [oid, ext] of child.extensions) {
    // RFC 5280 §4.2: a certificate with a critical extension the verifier does not process must be rejected.
    if (ext.critical && !PROCESSED_CRITICAL.has(oid)) {
      throw new VerificationError('ERR_CHAIN_CONSTRAINTS', `${what}: critical extension ${oid} is not one the verifier processes`)
    }
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
    ok = await verifyWithAlgorithm(child.signatureAlgorithm, issuer, child.tbs, child.signature)
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
