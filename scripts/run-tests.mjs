#!/usr/bin/env node
// Runs every `*.test.ts` under the workspaces' `test/` folders and the top-level `test/` with node:test,
// against the TypeScript sources (the `@vouch/source` export condition, compiled on the fly by tsx).
// Arguments narrow the run to files whose path contains any of them.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const roots = ['protocol/test', 'verifier/test', 'enclave/test', 'host/test', 'client/test', 'test']

function collect(dir, out) {
  let entries
  try {
    entries = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of entries) {
    if (name === 'node_modules' || name === 'fixtures') continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) collect(path, out)
    else if (name.endsWith('.test.ts')) out.push(relative(root, path))
  }
  return out
}

const filters = process.argv.slice(2)
const files = roots
  .flatMap((r) => collect(join(root, r), []))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`)
  process.exit(1)
}
// Two test files at a time: most of a file's time is spent waiting on child processes, servers and sockets, so two
// share a 2-core machine well (node:test's default there is one); tests that depend on timing are written to hold
// with both cores busy.
const result = spawnSync(
  process.execPath,
  ['--conditions=@vouch/source', '--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
)
process.exit(result.status ?? 1)
