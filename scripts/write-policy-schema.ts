// Writes policies/policy.schema.json from the schema in verifier/src/policy/schema.ts, its single source of truth.
// With --check, writes nothing and exits 1 if the file on disk is stale.
// Run: node --conditions=@vouch/source --import tsx scripts/write-policy-schema.ts [--check]
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { policySchema } from '../verifier/src/policy/schema.js'

const target = fileURLToPath(new URL('../policies/policy.schema.json', import.meta.url))
const text = `${JSON.stringify(policySchema, null, 2)}\n`

if (process.argv.includes('--check')) {
  let current = ''
  try {
    current = readFileSync(target, 'utf8')
  } catch {
    // A missing file is stale too.
  }
  if (current !== text) {
    console.error(`${target} is stale: run node --conditions=@vouch/source --import tsx scripts/write-policy-schema.ts`)
    process.exit(1)
  }
} else {
  writeFileSync(target, text)
  console.log(`wrote ${target}`)
}
