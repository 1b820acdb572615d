/**
 * The receipt inspector: a receipt and its evidence (the files `vouch infer` writes: `--receipt-out` and
 * `--evidence-out` or `--archive-out`) verified here, with the log's inclusion proof when the host serves one.
 */
import { decodeArchive, receiptDigest, verifyArchivedReceipt, verifyReceipt, type Policy, type ReceiptClaims, type Result } from './vouch-verifier.js'
import { acceptDrop, byId, errorLink, facts, h, mono, show } from './dom.js'
import { loadPolicyFor } from './policies.js'
import { checksTable, errorsList, verdictView } from './result-view.js'
import { claimsView } from './attestation.js'

/** The proof that the log holds `jws`, from the host, with the keys to check its checkpoint: the policy's, else the host's own (said so). */
async function logProof(jws: string, policy: Policy): Promise<{ log?: { proof: unknown; keys: string[] }; note: string }> {
  const res = await fetch(`/v1/log/proof?receipt=${receiptDigest(jws)}`, { cache: 'no-store' })
  if (!res.ok) return { note: res.status === 404 ? 'The host has no log entry for this receipt (or no log): inclusion is not checked.' : `The host did not serve a proof (HTTP ${res.status}).` }
  const proof: unknown = await res.json()
  const keys = policy.log?.keys
  if (keys !== undefined && keys.length > 0) return { log: { proof, keys: [...keys] }, note: `Checkpoint checked against the policy's log keys.` }
  const key = (await (await fetch('/v1/log/key')).text()).trim()
  return { log: { proof, keys: [key] }, note: `The policy names no log key: the checkpoint is checked against the key the host names (${key.split('+')[0]}), which proves consistency with this host, not with a log you trust.` }
}

function proves(claims: ReceiptClaims, logged: boolean): HTMLElement {
  return h(
    'div',
    { class: 'proves' },
    h('h4', {}, 'What it proves'),
    h(
      'ul',
      {},
      h('li', {}, `An enclave holding the key its evidence attests answered request ${claims.id} with model ${claims.model.name} ${claims.model.version} (${claims.model.digest}).`),
      h('li', {}, 'The request and the answer are committed to: with the opening (kept by the client), anyone can check they are the ones named.'),
      logged ? h('li', {}, 'The log holds it, under a signed checkpoint.') : null,
    ),
    h('h4', {}, 'What it does not prove'),
    h(
      'ul',
      {},
      h('li', {}, 'What the request or the answer said: the receipt holds commitments, not contents.'),
      h('li', {}, 'That the answer is correct, or that the model is fit for a purpose.'),
      logged ? null : h('li', {}, 'That it was logged: no inclusion proof was checked.'),
    ),
  )
}

/** Verifies the receipt and evidence of the form and shows the result in #receipt-result. */
export async function inspectReceipt(select: HTMLSelectElement): Promise<void> {
  const status = byId('receipt-status')
  const out = byId('receipt-result')
  show(out)
  const jws = byId<HTMLTextAreaElement>('receipt-text').value.trim()
  const evidenceFile = byId<HTMLInputElement>('evidence-file').files?.[0]
  if (jws === '' || evidenceFile === undefined) {
    show(status, 'Give a receipt and its evidence file.')
    return
  }
  show(status, 'Verifying…')
  const policy = await loadPolicyFor(select, status, out)
  if (policy === null) return
  const evidence = new Uint8Array(await evidenceFile.arrayBuffer())
  let archived = true
  try {
    decodeArchive(evidence)
  } catch {
    archived = false
  }
  let result: Result<ReceiptClaims | null>
  let note = ''
  try {
    const found = await logProof(jws, policy)
    note = found.note
    const log = found.log === undefined ? {} : { log: found.log }
    result = archived ? await verifyArchivedReceipt(jws, { archive: evidence, policy, ...log }) : await verifyReceipt(jws, { evidence, policy, ...log })
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'ERR_INPUT_INVALID'
    show(status, 'Rejected.')
    show(out, h('div', { class: 'verdict rejected', 'data-verdict': 'rejected' }, h('p', {}, h('strong', {}, 'Rejected: '), errorLink(code), ` ${(error as Error).message}`)))
    return
  }
  const claims = result.claims
  const logged = result.checks.some((c) => c.id === 'receipt.log' && c.status === 'pass')
  show(status, `Receipt ${result.verdict} under ${policy.name}.`)
  show(
    out,
    verdictView(result, policy.name, claims?.platform === 'simulated', 'the receipt'),
    claims === null
      ? null
      : facts([
          ['Request id', mono(claims.id)],
          ['Signed', new Date(claims.iat * 1000).toISOString()],
          ['Model', `${claims.model.name} ${claims.model.version}`],
          ['Model digest', mono(claims.model.digest)],
          ['Credits', claims.attribution.map((a) => `${a.name} (${a.role})`).join(', ')],
          ['Log', note],
        ]),
    claims === null || result.verdict !== 'accepted' ? null : proves(claims, logged),
    checksTable(result, 'Checks of the receipt and its evidence'),
    errorsList(result),
    claims?.evidence ? h('details', {}, h('summary', {}, 'The evidence it is bound to'), claimsView(claims.evidence)) : null,
  )
}

/** Lets the receipt area take a dropped file, and the file input fill it. */
export function wireReceiptInputs(): void {
  const text = byId<HTMLTextAreaElement>('receipt-text')
  acceptDrop(text)
  byId<HTMLInputElement>('receipt-file').addEventListener('change', (e) => {
    const file = (e.target as HTMLInputElement).files?.[0]
    if (file !== undefined) void file.text().then((t) => (text.value = t.trim()))
  })
}
