/**
 * The trust center's script (served as /trust-center/app.js; built by scripts/build-page.mjs): wires the three
 * views to their forms. All verification runs here, in the visitor's browser, with ./vouch-verifier.js.
 */
import { attest } from './attestation.js'
import { byId } from './dom.js'
import { checkLog } from './log.js'
import { offerPolicies } from './policies.js'
import { inspectReceipt, wireReceiptInputs } from './receipt.js'

async function start(): Promise<void> {
  const attestSelect = byId<HTMLSelectElement>('policy-select')
  const receiptSelect = byId<HTMLSelectElement>('receipt-policy-select')
  await offerPolicies([attestSelect, receiptSelect])
  wireReceiptInputs()
  byId('attest-form').addEventListener('submit', (e) => {
    e.preventDefault()
    void attest(attestSelect)
  })
  byId('receipt-form').addEventListener('submit', (e) => {
    e.preventDefault()
    void inspectReceipt(receiptSelect)
  })
  byId('log-button').addEventListener('click', () => void checkLog())
  document.body.setAttribute('data-ready', 'true')
}

void start()
