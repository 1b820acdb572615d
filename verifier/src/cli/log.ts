/** `vouch-verify log audit`: follow a receipt log from the last checkpoint audited, and report what is wrong with it. */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { closestName, parseCommandLine } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { auditLog, type AuditReport } from '../log/audit.js'
import { CheckpointStore, defaultCheckpointDir, httpLogReader } from '../log/follow.js'
import { loadPolicy, readInput, UsageError } from './io.js'

export const LOG_USAGE = `vouch-verify log audit --url URL --log-key VKEY [--state DIR] [--policy FILE] [--fork-out FILE] [--ca FILE] [--json]

  Follows a Vouch host's receipt log from the last checkpoint this auditor stored: checks the log's latest
  checkpoint is signed by the log key and consistent with the stored one, fetches every new entry (entry
  bundles, each proven against the hash tiles of the checkpoint), checks each decodes, and verifies each
  receipt against the evidence bundle it names, as logged. The stored checkpoint advances only when nothing
  is wrong. A fork (two signed checkpoints no single history holds) is reported with both notes, written to
  --fork-out as proof. Exit codes: 0 nothing wrong, 1 something wrong (or a fork), 2 usage error or no log.

  --url URL        the Vouch host, e.g. https://vouch.example:8443 (its log API under /v1/log/)
  --log-key VKEY   the log key (note verifier key) checkpoints must be signed by; repeatable
  --state DIR      where the last checkpoint audited of each log is kept (default: $VOUCH_STATE_DIR/log, else
                   $XDG_STATE_HOME/vouch/log, else ~/.local/state/vouch/log)
  --policy FILE    verify receipts and their evidence under this policy (default: authenticity only, and
                   simulated evidence is rejected)
  --fork-out FILE  where to write a fork's proof, JSON { origin, checkpoints: [stored, served] } (default:
                   <origin, URI-encoded>.fork.json in the state directory)
  --ca FILE        PEM certificate(s) the host's TLS certificate must chain to (its self-signed one in development;
                   default: Node's CAs)
  --json           print the report as JSON`

export const LOG_OPTIONS = {
  url: { type: 'string' },
  'log-key': { type: 'string', multiple: true },
  state: { type: 'string' },
  policy: { type: 'string' },
  'fork-out': { type: 'string' },
  ca: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const

function render(report: AuditReport, forkFile: string | null): string {
  const from = report.from === null ? 'its first entry' : `the checkpoint of ${report.from.size} entries audited before`
  const lines = [
    `vouch-verify log audit ${report.origin}: ${report.problems.length === 0 ? 'OK' : 'PROBLEMS FOUND'}`,
    `  from ${from} to its checkpoint of ${report.to.size}: ${report.entries} entries, ${report.receipts} receipts, ${report.verified} verified`,
    ...report.problems.map((p) => `  ${p.index === null ? 'log' : `entry ${p.index}`}: ${p.code}: ${p.message}`),
  ]
  if (report.fork !== null) lines.push('', `the log forked; both signed checkpoints${forkFile === null ? '' : ` (written to ${forkFile})`}:`, '', report.fork[0], report.fork[1])
  return lines.join('\n')
}

/** Runs `log audit`; resolves to the exit code. */
export async function runLog(args: string[], out: (text: string) => void): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'audit') throw new UsageError(sub === undefined ? 'missing subcommand (audit)' : `unknown subcommand "${sub}"${closestName(sub, ['audit']) ? ': did you mean audit?' : ''}`)
  const { values } = parseCommandLine(rest, { options: LOG_OPTIONS })
  if (values.url === undefined) throw new UsageError('--url is required')
  if (!/^https?:\/\//.test(values.url) || !URL.canParse(values.url)) throw new UsageError(`--url ${values.url}: must be an http(s) URL`)
  const keys = values['log-key']
  if (keys === undefined) throw new UsageError('--log-key is required: the key the log signs its checkpoints with, as its operator publishes it')
  const dir = values.state ?? defaultCheckpointDir()
  const policy = values.policy === undefined ? undefined : loadPolicy(values.policy)
  const ca = values.ca === undefined ? undefined : readInput(values.ca, '--ca', 'certificates')
  let report: AuditReport
  try {
    report = await auditLog({ reader: httpLogReader(values.url, ca === undefined ? {} : { ca }), store: new CheckpointStore(dir), logKeys: keys, ...(policy !== undefined && { policy }) })
  } catch (error) {
    // No log to audit: nothing is concluded about it.
    if (error instanceof VerificationError && (error.code === 'ERR_LOG_UNAVAILABLE' || error.code === 'ERR_LOG_PROOF_MALFORMED')) throw new UsageError(`${error.code}: ${error.message}`)
    if (error instanceof VerificationError && error.code === 'ERR_LOG_CHECKPOINT_UNTRUSTED') {
      out(`vouch-verify log audit: ${error.code}: ${error.message}`)
      return 1
    }
    throw error
  }
  let forkFile: string | null = null
  if (report.fork !== null) {
    forkFile = values['fork-out'] ?? join(dir, `${encodeURIComponent(report.origin)}.fork.json`)
    try {
      writeFileSync(forkFile, `${JSON.stringify({ origin: report.origin, checkpoints: report.fork }, null, 2)}\n`)
    } catch (error) {
      out(`vouch-verify log audit: cannot write the fork's proof to ${forkFile} (${(error as Error).message}); it follows here`)
      forkFile = null
    }
  }
  out(values.json ? JSON.stringify({ ...report, from: report.from?.note ?? null, to: report.to.note, forkFile }, null, 2) : render(report, forkFile))
  return report.problems.length === 0 ? 0 : 1
}
