/**
 * `check:errors`: every error code of every package's registry is documented in docs/errors.md, every documented
 * code exists, and no source file raises a code that is in no registry.
 */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CLIENT_ERROR_CODES } from '@vouch/client'
import { ENCLAVE_ERROR_CODES, INFERENCE_ERROR_CODES, MODEL_ERROR_CODES, RELAYED_ERRORS, TEE_ERROR_CODES } from '@vouch/enclave'
import { LEDGER_FLAG_CODES, PROTOCOL_ERROR_CODES } from '@vouch/protocol'
import { HOST_ERROR_CODES } from '@vouch/host'
import { POLICY_ERROR_CODES, VERIFICATION_ERROR_CODES } from '@vouch/verifier'

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url))

/** Every registry, by package: what clients, operators and relying parties can meet. */
const REGISTRIES: Record<string, readonly string[]> = {
  'protocol ProtocolError': PROTOCOL_ERROR_CODES,
  'protocol ledger flags': LEDGER_FLAG_CODES,
  'verifier VerificationError': VERIFICATION_ERROR_CODES,
  'verifier PolicyError': POLICY_ERROR_CODES,
  'enclave TeeError': TEE_ERROR_CODES,
  'enclave ModelError': MODEL_ERROR_CODES,
  'enclave InferenceError': INFERENCE_ERROR_CODES,
  'enclave EnclaveError': ENCLAVE_ERROR_CODES,
  'host HostError and HostStartupError': HOST_ERROR_CODES,
  'client ClientError': CLIENT_ERROR_CODES,
}
const defined = Object.values(REGISTRIES).flat()

/** Codes Node.js itself raises that the sources test for: not Vouch's, so not in its registries. */
const NODE_CODES = /^ERR_PARSE_ARGS/

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) sources(path, out)
    else if (name.endsWith('.ts')) out.push(path)
  }
  return out
}

test('docs/errors.md documents exactly the codes that exist', () => {
  const doc = readFileSync(`${REPO_ROOT}/docs/errors.md`, 'utf8')
  const documented = [...doc.matchAll(/^\| `(ERR_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!)
  assert.deepEqual([...new Set(documented)].sort(), [...new Set(defined)].sort())
  assert.equal(new Set(documented).size, documented.length, 'a code is documented twice')
  assert.equal(new Set(defined).size, defined.length, 'a code is defined twice')
})

test('every code a source file names is in a registry (so none escapes the page above)', () => {
  const known = new Set(defined)
  const stray: string[] = []
  for (const pkg of ['protocol', 'verifier', 'enclave', 'host', 'client']) {
    for (const file of sources(join(REPO_ROOT, pkg, 'src'))) {
      for (const [, code] of readFileSync(file, 'utf8').matchAll(/['"`](ERR_[A-Z0-9_]+)['"`]/g)) {
        if (!known.has(code!) && !NODE_CODES.test(code!)) stray.push(`${file.slice(REPO_ROOT.length)}: ${code}`)
      }
    }
  }
  assert.deepEqual(stray, [])
})

test('every code the enclave relays from below its service is a registered code with a fixed one-line message', () => {
  const known = new Set(defined)
  for (const [code, { status, message }] of Object.entries(RELAYED_ERRORS)) {
    assert.ok(known.has(code), code)
    assert.ok(status >= 400 && status <= 599, code)
    assert.match(message, /^[^\n\r]{1,512}$/, code)
  }
})
