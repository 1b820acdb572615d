/**
 * How `vouch-verify sev-snp` completes its input from the trust directory that `vouch-verify trust
 * fetch` fills. What the user passes is always used and checked; what the CLI picks up on its own must
 * not turn a verification the user did not ask to be about revocation into a rejection, so a cached
 * CRL is used only where it can speak for the verification time.
 */
import { relative } from 'node:path'
import { parseAttestationReport, type AttestationReport, type Product } from '@vouch/protocol'
import type { SevSnpInput } from '../sev-snp/verify.js'
import { productOfVek, readProductName } from '../sev-snp/vek.js'
import { commonName, parseCertificate, type Certificate } from '../x509/certificate.js'
import { parseCrl, type Crl } from '../x509/crl.js'
import { toDerList, type DerInput } from '../x509/pem.js'
import type { TrustStore } from '../trust/store.js'

function firstCertificate(input: DerInput | undefined): Certificate | null {
  if (input === undefined) return null
  try {
    const der = toDerList(input, 'certificate')[0]
    return der === undefined ? null : parseCertificate(der)
  } catch {
    return null
  }
}

/** The product a VEK names, so a v2 report with `--vek` gets the matching chain from the cache. */
function productOfVekInput(input: DerInput | undefined): Product | undefined {
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
 * Fills `input.vek`, `input.chain` and `input.crls` from `store` where the command line left them
 * out, and returns notes saying what came from where and what was left out. Rules:
 * - VEK, chain and CRL come from the report's product and the family SIGNING_KEY names; VLEKs are
 *   never in the cache (KDS does not publish them).
 * - A cached CRL is used only if it covers `at` (see {@link crlGap}). Otherwise revocation is not
 *   checked, which a policy with `requireCrl` rejects. Exception: a CRL that lists the ASK/ASVK in
 *   use as revoked is always used, since revocation is permanent, and the verification then fails.
 */
export function fillFromTrustDir(input: SevSnpInput, store: TrustStore, at: Date, allowStaleCrl: boolean): string[] {
  let report: AttestationReport
  try {
    report = parseAttestationReport(input.report)
  } catch {
    return [] // verification reports the malformed report
  }
  const hint = report.product ?? productOfVekInput(input.vek)
  const cached = store.collateralFor(report, hint === undefined ? {} : { product: hint })
  const name = (path: string | undefined): string => (path === undefined ? '' : relative(store.dir, path))
  const used: string[] = []
  const notes: string[] = []
  if (input.vek === undefined && cached.vek !== undefined) {
    input.vek = cached.vek
    used.push(`VEK ${name(cached.paths.vek)}`)
  }
  if (input.chain === undefined && cached.chain !== undefined) {
    input.chain = cached.chain
    used.push(`chain ${name(cached.paths.chain)}`)
  }
  if (input.crls === undefined && cached.crls !== undefined) {
    const crlName = name(cached.paths.crl)
    let crl: Crl | null = null
    try {
      crl = parseCrl(cached.crls[0]!, `cached CRL ${crlName}`)
    } catch {
      // A damaged cache file is used, so that verification names the problem.
    }
    const gap = crl === null ? null : crlGap(crl, at, allowStaleCrl)
    const intermediate = firstCertificate(input.chain)
    const revokes = crl !== null && intermediate !== null && crl.issuer === intermediate.issuer && crl.revoked.has(intermediate.serialNumber)
    if (gap === null || revokes) {
      input.crls = cached.crls
      used.push(`CRL ${crlName}`)
      if (gap !== null) {
        const revoked = `${commonName(intermediate!.subject)} (serial ${intermediate!.serialNumber})`
        notes.push(`cached CRL ${crlName} is used although ${gap}: it lists ${revoked} as revoked`)
      }
    } else {
      notes.push(`cached CRL ${crlName} not used, so revocation is not checked: ${gap}. A CRL passed with --crl is always checked`)
    }
  }
  if (used.length > 0) notes.unshift(`from trust directory ${store.dir}: ${used.join(', ')}`)
  const missing = [input.vek === undefined ? 'VEK' : null, input.chain === undefined ? 'chain' : null].filter((m) => m !== null)
  if (missing.length > 0) {
    const why = report.signingKey === 'VLEK' && input.vek === undefined ? ' (KDS does not publish VLEKs: pass --vek)' : ''
    notes.push(`trust directory ${store.dir} holds no ${missing.join(' and no ')} for this report${why}`)
  }
  return notes
}
