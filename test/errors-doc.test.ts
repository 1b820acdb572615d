/** `check:errors`: every error code is documented in docs/errors.md, and every documented code exists. */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CLIENT_ERROR_CODES } from '@vouch/client'
import { INFERENCE_ERROR_CODES, MODEL_ERROR_CODES, TEE_ERROR_CODES } from '@vouch/enclave'
import { PROTOCOL_ERROR_CODES } from '@vouch/protocol'
import { HOST_ERROR_CODES } from '@vouch/host'
import { POLICY_ERROR_CODES, VERIFICATION_ERROR_CODES } from '@vouch/verifier'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

test('docs/errors.md documents exactly the codes that exist', () => {
  const doc = readFileSync(`${REPO_ROOT}/docs/errors.md`, 'utf8')
  const documented = [...doc.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!)
  const defined = [
    ...PROTOCOL_ERROR_CODES,
    ...VERIFICATION_ERROR_CODES,
    ...POLICY_ERROR_CODES,
    ...TEE_ERROR_CODES,
    ...MODEL_ERROR_CODES,
    ...INFERENCE_ERROR_CODES,
    ...HOST_ERROR_CODES,
    ...CLIENT_ERROR_CODES,
  ]
  assert.deepEqual([...new Set(documented)].sort(), [...new Set(defined)].sort())
  assert.equal(new Set(documented).size, documented.length, 'a code is documented twice')
  assert.equal(new Set(defined).size, defined.length, 'a code is defined twice')
})
