/** The CLI contract (DESIGN.md §5): exit codes, usage errors, policy lint output, the readable table. */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { main } from '../../src/cli/main.js'
import { FIXTURES_DIR, fixturesMissing, REPO_ROOT } from '../helpers/fixtures.js'

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, (t) => out.push(t), (t) => err.push(t))
  return { code, out: out.join('\n'), err: err.join('\n') }
}

const dir = mkdtempSync(join(tmpdir(), 'vouch-cli-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const write = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

describe('usage', () => {
  test('no command prints usage and exits 2', async () => {
    const r = await run()
    assert.equal(r.code, 2)
    assert.match(r.out, /usage: vouch-verify <command>/)
  })
  test('--help exits 0', async () => {
    assert.equal((await run('--help')).code, 0)
    const r = await run('sev-snp', '--help')
    assert.equal(r.code, 0)
    assert.match(r.out, /--report FILE/)
  })
  test('an unknown command exits 2', async () => {
    const r = await run('tdx')
    assert.equal(r.code, 2)
    assert.match(r.err, /unknown command "tdx"/)
  })
  test('an unknown flag exits 2', async () => {
    const r = await run('sev-snp', '--report', 'x', '--bogus')
    assert.equal(r.code, 2)
    assert.match(r.err, /--bogus/)
  })
  test('a missing --report exits 2', async () => {
    assert.equal((await run('sev-snp')).code, 2)
  })
  test('an unreadable report exits 2 and names the flag', async () => {
    const r = await run('sev-snp', '--report', join(dir, 'nope.bin'))
    assert.equal(r.code, 2)
    assert.match(r.err, /--report .*nope\.bin: cannot read \(no such file\)/)
  })
  test('a bad --at exits 2', async () => {
    const r = await run('sev-snp', '--report', write('r.bin', 'x'), '--at', 'yesterday')
    assert.equal(r.code, 2)
    assert.match(r.err, /RFC 3339/)
  })
  test('a bad --report-data exits 2', async () => {
    const r = await run('sev-snp', '--report', write('r.bin', 'x'), '--report-data', 'abcd')
    assert.equal(r.code, 2)
    assert.match(r.err, /expected 64 bytes/)
  })
  test('an invalid policy exits 2 with its issues', async () => {
    const r = await run('sev-snp', '--report', write('r.bin', 'x'), '--policy', write('p.yaml', 'version: 2\n'))
    assert.equal(r.code, 2)
    assert.match(r.err, /p\.yaml:1:\d+: version/)
  })
  test('a report that is not a report is rejected (exit 1), not a usage error', async () => {
    const r = await run('sev-snp', '--report', write('short.bin', 'x'), '--no-trust-dir', '--json')
    assert.equal(r.code, 1)
    const result = JSON.parse(r.out) as { verdict: string; errors: Array<{ code: string }> }
    assert.deepEqual(result.errors.map((e) => e.code), ['ERR_REPORT_LENGTH'])
  })
})

describe('policy lint', () => {
  test('the shipped policies are valid', async () => {
    for (const name of ['production.yaml', 'dev-simulated.yaml']) {
      const r = await run('policy', 'lint', join(REPO_ROOT, 'policies', name))
      assert.equal(r.code, 0, r.out)
      assert.match(r.out, /OK \(policy "/)
    }
  })
  const bad = `version: 1
name: broken
allowSimulated: "no"
sevSnp:
  allowedProducts: [Milan]
  allowedSigningKeys: [VCEK]
  allowDbug: false
  allowMigrationAgent: false
  requireCrl: true
  measurements: ["abc"]
`
  test('each problem is reported with file, line, column and field; exit 1', async () => {
    const file = write('bad.yaml', bad)
    const r = await run('policy', 'lint', file)
    assert.equal(r.code, 1)
    const lines = r.out.split('\n')
    assert.ok(lines.some((l) => l.startsWith(`${file}:3:17: allowSimulated: must be a boolean`)), r.out)
    assert.ok(lines.some((l) => l.startsWith(`${file}:4:1: sevSnp.allowDebug: missing required key "allowDebug"`)), r.out)
    assert.ok(lines.some((l) => l.startsWith(`${file}:7:3: sevSnp.allowDbug: unknown key "allowDbug"`)), r.out)
    assert.ok(lines.some((l) => l.startsWith(`${file}:10:18: sevSnp.measurements[0]: must be 96 hex characters`)), r.out)
  })
  test('--json lists the issues', async () => {
    const r = await run('policy', 'lint', write('bad2.yaml', bad), '--json')
    assert.equal(r.code, 1)
    const parsed = JSON.parse(r.out) as { valid: boolean; issues: Array<{ line: number; field: string }> }
    assert.equal(parsed.valid, false)
    assert.ok(parsed.issues.some((i) => i.field === 'sevSnp.allowDbug' && i.line === 7))
  })
  test('usage errors exit 2', async () => {
    assert.equal((await run('policy')).code, 2)
    assert.equal((await run('policy', 'check', 'x')).code, 2)
    assert.equal((await run('policy', 'lint')).code, 2)
    assert.equal((await run('policy', 'lint', join(dir, 'missing.yaml'))).code, 2)
  })
})

describe('the readable table', { skip: fixturesMissing('sev-snp') }, () => {
  test('a failed policy check shows its code and what to change', async () => {
    const c = join(FIXTURES_DIR, 'sev-snp')
    const chain = write('milan-chain.pem', ['ask', 'ark'].map((r) => readFileSync(join(c, 'roots/milan', `${r}.pem`), 'utf8')).join(''))
    const args = [
      'sev-snp',
      '--report', join(c, 'cases/gosev-attestation/report.bin'),
      '--vek', join(c, 'cases/gosev-attestation/vek.der'),
      '--chain', chain,
      '--at', '2022-09-25T00:55:28Z',
      '--policy', join(REPO_ROOT, 'policies/production.yaml'),
      '--no-trust-dir',
    ]
    const r = await run(...args)
    assert.equal(r.code, 1)
    assert.match(r.out, /^vouch-verify sev-snp: REJECTED/)
    assert.match(r.out, /policy\.debug +FAIL +guest POLICY allows debugging/)
    assert.match(r.out, /\[ERR_POLICY_DEBUG_NOT_ALLOWED\]/)
    assert.match(r.out, /→ launch the guest without debug/)
    // Passed and skipped checks are counted per group; the errors are not listed again under the table.
    assert.match(r.out, /^ {2}chain\.\* +pass +6 checks passed$/m)
    assert.match(r.out, /^ {2}policy\.\* +pass +5 checks passed, 12 skipped$/m)
    assert.match(r.out, /--verbose lists all 35 checks/)
    assert.doesNotMatch(r.out, /report\.signature/)
    assert.doesNotMatch(r.out, /^errors:$/m)
    const verbose = await run(...args, '--verbose')
    assert.equal(verbose.code, 1)
    assert.match(verbose.out, /report\.signature +pass/)
    assert.match(verbose.out, /^errors:\n {2}ERR_POLICY_DEBUG_NOT_ALLOWED: /m)
    // --json is the Result as it always was.
    const json = JSON.parse((await run(...args, '--json')).out) as { checks: unknown[] }
    assert.equal(json.checks.length, 35)
  })
})
