/** `vouch-verify policy lint FILE`: check a policy file against the schema and the rules. */
import { closestName, parseCommandLine, unreadableFile } from '@vouch/protocol'
import { loadPolicyFile } from '../input-file.js'
import { PolicyInvalidError } from '../policy/parse.js'
import { isPolicyTooLarge, UsageError } from './io.js'

export const POLICY_USAGE = `vouch-verify policy lint FILE [--json]

  Checks a policy file (YAML or JSON). Each problem is printed as FILE:LINE:COLUMN: FIELD: MESSAGE.
  --json   print { valid, file, name?, issues }

  Exit 0 when the policy is valid, 1 when it is not.`

export const POLICY_OPTIONS = { json: { type: 'boolean', default: false } } as const

/** Runs `policy <subcommand>`; resolves to the exit code. */
export async function runPolicy(args: string[], out: (text: string) => void): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'lint') throw new UsageError(sub === undefined ? 'missing subcommand (lint)' : `unknown subcommand "${sub}"${closestName(sub, ['lint']) ? ': did you mean lint?' : ''}`)
  const { values, positionals } = parseCommandLine(rest, { options: POLICY_OPTIONS, allowPositionals: true })
  if (positionals.length !== 1) throw new UsageError('policy lint takes exactly one FILE')
  const file = positionals[0]!
  try {
    const policy = loadPolicyFile(file)
    const sections = ['sevSnp', 'nvidiaGpu', 'evidence', 'models'].filter((s) => s in policy && policy[s as keyof typeof policy] !== undefined)
    out(values.json ? JSON.stringify({ valid: true, file, name: policy.name, issues: [] }, null, 2) : `${file}: OK (policy "${policy.name}", sections: ${sections.join(', ') || 'none'})`)
    return 0
  } catch (error) {
    // A file too large to read is unreadable input (exit 2), like a missing one; every other problem is a finding.
    if (!(error instanceof PolicyInvalidError) || isPolicyTooLarge(error)) throw unreadableFile(error, file, 'policy lint')
    out(values.json ? JSON.stringify({ valid: false, file, issues: error.issues }, null, 2) : error.message)
    return 1
  }
}
