/**
 * The receipt log, as a client checks it (issue 12 item 5): the inclusion proof of a receipt, fetched from the host,
 * checked against a pinned log key, and its checkpoint checked consistent with the last one this client saw of that
 * log (kept per origin in the client's state directory). The host is untrusted: a proof that does not verify, an entry
 * missing where one was promised, or a fork (two signed checkpoints no single history holds) is refused by code.
 */
import { receiptDigest } from '@vouch/protocol'
import { LogForkError, verifyLogInclusion, VerificationError, type LogProof, type SignedCheckpoint } from '@vouch/verifier'
import { advanceCheckpoint, CheckpointStore, type LogReader } from '@vouch/verifier/log'
import { ClientError } from './errors.js'

/** Largest proof answer read. */
const MAX_PROOF_BYTES = 64 * 1024
/** How often a missing proof is asked for again while waiting. */
const POLL_MS = 200

/** A receipt's proven inclusion. */
export interface LogProofResult {
  /** The receipt entry's index in the log. */
  index: number
  /** The checkpoint it is included under, signed by the log key; consistent with every earlier one this client saw. */
  checkpoint: SignedCheckpoint
  /** The proof as the host served it (`GET /v1/log/proof`'s JSON): what `vouch-verify receipt --log-proof` checks offline. */
  proof: LogProof
}

/** Options of {@link VouchClient.logProof}. */
export interface LogProofOptions {
  /** How long to wait for the proof when the log does not hold the receipt yet, in ms. Unset: 0 (asked once). */
  wait?: number
  /** The index the host announced for the receipt (`Vouch-Log-Index`): a proof is then promised, and must be of it. */
  index?: number
}

/** Where the last checkpoint of each log is kept: files under a state directory, or this process's memory. */
export function checkpointKeeper(stateDir: string | undefined): Pick<CheckpointStore, 'load' | 'save'> {
  if (stateDir !== undefined) return new CheckpointStore(stateDir)
  const notes = new Map<string, SignedCheckpoint>()
  return { load: async (origin) => notes.get(origin) ?? null, save: (checkpoint) => void notes.set(checkpoint.origin, checkpoint) }
}

/** The problem code of an answer, if it carries a problem document. */
function problemCode(body: Uint8Array): string | undefined {
  try {
    const value = JSON.parse(Buffer.from(body).toString('utf8')) as { code?: unknown }
    return typeof value.code === 'string' ? value.code : undefined
  } catch {
    return undefined
  }
}

/** A verifier failure on the log's answers, as the client's code; anything else passes through. */
export function toClientError(error: unknown): unknown {
  if (error instanceof LogForkError) return new ClientError('ERR_CLIENT_LOG_FORK', `the receipt log forked: ${error.message}`, { cause: error, checkpoints: error.checkpoints })
  if (error instanceof VerificationError && error.code === 'ERR_LOG_UNAVAILABLE') return new ClientError('ERR_CLIENT_HTTP', `the receipt log: ${error.message}`, { cause: error })
  if (error instanceof VerificationError || error instanceof TypeError) return new ClientError('ERR_CLIENT_LOG_PROOF_REJECTED', `the receipt log's proof is rejected: ${error.message}`, { cause: error })
  return error
}

/**
 * Fetches the inclusion proof of `receipt` through `reader`, checks it under `logKeys`, then checks its checkpoint
 * against the one `keeper` holds for the log (a consistency proof from the host when the sizes differ) and keeps the
 * later. Refuses with `ERR_CLIENT_LOG_ENTRY_MISSING` (the log does not hold it after `wait`, or holds it elsewhere than
 * the index announced), `ERR_CLIENT_LOG_NOT_SERVED` (a 404 that is not the log's: no log there), at once,
 * `ERR_CLIENT_LOG_PROOF_REJECTED`, `ERR_CLIENT_LOG_FORK` (with both signed checkpoints), or `ERR_CLIENT_HTTP` for
 * another answer.
 */
export async function proveLogged(reader: LogReader, keeper: Pick<CheckpointStore, 'load' | 'save'>, logKeys: readonly string[], receipt: string, options: LogProofOptions = {}): Promise<LogProofResult> {
  const path = `v1/log/proof?receipt=${receiptDigest(receipt)}`
  const deadline = Date.now() + (options.wait ?? 0)
  for (;;) {
    const response = await reader.get(path, 'application/json', MAX_PROOF_BYTES)
    if (response.status === 200) return await check(reader, keeper, logKeys, receipt, response.body, options.index)
    const code = problemCode(response.body)
    if (response.status !== 404) {
      throw new ClientError('ERR_CLIENT_HTTP', `GET /v1/log/proof: HTTP ${response.status}${code === undefined ? '' : `: ${code}`}`, { status: response.status })
    }
    // Only the log's own 404 says "no such receipt (yet)", worth asking again. Any other (ERR_HOST_NOT_FOUND: a host
    // without a log, a URL that is not the host's; a proxy's page) says there is no log here to wait for.
    if (code !== 'ERR_HOST_LOG_ENTRY_NOT_FOUND') {
      throw new ClientError('ERR_CLIENT_LOG_NOT_SERVED', `GET /v1/log/proof: HTTP 404${code === undefined ? ' without a problem document' : `: ${code}`}: the host serves no receipt log at this URL`, { status: 404 })
    }
    if (Date.now() >= deadline) {
      const promised = options.index === undefined ? '' : ` (the host announced it as entry ${options.index})`
      throw new ClientError('ERR_CLIENT_LOG_ENTRY_MISSING', `the receipt log does not hold this receipt${promised}`)
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(0, deadline - Date.now()))))
  }
}

async function check(reader: LogReader, keeper: Pick<CheckpointStore, 'load' | 'save'>, logKeys: readonly string[], receipt: string, body: Uint8Array, promised: number | undefined): Promise<LogProofResult> {
  try {
    const proof = JSON.parse(Buffer.from(body).toString('utf8')) as LogProof
    const { index, checkpoint } = await verifyLogInclusion(receipt, proof, logKeys)
    if (promised !== undefined && index !== promised) {
      throw new ClientError('ERR_CLIENT_LOG_ENTRY_MISSING', `the host announced the receipt as entry ${promised}, the log proves it at ${index}`)
    }
    await advanceCheckpoint(reader, keeper, logKeys, checkpoint)
    return { index, checkpoint, proof }
  } catch (error) {
    if (error instanceof SyntaxError) throw new ClientError('ERR_CLIENT_LOG_PROOF_REJECTED', 'the receipt log\'s proof is not JSON', { cause: error })
    throw toClientError(error)
  }
}
