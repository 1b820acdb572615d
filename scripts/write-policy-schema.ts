// Writes policies/policy.schema.json and the precompiled validator (scripts/policy-validator-source.ts) from the schema
// in verifier/src/policy/schema.ts, their single source of truth.
// With --check, writes nothing and exits 1 if a file on disk is stale.
// Run: node --conditions=@vouch/source --import tsx scripts/write-policy-schema.ts [--check]
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { policySchema } from '../verifier/src/policy/schema.js'
import { POLICY_VALIDATOR_PATH, toPolicyValidatorSource } from './policy-validator-source.js'

const files = [
  { target: fileURLToPath(new URL('../policies/policy.schema.json', import.meta.url)), text: `${JSON.stringify(policySchema, null, 2)}\n` },
  { target: fileURLToPath(new URL(`../${POLICY_VALIDATOR_PATH}`, import.meta.url)), text: toPolicyValidatorSource() },
]

for (const { target, text } of files) {
  if (process.argv.includes('--check')) {
    let current = ''
    try {
      current = readFileSync(target, 'utf8')
    } catch {
      // A missing file is stale too.
    }
    if (current !== text) {
      console.error(`${target} is stale: run npm run schema:policy`)
      process.exitCode = 1
    }
  } else {
    writeFileSync(target, text)
    console.log(`wrote ${target}`)
  }
}
