/**
 * CheckCollector with awaited steps (signature checks answer with promises: docs/browser.md): an awaited step
 * records its outcome like a synchronous one, and no Result is made while a step is still running, so a step whose
 * promise was dropped cannot leave its check, or its failure, out of a verdict.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CheckCollector, VerificationError } from '@vouch/verifier'

describe('CheckCollector.runAsync', () => {
  test('an awaited step passes or fails with its code, in order', async () => {
    const checks = new CheckCollector()
    assert.equal(await checks.runAsync('a', async () => 'fine'), true)
    assert.equal(await checks.runAsync('b', async () => { throw new VerificationError('ERR_CHAIN_SIGNATURE_INVALID', 'no') }), false)
    const result = checks.toResult(null)
    assert.deepEqual(result.checks.map((c) => [c.id, c.status, c.code]), [['a', 'pass', undefined], ['b', 'fail', 'ERR_CHAIN_SIGNATURE_INVALID']])
    assert.equal(result.verdict, 'rejected')
  })

  test('a Result is refused while a step is still running, and made once it settled', async () => {
    const checks = new CheckCollector()
    checks.pass('before', 'ok')
    let release!: () => void
    const running = checks.runAsync('slow', () => new Promise<string>((resolve) => (release = () => resolve('done'))))
    assert.throws(() => checks.toResult(null), /still running/)
    release()
    await running
    assert.equal(checks.toResult(null).verdict, 'accepted')
  })
})
