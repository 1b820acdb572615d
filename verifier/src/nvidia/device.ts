/**
 * The NVIDIA device certificate chain (spec §3): five ECDSA P-384 certificates, leaf (GSP FMC, the
 * report signing key) first, up to the pinned NVIDIA Device Identity CA; and what the leaf certifies:
 * the firmware identity (FWID) that must equal the report's, the device's `ueid` and `hwmodel`.
 */
import type { GpuArchitecture } from '../policy/types.js'
import { VerificationError } from '../errors.js'
import {
  commonName,
  requireCa,
  requireKey,
  requireLeaf,
  requireValidAt,
  verifyIssuedBy,
  type Certificate,
  type SignatureAlgorithm,
} from '../x509/certificate.js'
import { contextTag, decodeOid, DerReader, readSingle, TAG } from '../x509/der.js'
import type { NvidiaAnchor } from './trust.js'

/** NVIDIA signs every link of the device chain with ECDSA P-384 / SHA-384. */
export const NVIDIA_SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = [{ kind: 'ecdsa', hash: 'sha384' }]
/** Certificates in a device chain, leaf first: FMC leaf, BROM, provisioner ICA, identity CA, Device Identity CA root. */
export const DEVICE_CHAIN_LENGTH = 5
const P384 = { type: 'ec', curve: 'P-384' } as const
const ROLES = ['GSP FMC leaf', 'GSP BROM', 'provisioner ICA', 'identity CA', 'Device Identity CA'] as const

/** Hopper's FWID extension: SEQUENCE { INTEGER 1, SubjectPublicKeyInfo, SEQUENCE { hash OID, OCTET STRING } }. */
export const OID_NVIDIA_FWID = '2.23.133.5.4.1'
/** Blackwell's TCG DICE TcbInfo extension, whose fwids[0] is the FWID. */
export const OID_DICE_TCB_INFO = '2.23.133.5.4.1.1'
const OID_SHA384 = '2.16.840.1.101.3.4.2.2'

/** What a verified device chain establishes. */
export interface DeviceIdentity {
  arch: GpuArchitecture
  anchor: NvidiaAnchor
  /** The five certificates, leaf first. */
  chain: readonly Certificate[]
  leaf: Certificate
  /** FWID the leaf certifies, or null when it carries no FWID extension. */
  fwid: Uint8Array | null
  /** The leaf's serial number in decimal, as NVIDIA's `ueid` claim. */
  ueid: string
  /** The BROM certificate's CN, as NVIDIA's local `hwmodel` claim: "GH100 A01 GSP BROM". */
  hwmodel: string
}

function fwidError(message: string): VerificationError {
  return new VerificationError('ERR_CERT_MALFORMED', `leaf FWID extension: ${message}`)
}

function readFwidEntry(reader: DerReader): Uint8Array {
  const entry = reader.enter(TAG.sequence, 'FWID')
  const hash = decodeOid(entry.next(TAG.oid, 'FWID hash algorithm').content)
  const digest = entry.next(TAG.octetString, 'FWID digest').content
  if (hash !== OID_SHA384 || digest.length !== 48) throw fwidError(`expected a SHA-384 digest, got ${hash} of ${digest.length} bytes`)
  return digest
}

/**
 * The FWID a leaf certificate carries: Hopper's 2.23.133.5.4.1 or Blackwell's TcbInfo fwids[0].
 * Returns null when the leaf has neither extension.
 */
export function leafFwid(leaf: Certificate): Uint8Array | null {
  const hopper = leaf.extensions.get(OID_NVIDIA_FWID)?.value
  if (hopper !== undefined) {
    const fields = new DerReader(readSingle(hopper, TAG.sequence, 'FWID extension').content)
    fields.next(TAG.integer, 'FWID version')
    fields.next(TAG.sequence, 'FWID public key')
    const fwid = readFwidEntry(fields)
    fields.end('FWID extension')
    return fwid
  }
  const tcbInfo = leaf.extensions.get(OID_DICE_TCB_INFO)?.value
  if (tcbInfo !== undefined) {
    const fields = new DerReader(readSingle(tcbInfo, TAG.sequence, 'TcbInfo').content)
    while (!fields.done) {
      if (fields.peekTag() === contextTag(6)) return readFwidEntry(fields.enter(contextTag(6), 'TcbInfo fwids'))
      fields.next(undefined, 'TcbInfo field')
    }
    throw fwidError('TcbInfo carries no fwids')
  }
  return null
}

/** The architecture a GSP certificate names: GH1xx is Hopper, GB1xx/GB2xx Blackwell. */
export function architectureOf(cn: string): GpuArchitecture | null {
  if (/^(NVIDIA )?GH1\d\d\b/.test(cn)) return 'HOPPER'
  if (/^(NVIDIA )?GB[12]\d\d\b/.test(cn)) return 'BLACKWELL'
  return null
}

/**
 * Verifies a five-certificate device chain (leaf first) up to one of `anchors` at `at`: each link
 * ECDSA P-384/SHA-384 by the next, the four issuers CAs, the leaf not a CA, the root's key pinned.
 */
export async function verifyDeviceChain(chain: readonly Certificate[], anchors: readonly NvidiaAnchor[], at: Date): Promise<DeviceIdentity> {
  if (chain.length !== DEVICE_CHAIN_LENGTH) {
    throw new VerificationError('ERR_CHAIN_BROKEN', `the device chain must hold ${DEVICE_CHAIN_LENGTH} certificates, leaf first; got ${chain.length}`)
  }
  const root = chain[DEVICE_CHAIN_LENGTH - 1]!
  const anchor = anchors.find((a) => a.spkiSha256 === root.spkiSha256)
  if (anchor === undefined) {
    throw new VerificationError('ERR_CHAIN_UNTRUSTED', `device chain root "${commonName(root.subject)}" is not a pinned NVIDIA root (SPKI SHA-256 ${root.spkiSha256})`)
  }
  for (const [i, cert] of chain.entries()) {
    const role = ROLES[i]!
    requireKey(cert, P384, role)
    await verifyIssuedBy(cert, chain[Math.min(i + 1, DEVICE_CHAIN_LENGTH - 1)]!, NVIDIA_SIGNATURE_ALGORITHMS, role)
    if (i === 0) requireLeaf(cert, role)
    else requireCa(cert, role)
    requireValidAt(cert, at, role)
  }
  const leaf = chain[0]!
  const arch = architectureOf(commonName(leaf.subject))
  if (arch === null) throw new VerificationError('ERR_GPU_ARCH_UNKNOWN', `the leaf "${commonName(leaf.subject)}" names no GPU architecture Vouch knows`)
  return {
    arch,
    anchor,
    chain,
    leaf,
    fwid: leafFwid(leaf),
    ueid: BigInt(`0x${leaf.serialNumber}`).toString(10),
    hwmodel: commonName(chain[1]!.subject),
  }
}
