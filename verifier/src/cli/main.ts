/**
 * `vouch-verify`: verify attestation evidence offline against a policy.
 * Exit codes: 0 accepted, 1 rejected, 2 usage error or unreadable input.
 */
import { readFileSync } from 'node:fs'
import { programUsage, runProgram, type Command, type Output } from '@vouch/protocol'
import { BUNDLE_OPTIONS, BUNDLE_USAGE, RECEIPT_OPTIONS, RECEIPT_USAGE, runBundle, runReceipt } from './bundle.js'
import { LOG_OPTIONS, LOG_USAGE, runLog } from './log.js'
import { NVIDIA_GPU_OPTIONS, NVIDIA_GPU_USAGE, runNvidiaGpu } from './nvidia-gpu.js'
import { POLICY_OPTIONS, POLICY_USAGE, runPolicy } from './policy.js'
import { RIM_OPTIONS, RIM_USAGE, runRim } from './rim.js'
import { runSevSnp, SEV_SNP_OPTIONS, SEV_SNP_USAGE } from './sev-snp.js'
import { runTrust, TRUST_OPTIONS, TRUST_USAGE } from './trust.js'

/** The version of this package, for `vouch-verify --version`. */
const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** The commands of `vouch-verify`, with their usage and flags (`trust`, `policy` and `log`: those of `trust fetch`, `policy lint`, `log audit`). */
export const COMMANDS: Readonly<Record<string, Command>> = {
  'sev-snp': { run: runSevSnp, usage: SEV_SNP_USAGE, options: SEV_SNP_OPTIONS },
  'nvidia-gpu': { run: runNvidiaGpu, usage: NVIDIA_GPU_USAGE, options: NVIDIA_GPU_OPTIONS },
  rim: { run: runRim, usage: RIM_USAGE, options: RIM_OPTIONS },
  bundle: { run: runBundle, usage: BUNDLE_USAGE, options: BUNDLE_OPTIONS },
  receipt: { run: runReceipt, usage: RECEIPT_USAGE, options: RECEIPT_OPTIONS },
  policy: { run: runPolicy, usage: POLICY_USAGE, options: POLICY_OPTIONS },
  trust: { run: runTrust, usage: TRUST_USAGE, options: TRUST_OPTIONS },
  log: { run: runLog, usage: LOG_USAGE, options: LOG_OPTIONS },
}

export const USAGE = programUsage('vouch-verify', COMMANDS, 'exit codes: 0 accepted, 1 rejected, 2 usage error or unreadable input')

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export function main(argv: string[], out: Output = (t) => console.log(t), err: Output = (t) => console.error(t)): Promise<number> {
  return runProgram({ name: 'vouch-verify', version: VERSION, usage: USAGE, commands: COMMANDS }, argv, out, err)
}
