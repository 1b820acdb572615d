/**
 * Live attestation: a fresh random challenge made in this browser, the host's answer (every enclave's evidence, as a
 * fleet document, stapled collateral included where the host has it), each enclave's challenged evidence verified
 * here under the chosen policy, and what it attests.
 */
import {
  ARCHIVE_MEDIA_TYPE,
  decodeFleet,
  FLEET_MEDIA_TYPE,
  toHex,
  verifyArchive,
  verifyBundle,
  type BundleClaims,
  type Policy,
  type Result,
} from './vouch-verifier.js'
import { byId, errorLink, facts, h, mono, show, table } from './dom.js'
import { loadPolicyFor } from './policies.js'
import { checksTable, errorsList, verdictView } from './result-view.js'

/** One enclave's evidence as served: archive (with collateral) or bare bundle bytes. */
interface Served {
  bytes: Uint8Array
  archived: boolean
}

/** A failure before any evidence could be verified: the host's answer, or bytes that are not a fleet document. */
class FetchProblem extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

/** Asks the host for evidence answering `nonce`: a fleet document when the host has one, else one enclave's. */
async function fetchEvidence(nonce: string): Promise<Served[]> {
  const res = await fetch(`/v1/attestation?nonce=${nonce}`, { headers: { Accept: `${FLEET_MEDIA_TYPE}, ${ARCHIVE_MEDIA_TYPE};q=0.5` }, cache: 'no-store' })
  const bytes = new Uint8Array(await res.arrayBuffer())
  if (!res.ok) {
    let code = 'HTTP'
    try {
      code = (JSON.parse(new TextDecoder().decode(bytes)) as { code?: string }).code ?? code
    } catch {
      // Not problem details: the status says it.
    }
    throw new FetchProblem(code, `the host answered HTTP ${res.status}`)
  }
  const type = res.headers.get('Content-Type') ?? ''
  if (!type.startsWith(FLEET_MEDIA_TYPE)) return [{ bytes, archived: type.startsWith(ARCHIVE_MEDIA_TYPE) }]
  try {
    const fleet = decodeFleet(bytes)
    return fleet.enclaves.map((e) => ({ bytes: e.challenged, archived: fleet.archived }))
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'ERR_PROTOCOL_MALFORMED'
    throw new FetchProblem(code, `the host's fleet document does not decode: ${(error as Error).message}`)
  }
}

function tcb(t: { bootloader: number; tee: number; snp: number; microcode: number; fmc?: number | undefined }): string {
  return `bootloader ${t.bootloader}, TEE ${t.tee}, SNP ${t.snp}, microcode ${t.microcode}${t.fmc === undefined ? '' : `, FMC ${t.fmc}`}`
}

/** What a verified (or rejected but decoded) bundle says: platform, CPU, GPUs, models, keys. */
export function claimsView(claims: BundleClaims): HTMLElement {
  const cpu = claims.cpu
  const parts: HTMLElement[] = [
    facts([
      ['Platform', claims.platform === 'simulated' ? 'simulated TEE (development only)' : claims.platform],
      ['Evidence', mono(claims.digest)],
      ['Issued', new Date(claims.issuedAt * 1000).toISOString()],
      ['Challenge answered', claims.nonces.length === 0 ? 'none (unchallenged)' : mono(claims.nonces.join(', '))],
      ['Keyset', mono(claims.keyset.kid)],
      ['Keyset expires', new Date(claims.keyset.notAfter * 1000).toISOString()],
      ['CPU', cpu === null ? 'none' : `${cpu.product ?? 'unknown product'} (report v${cpu.reportVersion}, signed by ${cpu.signingKey})`],
      ['Measurement', cpu === null ? null : mono(cpu.measurement)],
      ['Reported TCB', cpu === null ? null : tcb(cpu.reportedTcb)],
      ['Committed TCB', cpu === null ? null : tcb(cpu.committedTcb)],
      ['Launch TCB', cpu === null ? null : tcb(cpu.launchTcb)],
      ['Firmware', cpu === null ? null : `current ${cpu.currentFirmware}, committed ${cpu.committedFirmware}`],
      ['Debug allowed', cpu === null ? null : String(cpu.policy.debug)],
    ]),
  ]
  if (claims.gpus.length > 0) {
    parts.push(
      table(
        'GPUs',
        ['GPU', 'Architecture', 'Driver', 'VBIOS', 'Mode'],
        claims.gpus.map((g, i) => [`gpu[${i}]`, g?.arch ?? 'unknown', g?.driverVersion ?? '—', g?.vbiosVersion ?? '—', g?.mode ?? '—']),
      ),
    )
  }
  parts.push(
    table(
      'Models',
      ['Model', 'Digest', 'Publisher', 'Contributors'],
      claims.models.map((m) => [
        `${m.name} ${m.version}`,
        mono(m.digest),
        m.manifest?.publisher ?? 'not attested (v1 bundle)',
        m.manifest === null ? '—' : h('ul', {}, ...m.manifest.contributors.map((c) => h('li', {}, `${c.name} (${c.role})`))),
      ]),
    ),
  )
  return h('div', { class: 'claims' }, ...parts)
}

/** One enclave's verification, shown. */
function enclaveView(index: number, count: number, result: Result<BundleClaims | null>, policy: Policy): HTMLElement {
  const claims = result.claims
  const simulated = claims?.platform === 'simulated'
  const subject = count === 1 ? 'the enclave' : `enclave ${index + 1} of ${count}`
  return h(
    'article',
    { class: 'enclave', 'aria-label': subject },
    h('h3', {}, count === 1 ? 'The enclave' : `Enclave ${index + 1} of ${count}`),
    verdictView(result, policy.name, simulated, subject),
    claims === null ? null : claimsView(claims),
    checksTable(result, `Checks of ${subject}`),
    errorsList(result),
  )
}

/** Runs one live attestation and shows it in #attest-result; the time to verdict is put on the result (data-ms). */
export async function attest(select: HTMLSelectElement): Promise<void> {
  const status = byId('attest-status')
  const out = byId('attest-result')
  show(out)
  show(status, 'Verifying…')
  const started = performance.now()
  const policy = await loadPolicyFor(select, status, out)
  if (policy === null) return
  const nonce = toHex(crypto.getRandomValues(new Uint8Array(32)))
  try {
    const served = await fetchEvidence(nonce)
    const results = await Promise.all(served.map((s) => (s.archived ? verifyArchive(s.bytes, { policy, nonce }) : verifyBundle(s.bytes, { policy, nonce }))))
    const accepted = results.filter((r) => r.verdict === 'accepted').length
    const ms = performance.now() - started
    out.setAttribute('data-ms', ms.toFixed(1))
    show(status, `${accepted} of ${results.length} enclave${results.length === 1 ? '' : 's'} accepted under ${policy.name}, challenge ${nonce.slice(0, 16)}…, verified in ${ms.toFixed(0)} ms.`)
    show(out, ...results.map((r, i) => enclaveView(i, results.length, r, policy)))
  } catch (error) {
    const code = error instanceof FetchProblem ? error.code : ((error as { code?: string }).code ?? 'ERR_INPUT_INVALID')
    show(status, 'Rejected: no evidence could be verified.')
    show(out, h('div', { class: 'verdict rejected', 'data-verdict': 'rejected' }, h('p', {}, h('strong', {}, `Rejected under ${policy.name}: `), errorLink(code), ` ${(error as Error).message}`)))
  }
}
