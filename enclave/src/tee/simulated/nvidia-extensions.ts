/**
 * The X.509 extensions of the simulated NVIDIA certificates, byte for byte as NVIDIA writes them (the real chains
 * under `shared/fixtures/nvidia-gpu` were the model): basic constraints, key usage, key identifiers, CRL and OCSP
 * locations, the leaf's SAN name and its FWID (Hopper's extension, Blackwell's TCG DICE TcbInfo).
 */
import {
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_cRLDistributionPoints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_pe_authorityInfoAccess,
} from '@peculiar/asn1-x509'
import { derElement, derOid } from '@vouch/protocol'
import type { CertificateExtension } from './x509.js'

/** TCG DICE FWID extension (Hopper): `SEQUENCE { INTEGER 1, SubjectPublicKeyInfo, SEQUENCE { sha384, digest } }`. */
export const OID_NVIDIA_FWID = '2.23.133.5.4.1'
/** TCG DICE TcbInfo extension (Blackwell), whose first fwids entry is the FWID. */
export const OID_DICE_TCB_INFO = '2.23.133.5.4.1.1'
/** SAN otherName type of the leaf's `NVIDIA:<chip>:<id>` name. */
export const OID_NVIDIA_SAN_NAME = '1.3.6.1.4.1.412.274.1'

const OCSP_URL = 'http://ocsp.ndis.nvidia.com'

const utf8 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'))

const OID_SHA384 = '2.16.840.1.101.3.4.2.2'
const OID_AD_OCSP = '1.3.6.1.5.5.7.48.1'

// Extension values exactly as NVIDIA writes them.
export const BC_CA = Uint8Array.of(0x30, 0x03, 0x01, 0x01, 0xff)
export const BC_CA_PATHLEN_0 = Uint8Array.of(0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00)
export const BC_END_ENTITY = Uint8Array.of(0x30, 0x00)
export const KU_CERT_AND_CRL_SIGN = Uint8Array.of(0x03, 0x02, 0x01, 0x06)
export const KU_CERT_SIGN = Uint8Array.of(0x03, 0x02, 0x02, 0x04)
export const KU_DIGITAL_SIGNATURE = Uint8Array.of(0x03, 0x02, 0x07, 0x80)

const ext = (oid: string, critical: boolean, value: Uint8Array): CertificateExtension => ({ oid, critical, value })
export const basicConstraints = (value: Uint8Array): CertificateExtension => ext(id_ce_basicConstraints, true, value)
export const keyUsage = (value: Uint8Array): CertificateExtension => ext(id_ce_keyUsage, true, value)
export const ski = (keyId: Uint8Array): CertificateExtension => ext(id_ce_subjectKeyIdentifier, false, derElement(0x04, keyId))
export const aki = (keyId: Uint8Array): CertificateExtension =>
  ext(id_ce_authorityKeyIdentifier, false, derElement(0x30, derElement(0x80, keyId)))
export const crlDistributionPoint = (url: string): CertificateExtension =>
  ext(id_ce_cRLDistributionPoints, false, derElement(0x30, derElement(0x30, derElement(0xa0, derElement(0xa0, derElement(0x86, utf8(url)))))))
/** OCSP access at NVIDIA's responder, which every certificate but the roots and the BROMs of Hopper names. */
export const ocsp = (): CertificateExtension =>
  ext(id_pe_authorityInfoAccess, false, derElement(0x30, derElement(0x30, derOid(OID_AD_OCSP), derElement(0x86, utf8(OCSP_URL)))))

/** `SEQUENCE { OID sha384, OCTET STRING digest }`, the FWID of TCG DICE. */
function fwidValue(digest: Uint8Array): Uint8Array {
  if (digest.length !== 48) throw new RangeError(`an FWID must be 48 bytes (SHA-384), got ${digest.length}`)
  return derElement(0x30, derOid(OID_SHA384), derElement(0x04, digest))
}

/** Hopper's FWID extension: the version, the BROM's (DeviceID) public key, then the FWID. */
export function hopperFwidExtension(issuerSpki: Uint8Array, fwid: Uint8Array): CertificateExtension {
  return ext(OID_NVIDIA_FWID, false, derElement(0x30, derElement(0x02, Uint8Array.of(1)), issuerSpki, fwidValue(fwid)))
}

/**
 * Blackwell's TcbInfo as NVIDIA fills it: vendor, model, version "01", svn 1, layer 0, index 0, the FWID
 * then an all-zero second digest, flags, vendorInfo and type (all IMPLICIT context tags).
 */
export function blackwellTcbInfoExtension(model: string, fwid: Uint8Array): CertificateExtension {
  return ext(
    OID_DICE_TCB_INFO,
    false,
    derElement(
      0x30,
      derElement(0x80, utf8('NVIDIA')),
      derElement(0x81, utf8(model)),
      derElement(0x82, utf8('01')),
      derElement(0x83, Uint8Array.of(1)),
      derElement(0x84, Uint8Array.of(0)),
      derElement(0x85, Uint8Array.of(0)),
      derElement(0xa6, fwidValue(fwid), fwidValue(new Uint8Array(48))),
      derElement(0x87, Uint8Array.of(0x00, 0x80, 0x00, 0x00, 0x01)),
      derElement(0x88, Uint8Array.of(0xc0)),
      derElement(0x89, Uint8Array.of(0x00)),
    ),
  )
}

/** `GeneralNames { otherName { 1.3.6.1.4.1.412.274.1, [0] UTF8String } }`. */
export function sanExtension(name: string): CertificateExtension {
  const otherName = derElement(0xa0, derOid(OID_NVIDIA_SAN_NAME), derElement(0xa0, derElement(0x0c, utf8(name))))
  return ext(id_ce_subjectAltName, false, derElement(0x30, otherName))
}
