/**
 * The semaphore behind the host's body budget and the enclave's model slots: units taken and given back, waiters in
 * order, and leases that take their units a piece at a time without ever waiting on each other in a circle.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { KeyedSemaphores, Semaphore } from '@vouch/protocol'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test('takes bytes while they fit; the rest wait in arrival order, a large one not overtaken by small ones', async () => {
  const seen: Array<[number, number]> = []
  const budget = new Semaphore(100, (held, waiting) => seen.push([held, waiting]))
  const a = await budget.acquire(60)
  const order: string[] = []
  const big = budget.acquire(70).then((release) => (order.push('big'), release))
  const small = budget.acquire(10).then((release) => (order.push('small'), release))
  await tick()
  // 10 bytes would fit now, but the 70-byte request came first.
  assert.deepEqual([budget.held, budget.waiting, order], [60, 2, []])
  a()
  a() // a second call gives back nothing more
  await tick()
  assert.deepEqual([budget.held, budget.waiting, order], [80, 0, ['big', 'small']])
  for (const release of await Promise.all([big, small])) release()
  assert.deepEqual([budget.held, budget.waiting], [0, 0])
  assert.deepEqual(seen.at(-1), [0, 0])
})

test('a request larger than the whole budget takes all of it, once nothing else is held', async () => {
  const budget = new Semaphore(100)
  const a = await budget.acquire(1)
  let granted = false
  const huge = budget.acquire(500).then((release) => ((granted = true), release))
  await tick()
  assert.equal(granted, false)
  a()
  const release = await huge
  assert.equal(budget.held, 100)
  release()
  assert.equal(budget.held, 0)
})

test('an aborted waiter leaves the line, takes nothing, and unblocks those behind it', async () => {
  const budget = new Semaphore(100)
  const a = await budget.acquire(50)
  const controller = new AbortController()
  const blocked = budget.acquire(80, controller.signal)
  const behind = budget.acquire(40)
  await tick()
  assert.equal(budget.waiting, 2)
  controller.abort(new Error('timed out'))
  await assert.rejects(blocked, /timed out/)
  const release = await behind
  assert.deepEqual([budget.held, budget.waiting], [90, 0])
  release()
  a()
  assert.equal(budget.held, 0)
  await assert.rejects(budget.acquire(1, AbortSignal.abort(new Error('gone'))), /gone/)
  assert.equal(budget.held, 0)
})

test('a lease takes its claim a piece at a time; settling gives back what it does not keep', async () => {
  const seen: Array<[number, number]> = []
  const budget = new Semaphore(100, (held, waiting) => seen.push([held, waiting]))
  const lease = budget.lease(60)
  assert.deepEqual([lease.held, lease.need], [0, 60])
  assert.equal(lease.tryTake(16), true)
  await lease.take(32)
  assert.deepEqual([lease.held, lease.need, budget.held], [48, 12, 48])
  assert.throws(() => lease.tryTake(13), RangeError)
  lease.settle(40)
  assert.deepEqual([lease.held, lease.need, budget.held], [40, 0, 40])
  lease.release()
  lease.release()
  assert.equal(budget.held, 0)
  assert.deepEqual(seen.at(-1), [0, 0])
  assert.throws(() => lease.tryTake(1), /released/)
})

test('two leases that would each wait for the other: the second waits until the first can finish', async () => {
  const budget = new Semaphore(100)
  const a = budget.lease(80)
  const b = budget.lease(80)
  assert.equal(a.tryTake(50), true)
  // 30 more to b would leave 20 free, less than either still needs: a deadlock in the making.
  assert.equal(b.tryTake(30), false)
  let granted = false
  const waiting = b.take(30).then(() => (granted = true))
  await tick()
  assert.equal(granted, false)
  assert.equal(a.tryTake(30), true)
  await tick()
  // a has all it claimed; b fits once a gives it back.
  assert.equal(granted, false)
  a.release()
  await waiting
  assert.deepEqual([b.held, budget.held], [30, 30])
  b.release()
})

test('a waiter held back only by that rule does not hold back a later one that is safe', async () => {
  const budget = new Semaphore(100)
  const a = budget.lease(80)
  await a.take(50)
  const b = budget.lease(80)
  let bGranted = false
  void b.take(30).then(() => (bGranted = true))
  await tick()
  const release = await budget.acquire(10)
  assert.deepEqual([bGranted, budget.held, budget.waiting], [false, 60, 1])
  release()
  a.release()
  await tick()
  assert.equal(bGranted, true)
  b.release()
})

test('pieces arriving in any order: some lease can always take the rest of its claim, so all of them finish', () => {
  // A fixed pseudo-random order (xorshift), so a failure replays.
  let seed = 0x9e3779b9
  const random = (n: number): number => {
    seed ^= seed << 13
    seed ^= seed >>> 17
    seed ^= seed << 5
    return (seed >>> 0) % n
  }
  for (let run = 0; run < 20; run++) {
    const budget = new Semaphore(100)
    const leases = Array.from({ length: 10 }, () => budget.lease(60))
    // Pieces of 1 to 10 units, to random leases, until none more is granted.
    for (let misses = 0; misses < 200; ) {
      const lease = leases[random(leases.length)]!
      if (lease.need === 0 || !lease.tryTake(Math.min(lease.need, 1 + random(10)))) misses++
    }
    // Without the banker's rule every lease would now hold part of its claim, none able to finish.
    let done = 0
    while (done < leases.length) {
      const next = leases.find((l) => l.need > 0 && l.tryTake(l.need)) ?? leases.find((l) => l.need === 0 && l.held > 0)
      assert.ok(next !== undefined, `run ${run}: stuck with ${JSON.stringify(leases.map((l) => [l.held, l.need]))}`)
      if (next.need === 0) {
        next.release()
        done++
      }
    }
    assert.equal(budget.held, 0)
  }
})

test('a waiting take is dropped when its signal aborts or its lease is released', async () => {
  const budget = new Semaphore(10)
  const hold = await budget.acquire(10)
  const lease = budget.lease(5)
  const controller = new AbortController()
  const aborted = lease.take(5, controller.signal)
  controller.abort(new Error('too slow'))
  await assert.rejects(aborted, /too slow/)
  const dropped = lease.take(5)
  lease.release()
  await assert.rejects(dropped, /released/)
  assert.deepEqual([budget.held, budget.waiting], [10, 0])
  hold()
})

test('keyed semaphores: each key its own capacity; a key nothing holds or waits for is dropped', async () => {
  const slots = new KeyedSemaphores(2)
  const a1 = await slots.acquire('a')
  const a2 = await slots.acquire('a')
  const b1 = await slots.acquire('b')
  let third = false
  const a3 = slots.acquire('a').then((release) => ((third = true), release))
  const controller = new AbortController()
  const a4 = slots.acquire('a', 1, controller.signal)
  await tick()
  assert.deepEqual([third, slots.held('a'), slots.waiting('a'), slots.held('b'), slots.size], [false, 2, 2, 1, 2])
  controller.abort(new Error('gone'))
  await assert.rejects(a4, /gone/)
  a1()
  ;(await a3)()
  a2()
  assert.deepEqual([slots.held('a'), slots.waiting('a'), slots.size], [0, 0, 1])
  b1()
  assert.equal(slots.size, 0)
  for (const bad of [0, 1.5, Number.NaN]) assert.throws(() => new KeyedSemaphores(bad), RangeError)
})
