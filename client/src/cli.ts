/**
 * `vouch`: attest a Vouch host, list its models, and run verified confidential inference from the
 * command line. Exit codes: 0 accepted, 1 rejected (evidence, receipt or a response that is not a
 * sealed answer), 2 usage error, unreadable input, or a host that cannot be reached or refused the request.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { encodeArchive, encodeTensors, parseCommandLine, programUsage, runProgram, toHex, unreadableFile, UsageError, type Command, type Output, type Program } from '@vouch/protocol'
import { type Policy } from '@vouch/verifier'
import { INPUT_FILE_LIMITS, readInputFile, type InputFileLimit } from '@vouch/verifier/files'
import { defaultCheckpointDir } from '@vouch/verifier/log'
import { createClient, type ClientOptions, type InferResult, type VouchClient } from './client.js'
import { ClientError, type ClientErrorCode, type FleetOutcome } from './errors.js'
import { loadInferenceRequest, loadPolicy } from './load.js'
import { fleetEntries, renderAttestation, renderCredits, renderFleet, renderInference, renderModels, renderReceiptRejection } from './render.js'
import { toOipJsonOutput } from './tensors.js'

const CONNECTION = `  --ca FILE          PEM certificate(s) the host's TLS certificate must chain to (its self-signed one in development)
  --insecure-tls     do not authenticate the host's TLS certificate (development only; evidence is still verified)
  --timeout MS       deadline of each HTTP exchange (default 30000)`

/** The version of this package, for `vouch --version`. */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

export const ATTEST_USAGE = `vouch attest --url URL --policy FILE [--nonce HEX] [--save FILE] [--json | --verbose] [--ca FILE] [--insecure-tls]

  Fetches the evidence of every enclave behind the host with a fresh challenge, and the unchallenged bundle
  receipts name, and verifies both of each under the policy. Prints the first accepted enclave's checks; for a
  host offering several, then one line per enclave (kid, platform, accepted or the first error) and
  "N of M enclaves accepted (policy requires K)" (the policy's fleet.minEnclaves; fewer accepted: exit 1).

  --url URL          the Vouch host, e.g. https://localhost:8443
  --policy FILE      policy the evidence must satisfy (YAML or JSON)
  --nonce HEX        the 32-byte challenge, 64 hex (default: 32 fresh random bytes)
  --save FILE        write the challenged evidence bundle exactly as received (CBOR; \`vouch-verify bundle FILE --nonce HEX\`),
                     of the first accepted enclave (else of the first rejected one)
  --json             print { verdict, nonce, challenged: Result, unchallenged: Result, fleet: { accepted, offered,
                     required, enclaves: [{ index, kid, platform, verdict, error? }] } }
  --verbose          list every check, not only the failed ones and a count per group of the others
${CONNECTION}`

export const INFER_USAGE = `vouch infer --url URL --policy FILE --model NAME --input FILE [--version V] [--receipt-out FILE] [--evidence-out FILE]
            [--archive-out FILE] [--opening-out FILE --request-out FILE --outputs-out FILE] [--json | --verbose] [--ca FILE]
            [--insecure-tls] [--log [--log-key VKEY] [--log-proof-out FILE] [--state-dir DIR]]

  Attests the enclaves behind the host (\`vouch attest\`), seals the request to the key of one it accepts,
  and prints the answer only if it opens under this request and its receipt verifies. An enclave that
  drains or no longer holds its key is passed over for another (attesting again when none is left).

  --url URL            the Vouch host, e.g. https://localhost:8443
  --policy FILE        policy the evidence and the receipt must satisfy (YAML or JSON)
  --model NAME         the model to run
  --input FILE         an OIP v2 JSON inference request { "inputs": [{ name, shape, datatype, data }], "outputs"?, "parameters"? }
                       (.json, or gzipped, e.g. .json.gz)
  --version V          the model version (default: the one the enclave serves)
  --receipt-out FILE   write the receipt (compact JWS)
  --evidence-out FILE  write the evidence bundle the receipt names (CBOR), for
                       \`vouch-verify receipt RECEIPT --evidence FILE --policy FILE\`
  --archive-out FILE   write the evidence archive of that bundle: the bundle with the AMD and NVIDIA collateral
                       the host stapled to it, for \`vouch-verify receipt RECEIPT --archive FILE --policy FILE\`,
                       which then needs no network (a host that stapled nothing: the bundle alone, with a note)
  --opening-out FILE   write the receipt's opening (64 hex): the secret its request and response commitments are
                       keyed with. With the two files below it proves what was asked and answered
                       (\`vouch-verify receipt ... --opening FILE --request FILE --outputs FILE\`); whoever holds it
                       can test guesses of them, so keep it as you keep the request
  --request-out FILE   write the request plaintext the receipt commits to (CBOR, as sealed)
  --outputs-out FILE   write the outputs the receipt commits to (CBOR, as the answer carried them)
  --json               print { model_name, model_version, id, outputs (OIP v2 JSON), receipt, claims }
  --verbose            when the evidence or the receipt is rejected, list every check, not only the failed ones
  --log                wait for the receipt's inclusion proof in the host's receipt log and check it, and its
                       checkpoint against the last one seen of that log; refuse the answer otherwise (default: the
                       policy's log.requireInclusion)
  --log-key VKEY       a log key (note verifier key) checkpoints must be signed by; repeatable (default: the
                       policy's log.keys)
  --log-proof-out FILE write the inclusion proof (JSON), for \`vouch-verify receipt ... --log-proof FILE\`
  --state-dir DIR      where the last checkpoint of each log is kept, one file per log (default: $VOUCH_STATE_DIR/log,
                       else $XDG_STATE_HOME/vouch/log, else ~/.local/state/vouch/log)
${CONNECTION}`

export const MODELS_USAGE = `vouch models --url URL [--json] [--ca FILE] [--insecure-tls]

  Lists the models the host says it serves (unverified: \`vouch attest\` shows what the enclave attests).

  --url URL          the Vouch host, e.g. https://localhost:8443
  --json             print the host's answer { models: [...] }
${CONNECTION}`

export const CREDITS_USAGE = `vouch credits --url URL --log-key VKEY [--since INDEX|DATE] [--json] [--policy FILE] [--state-dir DIR] [--ca FILE]
              [--insecure-tls] [--timeout MS]

  Re-computes the host's attribution ledger from its receipt log, trusting nothing it says: checks the log's
  latest checkpoint is signed by the log key and consistent with the last one seen of that log, reads every
  entry from the first (each proven against the checkpoint's hash tiles), verifies every receipt of the range
  against the evidence the log holds, counts each one its attested manifest credits, and compares the table
  with the host's own GET /v1/ledger for the same range. Prints the table: per contributor and model, the
  answers that credit them, and the entries flagged instead of counted. Exit codes: 0 nothing wrong, 1
  something wrong (a flagged entry, a receipt that does not verify, an entry that is not the log's, a host
  ledger that differs, a fork: both signed checkpoints are printed), 2 usage error or a log that cannot be read.

  --url URL            the Vouch host, e.g. https://vouch.example:8443 (its log under /v1/log/, its ledger at /v1/ledger)
  --log-key VKEY       the log key (note verifier key) checkpoints must be signed by; repeatable (default: the
                       policy's log.keys)
  --since INDEX|DATE   count from this entry index, or from the first receipt signed at or after this time
                       (RFC 3339, e.g. 2026-01-31 or 2026-01-31T12:00:00Z); default: the first entry
  --json               print the ledger as JSON, the shape and text of GET /v1/ledger; problems go to stderr
  --policy FILE        verify receipts and their evidence under this policy (default: authenticity only, and
                       simulated evidence is rejected)
  --state-dir DIR      where the last checkpoint of each log is kept, one file per log (default: $VOUCH_STATE_DIR/log,
                       else $XDG_STATE_HOME/vouch/log, else ~/.local/state/vouch/log)
${CONNECTION}`

/** Rejections: the evidence, the receipt, or an answer that is not a sealed one. Everything else is not a verdict. */
const REJECTIONS: ReadonlySet<ClientErrorCode> = new Set([
  'ERR_CLIENT_ATTESTATION_REJECTED',
  'ERR_CLIENT_FLEET_TOO_SMALL',
  'ERR_CLIENT_RECEIPT_REJECTED',
  'ERR_CLIENT_RESPONSE_INVALID',
  'ERR_CLIENT_RESPONSE_TOO_LARGE',
  'ERR_CLIENT_LOG_PROOF_REJECTED',
  'ERR_CLIENT_LOG_ENTRY_MISSING',
  'ERR_CLIENT_LOG_FORK',
  'ERR_CLIENT_LOG_NOT_SERVED',
])

/** Runs `read` on the file a flag names; a file that cannot be read, or is over its limit, is a UsageError naming the flag. */
function readFlagFile<T>(path: string, flag: string, read: () => T): T {
  try {
    return read()
  } catch (error) {
    // Coded: a file over its limit (ERR_INPUT_INVALID), an invalid policy, a request file that is not a request.
    throw unreadableFile(error, path, flag)
  }
}

/** The --ca file: PEM certificates, no larger than the verifier's limit for a certificate file. */
const CA_FILE: InputFileLimit = INPUT_FILE_LIMITS.certificates

function writeFlagFile(path: string, flag: string, data: Uint8Array | string): void {
  try {
    writeFileSync(path, data)
  } catch (error) {
    throw new UsageError(`${flag} ${path}: cannot write (${(error as Error).message})`)
  }
}

function policyFrom(path: string | undefined): Policy {
  if (path === undefined) throw new UsageError('--policy is required')
  return readFlagFile(path, '--policy', () => loadPolicy(path))
}

const CONNECTION_OPTIONS = {
  url: { type: 'string' },
  ca: { type: 'string' },
  'insecure-tls': { type: 'boolean', default: false },
  timeout: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const

const ATTEST_OPTIONS = { ...CONNECTION_OPTIONS, policy: { type: 'string' }, nonce: { type: 'string' }, save: { type: 'string' }, verbose: { type: 'boolean', default: false } } as const

const INFER_OPTIONS = {
  ...CONNECTION_OPTIONS,
  policy: { type: 'string' },
  model: { type: 'string' },
  version: { type: 'string' },
  input: { type: 'string' },
  'receipt-out': { type: 'string' },
  'evidence-out': { type: 'string' },
  'archive-out': { type: 'string' },
  'opening-out': { type: 'string' },
  'request-out': { type: 'string' },
  'outputs-out': { type: 'string' },
  verbose: { type: 'boolean', default: false },
  log: { type: 'boolean' },
  'log-key': { type: 'string', multiple: true },
  'log-proof-out': { type: 'string' },
  'state-dir': { type: 'string' },
} as const

function clientFrom(values: { url?: string | undefined; ca?: string | undefined; 'insecure-tls'?: boolean | undefined; timeout?: string | undefined }, policy: Policy, log?: ClientOptions['log']): VouchClient {
  if (values.url === undefined) throw new UsageError('--url is required')
  if (values.ca !== undefined && values['insecure-tls']) throw new UsageError('--ca and --insecure-tls exclude each other')
  const options: ClientOptions = { url: values.url, policy, ...(log !== undefined && { log }) }
  const ca = values.ca
  if (ca !== undefined) options.ca = Buffer.from(readFlagFile(ca, '--ca', () => readInputFile(ca, CA_FILE))).toString('utf8')
  if (values['insecure-tls']) options.insecureTls = true
  if (values.timeout !== undefined) {
    const ms = Number(values.timeout)
    if (!Number.isSafeInteger(ms) || ms < 1) throw new UsageError(`--timeout must be a positive integer of milliseconds, got "${values.timeout}"`)
    options.timeoutMs = ms
  }
  try {
    return createClient(options)
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(error.message.replace(/^createClient: /, '--'))
    throw error
  }
}

function errorJson(error: ClientError): Record<string, unknown> {
  return {
    code: error.code,
    message: error.message,
    ...(error.status !== undefined && { status: error.status }),
    ...(error.problem !== undefined && { problem: error.problem }),
    ...(error.checkpoints !== undefined && { checkpoints: error.checkpoints }),
  }
}

/** The enclaves of an attestation for `--json`: how many were offered, accepted and required, and each one. */
function fleetJson(fleet: FleetOutcome): Record<string, unknown> {
  const enclaves = fleetEntries(fleet)
  return { accepted: fleet.accepted.length, offered: enclaves.length, required: fleet.required, enclaves }
}

/** The list of enclaves after the checks, for a host that offered several (a fleet of one prints what it did before fleets). */
function withFleet(text: string, fleet: FleetOutcome | undefined): string {
  return fleet === undefined || fleet.accepted.length + fleet.rejected.length <= 1 ? text : `${text}\n\n${renderFleet(fleet)}`
}

/** Runs `attest`; resolves to the exit code. */
async function runAttest(args: string[], out: Output): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { options: ATTEST_OPTIONS, allowPositionals: true })
  if (positionals.length > 0) throw new UsageError(`attest takes no positional arguments, got ${positionals.join(' ')}`)
  if (values.nonce !== undefined && !/^[0-9a-fA-F]{64}$/.test(values.nonce)) throw new UsageError('--nonce must be 64 hex characters (32 bytes)')
  const policy = policyFrom(values.policy)
  const client = clientFrom(values, policy)
  const saving = values.save === undefined ? {} : { note: `saved the challenged bundle to ${values.save}` }
  try {
    const attestation = await client.attest(values.nonce === undefined ? {} : { nonce: values.nonce })
    if (values.save !== undefined) writeFlagFile(values.save, '--save', attestation.challenged.bytes)
    const fleet: FleetOutcome = { accepted: attestation.fleet, rejected: attestation.rejected, required: policy.fleet.minEnclaves }
    if (values.json) {
      out(JSON.stringify({ verdict: 'accepted', nonce: attestation.nonce, challenged: attestation.challenged.result, unchallenged: attestation.unchallenged.result, fleet: fleetJson(fleet) }, null, 2))
    } else out(withFleet(renderAttestation(client.url, policy, attestation, { verbose: values.verbose, ...saving }), fleet))
    return 0
  } catch (error) {
    if (!(error instanceof ClientError)) throw error
    // The evidence shown: the rejected enclave's, or for a fleet too small, its first accepted one's.
    const evidence = error.attestation ?? error.fleet?.accepted[0]
    if (evidence === undefined && error.fleet === undefined) throw error
    // Rejected evidence is saved too, exactly as received, so it can be examined with vouch-verify.
    if (values.save !== undefined && evidence !== undefined) writeFlagFile(values.save, '--save', evidence.challenged.bytes)
    if (values.json) {
      const shown = evidence === undefined ? {} : { nonce: evidence.nonce, challenged: evidence.challenged.result, unchallenged: evidence.unchallenged.result }
      out(JSON.stringify({ verdict: 'rejected', ...shown, ...(error.fleet !== undefined && { fleet: fleetJson(error.fleet) }), error: errorJson(error) }, null, 2))
    } else if (error.code === 'ERR_CLIENT_ATTESTATION_REJECTED' && evidence !== undefined) {
      out(withFleet(renderAttestation(client.url, policy, evidence, { verbose: values.verbose, refusal: error.message, ...saving }), error.fleet))
    } else {
      out(`${withFleet(`vouch attest ${client.url.origin}: REJECTED`, error.fleet)}\n\n${error.code}: ${error.message}`)
    }
    return 1
  } finally {
    client.close()
  }
}

/** The evidence archive of an answer: the host's, or when it stapled nothing, the bundle alone in one (with a note). */
function archiveOf(result: InferResult, err: Output): Uint8Array {
  if (result.archive !== undefined) return result.archive
  err('vouch infer: the host stapled no collateral to its evidence: the archive holds the bundle alone (a policy that requires a CRL, RIMs or OCSP responses needs them from elsewhere)')
  return encodeArchive({ v: 1, bundle: result.evidence, stapledAt: Math.floor(Date.now() / 1000), crls: [], rims: [], ocsp: [] })
}

/** Runs `infer`; resolves to the exit code. */
async function runInfer(args: string[], out: Output, err: Output): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { options: INFER_OPTIONS, allowPositionals: true })
  if (positionals.length > 0) throw new UsageError(`infer takes no positional arguments, got ${positionals.join(' ')}`)
  if (values.model === undefined) throw new UsageError('--model is required')
  if (values.input === undefined) throw new UsageError('--input is required')
  const input = values.input
  const request = readFlagFile(input, '--input', () => loadInferenceRequest(input))
  const policy = policyFrom(values.policy)
  const logged = values.log ?? policy.log?.requireInclusion ?? false
  if (!logged && (values['log-proof-out'] !== undefined || values['log-key'] !== undefined)) throw new UsageError('--log-key and --log-proof-out go with --log (or a policy whose log.requireInclusion is true)')
  if (logged && values['log-key'] === undefined && policy.log === undefined) throw new UsageError('--log needs --log-key (or a policy with log.keys): the log key checkpoints must be signed by')
  const client = clientFrom(values, policy, { stateDir: values['state-dir'] ?? defaultCheckpointDir(), ...(values['log-key'] !== undefined && { keys: values['log-key'] }) })
  try {
    const result = await client.infer(values.model, request.inputs, {
      log: logged,
      ...(values.version !== undefined && { version: values.version }),
      ...(request.outputs !== undefined && { outputs: request.outputs }),
      ...(request.parameters !== undefined && { parameters: request.parameters }),
    })
    if (values['receipt-out'] !== undefined) writeFlagFile(values['receipt-out'], '--receipt-out', result.receipt)
    if (values['evidence-out'] !== undefined) writeFlagFile(values['evidence-out'], '--evidence-out', result.evidence)
    if (values['archive-out'] !== undefined) writeFlagFile(values['archive-out'], '--archive-out', archiveOf(result, err))
    if (values['opening-out'] !== undefined) writeFlagFile(values['opening-out'], '--opening-out', `${toHex(result.receiptOpening)}\n`)
    if (values['request-out'] !== undefined) writeFlagFile(values['request-out'], '--request-out', result.request)
    if (values['outputs-out'] !== undefined) writeFlagFile(values['outputs-out'], '--outputs-out', encodeTensors(result.outputs))
    if (values['log-proof-out'] !== undefined && result.log !== undefined) writeFlagFile(values['log-proof-out'], '--log-proof-out', `${JSON.stringify(result.log.proof, null, 2)}\n`)
    if (values.json) {
      const outputs = result.outputs.map((t) => {
        const { tensor, lossy } = toOipJsonOutput(t)
        if (lossy) err(`vouch infer: output ${t.name} holds values JSON cannot carry exactly (NaN, infinities, 64-bit integers beyond 2^53, bytes that are not UTF-8); they are null in the JSON`)
        return tensor
      })
      out(JSON.stringify({ model_name: result.model.name, model_version: result.model.version, id: result.id, outputs, receipt: result.receipt, claims: result.claims }))
    } else out(renderInference(policy, result))
    return 0
  } catch (error) {
    if (!(error instanceof ClientError) || !REJECTIONS.has(error.code)) throw error
    if (values.json) out(JSON.stringify({ verdict: 'rejected', error: errorJson(error), ...(error.result !== undefined && { result: error.result }), ...(error.fleet !== undefined && { fleet: fleetJson(error.fleet) }) }, null, 2))
    else if (error.code === 'ERR_CLIENT_ATTESTATION_REJECTED' && error.attestation !== undefined) {
      const note = `nothing was sealed or sent: the enclave's evidence is not accepted under policy ${policy.name}`
      out(withFleet(renderAttestation(client.url, policy, error.attestation, { command: 'infer', verbose: values.verbose, refusal: error.message, note }), error.fleet))
    } else if (error.fleet !== undefined) {
      out(`vouch infer: REJECTED (nothing was sealed or sent)\n  ${error.code}: ${error.message}\n\n${renderFleet(error.fleet)}`)
    } else if (error.code === 'ERR_CLIENT_RECEIPT_REJECTED' && error.result !== undefined) {
      out(`${renderReceiptRejection(error.result as Parameters<typeof renderReceiptRejection>[0], { verbose: values.verbose })}\n\n${error.message}`)
    }
    else if (error.checkpoints !== undefined) {
      // The proof of the fork: two notes signed by the log key that no single history holds. Show them whole.
      out(`vouch infer: REJECTED\n  ${error.code}: ${error.message}\n\nthe checkpoint seen first:\n${error.checkpoints[0]}\nthe checkpoint seen now:\n${error.checkpoints[1]}`)
    } else out(`vouch infer: REJECTED\n  ${error.code}: ${error.message}`)
    return 1
  } finally {
    client.close()
  }
}

const CREDITS_OPTIONS = {
  ...CONNECTION_OPTIONS,
  'log-key': { type: 'string', multiple: true },
  since: { type: 'string' },
  policy: { type: 'string' },
  'state-dir': { type: 'string' },
} as const

/** `--since`: a decimal entry index, or an RFC 3339 date or date-time. */
function sinceFrom(value: string | undefined): number | Date | undefined {
  if (value === undefined) return undefined
  if (/^(0|[1-9][0-9]{0,15})$/.test(value)) return Number(value)
  const date = /^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2}))?$/.test(value) ? new Date(value) : null
  if (date === null || Number.isNaN(date.getTime())) throw new UsageError(`--since must be an entry index or an RFC 3339 date (2026-01-31, 2026-01-31T12:00:00Z), got "${value}"`)
  return date
}

/** Runs `credits`; resolves to the exit code. */
async function runCredits(args: string[], out: Output, err: Output): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { options: CREDITS_OPTIONS, allowPositionals: true })
  if (positionals.length > 0) throw new UsageError(`credits takes no positional arguments, got ${positionals.join(' ')}`)
  const since = sinceFrom(values.since)
  const policy = values.policy === undefined ? null : policyFrom(values.policy)
  if (values['log-key'] === undefined && policy?.log === undefined) throw new UsageError('--log-key is required (or a policy with log.keys): the key the log signs its checkpoints with, as its operator publishes it')
  // Without a policy the client only reads: receipts are then verified for authenticity alone.
  const client = clientFrom(values, policy ?? LISTING_ONLY, { stateDir: values['state-dir'] ?? defaultCheckpointDir(), ...(values['log-key'] !== undefined && { keys: values['log-key'] }) })
  try {
    const report = await client.credits({ policy, ...(since !== undefined && { since }) })
    if (values.json) {
      // The ledger's JSON alone on stdout (none when the log's entries could not be proven), what is wrong on stderr.
      if (report.ledger !== null) out(JSON.stringify(report.ledger))
      for (const p of report.problems) err(`vouch credits: ${p.index === null ? 'log' : `entry ${p.index}`}: ${p.code}: ${p.message}`)
    } else out(renderCredits(report))
    return report.problems.length === 0 && report.ledger !== null && report.ledger.flagged.length === 0 ? 0 : 1
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(`--since: ${error.message.replace(/^credits: /, '')}`)
    if (!(error instanceof ClientError) || error.checkpoints === undefined) throw error
    // The proof of the fork: two notes signed by the log key that no single history holds. Show them whole.
    out(`vouch credits: REJECTED\n  ${error.code}: ${error.message}\n\nthe checkpoint seen first:\n${error.checkpoints[0]}\nthe checkpoint seen now:\n${error.checkpoints[1]}`)
    return 1
  } finally {
    client.close()
  }
}

/** Runs `models`; resolves to the exit code. */
async function runModels(args: string[], out: Output): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { options: CONNECTION_OPTIONS, allowPositionals: true })
  if (positionals.length > 0) throw new UsageError(`models takes no positional arguments, got ${positionals.join(' ')}`)
  // Listing verifies nothing, so it needs no policy; the client still wants one, and gets an unusable one.
  const client = clientFrom(values, LISTING_ONLY)
  try {
    const { models } = await client.models()
    out(values.json ? JSON.stringify({ models }, null, 2) : renderModels(client.url, models))
    return 0
  } finally {
    client.close()
  }
}

/** The policy of a client that only lists models: it accepts nothing (no simulated TEE, no SEV-SNP or GPU section). */
const LISTING_ONLY: Policy = Object.freeze({ version: 1, name: 'listing-only', allowSimulated: false, receipts: { minimumVersion: 2 as const }, fleet: { minEnclaves: 1 }, source: { file: '(none)' }, locate: () => undefined })

/** The commands of `vouch`, with their usage and flags. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  attest: { run: runAttest, usage: ATTEST_USAGE, options: ATTEST_OPTIONS },
  infer: { run: runInfer, usage: INFER_USAGE, options: INFER_OPTIONS },
  models: { run: runModels, usage: MODELS_USAGE, options: CONNECTION_OPTIONS },
  credits: { run: runCredits, usage: CREDITS_USAGE, options: CREDITS_OPTIONS },
}

export const USAGE = programUsage('vouch', COMMANDS, 'exit codes: 0 accepted, 1 rejected, 2 usage error, unreadable input or unreachable host')

const PROGRAM: Program = {
  name: 'vouch',
  version: VERSION,
  usage: USAGE,
  commands: COMMANDS,
  explain(error, command, err) {
    if (!(error instanceof ClientError)) return undefined
    // Not a verdict: the host could not be reached, timed out, or refused the request.
    err(`vouch ${command}: ${error.code}: ${error.message}`)
    return REJECTIONS.has(error.code) ? 1 : 2
  },
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export function main(argv: string[], out: Output = (t) => console.log(t), err: Output = (t) => console.error(t)): Promise<number> {
  return runProgram(PROGRAM, argv, out, err)
}
