/**
 * The device identity chain of the simulated NVIDIA GPU, issued as NVIDIA issues it: `NVIDIA Device Identity CA`
 * → `NVIDIA <chip> Identity` → `NVIDIA <chip> Provisioner ICA …` → per-device `<chip> A01 GSP BROM` → `<chip> A01
 * GSP FMC LF`, the leaf whose key signs SPDM reports and which carries the FWID (nvidia-ca.ts describes both chains).
 */
import type { Name } from '@peculiar/asn1-x509'
import { deriveBytes, deriveEcPrivateKey, SIMULATED_SEED } from './derive-keys.js'
import {
  bigintOf,
  CRL_BASE,
  derivedSerial,
  GPU_CHIP,
  issue,
  issueIntermediateCa,
  name,
  nvidiaKeyLabel,
  ORG,
  requireDeviceIndex,
  type GpuArch,
  type IssueNvidiaCertificateOptions,
  type NvidiaCertificateOptions,
} from './nvidia-ca.js'
import {
  aki,
  basicConstraints,
  BC_CA,
  blackwellTcbInfoExtension,
  hopperFwidExtension,
  keyUsage,
  KU_CERT_AND_CRL_SIGN,
  KU_CERT_SIGN,
  KU_DIGITAL_SIGNATURE,
  ocsp,
  sanExtension,
  ski,
} from './nvidia-extensions.js'
import { keyIdentifier, spkiOf, type CertificateExtension, type IssuedCertificate, type IssuerInfo } from './x509.js'

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

/** The provisioner CA of each architecture, and the model its Blackwell leaves put in their TcbInfo. */
const DEVICE_NAMES: Readonly<Record<GpuArch, { provisioner: string; tcbModel: string }>> = {
  HOPPER: { provisioner: 'NVIDIA GH100 Provisioner ICA 1', tcbModel: 'GH100 A01 GSP' },
  BLACKWELL: { provisioner: 'NVIDIA GB100 Provisioner ICA 00000', tcbModel: 'GB100 A01 GSP' },
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
  const commonName = `NVIDIA ${GPU_CHIP[options.arch]} Identity`
  return issueDeviceCa(options, 'identity', { subject: (cn) => name([['CN', cn], ['O', ORG]]), commonName, crl: `${CRL_BASE}/crl/l1-root.crl` })
}

/**
 * Issues the provisioner CA (`NVIDIA GH100 Provisioner ICA 1`, `NVIDIA GB100 Provisioner ICA 00000`; O, C
 * after the CN) under the Identity CA: CA, keyCertSign + cRLSign, the chip's `l2-<chip>.crl`, OCSP, key ids.
 */
export function issueNvidiaProvisionerCa(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  const subject = (cn: string): Name => name([['CN', cn], ['O', ORG], ['C', 'US']])
  const crl = `${CRL_BASE}/crl/l2-${GPU_CHIP[options.arch].toLowerCase()}.crl`
  return issueDeviceCa(options, 'provisioner', { subject, commonName: DEVICE_NAMES[options.arch].provisioner, crl })
}

/** One of the device chain's CAs, as NVIDIA writes both: positive derived serials, its date, no expiry, CA without a path length. */
function issueDeviceCa(
  options: IssueNvidiaCertificateOptions,
  role: 'identity' | 'provisioner',
  ca: { subject: (cn: string) => Name; commonName: string; crl: string },
): IssuedCertificate {
  return issueIntermediateCa(options, {
    role,
    ...ca,
    positiveSerial: true,
    notBefore: DEVICE_NOT_BEFORE[options.arch][role],
    notAfter: DEVICE_NOT_AFTER,
    basicConstraints: BC_CA,
  })
}

/** A serial as the subject serialNumber spells it: upper-case hex, whole bytes. */
function serialHex(serial: bigint): string {
  const hex = serial.toString(16).toUpperCase()
  return hex.length % 2 === 1 ? '0' + hex : hex
}

/** A device certificate's subject, as NVIDIA's BROM and leaf spell it: `serialNumber=<serial hex>, C=US, O, CN`. */
function deviceSubject(serial: bigint): (cn: string) => Name {
  return (cn) => name([['serialNumber', serialHex(serial)], ['C', 'US'], ['O', ORG], ['CN', cn]])
}

/** What sets a device's BROM certificate or FMC leaf apart; {@link issueDeviceCertificate} fills in the rest. */
interface DeviceCertificate {
  role: 'brom' | 'fmc-leaf'
  deviceIndex: number
  serial: bigint
  commonName: string
  extensions: (keyId: Uint8Array, issuer: IssuerInfo) => CertificateExtension[]
}

/** A device certificate as NVIDIA writes both: the serial repeated in the subject, the device's date, no expiry. */
function issueDeviceCertificate(options: IssueNvidiaCertificateOptions, device: DeviceCertificate): IssuedCertificate {
  return issue({
    options: { ...options, serial: device.serial },
    label: nvidiaKeyLabel(device.role, options.arch, device.deviceIndex),
    issuer: options.issuer,
    subject: deviceSubject(device.serial),
    commonName: device.commonName,
    serial: () => device.serial,
    notBefore: DEVICE_NOT_BEFORE[options.arch].device,
    notAfter: DEVICE_NOT_AFTER,
    extensions: device.extensions,
  })
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
  return issueDeviceCertificate(options, {
    role: 'brom',
    deviceIndex,
    serial,
    commonName: `${GPU_CHIP[arch]} A01 GSP BROM`,
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
  return issueDeviceCertificate({ ...options, key }, {
    role: 'fmc-leaf',
    deviceIndex,
    serial,
    commonName: `${GPU_CHIP[arch]} A01 GSP FMC LF`,
    extensions: (ownKeyId, issuer) => [
      keyUsage(KU_DIGITAL_SIGNATURE),
      ski(ownKeyId),
      aki(issuer.keyId),
      sanExtension(sanName),
      arch === 'HOPPER'
        ? hopperFwidExtension(issuer.spki, fwid)
        : blackwellTcbInfoExtension(DEVICE_NAMES[arch].tcbModel, fwid),
    ],
  })
}
