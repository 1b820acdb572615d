/**
 * The receipt log's group commit (host/src/log/batcher.ts): with no wait configured (`ms: 0`, the default) a batch
 * starts at the next turn of the event loop, not on a timer, whose shortest delay (1 ms in Node) every answer would
 * wait; what is queued in the same turn still goes in one batch.
 */
import assert from 'node:assert/strict'
import { mock, test } from 'node:test'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { AppendBatcher } from '../../src/log/batcher.js'

test('ms 0: a batch starts at the next turn of the event loop, with everything queued in this one, on no timer', async (t) => {
  // Timers frozen: a batch that waits for one never starts.
  mock.timers.enable({ apis: ['setTimeout'] })
  t.after(() => mock.timers.reset())
  const batches: number[][] = []
  const batcher = new AppendBatcher<number, number>(async (batch) => (batches.push(batch), batch.map((n) => n * 2)), { entries: 256, ms: 0 })
  const results = [batcher.add(1), batcher.add(2), batcher.add(3)]
  await nextTurn()
  assert.deepEqual(batches, [[1, 2, 3]])
  assert.deepEqual(await Promise.all(results), [2, 4, 6])
  // What arrives while a batch runs goes in the next one, which starts once that one is committed.
  const later = [batcher.add(4), batcher.add(5)]
  await nextTurn()
  assert.deepEqual(await Promise.all(later), [8, 10])
  assert.deepEqual(batches, [[1, 2, 3], [4, 5]])
  await batcher.close()
})

test('ms above 0: the oldest waiting entry waits that long before its batch starts', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] })
  t.after(() => mock.timers.reset())
  const batches: number[][] = []
  const batcher = new AppendBatcher<number, number>(async (batch) => (batches.push(batch), batch), { entries: 256, ms: 5 })
  const result = batcher.add(1)
  await nextTurn()
  assert.deepEqual(batches, [], 'not before its 5 ms')
  mock.timers.tick(5)
  assert.equal(await result, 1)
  assert.deepEqual(batches, [[1]])
  await batcher.close()
})
