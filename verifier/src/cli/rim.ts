/** `vouch-verify rim FILE`: verify an NVIDIA driver or VBIOS RIM on its own. */
import { parseCommandLine } from '@vouch/protocol'
import { verifyRim, type RimClaims } from '../nvidia/rim.js'
import { loadPolicy, parseAt, readInput, UsageError } from './io.js'
import { renderResult } from './render.js'

export const RIM_USAGE = `vouch-verify rim FILE [--at RFC3339] [--policy FILE] [--json | --verbose]

  FILE            a RIM (TCG/SWID XML) as NVIDIA's RIM service serves it
  --at RFC3339    verify the RIM's certificates at this time (default: now; RIM signing certificates live
                  about two years)
  --policy FILE   a policy; needed only to accept a simulated RIM (allowSimulated: true)
  --json          print the Result as JSON
  --verbose       list every check (default: the failed ones, and a count per group of the others)`

export const RIM_OPTIONS = { at: { type: 'string' }, policy: { type: 'string' }, json: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false } } as const

function summary(claims: RimClaims | null): string[] {
  if (claims === null) return ['the RIM could not be parsed']
  return [
    `${claims.product} ${claims.version} · signed by ${claims.signer}${claims.simulated ? ' · SIMULATED' : ''}`,
    `${claims.activeIndices.length} active measurements: ${claims.activeIndices.join(', ')}`,
    `certificates valid until ${claims.certificateNotAfter}`,
  ]
}

/** Runs the command; resolves to the exit code. */
export async function runRim(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseCommandLine(args, { options: RIM_OPTIONS, allowPositionals: true })
  if (positionals.length !== 1) throw new UsageError('rim takes exactly one FILE')
  const xml = Buffer.from(readInput(positionals[0]!, 'rim', 'rim')).toString('utf8')
  const at = parseAt(values.at)
  const policy = values.policy === undefined ? undefined : loadPolicy(values.policy)
  const result = await verifyRim(xml, { ...(at && { at }), ...(policy && { policy }) })
  out(values.json ? JSON.stringify(result, null, 2) : renderResult('vouch-verify rim', result, summary(result.claims), { verbose: values.verbose }))
  return result.verdict === 'accepted' ? 0 : 1
}
