/**
 * What Vouch's four programs (`vouch`, `vouch-verify`, `vouch-host`, `vouch-enclave`) share on the command line:
 * flags read by node:util's parseArgs, strictly, with a "did you mean --policy?" for a mistyped flag; one
 * dispatcher for programs made of commands (usage, `--help`, `--version`, unknown commands, usage errors and
 * their exit code 2). Pure: no I/O; the programs pass their output functions and version in.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { CodedError } from './errors.js'

/** The flags of a command, as node:util's parseArgs takes them; each one must appear in the command's usage text. */
export type OptionTable = NonNullable<ParseArgsConfig['options']>

/** Where a program writes a block of text (one call, one or more lines). */
export type Output = (text: string) => void

/** A problem with how a program was called, or with an input it could not read: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

/**
 * What to throw when the file a flag names could not be used: a {@link UsageError} naming the flag and the code for a
 * coded refusal (a file over its limit, an invalid policy), or the file system's reason; anything else, unchanged.
 */
export function unreadableFile(error: unknown, path: string, flag: string): unknown {
  if (error instanceof CodedError) return new UsageError(`${flag} ${error.code}: ${error.message}`)
  const errno = error as NodeJS.ErrnoException
  if (typeof errno.code !== 'string') return error
  return new UsageError(`${flag} ${path}: cannot read (${errno.code === 'ENOENT' ? 'no such file' : errno.message})`)
}

/**
 * The candidate `input` was most likely meant as, or undefined when none is close: a case-insensitive match, the
 * only candidate `input` is a prefix of, or the nearest by edit distance (a transposition counts as one edit)
 * within a third of the candidate's length.
 */
export function closestName(input: string, candidates: readonly string[]): string | undefined {
  const lower = input.toLowerCase()
  const exact = candidates.find((c) => c.toLowerCase() === lower)
  if (exact !== undefined) return exact
  const prefixed = candidates.filter((c) => lower.length >= 3 && c.toLowerCase().startsWith(lower))
  if (prefixed.length === 1) return prefixed[0]
  let best: { name: string; distance: number } | undefined
  for (const name of candidates) {
    const distance = editDistance(lower, name.toLowerCase())
    if (distance <= Math.max(1, Math.floor(name.length / 3)) && (best === undefined || distance < best.distance)) best = { name, distance }
  }
  return best?.name
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)))
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1)
      rows[i]![j] = d
    }
  }
  return rows[a.length]![b.length]!
}

/** The flag names of `options` as typed: `--name`, and `-x` for a short alias. */
export function flagNames(options: OptionTable): string[] {
  return Object.entries(options).flatMap(([name, o]) => [`--${name}`, ...(o.short === undefined ? [] : [`-${o.short}`])])
}

/** The first token of `args` that names a flag `options` does not have (before a `--` that ends the flags). */
function unknownFlag(args: readonly string[], options: OptionTable): string | undefined {
  const known = new Set(flagNames(options))
  for (const arg of args) {
    if (arg === '--') return undefined
    if (!arg.startsWith('-') || arg === '-') continue
    const name = arg.startsWith('--') ? arg.split('=', 1)[0]! : arg.slice(0, 2)
    if (!known.has(name)) return name
  }
  return undefined
}

/**
 * Reads `args` with node:util's parseArgs in strict mode. A flag it does not know, a missing value, an unexpected
 * positional argument are {@link UsageError}s; an unknown flag's message suggests the closest known one
 * (`unknown flag --polcy: did you mean --policy?`).
 */
export function parseCommandLine<const T extends { options: OptionTable; allowPositionals?: boolean }>(args: readonly string[], config: T): ReturnType<typeof parseArgs<T & { strict: true; args: string[] }>> {
  try {
    return parseArgs({ ...config, args: [...args], strict: true })
  } catch (error) {
    const code = (error as { code?: unknown }).code
    if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS')) throw error
    const flag = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? unknownFlag(args, config.options) : undefined
    if (flag === undefined) throw new UsageError((error as Error).message, { cause: error })
    const guess = closestName(flag, flagNames(config.options).filter((f) => f.startsWith('--')))
    throw new UsageError(`unknown flag ${flag}${guess === undefined ? '' : `: did you mean ${guess}?`}`, { cause: error })
  }
}

/** One command of a program: its usage (which names every flag of `options`), its flags, and what it does. */
export interface Command {
  usage: string
  options: OptionTable
  /** Runs with the arguments after the command's name; resolves to the exit code. */
  run(args: string[], out: Output, err: Output): Promise<number>
}

/** A program made of commands (`vouch attest`, `vouch-verify bundle`). */
export interface Program {
  /** The program's name, as typed: `vouch`. */
  name: string
  version: string
  /** The program's usage: its commands, `--help` and `--version`. */
  usage: string
  commands: Readonly<Record<string, Command>>
  /**
   * Prints a failure that is neither a usage error nor a bug (a host that cannot be reached), and returns its exit
   * code; undefined for anything else, which is printed as an internal error. Unset: every other failure is internal.
   */
  explain?(error: unknown, command: string, err: Output): number | undefined
}

/**
 * Runs `program` with `argv` (without node and the script); resolves to the exit code. No command prints the usage
 * and exits 2; `--help` (or `help`, `-h`) prints it and `--version` the version, exit 0; `COMMAND --help` prints the
 * command's usage. An unknown command or flag, and any {@link UsageError}, exit 2 with a suggestion where one is
 * close. A failure `explain` does not claim is an internal error: exit 2 as well, never 1, which means "rejected".
 */
export async function runProgram(program: Program, argv: readonly string[], out: Output, err: Output): Promise<number> {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    out(program.usage)
    return name === undefined ? 2 : 0
  }
  if (name === '--version') {
    out(`${program.name} ${program.version}`)
    return 0
  }
  const command = Object.hasOwn(program.commands, name) ? program.commands[name] : undefined
  if (command === undefined) {
    const what = name.startsWith('-') ? 'flag' : 'command'
    const guess = closestName(name, name.startsWith('-') ? ['--help', '--version'] : Object.keys(program.commands))
    err(`${program.name}: unknown ${what} "${name}"${guess === undefined ? '' : `: did you mean ${guess}?`}\n\n${program.usage}`)
    return 2
  }
  if (args.includes('--help') || args.includes('-h')) {
    out(command.usage)
    return 0
  }
  try {
    return await command.run(args, out, err)
  } catch (error) {
    if (error instanceof UsageError) {
      err(`${program.name} ${name}: ${error.message}\n\n${command.usage}`)
      return 2
    }
    const explained = program.explain?.(error, name, err)
    if (explained !== undefined) return explained
    err(`${program.name} ${name}: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    return 2
  }
}

/**
 * The usage of a program made of commands: its synopsis, one line per command (the first line of each command's
 * usage), `notes` (its exit codes), and how to get a command's options.
 */
export function programUsage(name: string, commands: Readonly<Record<string, Command>>, notes: string): string {
  const lines = Object.values(commands).map((c) => `  ${c.usage.split('\n')[0]}`)
  return [`usage: ${name} <command> [options]`, `       ${name} --help | --version`, '', 'commands:', ...lines, '', notes, `Run \`${name} <command> --help\` for a command's options.`].join('\n')
}
