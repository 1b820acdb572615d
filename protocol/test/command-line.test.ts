/** The command-line helpers every Vouch program shares: suggestions, strict flag parsing, the command dispatcher. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { closestName, flagNames, parseCommandLine, runProgram, UsageError, type Program } from '../src/command-line.js'

describe('closestName', () => {
  const flags = ['--policy', '--nonce', '--trust-dir', '--no-trust-dir', '--json', '--verbose']
  const cases: { name: string; input: string; want: string | undefined }[] = [
    { name: 'a transposition', input: '--polciy', want: '--policy' },
    { name: 'a missing letter', input: '--polcy', want: '--policy' },
    { name: 'another case', input: '--JSON', want: '--json' },
    { name: 'an unambiguous prefix', input: '--verb', want: '--verbose' },
    { name: 'the nearest of two close names', input: '--trust-dirs', want: '--trust-dir' },
    { name: 'nothing close', input: '--bogus', want: undefined },
    { name: 'a prefix of two names is no suggestion by prefix', input: '--no', want: undefined },
  ]
  for (const c of cases) test(c.name, () => assert.equal(closestName(c.input, flags), c.want))
})

describe('parseCommandLine', () => {
  const options = { policy: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h' } } as const
  test('reads flags strictly', () => {
    const { values } = parseCommandLine(['--policy', 'p.yaml', '--json'], { options })
    assert.deepEqual({ ...values }, { policy: 'p.yaml', json: true })
    assert.deepEqual(flagNames(options), ['--policy', '--json', '--help', '-h'])
  })
  const refusals: { name: string; args: string[]; message: RegExp }[] = [
    { name: 'an unknown flag, with a suggestion', args: ['--polcy', 'p.yaml'], message: /^unknown flag --polcy: did you mean --policy\?$/ },
    { name: 'an unknown flag written with =', args: ['--polcy=p.yaml'], message: /^unknown flag --polcy: did you mean --policy\?$/ },
    { name: 'an unknown flag, nothing close', args: ['--bogus'], message: /^unknown flag --bogus$/ },
    { name: 'an unknown short flag', args: ['-x'], message: /^unknown flag -x$/ },
    { name: 'a value missing', args: ['--policy'], message: /--policy/ },
    { name: 'a positional argument where none is taken', args: ['file'], message: /file/ },
  ]
  for (const c of refusals) {
    test(`${c.name}: UsageError`, () => {
      assert.throws(() => parseCommandLine(c.args, { options }), (e: unknown) => e instanceof UsageError && c.message.test(e.message))
    })
  }
})

describe('runProgram', () => {
  const output = (): { lines: string[]; write: (t: string) => void } => {
    const lines: string[] = []
    return { lines, write: (t) => lines.push(t) }
  }
  const program: Program = {
    name: 'demo',
    version: '1.2.3',
    usage: 'usage: demo <command>',
    commands: {
      greet: {
        usage: 'demo greet --name NAME',
        options: { name: { type: 'string' } },
        run: async (args, out) => {
          const { values } = parseCommandLine(args, { options: { name: { type: 'string' } } })
          if (values.name === undefined) throw new UsageError('--name is required')
          if (values.name === 'boom') throw new Error('boom')
          if (values.name === 'known') throw Object.assign(new Error('known failure'), { known: true })
          out(`hello ${values.name}`)
          return 0
        },
      },
    },
    explain: (error, command, err) => ((error as { known?: boolean }).known ? (err(`demo ${command}: explained`), 1) : undefined),
  }
  const cases: { name: string; argv: string[]; code: number; out?: RegExp; err?: RegExp }[] = [
    { name: 'no command: the usage, 2', argv: [], code: 2, out: /^usage: demo/ },
    { name: '--help: the usage, 0', argv: ['--help'], code: 0, out: /^usage: demo/ },
    { name: '--version', argv: ['--version'], code: 0, out: /^demo 1\.2\.3$/ },
    { name: 'a command', argv: ['greet', '--name', 'you'], code: 0, out: /^hello you$/ },
    { name: "a command's --help", argv: ['greet', '--help'], code: 0, out: /^demo greet --name NAME$/ },
    { name: 'a mistyped command', argv: ['gret'], code: 2, err: /^demo: unknown command "gret": did you mean greet\?/ },
    { name: 'a mistyped program flag', argv: ['--verison'], code: 2, err: /^demo: unknown flag "--verison": did you mean --version\?/ },
    { name: 'a mistyped flag', argv: ['greet', '--nmae', 'x'], code: 2, err: /^demo greet: unknown flag --nmae: did you mean --name\?\n\ndemo greet --name NAME$/ },
    { name: 'a usage error', argv: ['greet'], code: 2, err: /^demo greet: --name is required/ },
    { name: 'a failure the program explains', argv: ['greet', '--name', 'known'], code: 1, err: /^demo greet: explained$/ },
    { name: 'anything else is internal, and never 1', argv: ['greet', '--name', 'boom'], code: 2, err: /^demo greet: internal error: Error: boom/ },
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const out = output()
      const err = output()
      assert.equal(await runProgram(program, c.argv, out.write, err.write), c.code)
      if (c.out) assert.match(out.lines.join('\n'), c.out)
      if (c.err) assert.match(err.lines.join('\n'), c.err)
    })
  }
})
