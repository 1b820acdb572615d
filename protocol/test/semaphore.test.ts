/** The semaphore behind the host's body budget and the enclave's model slots: units taken and given back, waiters in order. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Semaphore } from '@vouch/protocol'

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
