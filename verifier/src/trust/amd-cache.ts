/**
 * What the trust directory holds for SEV-SNP evidence, judged for one verification time: `vouch-verify sev-snp`
 * completes its input from it (`cli/trust-dir.ts`) and the host staples it to the evidence it serves. A cached CRL
 * is used only where it can speak for the verification time, or where it lists the chain's intermediate as revoked
 * (revocation is permanent). Nothing here is verified: the verifier checks whatever it is given.
 */
import type { Product } from '@vouch/protocol'
import { productOfVek, readProductName } from '../sev-snp/vek.js'
import { commonName, parseCertificate, type Certificate } from '../x509/certificate.js'
import { parseCrl, type Crl } from '../x509/crl.js'
import { toDerList, type DerInput } from '../x509/pem.js'

/** The first certificate of a PEM or DER input, or null when there is none or it does not parse. */
export function firstCertificate(input: DerInput | undefined): Certificate | null {
  if (input === undefined) return null
  try {
    const der = toDerList(input, 'certificate')[0]
    return der === undefined ? null : parseCertificate(der)
  } catch {
    return null
  }
}

/** The product a VEK names, so a v2 report (which names none) gets its product's chain and CRL from the cache. */
export function productOfVekInput(input: DerInput | undefined): Product | undefined {
  const cert = firstCertificate(input)
  const name = cert === null ? null : readProductName(cert)
  return (name === null ? null : productOfVek(name)) ?? undefined
}

/**
 * Why a cached CRL does not cover `at`, or null when it does: issued at or before `at`, and `at`
 * before its nextUpdate (past it too when the policy allows stale CRLs).
 */
function crlGap(crl: Crl, at: Date, allowStale: boolean): string | null {
  if (at < crl.thisUpdate) return `it was issued ${crl.thisUpdate.toISOString()}, after the verification time ${at.toISOString()}`
  if (!allowStale && (crl.nextUpdate === null || at >= crl.nextUpdate)) {
    const next = crl.nextUpdate === null ? 'it has no nextUpdate' : `its nextUpdate ${crl.nextUpdate.toISOString()} has passed`
    return `it is stale at ${at.toISOString()} (${next}); \`vouch-verify trust fetch\` gets a newer one`
  }
  return null
}

/**
 * Whether the cached CRL `der` (named `name` in notes) is used for a verification at `at` of a chain whose
 * intermediate (ASK or ASVK) is `intermediate`: when it covers `at`, or when it lists that intermediate as revoked
 * (then `note` says it is used anyway). A CRL that does not parse is used, so that verification names the problem.
 * Otherwise `note` says why it is left out.
 */
export function judgeCachedCrl(der: Uint8Array, intermediate: Certificate | null, at: Date, allowStale: boolean, name: string): { use: boolean; note: string | null } {
  let crl: Crl
  try {
    crl = parseCrl(der, `cached CRL ${name}`)
  } catch {
    return { use: true, note: null }
  }
  const gap = crlGap(crl, at, allowStale)
  if (gap === null) return { use: true, note: null }
  if (intermediate !== null && crl.issuer === intermediate.issuer && crl.revoked.has(intermediate.serialNumber)) {
    const revoked = `${commonName(intermediate.subject)} (serial ${intermediate.serialNumber})`
    return { use: true, note: `cached CRL ${name} is used although ${gap}: it lists ${revoked} as revoked` }
  }
  return { use: false, note: `cached CRL ${name} not used, so revocation is not checked: ${gap}` }
}
