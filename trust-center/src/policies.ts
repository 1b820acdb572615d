/**
 * The policy a visitor verifies under: one the host serves from policies/ (read-only; the page parses it here,
 * so a host that edited one is caught only by the visitor reading it, which is why pasting your own is offered), or
 * one pasted or dropped. The default is `production`: the strict one.
 */
import { parsePolicy, PolicyInvalidError, type Policy } from './vouch-verifier.js'
import { acceptDrop, byId, errorLink, h, show } from './dom.js'

/** The select's value for a policy the visitor gives. */
const CUSTOM = '(custom)'

/** Fills each select with the shipped policies (production first) and the custom choice. */
export async function offerPolicies(selects: readonly HTMLSelectElement[]): Promise<void> {
  const res = await fetch('/trust-center/policies', { headers: { Accept: 'application/json' } })
  const names = res.ok ? ((await res.json()) as { policies: string[] }).policies : []
  names.sort((a, b) => (a === 'production.yaml' ? -1 : b === 'production.yaml' ? 1 : a.localeCompare(b)))
  for (const select of selects) {
    select.replaceChildren(...names.map((n) => h('option', { value: n }, `${n.replace(/\.yaml$/, '')} (shipped)`)), h('option', { value: CUSTOM }, 'My own policy (paste or drop it)'))
  }
  const custom = byId('custom-policy-field')
  const attestSelect = selects[0]
  attestSelect?.addEventListener('change', () => (custom.hidden = attestSelect.value !== CUSTOM))
  const text = byId<HTMLTextAreaElement>('policy-text')
  acceptDrop(text)
  byId<HTMLInputElement>('policy-file').addEventListener('change', (e) => {
    const file = (e.target as HTMLInputElement).files?.[0]
    if (file !== undefined) void file.text().then((t) => (text.value = t))
  })
}

/** The policy `select` names, parsed; throws PolicyInvalidError (with file, line and field) for a bad one. */
export async function chosenPolicy(select: HTMLSelectElement): Promise<Policy> {
  if (select.value === CUSTOM || select.value === '') {
    const text = byId<HTMLTextAreaElement>('policy-text').value
    return parsePolicy(text, 'your policy')
  }
  const res = await fetch(`/trust-center/policies/${encodeURIComponent(select.value)}`)
  if (!res.ok) throw new Error(`the host did not serve ${select.value} (HTTP ${res.status})`)
  return parsePolicy(await res.text(), select.value)
}

/** A policy that did not parse: its code, linked, and each issue with its line and field. */
export function policyProblem(error: PolicyInvalidError): HTMLElement {
  return h(
    'div',
    { class: 'verdict rejected', 'data-verdict': 'policy-invalid' },
    h('p', {}, h('strong', {}, 'The policy is not valid: '), errorLink(error.code)),
    h('ul', {}, ...error.issues.map((i) => h('li', {}, `${i.file}:${i.line}:${i.column}: ${i.field === '' ? '' : `${i.field}: `}${i.message}`))),
  )
}

/** The policy `select` names, or null after showing in `status` and `out` why it did not load (its issues, for an invalid one). */
export async function loadPolicyFor(select: HTMLSelectElement, status: HTMLElement, out: HTMLElement): Promise<Policy | null> {
  try {
    return await chosenPolicy(select)
  } catch (error) {
    show(status, 'The policy did not load.')
    show(out, error instanceof PolicyInvalidError ? policyProblem(error) : h('p', {}, String(error)))
    return null
  }
}
