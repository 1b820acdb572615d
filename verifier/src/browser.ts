/**
 * The verifier as a browser loads it: `npm run build:browser` bundles this module with esbuild into
 * `verifier/dist-browser/vouch-verifier.js` (an ES module, no imports of its own). Everything here is the same code
 * the CLI runs; only the platform seam differs (`@vouch/protocol`'s platform.browser.ts: WebCrypto and plain
 * JavaScript instead of node:crypto and Buffer), so a Result in the browser is the Result Node gives for the same
 * input. docs/browser.md says what replaced what, and the bundle's size.
 *
 * @example
 * ```js
 * import { verifyArchive, parsePolicy, SHIPPED_POLICIES } from './vouch-verifier.js'
 * const policy = parsePolicy(SHIPPED_POLICIES['production.yaml'], 'production.yaml')
 * const result = await verifyArchive(new Uint8Array(await (await fetch('/v1/attestation?archive')).arrayBuffer()), { policy })
 * ```
 */
import devSimulated from '../../policies/dev-simulated.yaml'
import production from '../../policies/production.yaml'

export {
  verifyBundle,
  verifyArchive,
  verifyArchivedReceipt,
  verifyReceipt,
  verifySevSnp,
  verifyNvidiaGpu,
  verifyNvidiaGpus,
  verifyRim,
  verifyLogInclusion,
  parsePolicy,
  lintPolicy,
  renderResult,
  PolicyInvalidError,
  VerificationError,
  PolicyError,
  VERIFICATION_ERROR_CODES,
  POLICY_ERROR_CODES,
} from './index.js'
export type * from './index.js'
export { decodeArchive, decodeBundle, decodeReceipt, bundleFromJson, PROTOCOL_ERROR_CODES, platform } from '@vouch/protocol'
// What the trust-center page needs to ask a host for evidence (every enclave's), to find a receipt in the log and to
// check the log's checkpoints.
export { decodeFleet, receiptDigest, toHex, toBase64, fromBase64, checkTree, ARCHIVE_MEDIA_TYPE, EVIDENCE_MEDIA_TYPE, FLEET_MEDIA_TYPE, ProtocolError } from '@vouch/protocol'
export type { Ledger } from '@vouch/protocol'
export { openCheckpoint } from './log/inclusion.js'

/** The policies Vouch ships (policies/*.yaml), by file name, as text: what `parsePolicy` takes. */
export const SHIPPED_POLICIES: Readonly<Record<string, string>> = {
  'production.yaml': production,
  'dev-simulated.yaml': devSimulated,
}
