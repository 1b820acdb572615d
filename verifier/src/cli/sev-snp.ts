/** `vouch-verify sev-snp`: verify one SEV-SNP report with its certificates, CRLs and a policy. */
import { parseCommandLine } from '@vouch/protocol'
import type { Result } from '../result.js'
import type { SevSnpClaims } from '../sev-snp/claims.js'
import { verifySevSnp, type SevSnpInput } from '../sev-snp/verify.js'
import { fromTrustDir, loadPolicy, openTrustDir, parseAt, parseHexFlag, readInput, UsageError } from './io.js'
import { renderResult } from './render.js'
import { fillFromTrustDir } from './trust-dir.js'

export const SEV_SNP_USAGE = `vouch-verify sev-snp --report FILE [--vek FILE] [--chain FILE] [--crl FILE]... [--at RFC3339]
                     [--report-data HEX] [--policy FILE] [--trust-dir DIR | --no-trust-dir] [--json | --verbose]

  --report FILE       raw 1184-byte ATTESTATION_REPORT
  --vek FILE          VCEK or VLEK that signed it (PEM or DER)
  --chain FILE        ASK (or ASVK) then ARK (PEM, or concatenated DER)
  --crl FILE          CRL issued by the ARK (DER or PEM); repeatable
  --at RFC3339        verify certificates and CRLs at this time (default: now)
  --report-data HEX   expected REPORT_DATA, 64 bytes
  --policy FILE       policy (YAML or JSON); without it only authenticity is checked
  --trust-dir DIR     take the VEK, chain and CRL not given above from this trust directory, filled by
                      \`vouch-verify trust fetch\` (default: $VOUCH_TRUST_DIR, else $XDG_CACHE_HOME/vouch/trust,
                      else ~/.cache/vouch/trust; a default directory that does not exist is ignored)
  --no-trust-dir      use only the files given on the command line
  --json              print the Result as JSON (notes on what came from the trust directory go to stderr)
  --verbose           list every check (default: the failed ones, and a count per group of the others)

  From the trust directory come the report's product's VCEK (never a VLEK: KDS does not publish them),
  the chain for its SIGNING_KEY and that chain's CRL. A cached CRL is used only if it covers the
  verification time: issued at or before --at, and --at before its nextUpdate (or after it, when the
  policy sets allowStaleCrl). Otherwise it is left out and a note says why: revocation is then not
  checked, and a policy with requireCrl rejects. A cached CRL that lists the ASK/ASVK in use as revoked
  is always used. A CRL given with --crl is always checked, whatever its dates.`

export const SEV_SNP_OPTIONS = {
  report: { type: 'string' },
  vek: { type: 'string' },
  chain: { type: 'string' },
  crl: { type: 'string', multiple: true },
  at: { type: 'string' },
  'report-data': { type: 'string' },
  policy: { type: 'string' },
  'trust-dir': { type: 'string' },
  'no-trust-dir': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
} as const

function summary(claims: SevSnpClaims | null): string[] {
  if (claims === null) return ['the report could not be parsed']
  return [
    `${claims.product ?? 'unknown product'} · report v${claims.reportVersion} · ${claims.signingKey} · VMPL ${claims.vmpl}${claims.simulated ? ' · SIMULATED' : ''}`,
    `measurement ${claims.measurement}`,
    `report data ${claims.reportData}`,
    `reported TCB ${claims.reportedTcb.raw} · firmware ${claims.currentFirmware} · debug ${claims.policy.debug ? 'ON' : 'off'}`,
  ]
}

/** Runs the command; resolves to the exit code. */
export async function runSevSnp(args: string[], out: (text: string) => void, err: (text: string) => void = () => {}): Promise<number> {
  const { values } = parseCommandLine(args, { options: SEV_SNP_OPTIONS })
  if (values.report === undefined) throw new UsageError('--report is required')
  const input: SevSnpInput = { report: readInput(values.report, '--report', 'sevSnpReport') }
  if (values.vek !== undefined) input.vek = readInput(values.vek, '--vek', 'certificate')
  if (values.chain !== undefined) input.chain = readInput(values.chain, '--chain', 'certificates')
  if (values.crl !== undefined) input.crls = values.crl.map((f) => readInput(f, '--crl', 'crl'))
  // One clock for the verification and for choosing collateral from the trust directory.
  const at = parseAt(values.at) ?? new Date()
  const reportData = parseHexFlag(values['report-data'], '--report-data', 64)
  const policy = values.policy === undefined ? undefined : loadPolicy(values.policy)

  let notes: string[] = []
  const store = openTrustDir(values)
  if (store !== null && (input.vek === undefined || input.chain === undefined || input.crls === undefined)) {
    notes = fromTrustDir(store, () => fillFromTrustDir(input, store, at, policy?.sevSnp?.allowStaleCrl ?? false))
  }

  const result: Result<SevSnpClaims | null> = await verifySevSnp(input, {
    at,
    ...(reportData && { reportData }),
    ...(policy && { policy }),
  })
  if (values.json) {
    for (const note of notes) err(`vouch-verify sev-snp: note: ${note}`)
    out(JSON.stringify(result, null, 2))
  } else {
    out(renderResult('vouch-verify sev-snp', result, [...summary(result.claims), ...notes.map((n) => `note: ${n}`)], { verbose: values.verbose }))
  }
  return result.verdict === 'accepted' ? 0 : 1
}
