/**
 * Log and ledger: the receipt log's latest checkpoint, opened under the log key; its consistency with the checkpoint
 * this browser saw last (kept in localStorage: a log that rewrote or dropped history cannot prove it); and the
 * attribution ledger as a table and a chart drawn here (inline SVG).
 */
import { checkTree, fromBase64, openCheckpoint, toBase64, type Ledger } from './vouch-verifier.js'
import { byId, errorLink, facts, h, mono, show, table } from './dom.js'

/** What this browser keeps of the last checkpoint it accepted, and the key it was signed by. */
interface Seen {
  key: string
  size: number
  rootHash: string
  note: string
}

const STORAGE_KEY = 'vouch.trust-center.checkpoint'

function lastSeen(): Seen | null {
  try {
    const value = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as Seen | null
    return value !== null && typeof value.size === 'number' && typeof value.rootHash === 'string' && typeof value.key === 'string' ? value : null
  } catch {
    return null
  }
}

/** A verdict box for the log: the code, linked, and what it means. */
function problem(code: string, message: string): HTMLElement {
  return h('div', { class: 'verdict rejected', 'data-verdict': 'rejected' }, h('p', {}, h('strong', {}, 'Log check failed: '), errorLink(code), ` ${message}`))
}

/** Answers per contributor and model, as horizontal bars (SVG, drawn here; no library, no external request). */
function ledgerChart(ledger: Ledger): SVGSVGElement | null {
  if (ledger.rows.length === 0) return null
  const ns = 'http://www.w3.org/2000/svg'
  const rowHeight = 28
  const max = Math.max(...ledger.rows.map((r) => r.answers))
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', `0 0 600 ${ledger.rows.length * rowHeight + 10}`)
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', `Answers credited per contributor and model: ${ledger.rows.map((r) => `${r.name}, ${r.model} ${r.version}: ${r.answers}`).join('; ')}`)
  svg.classList.add('chart')
  ledger.rows.forEach((r, i) => {
    const y = i * rowHeight + 5
    const label = document.createElementNS(ns, 'text')
    label.setAttribute('x', '0')
    label.setAttribute('y', String(y + 17))
    label.textContent = `${r.name} · ${r.model}`
    const bar = document.createElementNS(ns, 'rect')
    bar.setAttribute('x', '260')
    bar.setAttribute('y', String(y + 4))
    bar.setAttribute('height', String(rowHeight - 10))
    bar.setAttribute('width', String(Math.max(1, (r.answers / max) * 290)))
    const count = document.createElementNS(ns, 'text')
    count.setAttribute('x', String(265 + (r.answers / max) * 290 > 560 ? 560 : 265 + (r.answers / max) * 290))
    count.setAttribute('y', String(y + 17))
    count.textContent = String(r.answers)
    svg.append(label, bar, count)
  })
  return svg
}

function ledgerView(ledger: Ledger): HTMLElement {
  return h(
    'div',
    { class: 'ledger' },
    h('h3', {}, `Attribution ledger, entries ${ledger.from} to ${ledger.to}`),
    table('Answers credited', ['Contributor', 'Role', 'Model', 'Answers'], ledger.rows.map((r) => [r.name, r.role, `${r.model} ${r.version}`, String(r.answers)])),
    ledgerChart(ledger),
    ledger.flagged.length === 0
      ? h('p', {}, 'No entry flagged.')
      : table('Flagged entries (not counted)', ['Entry', 'Receipt', 'Code', 'Reason'], ledger.flagged.map((f) => [String(f.index), mono(f.receipt), errorLink(f.code), f.reason])),
  )
}

/** Checks the latest checkpoint against the last one seen, then shows it and the ledger in #log-result. */
export async function checkLog(): Promise<void> {
  const status = byId('log-status')
  const out = byId('log-result')
  show(out)
  show(status, 'Checking…')
  const keyRes = await fetch('/v1/log/key', { cache: 'no-store' })
  if (!keyRes.ok) {
    show(status, 'This host keeps no receipt log.')
    return
  }
  const key = (await keyRes.text()).trim()
  const seen = lastSeen()
  const parts: Array<HTMLElement | null> = []
  try {
    // The key is taken on first use, then held to: a host that changes it must explain itself.
    if (seen !== null && seen.key !== key) throw Object.assign(new Error(`the host now names log key ${key}, not ${seen.key} it named before`), { code: 'ERR_LOG_CHECKPOINT_UNTRUSTED' })
    const note = await (await fetch('/v1/log/checkpoint', { cache: 'no-store' })).text()
    const checkpoint = await openCheckpoint(note, [key])
    let consistency = 'first checkpoint seen by this browser: kept, to check the next one against'
    if (seen !== null) {
      if (seen.size > checkpoint.size) throw Object.assign(new Error(`the log shrank from ${seen.size} to ${checkpoint.size} entries`), { code: 'ERR_TLOG_PROOF_INVALID' })
      const res = await fetch(`/v1/log/consistency?from=${seen.size}&to=${checkpoint.size}`, { cache: 'no-store' })
      if (!res.ok) throw Object.assign(new Error(`the host served no consistency proof (HTTP ${res.status})`), { code: 'ERR_TLOG_PROOF_INVALID' })
      const { proof } = (await res.json()) as { proof: string[] }
      checkTree(
        proof.map((p) => fromBase64(p, 'proof hash', 32)),
        checkpoint.size,
        checkpoint.rootHash,
        seen.size,
        fromBase64(seen.rootHash, 'root hash', 32),
      )
      consistency = `consistent with the checkpoint of ${seen.size} entries this browser saw before`
    }
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ key, size: checkpoint.size, rootHash: toBase64(checkpoint.rootHash), note } satisfies Seen))
    parts.push(
      h('div', { class: 'verdict accepted', 'data-verdict': 'accepted' }, h('p', {}, h('strong', {}, `Checkpoint of ${checkpoint.size} entries: `), consistency, '.')),
      facts([
        ['Log', checkpoint.origin],
        ['Entries', String(checkpoint.size)],
        ['Root hash', mono(toBase64(checkpoint.rootHash))],
        ['Signed by', mono(key)],
      ]),
    )
    show(status, `Log checked: ${checkpoint.size} entries.`)
  } catch (error) {
    show(status, 'The log check failed.')
    parts.push(problem((error as { code?: string }).code ?? 'ERR_TLOG_MALFORMED', (error as Error).message))
  }
  const ledgerRes = await fetch('/v1/ledger', { cache: 'no-store' })
  if (ledgerRes.ok) parts.push(ledgerView((await ledgerRes.json()) as Ledger))
  show(out, ...parts)
}
