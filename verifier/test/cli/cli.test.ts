/** The CLI contract (DESIGN.md §5): exit codes, usage errors, policy lint output, the readable table. */
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { main } from '../../src/cli/main.js'
import { FIXTURES_DIR, fixturesMissing, REPO_ROOT } from '../helpers/fixtures.js'
import { ALIAS_BOMB } from '../helpers/hostile-yaml.js'

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

// Issue 10, item 5: every input file is bounded before it is read whole, and refused with a code (exit 2: unreadable).
describe('oversized and hostile inputs', () => {
  const HUGE = 100 * 1024 * 1024
  const huge = join(dir, 'huge.bin')
  writeFileSync(huge, '')
  truncateSync(huge, HUGE) // sparse: reading it whole would still take 100 MB
  const small = write('small.bin', 'x')
  const dev = join(REPO_ROOT, 'policies', 'dev-simulated.yaml')
  const cases: Array<{ args: string[]; flag: string; what: string }> = [
    { args: ['sev-snp', '--report', huge], flag: '--report', what: 'an SEV-SNP report' },
    { args: ['sev-snp', '--report', small, '--vek', huge], flag: '--vek', what: 'a certificate' },
    { args: ['sev-snp', '--report', small, '--chain', huge], flag: '--chain', what: 'a certificate file' },
    { args: ['sev-snp', '--report', small, '--crl', huge], flag: '--crl', what: 'a CRL' },
    { args: ['nvidia-gpu', '--report', huge, '--chain', small], flag: '--report', what: 'a GPU attestation report' },
    { args: ['nvidia-gpu', '--report', small, '--chain', huge], flag: '--chain', what: 'a certificate file' },
    { args: ['nvidia-gpu', '--report', small, '--chain', small, '--rim', huge], flag: '--rim', what: 'a RIM' },
    { args: ['nvidia-gpu', '--report', small, '--chain', small, '--ocsp', huge], flag: '--ocsp', what: 'an OCSP response' },
    { args: ['rim', huge], flag: 'rim', what: 'a RIM' },
    { args: ['bundle', huge, '--policy', dev], flag: 'bundle', what: 'an evidence bundle' },
    { args: ['receipt', huge, '--evidence', small, '--policy', dev], flag: 'receipt', what: 'a receipt' },
    { args: ['receipt', small, '--evidence', huge, '--policy', dev], flag: '--evidence', what: 'an evidence bundle' },
    { args: ['trust', 'fetch', '--report', huge], flag: '--report', what: 'an SEV-SNP report' },
    { args: ['trust', 'fetch', '--gpu-report', huge, '--gpu-chain', small], flag: '--gpu-report', what: 'a GPU attestation report' },
  ]
  for (const c of cases) {
    test(`${c.args[0]} ${c.flag}: a 100 MB file is refused with ERR_INPUT_INVALID, exit 2`, async () => {
      // No trust directory for the commands that would look in one: the file is refused before it matters.
      const r = await run(...c.args, ...(c.args[0] === 'sev-snp' || c.args[0] === 'nvidia-gpu' ? ['--no-trust-dir'] : []))
      assert.equal(r.code, 2, r.err)
      assert.ok(r.err.includes(`${c.flag} ERR_INPUT_INVALID: ${huge}: ${c.what} is at most `), r.err)
      assert.ok(r.err.includes(`this file holds ${HUGE}`), r.err)
    })
  }
  test('a file without a size (an endless device) is refused after the limit, not read forever', async () => {
    const r = await run('sev-snp', '--report', '/dev/zero', '--no-trust-dir')
    assert.equal(r.code, 2, r.err)
    assert.match(r.err, /--report ERR_INPUT_INVALID: \/dev\/zero: an SEV-SNP report is at most 65536 bytes, and this file holds more/)
  })
  test('a 100 MB policy is refused with ERR_POLICY_INVALID, exit 2, by --policy and by policy lint', async () => {
    const viaFlag = await run('sev-snp', '--report', small, '--policy', huge, '--no-trust-dir')
    assert.equal(viaFlag.code, 2, viaFlag.err)
    assert.ok(viaFlag.err.includes(`--policy ERR_POLICY_INVALID: ${huge}:1:1: a policy is at most 262144 bytes`), viaFlag.err)
    const lint = await run('policy', 'lint', huge)
    assert.equal(lint.code, 2, lint.err)
    assert.ok(lint.err.includes(`policy lint ERR_POLICY_INVALID: ${huge}:1:1: a policy is at most 262144 bytes`), lint.err)
  })
  test('the 329-byte alias bomb: policy lint finds it (exit 1), --policy refuses it with ERR_POLICY_INVALID (exit 2)', async () => {
    const bomb = write('bomb.yaml', ALIAS_BOMB)
    const lint = await run('policy', 'lint', bomb, '--json')
    assert.equal(lint.code, 1, lint.err)
    const { issues } = JSON.parse(lint.out) as { issues: Array<{ line: number; field: string; message: string }> }
    assert.deepEqual(issues.map((i) => [i.line, i.field]), [[8, 'e[0]']])
    const viaFlag = await run('bundle', small, '--policy', bomb)
    assert.equal(viaFlag.code, 2, viaFlag.err)
    assert.match(viaFlag.err, /--policy ERR_POLICY_INVALID: .*bomb\.yaml:8:\d+: e\[0\]: aliases here expand the policy/)
  })
  test('an oversized file in the trust directory is refused with ERR_INPUT_INVALID, exit 2', { skip: fixturesMissing('sev-snp') }, async () => {
    const trust = join(dir, 'trust')
    const crl = join(trust, 'amd', 'Turin', 'vcek', 'crl.der')
    mkdirSync(join(trust, 'amd', 'Turin', 'vcek'), { recursive: true })
    writeFileSync(crl, '')
    truncateSync(crl, HUGE)
    const r = await run('sev-snp', '--report', join(FIXTURES_DIR, 'sev-snp/cases/oak-turin_oc/report.bin'), '--trust-dir', trust)
    assert.equal(r.code, 2, r.err)
    assert.ok(r.err.includes(`trust directory ${trust}: ERR_INPUT_INVALID: ${crl}: a CRL is at most`), r.err)
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
