/**
 * AMD Key Distribution Service conventions (AMD #57230, "VCEK Certificate and KDS Interface"):
 * the VCEK/VLEK certificate extension OIDs and the KDS URL scheme. Shared by the verifier, which reads
 * the extensions and fetches collateral, and by the simulated PSP, which writes certificates.
 */
import { toHex } from '../bytes.js'
import { TURIN_CHIP_ID_SIZE, usesTurinTcbLayout, type Product, type Tcb } from './report.js'

/** OIDs of the AMD extensions carried by VCEK and VLEK certificates. */
export const AMD_OID = {
  structVersion: '1.3.6.1.4.1.3704.1.1',
  productName: '1.3.6.1.4.1.3704.1.2',
  blSpl: '1.3.6.1.4.1.3704.1.3.1',
  teeSpl: '1.3.6.1.4.1.3704.1.3.2',
  snpSpl: '1.3.6.1.4.1.3704.1.3.3',
  spl4: '1.3.6.1.4.1.3704.1.3.4',
  spl5: '1.3.6.1.4.1.3704.1.3.5',
  spl6: '1.3.6.1.4.1.3704.1.3.6',
  spl7: '1.3.6.1.4.1.3704.1.3.7',
  ucodeSpl: '1.3.6.1.4.1.3704.1.3.8',
  fmcSpl: '1.3.6.1.4.1.3704.1.3.9',
  hwId: '1.3.6.1.4.1.3704.1.4',
  cspId: '1.3.6.1.4.1.3704.1.5',
} as const

/** The public AMD KDS. */
export const AMD_KDS_URL = 'https://kdsintf.amd.com'

/** Which endorsement-key family a chain or CRL belongs to. */
export type KeyFamily = 'vcek' | 'vlek'

function base(kdsUrl: string): string {
  return kdsUrl.replace(/\/+$/, '')
}

/** URL of the ASK (or ASVK) then ARK PEM chain for a product. */
export function kdsCertChainUrl(product: Product, family: KeyFamily, kdsUrl = AMD_KDS_URL): string {
  return `${base(kdsUrl)}/${family}/v1/${product}/cert_chain`
}

/** URL of the DER CRL signed by a product's ARK. */
export function kdsCrlUrl(product: Product, family: KeyFamily, kdsUrl = AMD_KDS_URL): string {
  return `${base(kdsUrl)}/${family}/v1/${product}/crl`
}

/**
 * The hardware ID that names a chip at KDS: all 64 CHIP_ID bytes on Milan and Genoa, the first 8 on
 * Turin (KDS answers 404 to a 64-byte Turin ID).
 */
export function kdsHwId(chipId: Uint8Array, product: Product): string {
  return toHex(usesTurinTcbLayout(product) ? chipId.subarray(0, TURIN_CHIP_ID_SIZE) : chipId)
}

/** URL of the VCEK for a chip at a REPORTED_TCB. SPL parameters are decimal, FMC first on Turin. */
export function kdsVcekUrl(product: Product, chipId: Uint8Array, tcb: Tcb, kdsUrl = AMD_KDS_URL): string {
  const params = [
    ...(usesTurinTcbLayout(product) ? [`fmcSPL=${tcb.fmc ?? 0}`] : []),
    `blSPL=${tcb.bootloader}`,
    `teeSPL=${tcb.tee}`,
    `snpSPL=${tcb.snp}`,
    `ucodeSPL=${tcb.microcode}`,
  ]
  return `${base(kdsUrl)}/vcek/v1/${product}/${kdsHwId(chipId, product)}?${params.join('&')}`
}
