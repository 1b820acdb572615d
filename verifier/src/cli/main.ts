/**
 * `vouch-verify`: verify attestation evidence offline against a policy (DESIGN.md §5).
 * Exit codes: 0 accepted, 1 rejected, 2 usage error or unreadable input.
 */
import { BUNDLE_USAGE, RECEIPT_USAGE, runBundle, runReceipt } from './bundle.js'
import { NVIDIA_GPU_USAGE, runNvidiaGpu } from './nvidia-gpu.js'
import { POLICY_USAGE, runPolicy } from './policy.js'
import { RIM_USAGE, runRim } from './rim.js'
import { runSevSnp, SEV_SNP_USAGE } from './sev-snp.js'
import { runTrust, TRUST_USAGE } from './trust.js'
import { UsageError } from './io.js'

/** A command: its arguments, where its output goes, where notes and progress go; resolves to the exit code. */
type Command = (args: string[], out: (text: string) => void, err: (text: string) => void) => Promise<number>

const COMMANDS: Record<string, { run: Command; usage: string }> = {
  'sev-snp': { run: runSevSnp, usage: SEV_SNP_USAGE },
  'nvidia-gpu': { run: runNvidiaGpu, usage: NVIDIA_GPU_USAGE },
  rim: { run: runRim, usage: RIM_USAGE },
  bundle: { run: runBundle, usage: BUNDLE_USAGE },
  receipt: { run: runReceipt, usage: RECEIPT_USAGE },
  policy: { run: runPolicy, usage: POLICY_USAGE },
  trust: { run: runTrust, usage: TRUST_USAGE },
}

const USAGE = `usage: vouch-verify <command> [options]

commands:
${Object.values(COMMANDS)
  .map((c) => c.usage.split('\n')[0])
  .map((line) => `  ${line}`)
  .join('\n')}

Run \`vouch-verify <command> --help\` for a command's options.`

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], out = (t: string) => console.log(t), err = (t: string) => console.error(t)): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(USAGE)
    return name === undefined ? 2 : 0
  }
  const command = COMMANDS[name]
  if (command === undefined) {
    err(`vouch-verify: unknown command "${name}"\n\n${USAGE}`)
    return 2
  }
  if (args.includes('--help') || args.includes('-h')) {
    out(command.usage)
    return 0
  }
  try {
    return await command.run(args, out, err)
  } catch (error) {
    // parseArgs reports unknown or malformed flags with ERR_PARSE_ARGS_* codes: usage errors too.
    const code = (error as { code?: unknown }).code
    if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      err(`vouch-verify ${name}: ${(error as Error).message}\n\n${command.usage}`)
      return 2
    }
    // Not a verdict: a bug or an environment failure. Never exit 1, which means "rejected".
    err(`vouch-verify ${name}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    return 2
  }
}
