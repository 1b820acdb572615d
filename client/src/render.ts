/**
 * The `vouch` CLI's readable output: what was verified (platform, keyset, policy), the model and who
 * contributed it, and short previews of the outputs. The verifier's check tables are reused as they are:
 * compact by default (failed checks, and a count per group of the others), every check with `verbose`.
 */
import { renderResult, type BundleClaims, type Policy, type ReceiptClaims, type RenderOptions, type Result } from '@vouch/verifier'
import type { Attestation, InferResult, ModelInfo } from './client.js'
import type { CreditsReport } from './credits.js'
import type { AttestationEvidence, FleetOutcome } from './errors.js'
import { summarizeTensor, type TensorSummary } from './tensors.js'

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString()
}

/** A number as people read it: integers whole, others to 6 significant digits. */
export function formatNumber(v: number | boolean | string): string {
  if (typeof v !== 'number') return JSON.stringify(v)
  if (Number.isInteger(v) || !Number.isFinite(v)) return String(v)
  return String(Number(v.toPrecision(6)))
}

/** The hardware, in one line: `sev-snp (Genoa, VCEK) + 1 GPU (HOPPER, driver 550.54.15)`. */
export function describePlatform(claims: BundleClaims): string {
  const cpu = claims.cpu === null ? '' : ` (${[claims.cpu.product ?? 'unknown product', claims.cpu.signingKey].join(', ')})`
  const gpus = claims.gpus.map((g) => (g === null ? 'unreadable' : [g.arch ?? 'unknown', g.driverVersion && `driver ${g.driverVersion}`].filter(Boolean).join(', ')))
  return `${claims.platform}${cpu}${gpus.length === 0 ? ', no GPU' : ` + ${gpus.length} GPU${gpus.length > 1 ? 's' : ''} (${gpus.join('; ')})`}`
}

function describePolicy(policy: Policy): string {
  return `${policy.name} (${policy.source.file})`
}

/** The summary lines under the verdict of a bundle. */
export function bundleSummary(claims: BundleClaims | null): string[] {
  if (claims === null) return ['the bundle could not be decoded']
  return [
    `platform  ${describePlatform(claims)}`,
    `keyset    ${claims.keyset.kid} until ${iso(claims.keyset.notAfter)} (${claims.keyset.digest})`,
    `models    ${claims.models.map((m) => `${m.name} ${m.version}`).join(', ') || 'none'}`,
    ...claims.models.flatMap((m) => [
      ...(m.manifest === null ? [] : [`  ${m.name}  manifest ${m.manifest.digest}, published by ${m.manifest.publisher}`]),
      ...(m.knownAnswer === null ? [] : [`  ${m.name}  known answer: input ${m.knownAnswer.input} → output ${m.knownAnswer.output}`]),
    ]),
    `issued    ${iso(claims.issuedAt)} · ${claims.nonces.length === 0 ? 'unchallenged' : `answers ${claims.nonces.length === 1 ? `nonce ${claims.nonces[0]}` : `${claims.nonces.length} nonces, one hardware report for concurrent challenges`}`}`,
  ]
}

/** How {@link renderAttestation} shows the evidence. */
export interface AttestationRenderOptions extends RenderOptions {
  /** The command that fetched it, named in the headline. Unset: `attest`. */
  command?: 'attest' | 'infer'
  /** A last line (where the bundle was saved, or what was not done). Unset: none. */
  note?: string
  /** Why the evidence was refused: printed only when no failed check says it (two accepted bundles attesting different keysets). Unset: accepted. */
  refusal?: string
}

/** The failed checks of a Result, as `id code` strings: two bundles that fail alike have the same set. */
function failures(result: Result<unknown>): string {
  return result.checks
    .filter((c) => c.status === 'fail')
    .map((c) => `${c.id} ${c.code ?? ''}`)
    .sort()
    .join('\n')
}

/**
 * `vouch attest` (or `vouch infer` before it seals anything): the challenged bundle's verdict and checks, then the
 * unchallenged bundle's verdict. The unchallenged bundle's checks are shown only where they tell something new:
 * always with `verbose`, else only when it fails on other checks than the challenged one.
 */
export function renderAttestation(url: URL, policy: Policy, evidence: AttestationEvidence | Attestation, options: AttestationRenderOptions = {}): string {
  const { challenged, unchallenged } = evidence
  const { command = 'attest', note, refusal, ...render } = options
  const title = `vouch ${command} ${url.origin}${command === 'attest' ? '' : " (the enclave's evidence)"}`
  const lines = [renderResult(title, challenged.result, [`policy    ${describePolicy(policy)}`, ...bundleSummary(challenged.result.claims)], render)]
  const u = unchallenged.result
  const alike = u.verdict !== 'accepted' && !render.verbose && failures(u) === failures(challenged.result)
  lines.push(
    '',
    `unchallenged bundle (the evidence receipts name): ${u.verdict === 'accepted' ? 'ACCEPTED' : 'REJECTED'}${alike ? ', on the same failed checks' : ''}${u.claims === null ? '' : `  ${u.claims.digest}`}`,
  )
  if (u.verdict !== 'accepted' && !alike) lines.push('', renderResult('unchallenged bundle', u, bundleSummary(u.claims), render))
  if (refusal !== undefined && challenged.result.verdict === 'accepted' && u.verdict === 'accepted') lines.push('', refusal)
  if (note !== undefined) lines.push('', note)
  return lines.join('\n')
}

/** One enclave a host offered, as `vouch attest` lists it (and `--json` prints it). */
export interface FleetEntry {
  /** Its place in the host's answer. */
  index: number
  /** Its keyset's id, as its challenged bundle names it; null when that bundle could not be read. */
  kid: string | null
  /** Its hardware in one line ({@link describePlatform}); null when its bundle could not be read. */
  platform: string | null
  verdict: 'accepted' | 'rejected'
  /** Why it was rejected: the first failed check's code and message, else the refusal's. */
  error?: { code: string; message: string }
}

/** Every enclave of `fleet`, accepted or not, in the host's order. */
export function fleetEntries(fleet: FleetOutcome): FleetEntry[] {
  const accepted = fleet.accepted.map((m): FleetEntry => ({ index: m.index, kid: m.keyset.kid, platform: describePlatform(m.claims), verdict: 'accepted' }))
  const rejected = fleet.rejected.map((r): FleetEntry => {
    const claims = r.error.attestation?.challenged.result.claims ?? r.result?.claims ?? null
    const first = r.result?.errors[0]
    return { index: r.index, kid: claims?.keyset.kid ?? null, platform: claims === null ? null : describePlatform(claims), verdict: 'rejected', error: first ?? { code: r.error.code, message: r.error.message } }
  })
  return [...accepted, ...rejected].sort((a, b) => a.index - b.index)
}

/** The enclaves a host offered: `N of M enclaves accepted (policy requires K)`, then one line each. */
export function renderFleet(fleet: FleetOutcome): string {
  const entries = fleetEntries(fleet)
  const lines = [`${fleet.accepted.length} of ${entries.length} enclaves accepted (policy requires ${fleet.required})`]
  for (const e of entries) {
    const verdict = e.error === undefined ? 'ACCEPTED' : `REJECTED  ${e.error.code}: ${e.error.message}`
    lines.push(`  #${e.index}  ${e.kid === null ? '(unreadable bundle)' : `${e.kid}  ${e.platform}`}  ${verdict}`)
  }
  return lines.join('\n')
}

/** One line per contributor: role, name, id. */
function contributors(claims: ReceiptClaims): string[] {
  const width = Math.max(...claims.attribution.map((a) => a.role.length), 4)
  return claims.attribution.map((a) => `  ${a.role.padEnd(width)}  ${a.name}  (${a.id})`)
}

/** A short preview of one output: never more than a few lines, whatever its size. */
export function renderTensorSummary(s: TensorSummary): string[] {
  const lines = [`  ${s.name}  ${s.datatype} [${s.shape.join(', ')}]  ${s.count} element${s.count === 1 ? '' : 's'}`]
  if (s.first.length > 0) lines.push(`    first   ${s.first.map(formatNumber).join(', ')}${s.count > s.first.length ? ', …' : ''}`)
  if (s.min !== undefined && s.max !== undefined) {
    lines.push(`    min ${formatNumber(s.min)}  max ${formatNumber(s.max)} at [${s.argmax!.join(', ')}]  mean ${formatNumber(s.mean!)}${s.nan ? `  (${s.nan} NaN)` : ''}`)
  }
  return lines
}

/** `vouch infer`, accepted: what was verified, the model and its contributors, the outputs. */
export function renderInference(policy: Policy, result: InferResult): string {
  const { claims, attestation } = result
  const counts = { pass: 0, fail: 0, skip: 0 }
  for (const c of result.result.checks) counts[c.status]++
  const evidence = claims.evidence
  const lines = [
    `vouch infer: ACCEPTED  ${result.model.name} ${result.model.version} answered request ${result.id}  (receipt: ${counts.pass} passed, ${counts.skip} skipped)`,
    'verified:',
    `  platform  ${evidence === null ? claims.platform : describePlatform(evidence)}`,
    `  keyset    ${attestation.keyset.kid} until ${iso(attestation.keyset.notAfter)}, live: answered challenge ${attestation.nonce}`,
    `  policy    ${describePolicy(policy)}: the evidence and the receipt are accepted`,
    `  receipt   v${claims.v}, signed ${iso(claims.iat)} by the attested key; names this request, these outputs and evidence ${evidence?.digest ?? ''}`,
    'model:',
    `  ${result.model.name} ${result.model.version}  ${result.model.digest}`,
    'contributors:',
    ...contributors(claims),
    'outputs:',
    ...result.outputs.flatMap((t) => renderTensorSummary(summarizeTensor(t))),
    'receipt (compact JWS; keep it with the evidence: --receipt-out, --evidence-out, then vouch-verify receipt):',
    `  ${result.receipt}`,
  ]
  return lines.join('\n')
}

/** A receipt that was rejected: its checks. */
export function renderReceiptRejection(result: Result<ReceiptClaims | null>, options: RenderOptions = {}): string {
  const c = result.claims
  const summary = c === null ? ['the receipt could not be decoded'] : [`request ${c.id} · ${c.model.name} ${c.model.version} (${c.model.digest}) · signed ${iso(c.iat)}`]
  return renderResult('vouch infer: receipt', result, summary, options)
}

/** `x FP32 [-1, 3, 48, -1]`, tolerating what an untrusted host might send instead. */
function dims(t: unknown): string {
  const m = (typeof t === 'object' && t !== null ? t : {}) as Record<string, unknown>
  return `${String(m['name'])} ${String(m['datatype'])} [${Array.isArray(m['shape']) ? m['shape'].join(', ') : '?'}]`
}

/** `vouch models`: one block per model. */
export function renderModels(url: URL, models: readonly ModelInfo[]): string {
  const lines = [`${models.length} model${models.length === 1 ? '' : 's'} listed by ${url.origin} (the host's word: \`vouch attest\` shows what the enclave attests)`]
  for (const m of models) {
    const versions = Array.isArray(m.versions) ? m.versions.join(', ') : typeof m['version'] === 'string' ? m['version'] : ''
    lines.push(`  ${m.name}${versions ? ` ${versions}` : ''}${typeof m.digest === 'string' ? `  ${m.digest}` : ''}`)
    if (Array.isArray(m.inputs)) lines.push(`    inputs   ${m.inputs.map(dims).join('; ')}`)
    if (Array.isArray(m.outputs)) lines.push(`    outputs  ${m.outputs.map(dims).join('; ')}`)
  }
  return lines.join('\n')
}

/** `vouch credits`: the verdict, the range and its counts, the table (aligned columns), the flagged entries and the problems. */
export function renderCredits(report: CreditsReport): string {
  const { ledger, checkpoint } = report
  const ok = report.problems.length === 0 && ledger !== null && ledger.flagged.length === 0
  const lines = [`vouch credits ${checkpoint.origin}: ${ok ? 'OK' : 'PROBLEMS FOUND'}`]
  if (ledger !== null) {
    lines.push(`  entries ${ledger.from} to ${ledger.to - 1} of the checkpoint of ${checkpoint.size}: ${report.receipts} receipts, ${report.counted} counted, ${report.verified} verified; ${ledger.flagged.length} entries flagged`)
    const table = [['role', 'id', 'name', 'model', 'version', 'answers'], ...ledger.rows.map((r) => [r.role, r.id, r.name, r.model, r.version, String(r.answers)])]
    const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)))
    if (ledger.rows.length > 0) lines.push('', ...table.map((row) => `  ${row.map((cell, c) => (c === row.length - 1 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')}`))
    else lines.push('', '  no answer in this range credits anyone')
    if (ledger.flagged.length > 0) lines.push('', 'flagged (not counted):', ...ledger.flagged.map((f) => `  entry ${f.index}: ${f.code}: ${f.reason} (${f.receipt})`))
  }
  if (report.problems.length > 0) lines.push('', 'problems:', ...report.problems.map((p) => `  ${p.index === null ? 'log' : `entry ${p.index}`}: ${p.code}: ${p.message}`))
  return lines.join('\n')
}
