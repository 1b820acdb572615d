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
 *
 * This module holds what both chains share: architectures, key labels, names and the one issuing routine.
 * nvidia-extensions.ts writes the extensions, nvidia-device-chain.ts and nvidia-rim-chain.ts issue the
 * certificates of each chain, and nvidia-roots.ts memoises the CAs and computes the pins.
 */
import { sign, type KeyObject } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509'
import { deriveBytes, deriveEcPrivateKey, SIMULATED_SEED } from './derive-keys.js'
import { aki, basicConstraints, crlDistributionPoint, keyUsage, KU_CERT_AND_CRL_SIGN, ocsp, ski } from './nvidia-extensions.js'
import {
  issuerInfo,
  keyIdentifier,
  signCertificate,
  spkiOf,
  type CertificateBody,
  type CertificateExtension,
  type IssuedCertificate,
  type IssuerInfo,
} from './x509.js'
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

/** Organisation of every NVIDIA CA below the roots. */
export const ORG = 'NVIDIA Corporation'
/** Where NVIDIA publishes its CRLs. */
export const CRL_BASE = 'http://crl.ndis.nvidia.com'
const OID_ECDSA_SHA384 = '1.2.840.10045.4.3.3'

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

/** `index` when it names one of a machine's GPUs (0–7); a RangeError otherwise. */
export function requireDeviceIndex(index: number): number {
  if (!Number.isInteger(index) || index < 0 || index > 7) throw new RangeError(`device index must be 0 to 7, got ${index}`)
  return index
}

// ---------------------------------------------------------------------------------------------------
// Names, serials and the issuing routine.

/** The non-negative integer whose big-endian bytes are `bytes`. */
export const bigintOf = (bytes: Uint8Array): bigint => BigInt('0x' + Buffer.from(bytes).toString('hex'))

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
export function name(attributes: ReadonlyArray<[NameAttribute, string]>): Name {
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
export function derivedSerial(seed: string, label: string, length: number, positive: boolean): bigint {
  const bytes = deriveBytes(seed, `${label}/serial`, length)
  if (positive) bytes[0] = (bytes[0]! & 0x7f) || 0x01
  return bigintOf(bytes)
}

/** One certificate to issue: what the role fixes, with `options` overriding any of it. */
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

/**
 * Issues one certificate of either chain: the subject key from `options.key` or derived from `label`, the issuer's
 * name and key identifier from its certificate (the subject's own for a self-signed root), signed ecdsa-with-SHA384
 * by `options.signer`, else the issuer's key, else the subject's own.
 */
export function issue(spec: Issue): IssuedCertificate {
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
export function issueIntermediateCa(options: IssueNvidiaCertificateOptions, ca: IntermediateCa): IssuedCertificate {
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
