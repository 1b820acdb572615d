/**
 * An AMD-style certificate authority for the simulated SEV-SNP chain (DESIGN.md §7): ARK → ASK (or
 * ASVK) → VCEK (or VLEK), and the ARK-signed CRL, written field for field like AMD's own (real KDS
 * certificates under `shared/fixtures/sev-snp` were the model): the same names, serials, extensions in
 * the same order, RSASSA-PSS/SHA-384/MGF1-SHA-384/salt 48 signatures, and the VCEK/VLEK extensions of
 * AMD #57230 with hwID as raw bytes. Every function takes options that tests use to forge bad chains.
 *
 * Certificates are built with @peculiar/asn1-x509 and signed with node:crypto rather than with
 * @peculiar/x509's generators, which cannot write serial number 0 (AMD's VCEKs and VLEKs), always drop
 * the RSASSA-PSS trailerField (AMD's ARK, ASK and ASVK spell it out) and sign only through WebCrypto.
 */
import { constants, createHash, createPublicKey, sign, type KeyObject } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  DistributionPoint,
  DistributionPointName,
  GeneralName,
  KeyIdentifier,
  Name,
  RelativeDistinguishedName,
  RevokedCertificate,
  SubjectKeyIdentifier,
  TBSCertList,
  Time,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_cRLNumber,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
  type SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509'
import {
  AMD_OID,
  derElement,
  derIa5String,
  derInteger,
  encodeTcb,
  integerContent,
  kdsCrlUrl,
  toHex,
  usesTurinTcbLayout,
  type Product,
  type SigningKey,
  type Tcb,
} from '@vouch/protocol'
import {
  issuerInfo,
  keyIdentifier,
  signCertificate,
  signed,
  spkiOf,
  toArrayBuffer,
  toAsnExtensions,
  type CertificateBody,
  type CertificateExtension,
  type IssuedCertificate,
} from './x509.js'
import { deriveEcPrivateKey, deriveRsaPrivateKey, SIMULATED_SEED } from './derive-keys.js'

/**
 * Certificate and CRL signature schemes. AMD uses only `rsa-pss-sha384` (salt 48, MGF1-SHA-384); the
 * others exist to forge chains a verifier must refuse.
 */
export type CertificateSignatureAlgorithm = 'rsa-pss-sha384' | 'rsa-pss-sha256' | 'rsa-pkcs1-sha384' | 'ecdsa-sha384'

/** The attributes of an AMD distinguished name, in AMD's order: OU, C, L, ST, O, CN. */
export interface AmdDistinguishedName {
  OU: string
  C: string
  L: string
  ST: string
  O: string
  CN: string
}

/** Which intermediate: ASK certifies VCEKs, ASVK certifies VLEKs. */
export type IntermediateKind = 'ASK' | 'ASVK'

/** Options every issuing function shares. Unset fields take AMD's values or the simulated defaults. */
export interface CertificateOptions {
  /** Seed of the default subject key; {@link SIMULATED_SEED} when unset. */
  seed?: string
  /** The subject's private key; derived from `seed` and the certificate's role when unset. */
  key?: KeyObject
  /** Serial number; AMD's for the role when unset (0 for VCEK and VLEK). */
  serial?: bigint
  /** Start of validity; a fixed date in the past when unset, so output does not depend on the clock. */
  notBefore?: Date
  /** End of validity; AMD's lifetime from `notBefore` when unset (25 years for CAs, 7 for leaves). */
  notAfter?: Date
  /** Attributes replacing AMD's in the subject name (the issuer name is always the issuer's subject). */
  subject?: Partial<AmdDistinguishedName>
  /** Signature scheme; `rsa-pss-sha384` when unset. */
  signatureAlgorithm?: CertificateSignatureAlgorithm
  /** Rewrites the extension list (drop, alter, reorder, add); AMD's list is used unchanged when unset. */
  extensions?: (defaults: CertificateExtension[]) => CertificateExtension[]
}

/** Options of {@link issueArk}. */
export interface IssueArkOptions extends CertificateOptions {
  product: Product
}

/** Options of {@link issueIntermediate}. */
export interface IssueIntermediateOptions extends CertificateOptions {
  product: Product
  kind: IntermediateKind
  /** The ARK (certificate and key) that signs. */
  issuer: IssuedCertificate
}

/** Options of {@link issueVek}. */
export interface IssueVekOptions extends CertificateOptions {
  product: Product
  /** `VCEK` (chip key, certified by the ASK) or `VLEK` (CSP key, certified by the ASVK); VCEK when unset. */
  kind?: SigningKey
  /** The ASK (for a VCEK) or ASVK (for a VLEK) that signs. */
  issuer: IssuedCertificate
  /** The SPLs written into blSPL/teeSPL/snpSPL/ucodeSPL (and fmcSPL on Turin). */
  tcb: Tcb
  /**
   * VCEK hwID, written as raw bytes: all 64 CHIP_ID bytes on Milan/Genoa, the first 8 on Turin.
   * Required for a VCEK.
   */
  hwId?: Uint8Array
  /** VLEK cspID, such as `CN=vouch-simulated`. Required for a VLEK. */
  cspId?: string
  /** productName; `Milan-B0`, `Genoa` or `Turin` for a VCEK and the bare product for a VLEK when unset. */
  productName?: string
  /** structVersion; 1 on Turin and 0 before it when unset. */
  structVersion?: number
  /** `raw` (AMD KDS, the default) or `octet-string` (a DER OCTET STRING wrapper, which some tools write). */
  hwIdEncoding?: 'raw' | 'octet-string'
}

/** Options of {@link issueCrl}. */
export interface IssueCrlOptions {
  /** The ARK (certificate and key) that signs; the CRL's issuer name and AKI come from it. */
  issuer: IssuedCertificate
  /** thisUpdate; the current time when unset. */
  thisUpdate?: Date
  /** nextUpdate; 30 days after `thisUpdate` when unset, absent when null. */
  nextUpdate?: Date | null
  /** Revoked serial numbers (AMD revokes intermediates, never VCEKs), each revoked at `date` or `thisUpdate`. */
  revoked?: ReadonlyArray<{ serial: bigint; date?: Date }>
  /** CRL number; 1 when unset. */
  crlNumber?: bigint
  /** Signature scheme; `rsa-pss-sha384` when unset. */
  signatureAlgorithm?: CertificateSignatureAlgorithm
  /** Rewrites the CRL extension list (AKI, CRL number). */
  extensions?: (defaults: CertificateExtension[]) => CertificateExtension[]
}

/** Default notBefore of the simulated ARK, ASK and ASVK. */
export const SIMULATED_CA_NOT_BEFORE = new Date('2024-01-01T00:00:00Z')
/** Default notBefore of simulated VCEKs and VLEKs: valid today and for years after. */
export const SIMULATED_VEK_NOT_BEFORE = new Date('2025-01-01T00:00:00Z')
const CA_YEARS = 25
// KDS VCEKs live 7 years; real VLEKs live one, but a fixed-date simulated VLEK that short would expire.
const VEK_YEARS = 7
const CRL_DAYS = 30

const PRODUCT_SERIAL_PREFIX: Readonly<Record<Product, bigint>> = { Milan: 0x01n, Genoa: 0x02n, Turin: 0x03n }
// AMD's serials: ARK P0000, ASK P0001 (Genoa's first ASK, 020001, was revoked: its ASK is 020002), ASVK P0101.
const ASK_SERIAL_SUFFIX: Readonly<Record<Product, bigint>> = { Milan: 0x0001n, Genoa: 0x0002n, Turin: 0x0001n }
const VCEK_PRODUCT_NAME: Readonly<Record<Product, string>> = { Milan: 'Milan-B0', Genoa: 'Genoa', Turin: 'Turin' }

/** Derivation label of a simulated AMD CA key: `amd/<Product>/ark`, `.../ask` or `.../asvk`. */
export function amdCaKeyLabel(product: Product, role: 'ARK' | IntermediateKind): string {
  return `amd/${product}/${role.toLowerCase()}`
}

// ---------------------------------------------------------------------------------------------------
// Signing, and values AMD writes its own way (PSS parameters, keyUsage bits).

// RSASSA-PSS-params { sha384, mgf1(sha384), saltLength 48 }, with and without the DEFAULT trailerField 1:
// AMD's ARK, ASK and ASVK carry `[3] INTEGER 1`, its VCEKs, VLEKs and CRLs leave it out.
const PSS_SHA384_PARAMS =
  '3034a00f300d06096086480165030402020500a11c301a06092a864886f70d010108300d06096086480165030402020500a203020130'
const PSS_SHA384_PARAMS_WITH_TRAILER = '3039' + PSS_SHA384_PARAMS.slice(4) + 'a303020101'
const PSS_SHA256_PARAMS =
  '3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120'
// keyUsage BIT STRINGs exactly as AMD writes them: keyCertSign + cRLSign (ARK) is DER, but the ASK's
// and ASVK's keyCertSign alone declares 1 unused bit where DER's named-bit rule gives 2.
const KEY_USAGE_CERT_AND_CRL_SIGN = Uint8Array.of(0x03, 0x02, 0x01, 0x06)
const KEY_USAGE_CERT_SIGN = Uint8Array.of(0x03, 0x02, 0x01, 0x04)
const OID_RSASSA_PSS = '1.2.840.113549.1.1.10'
const OID_SHA384_WITH_RSA = '1.2.840.113549.1.1.12'
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3'

function signatureAlgorithmIdentifier(
  algorithm: CertificateSignatureAlgorithm,
  explicitTrailer: boolean,
): AlgorithmIdentifier {
  const params = (hex: string): ArrayBuffer => toArrayBuffer(Buffer.from(hex, 'hex'))
  switch (algorithm) {
    case 'rsa-pss-sha384':
      return new AlgorithmIdentifier({
        algorithm: OID_RSASSA_PSS,
        parameters: params(explicitTrailer ? PSS_SHA384_PARAMS_WITH_TRAILER : PSS_SHA384_PARAMS),
      })
    case 'rsa-pss-sha256':
      return new AlgorithmIdentifier({ algorithm: OID_RSASSA_PSS, parameters: params(PSS_SHA256_PARAMS) })
    case 'rsa-pkcs1-sha384':
      return new AlgorithmIdentifier({ algorithm: OID_SHA384_WITH_RSA, parameters: null })
    case 'ecdsa-sha384':
      return new AlgorithmIdentifier({ algorithm: OID_ECDSA_SHA384 })
  }
}

function signBytes(data: Uint8Array, key: KeyObject, algorithm: CertificateSignatureAlgorithm): Uint8Array {
  if (key.type !== 'private') throw new TypeError('the issuer key must be a private key')
  switch (algorithm) {
    case 'rsa-pss-sha384':
      return sign('sha384', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 })
    case 'rsa-pss-sha256':
      return sign('sha256', data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })
    case 'rsa-pkcs1-sha384':
      return sign('sha384', data, { key, padding: constants.RSA_PKCS1_PADDING })
    case 'ecdsa-sha384':
      return sign('sha384', data, { key, dsaEncoding: 'der' })
  }
}

// ---------------------------------------------------------------------------------------------------
// Names, keys and extensions.

const AMD_DN: AmdDistinguishedName = {
  OU: 'Engineering',
  C: 'US',
  L: 'Santa Clara',
  ST: 'CA',
  O: 'Advanced Micro Devices',
  CN: '',
}
const DN_OIDS: ReadonlyArray<[keyof AmdDistinguishedName, string]> = [
  ['OU', '2.5.4.11'],
  ['C', '2.5.4.6'],
  ['L', '2.5.4.7'],
  ['ST', '2.5.4.8'],
  ['O', '2.5.4.10'],
  ['CN', '2.5.4.3'],
]

/** AMD's name: one attribute per RDN, UTF8String except the PrintableString country. */
function amdName(cn: string, overrides: Partial<AmdDistinguishedName> | undefined): Name {
  const dn = { ...AMD_DN, CN: cn, ...overrides }
  return new Name(
    DN_OIDS.map(([field, type]) => {
      const value = new AttributeValue(field === 'C' ? { printableString: dn[field] } : { utf8String: dn[field] })
      return new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value })])
    }),
  )
}

function extension(oid: string, critical: boolean, value: unknown): CertificateExtension {
  return { oid, critical, value: new Uint8Array(AsnConvert.serialize(value)) }
}

const ski = (spki: SubjectPublicKeyInfo): CertificateExtension =>
  extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(spki)))
const aki = (keyId: Uint8Array): CertificateExtension =>
  extension(
    id_ce_authorityKeyIdentifier,
    false,
    new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) }),
  )
const crlDistributionPoint = (url: string): CertificateExtension =>
  extension(
    id_ce_cRLDistributionPoints,
    false,
    new CRLDistributionPoints([
      new DistributionPoint({
        distributionPoint: new DistributionPointName({
          fullName: [new GeneralName({ uniformResourceIdentifier: url })],
        }),
      }),
    ]),
  )

function addYears(date: Date, years: number): Date {
  const d = new Date(date)
  d.setUTCFullYear(d.getUTCFullYear() + years)
  return d
}

interface CertificateParams extends CertificateBody {
  signer: KeyObject
  signatureAlgorithm: CertificateSignatureAlgorithm
  explicitPssTrailer: boolean
}

function buildCertificate(p: CertificateParams): Uint8Array {
  const algorithm = signatureAlgorithmIdentifier(p.signatureAlgorithm, p.explicitPssTrailer)
  return signCertificate(p, algorithm, (tbs) => signBytes(tbs, p.signer, p.signatureAlgorithm))
}

// ---------------------------------------------------------------------------------------------------
// Issuing.

/**
 * Issues a self-signed ARK like AMD's: RSA-4096 (derived from the seed as `amd/<Product>/ark`), serial
 * `0P0000`, 25 years, keyUsage (critical) keyCertSign + cRLSign, subjectKeyIdentifier, basicConstraints
 * (critical) CA, and the product's VCEK CRL distribution point.
 */
export function issueArk(options: IssueArkOptions): IssuedCertificate {
  const { product } = options
  const key = options.key ?? deriveRsaPrivateKey(options.seed ?? SIMULATED_SEED, amdCaKeyLabel(product, 'ARK'))
  const spki = spkiOf(key)
  const name = amdName(`ARK-${product}`, options.subject)
  const notBefore = options.notBefore ?? SIMULATED_CA_NOT_BEFORE
  const defaults = [
    { oid: id_ce_keyUsage, critical: true, value: KEY_USAGE_CERT_AND_CRL_SIGN },
    ski(spki),
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true })),
    crlDistributionPoint(kdsCrlUrl(product, 'vcek')),
  ]
  const der = buildCertificate({
    serial: options.serial ?? PRODUCT_SERIAL_PREFIX[product] << 16n,
    issuerName: name,
    subjectName: name,
    notBefore,
    notAfter: options.notAfter ?? addYears(notBefore, CA_YEARS),
    spki,
    extensions: options.extensions ? options.extensions(defaults) : defaults,
    signer: key,
    signatureAlgorithm: options.signatureAlgorithm ?? 'rsa-pss-sha384',
    explicitPssTrailer: true,
  })
  return { der, key }
}

/**
 * Issues an ASK (CN `SEV-<Product>`, certifies VCEKs) or ASVK (CN `SEV-VLEK-<Product>`, certifies
 * VLEKs) under an ARK, like AMD's: RSA-4096 (`amd/<Product>/ask` or `/asvk`), 25 years,
 * subjectKeyIdentifier, authorityKeyIdentifier (key id), basicConstraints (critical) CA with path
 * length 0, keyUsage (critical) keyCertSign, and the VCEK or VLEK CRL distribution point.
 */
export function issueIntermediate(options: IssueIntermediateOptions): IssuedCertificate {
  const { product, kind } = options
  const key = options.key ?? deriveRsaPrivateKey(options.seed ?? SIMULATED_SEED, amdCaKeyLabel(product, kind))
  const spki = spkiOf(key)
  const issuer = issuerInfo(options.issuer)
  const notBefore = options.notBefore ?? SIMULATED_CA_NOT_BEFORE
  const defaults = [
    ski(spki),
    aki(issuer.keyId),
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
    { oid: id_ce_keyUsage, critical: true, value: KEY_USAGE_CERT_SIGN },
    crlDistributionPoint(kdsCrlUrl(product, kind === 'ASK' ? 'vcek' : 'vlek')),
  ]
  const prefix = PRODUCT_SERIAL_PREFIX[product] << 16n
  const der = buildCertificate({
    serial: options.serial ?? prefix | (kind === 'ASK' ? ASK_SERIAL_SUFFIX[product] : 0x0101n),
    issuerName: issuer.name,
    subjectName: amdName(kind === 'ASK' ? `SEV-${product}` : `SEV-VLEK-${product}`, options.subject),
    notBefore,
    notAfter: options.notAfter ?? addYears(notBefore, CA_YEARS),
    spki,
    extensions: options.extensions ? options.extensions(defaults) : defaults,
    signer: options.issuer.key,
    signatureAlgorithm: options.signatureAlgorithm ?? 'rsa-pss-sha384',
    explicitPssTrailer: true,
  })
  return { der, key }
}

/**
 * The AMD extensions of a VCEK or VLEK, in KDS order. Milan/Genoa: structVersion, productName, blSPL,
 * teeSPL, spl4–spl7, snpSPL, ucodeSPL, then hwID or cspID. Turin: structVersion, productName, fmcSPL,
 * blSPL, teeSPL, snpSPL, spl5–spl7, ucodeSPL, then hwID or cspID (no spl4).
 */
function vekExtensions(options: IssueVekOptions, kind: SigningKey): CertificateExtension[] {
  const { product, tcb } = options
  const turin = usesTurinTcbLayout(product)
  const ext = (oid: string, value: Uint8Array): CertificateExtension => ({ oid, critical: false, value })
  const spl = (oid: string, n: number): CertificateExtension => ext(oid, derInteger(n))
  const list: CertificateExtension[] = [
    spl(AMD_OID.structVersion, options.structVersion ?? (turin ? 1 : 0)),
    ext(
      AMD_OID.productName,
      derIa5String(options.productName ?? (kind === 'VCEK' ? VCEK_PRODUCT_NAME[product] : product)),
    ),
  ]
  if (turin) {
    list.push(
      spl(AMD_OID.fmcSpl, tcb.fmc ?? 0),
      spl(AMD_OID.blSpl, tcb.bootloader),
      spl(AMD_OID.teeSpl, tcb.tee),
      spl(AMD_OID.snpSpl, tcb.snp),
      spl(AMD_OID.spl5, 0),
      spl(AMD_OID.spl6, 0),
      spl(AMD_OID.spl7, 0),
      spl(AMD_OID.ucodeSpl, tcb.microcode),
    )
  } else {
    list.push(
      spl(AMD_OID.blSpl, tcb.bootloader),
      spl(AMD_OID.teeSpl, tcb.tee),
      spl(AMD_OID.spl4, 0),
      spl(AMD_OID.spl5, 0),
      spl(AMD_OID.spl6, 0),
      spl(AMD_OID.spl7, 0),
      spl(AMD_OID.snpSpl, tcb.snp),
      spl(AMD_OID.ucodeSpl, tcb.microcode),
    )
  }
  if (kind === 'VCEK') {
    if (options.hwId === undefined) throw new TypeError('a VCEK needs hwId')
    const raw = new Uint8Array(options.hwId)
    list.push(ext(AMD_OID.hwId, options.hwIdEncoding === 'octet-string' ? derElement(0x04, raw) : raw))
  } else {
    if (options.cspId === undefined) throw new TypeError('a VLEK needs cspId')
    list.push(ext(AMD_OID.cspId, derIa5String(options.cspId)))
  }
  return list
}

/** Derivation label of a simulated VCEK (per chip and TCB, as AMD's keys are) or VLEK (per CSP and TCB). */
export function vekKeyLabel(product: Product, kind: SigningKey, idOrCsp: Uint8Array | string, tcb: Tcb): string {
  const id = typeof idOrCsp === 'string' ? idOrCsp : toHex(idOrCsp)
  return `amd/${product}/${kind.toLowerCase()}/${id}/${toHex(encodeTcb(tcb, product))}`
}

/**
 * Issues a VCEK (CN `SEV-VCEK`, under the ASK, hwID) or VLEK (CN `SEV-VLEK`, under the ASVK, cspID)
 * like AMD's KDS: EC P-384 key derived per chip (or CSP) and TCB, serial 0, 7 years, no standard
 * extensions, only AMD's (see {@link IssueVekOptions}).
 */
export function issueVek(options: IssueVekOptions): IssuedCertificate {
  const kind = options.kind ?? 'VCEK'
  const defaults = vekExtensions(options, kind)
  const id = kind === 'VCEK' ? options.hwId! : options.cspId!
  const key =
    options.key ?? deriveEcPrivateKey(options.seed ?? SIMULATED_SEED, vekKeyLabel(options.product, kind, id, options.tcb))
  const notBefore = options.notBefore ?? SIMULATED_VEK_NOT_BEFORE
  const der = buildCertificate({
    serial: options.serial ?? 0n,
    issuerName: issuerInfo(options.issuer).name,
    subjectName: amdName(kind === 'VCEK' ? 'SEV-VCEK' : 'SEV-VLEK', options.subject),
    notBefore,
    notAfter: options.notAfter ?? addYears(notBefore, VEK_YEARS),
    spki: spkiOf(key),
    extensions: options.extensions ? options.extensions(defaults) : defaults,
    signer: options.issuer.key,
    signatureAlgorithm: options.signatureAlgorithm ?? 'rsa-pss-sha384',
    explicitPssTrailer: false,
  })
  return { der, key }
}

/**
 * Issues a CRL like AMD's KDS CRLs: version 2, signed by the ARK, the ARK's name as issuer, revoked
 * entries without entry extensions (none at all when nothing is revoked), and the extensions
 * authorityKeyIdentifier (key id) and cRLNumber.
 */
export function issueCrl(options: IssueCrlOptions): Uint8Array {
  const issuer = issuerInfo(options.issuer)
  const thisUpdate = options.thisUpdate ?? new Date()
  const nextUpdate =
    options.nextUpdate === undefined ? new Date(thisUpdate.getTime() + CRL_DAYS * 86_400_000) : options.nextUpdate
  const signatureAlgorithm = options.signatureAlgorithm ?? 'rsa-pss-sha384'
  const algorithm = signatureAlgorithmIdentifier(signatureAlgorithm, false)
  const defaults: CertificateExtension[] = [
    aki(issuer.keyId),
    { oid: id_ce_cRLNumber, critical: false, value: derInteger(options.crlNumber ?? 1n) },
  ]
  const extensions = options.extensions ? options.extensions(defaults) : defaults
  const tbs = new TBSCertList({
    version: Version.v2,
    signature: algorithm,
    issuer: issuer.name,
    thisUpdate: new Time(thisUpdate),
  })
  if (nextUpdate !== null) tbs.nextUpdate = new Time(nextUpdate)
  const revoked = options.revoked ?? []
  if (revoked.length > 0) {
    tbs.revokedCertificates = revoked.map(
      (r) =>
        new RevokedCertificate({
          userCertificate: toArrayBuffer(integerContent(r.serial)),
          revocationDate: new Time(r.date ?? thisUpdate),
        }),
    )
  }
  if (extensions.length > 0) tbs.crlExtensions = [...toAsnExtensions(extensions)]
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs))
  return signed(tbsDer, algorithm, signBytes(tbsDer, options.issuer.key, signatureAlgorithm))
}

/** The simulated ARK and the intermediate (ASK for VCEK, ASVK for VLEK) of a product. */
export interface SimulatedAmdRoots {
  ark: IssuedCertificate
  intermediate: IssuedCertificate
}

const arkCache = new Map<string, IssuedCertificate>()
const intermediateCache = new Map<string, IssuedCertificate>()

/**
 * The simulated ARK and ASK (for `VCEK`) or ASVK (for `VLEK`) of a product, with their keys, issued
 * with every default and memoised per process: one ARK certificate per (product, seed), shared by both
 * paths as AMD's is. The simulated PSP's chain; tests use the keys to issue their own VCEKs and CRLs
 * under it.
 */
export function simulatedAmdRoots(
  product: Product,
  signingKey: SigningKey = 'VCEK',
  seed = SIMULATED_SEED,
): SimulatedAmdRoots {
  const arkKey = JSON.stringify([product, seed])
  let ark = arkCache.get(arkKey)
  if (ark === undefined) {
    ark = issueArk({ product, seed })
    arkCache.set(arkKey, ark)
  }
  const kind: IntermediateKind = signingKey === 'VCEK' ? 'ASK' : 'ASVK'
  const intermediateKey = JSON.stringify([product, kind, seed])
  let intermediate = intermediateCache.get(intermediateKey)
  if (intermediate === undefined) {
    intermediate = issueIntermediate({ product, kind, issuer: ark, seed })
    intermediateCache.set(intermediateKey, intermediate)
  }
  return { ark, intermediate }
}

/**
 * Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of a product's simulated ARK: the constant a
 * verifier pins to recognise (and a production policy to refuse) simulated evidence.
 */
export function simulatedArkSpkiSha256(product: Product, seed = SIMULATED_SEED): string {
  const key = deriveRsaPrivateKey(seed, amdCaKeyLabel(product, 'ARK'))
  return createHash('sha256').update(createPublicKey(key).export({ type: 'spki', format: 'der' })).digest('hex')
}
