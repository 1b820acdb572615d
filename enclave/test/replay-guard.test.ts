/** The replay guard: an id is admitted once within its window, stale requests are refused, memory is swept. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ReplayGuard } from '../src/service/sealed.js'

const code = (fn: () => void): string | undefined => {
  try {
    fn()
    return undefined
  } catch (error) {
    return (error as { code?: string }).code
  }
}

test('an id is admitted once; a replay within the window is refused; a stale or future ts is refused', () => {
  let now = 1_000_000
  const guard = new ReplayGuard(60_000, () => now)
  guard.admit('a', now)
  assert.equal(code(() => guard.admit('a', now)), 'ERR_ENCLAVE_REPLAY')
  assert.equal(code(() => guard.admit('b', now - 60_001)), 'ERR_ENCLAVE_REQUEST_EXPIRED')
  assert.equal(code(() => guard.admit('c', now + 60_001)), 'ERR_ENCLAVE_REQUEST_EXPIRED')
  assert.equal(code(() => guard.admit('d', Number.NaN)), 'ERR_ENCLAVE_REQUEST_EXPIRED')
  now += 30_000
  assert.equal(code(() => guard.admit('a', now - 30_000)), 'ERR_ENCLAVE_REPLAY', 'still remembered within its window')
  now += 30_001
  // Past its window the id is forgotten, and the old request is refused as stale all the same.
  assert.equal(code(() => guard.admit('a', now - 60_001)), 'ERR_ENCLAVE_REQUEST_EXPIRED')
})

test('expired ids are swept (at most a second late), so memory follows the request rate, not the uptime', () => {
  let now = 0
  const guard = new ReplayGuard(1_000, () => now)
  for (let i = 0; i < 500; i++) guard.admit(`early-${i}`, now)
  assert.equal(guard.remembered, 500)
  now = 2_500
  guard.admit('late', now)
  assert.equal(guard.remembered, 1, 'the 500 expired ids are gone')
  now = 2_600
  for (let i = 0; i < 10; i++) guard.admit(`next-${i}`, now)
  assert.equal(guard.remembered, 11)
})
