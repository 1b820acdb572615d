/**
 * A Result as the page shows it: the verdict in words (simulated evidence said plainly), then the CLI's explain
 * table (`vouch-verify ... --explain --verbose`): every check, pass / fail / skip, what it found or why it was
 * skipped, and under a failure its code (linked to its entry) and what to change.
 */
import type { Check, Result } from './vouch-verifier.js'
import { errorLink, h, table } from './dom.js'

/** The verdict line: accepted or rejected, under which policy, and whether the evidence was simulated. */
export function verdictView(result: Result<unknown>, policyName: string, simulated: boolean, subject: string): HTMLElement {
  const accepted = result.verdict === 'accepted'
  const codes = [...new Set(result.errors.map((e) => e.code))]
  const words = simulated ? `Simulated, ${accepted ? 'accepted' : 'rejected'} under ${policyName}` : `${accepted ? 'Accepted' : 'Rejected'} under ${policyName}`
  const box = h(
    'div',
    { class: `verdict ${accepted ? 'accepted' : 'rejected'}`, 'data-verdict': result.verdict, 'data-simulated': String(simulated) },
    h('p', { class: 'verdict-line' }, h('strong', {}, words), ` (${subject})`),
  )
  if (simulated) box.append(h('p', {}, 'This evidence comes from the simulated TEE, made for development: it proves nothing about real hardware.'))
  if (codes.length > 0) {
    const list = h('ul', { class: 'codes', 'aria-label': 'Error codes' })
    for (const code of codes) list.append(h('li', {}, errorLink(code)))
    box.append(list)
  }
  return box
}

function statusCell(check: Check): HTMLElement {
  const word = check.warning ? 'warn' : check.status
  return h('span', { class: `status ${word}` }, word)
}

/** Every check of `result`, as the CLI's verbose explain table. */
export function checksTable(result: Result<unknown>, caption: string): HTMLTableElement {
  return table(
    caption,
    ['Check', 'Status', 'Detail', 'Code and hint'],
    result.checks.map((c) => [h('code', {}, c.id), statusCell(c), c.detail, c.status === 'fail' ? h('span', {}, c.code === undefined ? '' : errorLink(c.code), c.hint === undefined ? '' : h('span', { class: 'hint' }, ` → ${c.hint}`)) : '']),
  )
}

/** Errors not shown under a failed check (a Result may hold an error with no check of its own). */
export function errorsList(result: Result<unknown>): HTMLElement | null {
  const shown = new Set(result.checks.filter((c) => c.status === 'fail').map((c) => `${c.code}\n${c.detail}`))
  const rest = result.errors.filter((e) => !shown.has(`${e.code}\n${e.message}`))
  if (rest.length === 0) return null
  return h('ul', { class: 'errors' }, ...rest.map((e) => h('li', {}, errorLink(e.code), `: ${e.message}`)))
}
