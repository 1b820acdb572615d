/**
 * Every real SEV-SNP report in ../shared/fixtures gets the verdict and the claims its expected.json
 * gives, through the library and through `npx vouch-verify sev-snp --json`.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { promisify } from 'node:util'
import { verifySevSnp, type Result, type SevSnpClaims } from '@vouch/verifier'
import { FIXTURES_DIR, fixturesMissing, REPO_ROOT } from '../helpers/fixtures.js'
import { claimMismatches, loadSevSnpCases, type SevSnpCase } from '../helpers/sev-snp-cases.js'

const skip = fixturesMissing('sev-snp')
const cases = skip ? [] : loadSevSnpCases()

/** The verdict and the error code each kind of ground truth implies. */
function expectedOutcome(c: SevSnpCase): { verdict: 'accepted' | 'rejected'; code?: string } {
  if (c.expected.authentic === true) return { verdict: 'accepted' }
  if (c.expected.authentic === false) return { verdict: 'rejected', code: 'ERR_REPORT_SIGNATURE_INVALID' }
  return { verdict: 'rejected', code: 'ERR_COLLATERAL_MISSING' }
}

function assertOutcome(c: SevSnpCase, result: Result<SevSnpClaims | null>): void {
  const want = expectedOutcome(c)
  assert.equal(result.verdict, want.verdict, JSON.stringify(result.errors))
  if (want.code) assert.deepEqual(result.errors.map((e) => e.code), [want.code])
  else assert.deepEqual(result.errors, [])
  assert.deepEqual(claimMismatches(result.claims, c.expected), [])
  assert.equal(result.claims?.simulated, false)
}

describe('SEV-SNP fixtures through the library', { skip }, () => {
  for (const c of cases) {
    test(c.name, async () => {
      const result = await verifySevSnp(c.input, c.at ? { at: c.at } : {})
      assertOutcome(c, result)
      if (want(c) === 'accepted') {
        for (const id of ['chain.ark', 'chain.intermediate', 'chain.vek', 'chain.validity', 'chain.product', 'vek.tcb', 'report.signature']) {
          assert.equal(result.checks.find((k) => k.id === id)?.status, 'pass', id)
        }
      }
    })
  }
})

function want(c: SevSnpCase): string {
  return expectedOutcome(c).verdict
}

describe('SEV-SNP fixtures through `npx vouch-verify sev-snp --json`', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-cli-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const run = promisify(execFile)
  for (const c of cases) {
    test(c.name, async () => {
      const args = ['--no-install', 'vouch-verify', 'sev-snp', '--report', join(FIXTURES_DIR, c.files.report), '--json']
      if (c.files.vek) args.push('--vek', join(FIXTURES_DIR, c.files.vek))
      if (c.files.chain) {
        // --chain takes one file holding ASK (or ASVK) then ARK.
        const chainFile = join(dir, `${c.name}-chain.pem`)
        writeFileSync(chainFile, c.input.chain as string)
        args.push('--chain', chainFile)
      }
      if (c.expected.verifyAt) args.push('--at', c.expected.verifyAt)
      const { code, stdout } = await run('npx', args, { cwd: REPO_ROOT }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
      )
      const result = JSON.parse(stdout) as Result<SevSnpClaims | null>
      assertOutcome(c, result)
      assert.equal(code, want(c) === 'accepted' ? 0 : 1)
    })
  }
})
