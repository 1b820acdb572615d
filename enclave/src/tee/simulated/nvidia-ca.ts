/**
 * An NVIDIA-style certificate authority for the simulated confidential GPU (DESIGN.md §7), written like
 * NVIDIA's own (the real chains and RIMs under `shared/fixtures/nvidia-gpu` were the model): the same
 * names with the same string types in the same attribute order, the same extensions in the same order
 * and criticality, the same time encodings, EC P-384 keys and ecdsa-with-SHA384 throughout.
 *
 * Two chains, each under a root shared by every architecture, as NVIDIA's are:
 * - device identity: `NVIDIA Device Identity CA` → `NVIDIA <chip> Identity` → `NVIDIA <chip> Provisioner
 *   ICA …` → per-device `<chip> A01 GSP BROM` → `<chip> A01 GSP FMC LF`, the leaf whose key signs SPDM
 *   reports and which carries the FWID (Hopper: extension 2.23.133.5.4.1; Blackwell: TCG DICE TcbInfo
 *   2.23.133.5.4.1.1);
 * - RIM signing: `NVIDIA CoRIM signing Root CA` → `NVIDIA Reference Value <chip> CA` → `… L3 …` → the L4
 *   signer of the driver and VBIOS RIMs.
 *
 * Every key derives from a public seed, so both roots have known SPKIs that `dev-simulated` pins and
 * `production` rejects. Every issuing function takes options that tests use to forge bad chains.
 */
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  Name,
  RelativeDistinguishedName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_pe_authorityInfoAccess,
} from '@peculiar/asn1-x509'
import type { CertificateExtension, IssuedCertificate } from './amd-ca.js'
import {
  derOid,
  issuerInfo,
  keyIdentifier,
  signCertificate,
  spkiOf,
  tlv,
  type CertificateBody,
  type IssuerInfo,
} from './der.js'
import { deriveBytes, deriveEcPrivateKey, SIMULATED_SEED } from './derive-keys.js'
import type { GpuArch } from '../device.types.js'

/** GPU architectures the simulated GPU models: those of real GPUs. */
export type { GpuArch }

/** Chip names NVIDIA uses in certificate names, RIM ids and RIM products. */
export type GpuChip = 'GH100' | 'GB100'

/** The chip of each architecture. */
export const GPU_CHIP: Readonly<Record<GpuArch, GpuChip>> = { HOPPER: 'GH100', BLACKWELL: 'GB100' }

/** What a simulated NVIDIA key is for; see {@link nvidiaKeyLabel}. */
export type NvidiaKeyRole =
  | 'device-root'
  | 'identity'
  | 'provisioner'
  | 'brom'
  | 'fmc-leaf'
  | 'rim-root'
  | 'rim-ca'
  | 'rim-l3'
  | 'rim-signer'

/** TCG DICE FWID extension (Hopper): `SEQUENCE { INTEGER 1, SubjectPublicKeyInfo, SEQUENCE { sha384, digest } }`. */
export const OID_NVIDIA_FWID = '2.23.133.5.4.1'
/** TCG DICE TcbInfo extension (Blackwell), whose first fwids entry is the FWID. */
export const OID_DICE_TCB_INFO = '2.23.133.5.4.1.1'
/** SAN otherName type of the leaf's `NVIDIA:<chip>:<id>` name. */
export const OID_NVIDIA_SAN_NAME = '1.3.6.1.4.1.412.274.1'

/** Options every issuing function shares. Unset fields take NVIDIA's values or the simulated defaults. */
export interface NvidiaCertificateOptions {
  /** Seed of the default subject key and serial; {@link SIMULATED_SEED} when unset. */
  seed?: string
  /** The subject's private key; derived from `seed` and the certificate's role when unset. */
  key?: KeyObject
  /** The key that signs; the issuer's key (a root's own key) when unset. Another key forges a bad signature. */
  signer?: KeyObject
  /** Serial number; derived like NVIDIA's for the role when unset. */
  serial?: bigint
  /** Start of validity; NVIDIA's date for the role when unset (a fixed date, so output ignores the clock). */
  notBefore?: Date
  /** End of validity; 9999-12-31T23:59:59Z for the device chain, years ahead for the RIM chain when unset. */
  notAfter?: Date
  /** Subject commonName; NVIDIA's for the role when unset (the issuer name is always the issuer's subject). */
  commonName?: string
  /** Rewrites the extension list (drop, alter, reorder, add); NVIDIA's list is used unchanged when unset. */
  extensions?: (defaults: CertificateExtension[]) => CertificateExtension[]
}

/** Options of the functions that issue under an NVIDIA CA. */
export interface IssueNvidiaCertificateOptions extends NvidiaCertificateOptions {
  arch: GpuArch
  /** The certificate and key of the CA that issues. */
  issuer: IssuedCertificate
}

/** Options of {@link issueGpuBrom}. */
export interface IssueGpuBromOptions extends IssueNvidiaCertificateOptions {
  /** Which GPU of the machine (0–7); its key and device id derive from it. 0 when unset. */
  deviceIndex?: number
  /** The 8-byte device id behind the serial `41‖id` and subject serialNumber; derived when unset. */
  deviceId?: Uint8Array
}

/** Options of {@link issueGpuFmcLeaf}. */
export interface IssueGpuFmcLeafOptions extends IssueNvidiaCertificateOptions {
  /** Which GPU of the machine (0–7); its key and chip name derive from it. 0 when unset. */
  deviceIndex?: number
  /** SHA-384 of the firmware that owns the key: the FWID the report repeats. 48 bytes. */
  fwid: Uint8Array
  /** The SAN name, `NVIDIA:<chip>:<16 hex>`; derived from the seed and device index when unset. */
  sanName?: string
}

/** The simulated CAs of one architecture, with their keys. */
export interface SimulatedNvidiaRoots {
  /** `NVIDIA Device Identity CA`, shared by every architecture. */
  deviceRoot: IssuedCertificate
  /** `NVIDIA <chip> Identity`. */
  identity: IssuedCertificate
  /** `NVIDIA <chip> Provisioner ICA …`: issues the per-device BROM certificates. */
  provisioner: IssuedCertificate
  /** `NVIDIA CoRIM signing Root CA`, shared by every architecture. */
  rimRoot: IssuedCertificate
  /** `NVIDIA Reference Value <chip> CA`. */
  rimCa: IssuedCertificate
  /** `NVIDIA Reference Value L3 …`. */
  rimL3: IssuedCertificate
  /** The L4 signer whose key signs the RIMs. */
  rimSigner: IssuedCertificate
}

interface ArchNames {
  provisioner: string
  rimCa: string
  rimL3: string
  rimSigner: string
  /** Model string of the Blackwell TcbInfo. */
  tcbModel: string
}

const ARCH_NAMES: Readonly<Record<GpuArch, ArchNames>> = {
  HOPPER: {
    provisioner: 'NVIDIA GH100 Provisioner ICA 1',
    rimCa: 'NVIDIA Reference Value GH100 CA',
    rimL3: 'NVIDIA Reference Value L3 GH100 001',
    rimSigner: 'HCC RIM L4 Signer',
    tcbModel: 'GH100 A01 GSP',
  },
  BLACKWELL: {
    provisioner: 'NVIDIA GB100 Provisioner ICA 00000',
    rimCa: 'NVIDIA Reference Value GB1XX CA 001',
    rimL3: 'NVIDIA Reference Value L3 GB100-CC 001',
    rimSigner: 'RIM L4 Signer',
    tcbModel: 'GB100 A01 GSP',
  },
}

// NVIDIA's notBefore dates (the device chain never expires: notAfter 9999-12-31T23:59:59Z).
const DEVICE_NOT_AFTER = new Date('9999-12-31T23:59:59Z')
const DEVICE_ROOT_NOT_BEFORE = new Date('2021-11-05T00:00:00Z')
const DEVICE_NOT_BEFORE: Readonly<Record<GpuArch, { identity: Date; provisioner: Date; device: Date }>> = {
  HOPPER: {
    identity: new Date('2022-01-12T00:00:00Z'),
    provisioner: new Date('2022-03-01T00:00:00Z'),
    device: new Date('2020-10-17T00:00:00Z'),
  },
  BLACKWELL: {
    identity: new Date('2023-01-01T00:00:00Z'),
    provisioner: new Date('2023-06-20T00:00:00Z'),
    device: new Date('2023-06-20T00:00:00Z'),
  },
}
// The RIM root is NVIDIA's (30 years); the others outlive NVIDIA's (10 years, about 3.5, 2) so that
// simulated RIMs verify today and for years. Tests forge expiry with `notAfter`.
const RIM_VALIDITY: Readonly<Record<'root' | 'ca' | 'l3' | 'signer', { notBefore: Date; notAfter: Date }>> = {
  root: { notBefore: new Date('2023-03-16T15:37:34Z'), notAfter: new Date('2053-03-08T15:37:34Z') },
  ca: { notBefore: new Date('2023-05-11T00:00:00Z'), notAfter: new Date('2048-05-11T23:59:59Z') },
  l3: { notBefore: new Date('2024-11-01T00:00:00Z'), notAfter: new Date('2046-04-30T23:59:59Z') },
  signer: { notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2045-01-01T00:00:00Z') },
}

const OCSP_URL = 'http://ocsp.ndis.nvidia.com'
const CRL_BASE = 'http://crl.ndis.nvidia.com'
const ORG = 'NVIDIA Corporation'

/**
 * Derivation label of a simulated NVIDIA key: the two roots are shared by every architecture
 * (`nvidia/device-identity-ca`, `nvidia/corim-signing-root-ca`), the CAs are per chip
 * (`nvidia/GH100/identity`, …) and the BROM and leaf keys per chip and device index
 * (`nvidia/GH100/gpu/0/brom`, `nvidia/GH100/gpu/0/fmc-leaf`).
 */
export function nvidiaKeyLabel(role: NvidiaKeyRole, arch: GpuArch, deviceIndex = 0): string {
  switch (role) {
    case 'device-root':
      return 'nvidia/device-identity-ca'
    case 'rim-root':
      return 'nvidia/corim-signing-root-ca'
    case 'brom':
    case 'fmc-leaf':
      return `nvidia/${GPU_CHIP[arch]}/gpu/${requireDeviceIndex(deviceIndex)}/${role}`
    default:
      return `nvidia/${GPU_CHIP[arch]}/${role}`
  }
}

function requireDeviceIndex(index: number): number {
  if (!Number.isInteger(index) || index < 0 || index > 7) throw new RangeError(`device index must be 0 to 7, got ${index}`)
  return index
}

// ---------------------------------------------------------------------------------------------------
// Extension contents, written byte for byte as NVIDIA's.

const utf8 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'))

const bigintOf = (bytes: Uint8Array): bigint => BigInt('0x' + Buffer.from(bytes).toString('hex'))

/** A serial as the subject serialNumber spells it: upper-case hex, whole bytes. */
function serialHex(serial: bigint): string {
  const hex = serial.toString(16).toUpperCase()
  return hex.length % 2 === 1 ? '0' + hex : hex
}

const OID_SHA384 = '2.16.840.1.101.3.4.2.2'
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3'
const OID_AD_OCSP = '1.3.6.1.5.5.7.48.1'

// Extension values exactly as NVIDIA writes them.
const BC_CA = Uint8Array.of(0x30, 0x03, 0x01, 0x01, 0xff)
const BC_CA_PATHLEN_0 = Uint8Array.of(0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00)
const BC_END_ENTITY = Uint8Array.of(0x30, 0x00)
const KU_CERT_AND_CRL_SIGN = Uint8Array.of(0x03, 0x02, 0x01, 0x06)
const KU_CERT_SIGN = Uint8Array.of(0x03, 0x02, 0x02, 0x04)
const KU_DIGITAL_SIGNATURE = Uint8Array.of(0x03, 0x02, 0x07, 0x80)

const ext = (oid: string, critical: boolean, value: Uint8Array): CertificateExtension => ({ oid, critical, value })
const basicConstraints = (value: Uint8Array): CertificateExtension => ext(id_ce_basicConstraints, true, value)
const keyUsage = (value: Uint8Array): CertificateExtension => ext(id_ce_keyUsage, true, value)
const ski = (keyId: Uint8Array): CertificateExtension => ext(id_ce_subjectKeyIdentifier, false, tlv(0x04, keyId))
const aki = (keyId: Uint8Array): CertificateExtension =>
  ext(id_ce_authorityKeyIdentifier, false, tlv(0x30, tlv(0x80, keyId)))
const crlDistributionPoint = (url: string): CertificateExtension =>
  ext(id_ce_cRLDistributionPoints, false, tlv(0x30, tlv(0x30, tlv(0xa0, tlv(0xa0, tlv(0x86, utf8(url)))))))
const ocsp = (): CertificateExtension =>
  ext(id_pe_authorityInfoAccess, false, tlv(0x30, tlv(0x30, derOid(OID_AD_OCSP), tlv(0x86, utf8(OCSP_URL)))))

/** `SEQUENCE { OID sha384, OCTET STRING digest }`, the FWID of TCG DICE. */
function fwidValue(digest: Uint8Array): Uint8Array {
  if (digest.length !== 48) throw new RangeError(`an FWID must be 48 bytes (SHA-384), got ${digest.length}`)
  return tlv(0x30, derOid(OID_SHA384), tlv(0x04, digest))
}

/** Hopper's FWID extension: the version, the BROM's (DeviceID) public key, then the FWID. */
function hopperFwidExtension(issuerSpki: Uint8Array, fwid: Uint8Array): CertificateExtension {
  return ext(OID_NVIDIA_FWID, false, tlv(0x30, tlv(0x02, Uint8Array.of(1)), issuerSpki, fwidValue(fwid)))
}

/**
 * Blackwell's TcbInfo as NVIDIA fills it: vendor, model, version "01", svn 1, layer 0, index 0, the FWID
 * then an all-zero second digest, flags, vendorInfo and type (all IMPLICIT context tags).
 */
function blackwellTcbInfoExtension(model: string, fwid: Uint8Array): CertificateExtension {
  return ext(
    OID_DICE_TCB_INFO,
    false,
    tlv(
      0x30,
      tlv(0x80, utf8('NVIDIA')),
      tlv(0x81, utf8(model)),
      tlv(0x82, utf8('01')),
      tlv(0x83, Uint8Array.of(1)),
      tlv(0x84, Uint8Array.of(0)),
      tlv(0x85, Uint8Array.of(0)),
      tlv(0xa6, fwidValue(fwid), fwidValue(new Uint8Array(48))),
      tlv(0x87, Uint8Array.of(0x00, 0x80, 0x00, 0x00, 0x01)),
      tlv(0x88, Uint8Array.of(0xc0)),
      tlv(0x89, Uint8Array.of(0x00)),
    ),
  )
}

/** `GeneralNames { otherName { 1.3.6.1.4.1.412.274.1, [0] UTF8String } }`. */
function sanExtension(name: string): CertificateExtension {
  const otherName = tlv(0xa0, derOid(OID_NVIDIA_SAN_NAME), tlv(0xa0, tlv(0x0c, utf8(name))))
  return ext(id_ce_subjectAltName, false, tlv(0x30, otherName))
}

// ---------------------------------------------------------------------------------------------------
// Names, keys and certificates.

type NameAttribute = 'CN' | 'O' | 'C' | 'ST' | 'L' | 'serialNumber'
const ATTRIBUTE_OIDS: Readonly<Record<NameAttribute, string>> = {
  CN: '2.5.4.3',
  O: '2.5.4.10',
  C: '2.5.4.6',
  ST: '2.5.4.8',
  L: '2.5.4.7',
  serialNumber: '2.5.4.5',
}

/** One attribute per RDN, in the order given: PrintableString for C and serialNumber, UTF8String otherwise. */
function name(attributes: ReadonlyArray<[NameAttribute, string]>): Name {
  return new Name(
    attributes.map(([type, text]) => {
      const printable = type === 'C' || type === 'serialNumber'
      const value = new AttributeValue(printable ? { printableString: text } : { utf8String: text })
      return new RelativeDistinguishedName([new AttributeTypeAndValue({ type: ATTRIBUTE_OIDS[type], value })])
    }),
  )
}

interface CertificateParams extends CertificateBody {
  signer: KeyObject
}

function buildCertificate(p: CertificateParams): Uint8Array {
  if (p.signer.type !== 'private') throw new TypeError('the signing key must be a private key')
  const algorithm = new AlgorithmIdentifier({ algorithm: OID_ECDSA_SHA384 })
  return signCertificate(p, algorithm, (tbs) => sign('sha384', tbs, { key: p.signer, dsaEncoding: 'der' }))
}

/** A derived 16-byte serial like NVIDIA's CA serials (top bit clear, so 16 content bytes), or raw. */
function derivedSerial(seed: string, label: string, length: number, positive: boolean): bigint {
  const bytes = deriveBytes(seed, `${label}/serial`, length)
  if (positive) bytes[0] = (bytes[0]! & 0x7f) || 0x01
  return bigintOf(bytes)
}

interface Issue {
  options: NvidiaCertificateOptions
  label: string
  /** Issuer certificate; a self-signed root when unset. */
  issuer?: IssuedCertificate
  subject: (cn: string) => Name
  commonName: string
  serial: (seed: string, keyId: Uint8Array) => bigint
  notBefore: Date
  notAfter: Date
  generalizedTime?: boolean
  extensions: (keyId: Uint8Array, issuer: IssuerInfo) => CertificateExtension[]
}

function issue(spec: Issue): IssuedCertificate {
  const { options } = spec
  const seed = options.seed ?? SIMULATED_SEED
  const key = options.key ?? deriveEcPrivateKey(seed, spec.label)
  const spki = spkiOf(key)
  const keyId = keyIdentifier(spki)
  const subjectName = spec.subject(options.commonName ?? spec.commonName)
  const issuer: IssuerInfo =
    spec.issuer === undefined
      ? { name: subjectName, keyId, spki: new Uint8Array(AsnConvert.serialize(spki)) }
      : issuerInfo(spec.issuer)
  const defaults = spec.extensions(keyId, issuer)
  const der = buildCertificate({
    serial: options.serial ?? spec.serial(seed, keyId),
    issuerName: issuer.name,
    subjectName,
    notBefore: options.notBefore ?? spec.notBefore,
    notAfter: options.notAfter ?? spec.notAfter,
    generalizedTime: spec.generalizedTime ?? false,
    spki,
    extensions: options.extensions ? options.extensions(defaults) : defaults,
    signer: options.signer ?? spec.issuer?.key ?? key,
  })
  return { der, key }
}

/** What sets one of NVIDIA's intermediate CAs apart; {@link issueIntermediateCa} fills in the rest. */
interface IntermediateCa extends Pick<Issue, 'subject' | 'commonName' | 'notBefore' | 'notAfter' | 'generalizedTime'> {
  role: NvidiaKeyRole
  /** Whether the derived 16-byte serial has its top bit cleared (device chain) or stays as derived (RIM chain). */
  positiveSerial: boolean
  basicConstraints: Uint8Array
  /** The CRL distribution point; none when null. */
  crl: string | null
}

/**
 * Issues an intermediate CA as NVIDIA writes them, in both chains: under `options.issuer`, a derived
 * 16-byte serial, and basicConstraints CA, keyUsage keyCertSign + cRLSign, the CRL distribution point
 * if any, OCSP access, then the subject and authority key identifiers.
 */
function issueIntermediateCa(options: IssueNvidiaCertificateOptions, ca: IntermediateCa): IssuedCertificate {
  const label = nvidiaKeyLabel(ca.role, options.arch)
  const crl = ca.crl === null ? [] : [crlDistributionPoint(ca.crl)]
  return issue({
    options,
    label,
    issuer: options.issuer,
    subject: ca.subject,
    commonName: ca.commonName,
    serial: (seed) => derivedSerial(seed, label, 16, ca.positiveSerial),
    notBefore: ca.notBefore,
    notAfter: ca.notAfter,
    generalizedTime: ca.generalizedTime ?? false,
    extensions: (keyId, issuer) => [
      basicConstraints(ca.basicConstraints),
      keyUsage(KU_CERT_AND_CRL_SIGN),
      ...crl,
      ocsp(),
      ski(keyId),
      aki(issuer.keyId),
    ],
  })
}

// ---------------------------------------------------------------------------------------------------
// The device identity chain.

/**
 * Issues the self-signed `CN=NVIDIA Device Identity CA, O=NVIDIA` like NVIDIA's: basicConstraints CA and
 * keyUsage keyCertSign + cRLSign (both critical), subject and authority key identifiers, valid from
 * 2021-11-05 to 9999-12-31T23:59:59Z. Its key (`nvidia/device-identity-ca`) is shared by every architecture.
 */
export function issueNvidiaDeviceRoot(options: NvidiaCertificateOptions = {}): IssuedCertificate {
  const label = nvidiaKeyLabel('device-root', 'HOPPER')
  return issue({
    options,
    label,
    subject: (cn) => name([['CN', cn], ['O', 'NVIDIA']]),
    commonName: 'NVIDIA Device Identity CA',
    serial: (seed) => derivedSerial(seed, label, 16, true),
    notBefore: DEVICE_ROOT_NOT_BEFORE,
    notAfter: DEVICE_NOT_AFTER,
    extensions: (keyId) => [basicConstraints(BC_CA), keyUsage(KU_CERT_AND_CRL_SIGN), ski(keyId), aki(keyId)],
  })
}

/**
 * Issues `CN=NVIDIA <chip> Identity, O=NVIDIA Corporation` under the device root: CA, keyCertSign +
 * cRLSign, the `l1-root.crl` distribution point, OCSP access, key identifiers.
 */
export function issueNvidiaIdentityCa(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  return issueIntermediateCa(options, {
    role: 'identity',
    subject: (cn) => name([['CN', cn], ['O', ORG]]),
    commonName: `NVIDIA ${GPU_CHIP[options.arch]} Identity`,
    positiveSerial: true,
    notBefore: DEVICE_NOT_BEFORE[options.arch].identity,
    notAfter: DEVICE_NOT_AFTER,
    basicConstraints: BC_CA,
    crl: `${CRL_BASE}/crl/l1-root.crl`,
  })
}

/**
 * Issues the provisioner CA (`NVIDIA GH100 Provisioner ICA 1`, `NVIDIA GB100 Provisioner ICA 00000`; O, C
 * after the CN) under the Identity CA: CA, keyCertSign + cRLSign, the chip's `l2-<chip>.crl`, OCSP, key ids.
 */
export function issueNvidiaProvisionerCa(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  return issueIntermediateCa(options, {
    role: 'provisioner',
    subject: (cn) => name([['CN', cn], ['O', ORG], ['C', 'US']]),
    commonName: ARCH_NAMES[options.arch].provisioner,
    positiveSerial: true,
    notBefore: DEVICE_NOT_BEFORE[options.arch].provisioner,
    notAfter: DEVICE_NOT_AFTER,
    basicConstraints: BC_CA,
    crl: `${CRL_BASE}/crl/l2-${GPU_CHIP[options.arch].toLowerCase()}.crl`,
  })
}

/** A device certificate's subject, as NVIDIA's BROM and leaf spell it: `serialNumber=<serial hex>, C=US, O, CN`. */
function deviceSubject(serial: bigint): (cn: string) => Name {
  return (cn) => name([['serialNumber', serialHex(serial)], ['C', 'US'], ['O', ORG], ['CN', cn]])
}

/** The simulated 8-byte id of a device, behind its BROM serial `41‖id`. */
export function simulatedGpuDeviceId(arch: GpuArch, deviceIndex = 0, seed = SIMULATED_SEED): Uint8Array {
  return deriveBytes(seed, `${nvidiaKeyLabel('brom', arch, deviceIndex)}/device-id`, 8)
}

/**
 * Issues a device's `<chip> A01 GSP BROM` certificate under the provisioner CA, like NVIDIA's: serial
 * `0x41‖device id` (9 bytes), subject `serialNumber=<serial hex>, C=US, O=NVIDIA Corporation, CN=…`,
 * basicConstraints CA and keyUsage keyCertSign (critical), key identifiers, and on Blackwell OCSP access.
 * No CRL distribution point: NVIDIA revokes devices through OCSP only.
 */
export function issueGpuBrom(options: IssueGpuBromOptions): IssuedCertificate {
  const { arch } = options
  const deviceIndex = requireDeviceIndex(options.deviceIndex ?? 0)
  const seed = options.seed ?? SIMULATED_SEED
  const deviceId = options.deviceId ?? simulatedGpuDeviceId(arch, deviceIndex, seed)
  if (deviceId.length !== 8) throw new RangeError(`a device id is 8 bytes, got ${deviceId.length}`)
  const serial = options.serial ?? bigintOf(Uint8Array.of(0x41, ...deviceId))
  return issue({
    options: { ...options, serial },
    label: nvidiaKeyLabel('brom', arch, deviceIndex),
    issuer: options.issuer,
    subject: deviceSubject(serial),
    commonName: `${GPU_CHIP[arch]} A01 GSP BROM`,
    serial: () => serial,
    notBefore: DEVICE_NOT_BEFORE[arch].device,
    notAfter: DEVICE_NOT_AFTER,
    extensions: (keyId, issuer) => [
      basicConstraints(BC_CA),
      keyUsage(KU_CERT_SIGN),
      ...(arch === 'BLACKWELL' ? [ocsp()] : []),
      ski(keyId),
      aki(issuer.keyId),
    ],
  })
}

/** The SAN name of a simulated device's leaf: `NVIDIA:<chip>:48B02D<10 hex>`, the prefix real ones share. */
export function simulatedGpuSanName(arch: GpuArch, deviceIndex = 0, seed = SIMULATED_SEED): string {
  const id = deriveBytes(seed, `${nvidiaKeyLabel('fmc-leaf', arch, deviceIndex)}/san`, 5)
  return `NVIDIA:${GPU_CHIP[arch]}:48B02D${Buffer.from(id).toString('hex').toUpperCase()}`
}

/**
 * Issues a device's `<chip> A01 GSP FMC LF` leaf, whose key signs the SPDM reports, like NVIDIA's: serial =
 * the key identifier with its first byte masked to `0x40 | (b & 0x7f)` (20 bytes, positive), subject
 * `serialNumber=<serial hex>, C, O, CN`, keyUsage digitalSignature (critical), key identifiers, the SAN
 * otherName `NVIDIA:<chip>:<id>`, then the FWID: Hopper's 2.23.133.5.4.1 (with the BROM's public key) or
 * Blackwell's TcbInfo 2.23.133.5.4.1.1.
 */
export function issueGpuFmcLeaf(options: IssueGpuFmcLeafOptions): IssuedCertificate {
  const { arch, fwid } = options
  const deviceIndex = requireDeviceIndex(options.deviceIndex ?? 0)
  const seed = options.seed ?? SIMULATED_SEED
  const key = options.key ?? deriveEcPrivateKey(seed, nvidiaKeyLabel('fmc-leaf', arch, deviceIndex))
  const keyId = keyIdentifier(spkiOf(key))
  const serialBytes = Uint8Array.from(keyId)
  serialBytes[0] = (serialBytes[0]! & 0x7f) | 0x40
  const serial = options.serial ?? bigintOf(serialBytes)
  const sanName = options.sanName ?? simulatedGpuSanName(arch, deviceIndex, seed)
  return issue({
    options: { ...options, key, serial },
    label: nvidiaKeyLabel('fmc-leaf', arch, deviceIndex),
    issuer: options.issuer,
    subject: deviceSubject(serial),
    commonName: `${GPU_CHIP[arch]} A01 GSP FMC LF`,
    serial: () => serial,
    notBefore: DEVICE_NOT_BEFORE[arch].device,
    notAfter: DEVICE_NOT_AFTER,
    extensions: (ownKeyId, issuer) => [
      keyUsage(KU_DIGITAL_SIGNATURE),
      ski(ownKeyId),
      aki(issuer.keyId),
      sanExtension(sanName),
      arch === 'HOPPER'
        ? hopperFwidExtension(issuer.spki, fwid)
        : blackwellTcbInfoExtension(ARCH_NAMES[arch].tcbModel, fwid),
    ],
  })
}

// ---------------------------------------------------------------------------------------------------
// The RIM signing chain.

/**
 * Issues the self-signed `C=US, O=NVIDIA, CN=NVIDIA CoRIM signing Root CA` like NVIDIA's: key
 * identifiers first, then basicConstraints CA and keyUsage keyCertSign + cRLSign (critical), 30 years
 * from 2023-03-16. Its key (`nvidia/corim-signing-root-ca`) is shared by every architecture.
 */
export function issueNvidiaRimRoot(options: NvidiaCertificateOptions = {}): IssuedCertificate {
  const label = nvidiaKeyLabel('rim-root', 'HOPPER')
  return issue({
    options,
    label,
    subject: (cn) => name([['C', 'US'], ['O', 'NVIDIA'], ['CN', cn]]),
    commonName: 'NVIDIA CoRIM signing Root CA',
    serial: (seed) => derivedSerial(seed, label, 16, true),
    ...RIM_VALIDITY.root,
    extensions: (keyId) => [ski(keyId), aki(keyId), basicConstraints(BC_CA), keyUsage(KU_CERT_AND_CRL_SIGN)],
  })
}

/**
 * Issues the reference-value CA (`NVIDIA Reference Value GH100 CA`, `… GB1XX CA 001`) under the RIM root:
 * CA, keyCertSign + cRLSign, the `crl-corim/l1-corim` distribution point, OCSP, key identifiers, with
 * both dates as GeneralizedTime as NVIDIA writes them.
 */
export function issueNvidiaRimCa(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  return issueIntermediateCa(options, {
    role: 'rim-ca',
    subject: (cn) => name([['CN', cn], ['O', ORG], ['C', 'US']]),
    commonName: ARCH_NAMES[options.arch].rimCa,
    positiveSerial: false,
    ...RIM_VALIDITY.ca,
    generalizedTime: true,
    basicConstraints: BC_CA,
    crl: `${CRL_BASE}/crl-corim/l1-corim`,
  })
}

/**
 * Issues the L3 CA (`NVIDIA Reference Value L3 GH100 001`, `… L3 GB100-CC 001`) under the reference-value
 * CA: CA with path length 0, keyCertSign + cRLSign, OCSP, key identifiers, GeneralizedTime dates.
 */
export function issueNvidiaRimL3(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  return issueIntermediateCa(options, {
    role: 'rim-l3',
    subject: (cn) => name([['CN', cn], ['O', ORG], ['C', 'US']]),
    commonName: ARCH_NAMES[options.arch].rimL3,
    positiveSerial: false,
    ...RIM_VALIDITY.l3,
    generalizedTime: true,
    basicConstraints: BC_CA_PATHLEN_0,
    crl: null,
  })
}

/**
 * Issues the L4 RIM signer (`HCC RIM L4 Signer`, Blackwell `RIM L4 Signer`; subject C, ST, L, O, CN) under
 * the L3 CA: key identifiers, basicConstraints end entity and keyUsage digitalSignature (critical), OCSP,
 * a 20-byte serial, UTCTime dates.
 */
export function issueNvidiaRimSigner(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  const label = nvidiaKeyLabel('rim-signer', options.arch)
  return issue({
    options,
    label,
    issuer: options.issuer,
    subject: (cn) =>
      name([['C', 'US'], ['ST', 'CA'], ['L', 'Santa Clara'], ['O', ORG], ['CN', cn]]),
    commonName: ARCH_NAMES[options.arch].rimSigner,
    serial: (seed) => derivedSerial(seed, label, 20, true),
    ...RIM_VALIDITY.signer,
    extensions: (keyId, issuer) => [
      ski(keyId),
      aki(issuer.keyId),
      basicConstraints(BC_END_ENTITY),
      keyUsage(KU_DIGITAL_SIGNATURE),
      ocsp(),
    ],
  })
}

// ---------------------------------------------------------------------------------------------------
// Memoised simulated CAs and the pins.

const deviceRootCache = new Map<string, IssuedCertificate>()
const rimRootCache = new Map<string, IssuedCertificate>()
const rootsCache = new Map<string, SimulatedNvidiaRoots>()

/**
 * The simulated NVIDIA CAs of an architecture, with their keys, issued with every default and memoised
 * per process: one device root and one RIM root per seed, shared by both architectures as NVIDIA's are.
 * The simulated GPU issues its BROM and leaf under `provisioner` and signs its RIMs with `rimSigner`;
 * tests use the keys to issue their own certificates under them.
 */
export function simulatedNvidiaRoots(arch: GpuArch, seed = SIMULATED_SEED): SimulatedNvidiaRoots {
  const cacheKey = JSON.stringify([arch, seed])
  const cached = rootsCache.get(cacheKey)
  if (cached !== undefined) return cached
  let deviceRoot = deviceRootCache.get(seed)
  if (deviceRoot === undefined) {
    deviceRoot = issueNvidiaDeviceRoot({ seed })
    deviceRootCache.set(seed, deviceRoot)
  }
  let rimRoot = rimRootCache.get(seed)
  if (rimRoot === undefined) {
    rimRoot = issueNvidiaRimRoot({ seed })
    rimRootCache.set(seed, rimRoot)
  }
  const identity = issueNvidiaIdentityCa({ arch, seed, issuer: deviceRoot })
  const provisioner = issueNvidiaProvisionerCa({ arch, seed, issuer: identity })
  const rimCa = issueNvidiaRimCa({ arch, seed, issuer: rimRoot })
  const rimL3 = issueNvidiaRimL3({ arch, seed, issuer: rimCa })
  const rimSigner = issueNvidiaRimSigner({ arch, seed, issuer: rimL3 })
  const roots = { deviceRoot, identity, provisioner, rimRoot, rimCa, rimL3, rimSigner }
  rootsCache.set(cacheKey, roots)
  return roots
}

function spkiSha256(key: KeyObject): string {
  return createHash('sha256').update(createPublicKey(key).export({ type: 'spki', format: 'der' })).digest('hex')
}

/**
 * Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of the simulated `NVIDIA Device Identity CA`
 * (the same for every architecture): the constant a verifier pins to recognise, and a production
 * policy to refuse, simulated GPU evidence.
 */
export function simulatedNvidiaDeviceRootSpkiSha256(seed = SIMULATED_SEED): string {
  return spkiSha256(deriveEcPrivateKey(seed, nvidiaKeyLabel('device-root', 'HOPPER')))
}

/**
 * Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of the simulated `NVIDIA CoRIM signing Root CA`
 * (the same for every architecture): the pin of simulated RIMs.
 */
export function simulatedNvidiaRimRootSpkiSha256(seed = SIMULATED_SEED): string {
  return spkiSha256(deriveEcPrivateKey(seed, nvidiaKeyLabel('rim-root', 'HOPPER')))
}

