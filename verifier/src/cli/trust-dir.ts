/**
 * How `vouch-verify sev-snp` and `vouch-verify nvidia-gpu` complete their input from the trust directory that
 * `vouch-verify trust fetch` fills. What the user passes is always used and checked; what the CLI picks up on its own
 * must not turn a verification the user did not ask to be about revocation into a rejection, so a cached CRL or OCSP
 * response is used only where it can speak for the verification time.
 */
import { relative } from 'node:path'
import { parseAttestationReport, type AttestationReport } from '@vouch/protocol'
import type { SevSnpInput } from '../sev-snp/verify.js'
import { firstCertificate, judgeCachedCrl, productOfVekInput } from '../trust/amd-cache.js'
import type { TrustStore } from '../trust/store.js'

export { nvidiaCollateralFromTrustDir } from '../trust/nvidia-cache.js'

/**
 * Fills `input.vek`, `input.chain` and `input.crls` from `store` where the command line left them
 * out, and returns notes saying what came from where and what was left out. Rules:
 * - VEK, chain and CRL come from the report's product and the family SIGNING_KEY names; VLEKs are
 *   never in the cache (KDS does not publish them).
 * - A cached CRL is used only if it covers `at` (see {@link judgeCachedCrl}). Otherwise revocation is not
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
    const judged = judgeCachedCrl(cached.crls[0]!, firstCertificate(input.chain), at, allowStaleCrl, crlName)
    if (judged.use) {
      input.crls = cached.crls
      used.push(`CRL ${crlName}`)
      if (judged.note !== null) notes.push(judged.note)
    } else notes.push(`${judged.note}. A CRL passed with --crl is always checked`)
  }
  if (used.length > 0) notes.unshift(`from trust directory ${store.dir}: ${used.join(', ')}`)
  const missing = [input.vek === undefined ? 'VEK' : null, input.chain === undefined ? 'chain' : null].filter((m) => m !== null)
  if (missing.length > 0) {
    const why = report.signingKey === 'VLEK' && input.vek === undefined ? ' (KDS does not publish VLEKs: pass --vek)' : ''
    notes.push(`trust directory ${store.dir} holds no ${missing.join(' and no ')} for this report${why}`)
  }
  return notes
}
