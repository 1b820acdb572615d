/**
 * Without the real evidence in ../shared/fixtures (a user's checkout), the suites that need it are skipped with
 * their reason, the node:test summary counts them as skipped, and the run still passes.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

test('suites skipped for missing fixtures count as skipped, and the run passes', () => {
  const empty = mkdtempSync(join(tmpdir(), 'vouch-no-fixtures-'))
  try {
    // One suite of this file needs the fixtures; the other runs on synthetic RIMs.
    const run = spawnSync(process.execPath, [join(root, 'scripts/run-tests.mjs'), 'verifier/test/nvidia/golden.test'], {
      cwd: root,
      // NODE_TEST_CONTEXT would make the child report to this runner instead of printing its own summary.
      env: { ...process.env, NODE_TEST_CONTEXT: undefined, VOUCH_FIXTURES_DIR: empty },
      encoding: 'utf8',
    })
    assert.equal(run.status, 0, run.stdout + run.stderr)
    const summary = (name: string): number => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(run.stdout)?.[1])
    assert.equal(summary('fail'), 0)
    assert.equal(summary('skipped'), 1, run.stdout)
    assert.ok(summary('pass') > 0)
    assert.match(run.stdout, /﹣ golden measurements of the real 545\.00 report .*# real evidence not found at /)
  } finally {
    rmSync(empty, { recursive: true, force: true })
  }
})
