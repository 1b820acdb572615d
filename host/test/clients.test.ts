/** Who a client is (its address key) and the per-client token buckets of challenged attestations. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ClientRateLimiter, toClientKey } from '../src/clients.js'

test('client keys: IPv4 as it is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64', () => {
  const cases: Array<[string | undefined, string]> = [
    ['203.0.113.9', '203.0.113.9'],
    ['::ffff:203.0.113.9', '203.0.113.9'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
    ['2001:0DB8:0001:0002:ffff::', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    [undefined, 'unknown'],
  ]
  for (const [address, key] of cases) assert.equal(toClientKey(address), key, String(address))
})

test('a token bucket per client: the burst, then the refill rate; the wait until the next token; full buckets forgotten', () => {
  let now = 0
  const limiter = new ClientRateLimiter({ burst: 2, perSecond: 0.5 }, () => now)
  assert.equal(limiter.take('a'), null)
  assert.equal(limiter.take('a'), null)
  assert.equal(limiter.take('a'), 2)
  assert.equal(limiter.take('b'), null)
  now = 1_000
  assert.equal(limiter.take('a'), 1)
  now = 2_000
  assert.equal(limiter.take('a'), null)
  assert.equal(limiter.size, 2)
  // Four seconds refill a burst of two: both buckets are full again and dropped.
  now = 7_000
  assert.equal(limiter.take('c'), null)
  assert.equal(limiter.size, 1)
  assert.throws(() => new ClientRateLimiter({ burst: 0, perSecond: 1 }), RangeError)
  assert.throws(() => new ClientRateLimiter({ burst: 1, perSecond: 0 }), RangeError)
})
