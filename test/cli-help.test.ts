/**
 * The four programs' command lines: every flag a parser accepts is in the `--help` text it prints (read from the
 * parsers' own option tables, so the two cannot drift apart), each program answers `--version`, and a mistyped
 * flag or command exits 2 with a "did you mean".
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { flagNames, type OptionTable } from '@vouch/protocol'
import { COMMANDS as CLIENT_COMMANDS, main as vouch } from '../client/src/cli.js'
import { OPTIONS as ENCLAVE_OPTIONS, USAGE as ENCLAVE_USAGE } from '../enclave/src/cli.js'
import { main as vouchHost } from '../host/src/cli.js'
import { commandLineOptions, usage as hostUsage } from '../host/src/config.js'
import { COMMANDS as VERIFIER_COMMANDS, main as vouchVerify } from '../verifier/src/cli/main.js'

type Main = (argv: string[], out: (t: string) => void, err: (t: string) => void) => Promise<number>

async function run(main: Main, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, (t) => out.push(t), (t) => err.push(t))
  return { code, out: out.join('\n'), err: err.join('\n') }
}

const hostMain: Main = (argv, out, err) => vouchHost(argv, { out, err, env: {} })

/** The flags of `options` that `help` does not name as a word of its own. */
function unlisted(options: OptionTable, help: string): string[] {
  return flagNames(options).filter((flag) => !new RegExp(`(^|[\\s[|,(])${flag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=[\\s\\]=,|)]|$)`, 'm').test(help))
}

const version = (name: string): string => (JSON.parse(readFileSync(new URL(`../${name}/package.json`, import.meta.url), 'utf8')) as { version: string }).version

describe('--help lists every flag the parser accepts', () => {
  for (const [program, commands, main] of [
    ['vouch', CLIENT_COMMANDS, vouch],
    ['vouch-verify', VERIFIER_COMMANDS, vouchVerify],
  ] as const) {
    for (const [name, command] of Object.entries(commands)) {
      test(`${program} ${name} --help`, async () => {
        const help = await run(main, name, '--help')
        assert.equal(help.code, 0)
        assert.equal(help.out, command.usage)
        assert.deepEqual(unlisted(command.options, help.out), [])
      })
    }
  }
  test('vouch-host --help', async () => {
    const help = await run(hostMain, '--help')
    assert.equal(help.code, 0)
    assert.equal(help.out, hostUsage())
    assert.deepEqual(unlisted(commandLineOptions(), help.out), [])
  })
  test('vouch-enclave --help', () => {
    assert.deepEqual(unlisted(ENCLAVE_OPTIONS, ENCLAVE_USAGE), [])
  })
  test('the check itself finds a flag that is missing', () => {
    assert.deepEqual(unlisted({ policy: { type: 'string' }, 'no-trust-dir': { type: 'boolean' } }, '  --trust-dir DIR  a folder\n  --policy FILE'), ['--no-trust-dir'])
  })
})

describe('--version and mistyped flags and commands', () => {
  for (const [program, pkg, main] of [
    ['vouch', 'client', vouch],
    ['vouch-verify', 'verifier', vouchVerify],
    ['vouch-host', 'host', hostMain],
  ] as const) {
    test(`${program} --version`, async () => {
      const r = await run(main, '--version')
      assert.equal(r.code, 0)
      assert.equal(r.out, `${program} ${version(pkg)}`)
    })
  }
  test('vouch-enclave --version and --help are listed and parsed', () => {
    assert.match(ENCLAVE_USAGE, /--help \| --version/)
    assert.equal(ENCLAVE_OPTIONS.version.type, 'boolean')
  })
  test('vouch: a mistyped command and flag exit 2 with a suggestion', async () => {
    const command = await run(vouch, 'atest')
    assert.equal(command.code, 2)
    assert.match(command.err, /^vouch: unknown command "atest": did you mean attest\?/)
    const flag = await run(vouch, 'infer', '--url', 'https://x', '--polciy', 'p.yaml')
    assert.equal(flag.code, 2)
    assert.match(flag.err, /^vouch infer: unknown flag --polciy: did you mean --policy\?/)
    assert.match((await run(vouch, 'attest', '--bogus')).err, /^vouch attest: unknown flag --bogus\n/)
  })
  test('vouch-verify: a mistyped command, flag and subcommand exit 2 with a suggestion', async () => {
    const command = await run(vouchVerify, 'sevsnp')
    assert.equal(command.code, 2)
    assert.match(command.err, /unknown command "sevsnp": did you mean sev-snp\?/)
    const flag = await run(vouchVerify, 'bundle', 'b.cbor', '--nonse', 'ab')
    assert.equal(flag.code, 2)
    assert.match(flag.err, /^vouch-verify bundle: unknown flag --nonse: did you mean --nonce\?/)
    const sub = await run(vouchVerify, 'trust', 'fecth')
    assert.equal(sub.code, 2)
    assert.match(sub.err, /^vouch-verify trust: unknown subcommand "fecth": did you mean fetch\?/)
  })
  test('vouch-host: a mistyped flag exits 2 with a suggestion', async () => {
    const r = await run(hostMain, '--max-boddy-bytes', '1MiB')
    assert.equal(r.code, 2)
    assert.match(r.err, /unknown flag --max-boddy-bytes: did you mean --max-body-bytes\?/)
  })
})

describe('texts users see', () => {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const files = (dir: string, ext: string, out: string[] = []): string[] => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) files(path, ext, out)
      else if (name.endsWith(ext)) out.push(path)
    }
    return out
  }
  /** The string and template literals of a TypeScript file: every message, help text and schema description. */
  const literals = (text: string): string[] => {
    const scanner = ts.createScanner(ts.ScriptTarget.Latest, true, ts.LanguageVariant.Standard, text)
    const out: string[] = []
    // Open braces inside each template substitution being scanned: its closing brace resumes the template.
    const braces: number[] = []
    for (let token = scanner.scan(); token !== ts.SyntaxKind.EndOfFileToken; token = scanner.scan()) {
      if (token === ts.SyntaxKind.OpenBraceToken && braces.length > 0) braces[braces.length - 1]!++
      if (token === ts.SyntaxKind.CloseBraceToken && braces.length > 0) {
        if (braces.at(-1)! > 0) braces[braces.length - 1]!--
        else {
          token = scanner.reScanTemplateToken(false)
          braces.pop()
        }
      }
      if (token === ts.SyntaxKind.TemplateHead || token === ts.SyntaxKind.TemplateMiddle) braces.push(0)
      if (token === ts.SyntaxKind.StringLiteral || token === ts.SyntaxKind.NoSubstitutionTemplateLiteral || (token >= ts.SyntaxKind.TemplateHead && token <= ts.SyntaxKind.TemplateTail)) out.push(scanner.getTokenValue())
    }
    return out
  }
  test('no message, help text or schema description cites DESIGN.md, which is not in the repository', () => {
    const cited: string[] = []
    for (const pkg of ['protocol', 'verifier', 'enclave', 'host', 'client']) {
      for (const file of files(join(root, pkg, 'src'), '.ts')) {
        for (const text of literals(readFileSync(file, 'utf8'))) if (text.includes('DESIGN.md')) cited.push(`${file.slice(root.length)}: ${text.slice(0, 80)}`)
      }
    }
    for (const file of [...files(join(root, 'policies'), '.json'), ...files(join(root, 'models'), '.json')]) {
      if (readFileSync(file, 'utf8').includes('DESIGN.md')) cited.push(file.slice(root.length))
    }
    assert.deepEqual(cited, [])
  })
  test('the literal scan sees strings and templates, not comments', () => {
    assert.deepEqual(literals("// 'a comment'\nconst a = 'one'; /* 'no' */ const b = `two ${a} three ${{ x: 1 }.x} four` + 'five'"), ['one', 'two ', ' three ', ' four', 'five'])
  })
})
