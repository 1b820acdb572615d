/** `vouch-verify bundle` and `vouch-verify receipt`: evidence bundles and the receipts bound to them. */
import { assertTensorData, bundleFromJson, decodeCbor, DEFAULT_MAX_SEALED_BYTES, encodeBundle, fromHex, parseCommandLine, RECEIPT_OPENING_SIZE, type TensorData } from '@vouch/protocol'
import { verifyArchivedReceipt } from '../bundle/archive.js'
import type { BundleClaims, ReceiptClaims } from '../bundle/claims.types.js'
import type { Policy } from '../policy/types.js'
import type { Result } from '../result.js'
import { verifyReceipt } from '../bundle/receipt.js'
import { verifyBundle } from '../bundle/verify.js'
import { loadPolicy, parseAt, parseHexFlag, readInput, UsageError } from './io.js'
import { renderResult } from './render.js'

export const BUNDLE_USAGE = `vouch-verify bundle FILE [--nonce HEX] --policy FILE [--at RFC3339] [--json | --verbose]

  FILE            an evidence bundle: CBOR (application/vnd.vouch.evidence+cbor) or its JSON rendering
  --nonce HEX     the 32-byte challenge the bundle must answer (without it, freshness is not checked)
  --policy FILE   policy (YAML or JSON)
  --at RFC3339    verify certificates and the keyset at this time (default: now)
  --json          print the Result as JSON
  --verbose       list every check (default: the failed ones, and a count per group of the others)`

export const BUNDLE_OPTIONS = { nonce: { type: 'string' }, policy: { type: 'string' }, at: { type: 'string' }, json: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false } } as const

export const RECEIPT_USAGE = `vouch-verify receipt FILE (--evidence FILE | --archive FILE) --policy FILE [--at RFC3339]
                     [--opening HEX|FILE --request FILE --outputs FILE] [--log-proof FILE --log-key VKEY]
                     [--json | --verbose]

  FILE                a receipt (JWS compact serialization, as the enclave returns it)
  --evidence FILE     the evidence bundle the receipt names (CBOR, exactly as received)
  --archive FILE      or the evidence archive of that bundle (CBOR, from \`vouch infer --archive-out\`): the bundle
                      with the AMD and NVIDIA collateral the host stapled, verified from the file alone (no
                      network, no trust directory)
  --policy FILE       policy (YAML or JSON)
  --at RFC3339        verify as of this time (default: the receipt's own time)
  --opening HEX|FILE  the receipt's opening, 32 bytes: 64 hex digits, or a file holding them (hex or raw), as
                      \`vouch infer --opening-out\` writes it. A v2 receipt commits to the request and the outputs
                      under it: without it they are not checked (and --request or --outputs fail)
  --request FILE      the request plaintext the receipt must name (CBOR as sealed; \`vouch infer --request-out\`)
  --outputs FILE      the outputs the receipt must name (CBOR; \`vouch infer --outputs-out\`)
  --log-proof FILE    the receipt's inclusion proof in a receipt log (JSON, as GET /v1/log/proof returns it and
                      \`vouch infer --log-proof-out\` writes it): checked offline against --log-key
  --log-key VKEY      a log key (note verifier key, name+id+key) the proof's checkpoint must be signed by;
                      repeatable (default: the policy's log.keys). Without --log-proof, whether the receipt was
                      logged is not checked, unless the policy's log.requireInclusion refuses it
  --json              print the Result as JSON
  --verbose           list every check (default: the failed ones, and a count per group of the others)`

export const RECEIPT_OPTIONS = {
  evidence: { type: 'string' },
  archive: { type: 'string' },
  policy: { type: 'string' },
  at: { type: 'string' },
  opening: { type: 'string' },
  request: { type: 'string' },
  outputs: { type: 'string' },
  'log-proof': { type: 'string' },
  'log-key': { type: 'string', multiple: true },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
} as const

/** Reads a bundle file: CBOR as is, or the JSON rendering converted back to the CBOR it renders. */
function readBundle(path: string, flag: string): Uint8Array {
  const bytes = readInput(path, flag, 'bundle')
  if (bytes[0] !== 0x7b) return bytes // not "{": CBOR
  try {
    return encodeBundle(bundleFromJson(JSON.parse(Buffer.from(bytes).toString('utf8'))))
  } catch (error) {
    throw new UsageError(`${path}: not a bundle in its JSON rendering (${(error as Error).message})`)
  }
}

function bundleSummary(claims: BundleClaims | null): string[] {
  if (claims === null) return ['the bundle could not be decoded']
  const challenge = claims.nonces.length === 0 ? 'unchallenged' : claims.nonces.length === 1 ? `nonce ${claims.nonces[0]}` : `${claims.nonces.length} nonces`
  return [
    `${claims.platform} · bundle v${claims.v} · keyset ${claims.keyset.kid} until ${new Date(claims.keyset.notAfter * 1000).toISOString()} · ${challenge}`,
    `models: ${claims.models.map((m) => `${m.name} ${m.version}`).join(', ') || 'none'} · ${claims.gpus.length} GPU(s) · issued ${new Date(claims.issuedAt * 1000).toISOString()}`,
    ...claims.models.flatMap((m) => [
      `  ${m.name} ${m.version}: ${m.digest}`,
      ...(m.manifest === null ? [] : [`    manifest ${m.manifest.digest} · published by ${m.manifest.publisher} · ${m.manifest.license}`]),
      ...(m.knownAnswer === null ? [] : [`    known answer: input ${m.knownAnswer.input} → output ${m.knownAnswer.output}`]),
    ]),
  ]
}

/** Runs `bundle`; resolves to the exit code. */
export async function runBundle(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { options: BUNDLE_OPTIONS, allowPositionals: true })
  if (positionals.length !== 1) throw new UsageError('bundle takes exactly one FILE')
  if (values.policy === undefined) throw new UsageError('--policy is required')
  const bundle = readBundle(positionals[0]!, 'bundle')
  const nonce = parseHexFlag(values.nonce, '--nonce', 32)
  const at = parseAt(values.at)
  const result = await verifyBundle(bundle, { policy: loadPolicy(values.policy), ...(nonce && { nonce }), ...(at && { at }) })
  out(values.json ? JSON.stringify(result, null, 2) : renderResult('vouch-verify bundle', result, bundleSummary(result.claims), { verbose: values.verbose }))
  return result.verdict === 'accepted' ? 0 : 1
}

/** `--opening`: 64 hex digits, or a file holding the 32 bytes raw or in hex. */
function readOpening(value: string): Uint8Array {
  const hex = /^[0-9a-fA-F]{64}$/
  if (hex.test(value)) return fromHex(value, '--opening', RECEIPT_OPENING_SIZE)
  const bytes = readInput(value, '--opening', 'opening')
  if (bytes.length === RECEIPT_OPENING_SIZE) return bytes
  const text = Buffer.from(bytes).toString('latin1').trim()
  if (hex.test(text)) return fromHex(text, '--opening', RECEIPT_OPENING_SIZE)
  throw new UsageError(`--opening ${value}: must hold the ${RECEIPT_OPENING_SIZE}-byte opening, raw or as 64 hex digits`)
}

/** `--outputs`: the CBOR of a tensor array, as the answer carried the outputs. */
function readOutputs(path: string): TensorData[] {
  const bytes = readInput(path, '--outputs', 'plaintext')
  try {
    const value = decodeCbor(bytes, { maxBytes: DEFAULT_MAX_SEALED_BYTES, maxDepth: 8 })
    if (!Array.isArray(value)) throw new TypeError('not an array')
    for (const t of value) assertTensorData(t)
    return value as TensorData[]
  } catch (error) {
    throw new UsageError(`--outputs ${path}: not the CBOR of a tensor array (${(error as Error).message})`)
  }
}

/** `--log-proof` and `--log-key`: the proof's JSON text and the keys, both or neither. */
function readLogProof(path: string | undefined, keys: string[] | undefined, policy: Policy): { proof: string; keys?: string[] } | undefined {
  if (path === undefined) {
    if (keys !== undefined) throw new UsageError('--log-key checks a --log-proof: give the proof too')
    return undefined
  }
  if (keys === undefined && policy.log === undefined) throw new UsageError('--log-proof needs --log-key (or a policy with log.keys): the log key its checkpoint must be signed by')
  return { proof: Buffer.from(readInput(path, '--log-proof', 'logProof')).toString('utf8'), ...(keys && { keys }) }
}

/** How the request and the outputs fared: checked, failed, or not checked and why. */
function contentSummary(result: Result<ReceiptClaims | null>, opened: boolean): string {
  const status = (id: string): string => {
    const check = result.checks.find((c) => c.id === id)
    return check?.status === 'pass' ? 'checked' : check?.status === 'fail' ? 'FAILED' : 'not checked'
  }
  const line = `request ${status('receipt.request')}, outputs ${status('receipt.response')}`
  if (result.claims?.v === 2 && !opened) return `${line}: a v2 receipt commits to them under the request's opening; give --opening with --request and --outputs`
  if (result.claims?.v === 1) return `${line} (receipt v1: plain SHA-256 digests, which anyone holding the receipt can test guesses against)`
  return line
}

function receiptSummary(result: Result<ReceiptClaims | null>, opened: boolean): string[] {
  const claims = result.claims
  if (claims === null) return ['the receipt could not be decoded']
  return [
    `request ${claims.id} · ${claims.model.name} ${claims.model.version} (${claims.model.digest}) · ${claims.platform} · signed ${new Date(claims.iat * 1000).toISOString()} · receipt v${claims.v}`,
    contentSummary(result, opened),
    ...claims.attribution.map((a) => `${a.role}: ${a.name} (${a.id})`),
  ]
}

/** Runs `receipt`; resolves to the exit code. */
export async function runReceipt(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { options: RECEIPT_OPTIONS, allowPositionals: true })
  if (positionals.length !== 1) throw new UsageError('receipt takes exactly one FILE')
  if ((values.evidence === undefined) === (values.archive === undefined)) throw new UsageError('give one of --evidence and --archive')
  if (values.policy === undefined) throw new UsageError('--policy is required')
  const jws = Buffer.from(readInput(positionals[0]!, 'receipt', 'receipt')).toString('utf8').trim()
  const at = parseAt(values.at)
  const opening = values.opening === undefined ? undefined : readOpening(values.opening)
  const request = values.request === undefined ? undefined : readInput(values.request, '--request', 'plaintext')
  const outputs = values.outputs === undefined ? undefined : readOutputs(values.outputs)
  const policy = loadPolicy(values.policy)
  const log = readLogProof(values['log-proof'], values['log-key'], policy)
  const options = { policy, ...(at && { at }), ...(opening && { opening }), ...(request && { request }), ...(outputs && { outputs }), ...(log && { log }) }
  const result =
    values.archive !== undefined
      ? await verifyArchivedReceipt(jws, { ...options, archive: readInput(values.archive, '--archive', 'archive') })
      : await verifyReceipt(jws, { ...options, evidence: readBundle(values.evidence!, '--evidence') })
  out(values.json ? JSON.stringify(result, null, 2) : renderResult('vouch-verify receipt', result, receiptSummary(result, opening !== undefined), { verbose: values.verbose }))
  return result.verdict === 'accepted' ? 0 : 1
}
