/** The client's file loaders refuse hostile and oversized files with a code, cheaply (issue 10, item 5). */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { PolicyInvalidError } from '@vouch/verifier'
import { ALIAS_BOMB } from '../../verifier/test/helpers/hostile-yaml.js'
import { ClientError, loadInferenceRequest, loadPolicy } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'vouch-client-load-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function policyIssues(path: string): string {
  try {
    loadPolicy(path)
  } catch (error) {
    assert.ok(error instanceof PolicyInvalidError, `expected PolicyInvalidError, got ${String(error)}`)
    assert.equal(error.code, 'ERR_POLICY_INVALID')
    return error.message
  }
  assert.fail('expected loadPolicy to throw')
}

describe('loadPolicy', { timeout: 20_000 }, () => {
  it('refuses the 329-byte alias bomb with ERR_POLICY_INVALID at the alias', () => {
    const path = join(dir, 'bomb.yaml')
    writeFileSync(path, ALIAS_BOMB)
    assert.match(policyIssues(path), /bomb\.yaml:8:\d+: e\[0\]: aliases here expand the policy by more than 10000 values/)
  })
  it('refuses a 100 MB policy file, and an endless one, without reading them whole', () => {
    const huge = join(dir, 'huge.yaml')
    writeFileSync(huge, '')
    truncateSync(huge, 100 * 1024 * 1024)
    assert.equal(policyIssues(huge), `${huge}:1:1: a policy is at most 262144 bytes, and this file holds ${100 * 1024 * 1024}`)
    assert.equal(policyIssues('/dev/zero'), '/dev/zero:1:1: a policy is at most 262144 bytes, and this file holds more')
  })
})

describe('loadInferenceRequest', () => {
  it('refuses a file over the limit with ERR_CLIENT_REQUEST_INVALID, by its size', () => {
    const huge = join(dir, 'huge.json')
    writeFileSync(huge, '')
    truncateSync(huge, 300 * 1024 * 1024)
    assert.throws(() => loadInferenceRequest(huge), (error: unknown) => error instanceof ClientError && error.code === 'ERR_CLIENT_REQUEST_INVALID' && error.message === `${huge}: an inference request file is at most 268435456 bytes, and this file holds ${300 * 1024 * 1024}`)
  })
})
