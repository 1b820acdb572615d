/**
 * The AMD extensions of VCEK and VLEK certificates (AMD #57230 §3; go-sev-guest `kds`): the TCB the
 * key was derived for, the chip it belongs to (VCEK) or the cloud provider it was issued to (VLEK).
 */
import { AMD_OID, TURIN_CHIP_ID_SIZE, CHIP_ID_SIZE, type Product, type SigningKey, type Tcb } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { commonName, type Certificate } from '../x509/certificate.js'
import { integerValue, readSingle, stringValue, TAG, DerReader } from '../x509/der.js'

/** What a VCEK or VLEK certifies. */
export interface VekExtensions {
  kind: SigningKey
  structVersion: number
  /** `Milan-B0`, `Genoa`, `Turin`, ...: the product, optionally with a stepping. */
  productName: string
  /** SPLs from the certificate; `fmc` only where the certificate carries fmcSPL (Turin). */
  tcb: Tcb
  /** VCEK only: the chip's hardware ID (64 bytes, or 8 on Turin). */
  hwId: Uint8Array | null
  /** VLEK only: the cloud service provider it was issued to. */
  cspId: string | null
}

/** An IA5String or UTF8String extension value as text. */
function decodeString(value: Uint8Array): string {
  const element = new DerReader(value).next(undefined, 'string')
  if (element.raw.length !== value.length || (element.tag !== TAG.ia5String && element.tag !== TAG.utf8String)) {
    throw new DerReader(value).error('expected an IA5String')
  }
  return stringValue(element)
}

function invalid(message: string, cause?: unknown): VerificationError {
  return new VerificationError('ERR_VEK_EXTENSION_INVALID', message, cause === undefined ? undefined : { cause })
}

/**
 * hwID is raw bytes in every certificate KDS has issued; go-sev-guest also accepts a DER OCTET STRING
 * wrapper, so a wrapped value of the right inner length is unwrapped.
 */
function decodeHwId(value: Uint8Array): Uint8Array {
  if (value.length === CHIP_ID_SIZE || value.length === TURIN_CHIP_ID_SIZE) return value
  try {
    const inner = readSingle(value, TAG.octetString, 'hwID').content
    if (inner.length === CHIP_ID_SIZE || inner.length === TURIN_CHIP_ID_SIZE) return inner
  } catch {
    // fall through to the error below
  }
  throw invalid(`hwID must be ${CHIP_ID_SIZE} or ${TURIN_CHIP_ID_SIZE} bytes, got ${value.length}`)
}

/** Decodes and cross-checks the AMD extensions of a VCEK or VLEK. Throws `ERR_VEK_EXTENSION_INVALID`. */
export function decodeVekExtensions(cert: Certificate): VekExtensions {
  const ext = (oid: string): Uint8Array | undefined => cert.extensions.get(oid)?.value
  const integer = (oid: string, name: string): number => {
    const value = ext(oid)
    if (value === undefined) throw invalid(`missing ${name} extension (${oid})`)
    try {
      const n = integerValue(readSingle(value, TAG.integer, name).content)
      if (n > 255) throw invalid(`${name} must be 0 to 255, got ${n}`)
      return n
    } catch (cause) {
      if (cause instanceof VerificationError && cause.code === 'ERR_VEK_EXTENSION_INVALID') throw cause
      throw invalid(`${name} is not a DER INTEGER`, cause)
    }
  }
  const text = (oid: string, name: string): string | null => {
    const value = ext(oid)
    if (value === undefined) return null
    try {
      return decodeString(value)
    } catch (cause) {
      throw invalid(`${name} is not a string`, cause)
    }
  }

  const cn = commonName(cert.subject)
  const hwIdValue = ext(AMD_OID.hwId)
  const cspId = text(AMD_OID.cspId, 'cspID')
  if (hwIdValue !== undefined && cspId !== null) throw invalid('a certificate must not carry both hwID and cspID')
  let kind: SigningKey
  if (cn === 'SEV-VCEK') {
    if (hwIdValue === undefined) throw invalid('VCEK lacks the hwID extension')
    kind = 'VCEK'
  } else if (cn === 'SEV-VLEK') {
    if (cspId === null) throw invalid('VLEK lacks the cspID extension')
    kind = 'VLEK'
  } else {
    throw invalid(`subject CN must be SEV-VCEK or SEV-VLEK, got "${cn}"`)
  }
  const productName = text(AMD_OID.productName, 'productName')
  if (productName === null) throw invalid(`missing productName extension (${AMD_OID.productName})`)

  const tcb: Tcb = {
    bootloader: integer(AMD_OID.blSpl, 'blSPL'),
    tee: integer(AMD_OID.teeSpl, 'teeSPL'),
    snp: integer(AMD_OID.snpSpl, 'snpSPL'),
    microcode: integer(AMD_OID.ucodeSpl, 'ucodeSPL'),
  }
  if (ext(AMD_OID.fmcSpl) !== undefined) tcb.fmc = integer(AMD_OID.fmcSpl, 'fmcSPL')
  return {
    kind,
    structVersion: ext(AMD_OID.structVersion) === undefined ? 0 : integer(AMD_OID.structVersion, 'structVersion'),
    productName,
    tcb,
    hwId: hwIdValue === undefined ? null : decodeHwId(hwIdValue),
    cspId,
  }
}

/** The productName extension as text, or null when absent or unreadable (no checks: see {@link decodeVekExtensions}). */
export function readProductName(cert: Certificate): string | null {
  const value = cert.extensions.get(AMD_OID.productName)?.value
  if (value === undefined) return null
  try {
    return decodeString(value)
  } catch {
    return null
  }
}

/** The product a VEK's productName names (`Milan-B0` → Milan), or null if it names none we know. */
export function productOfVek(productName: string): Product | null {
  const base = productName.split('-')[0]
  return base === 'Milan' || base === 'Genoa' || base === 'Turin' ? base : null
}
