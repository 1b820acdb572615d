/**
 * The benchmarks' interleaving (bench/lib/measure.ts): the figures in docs/benchmarks.md compare arms measured in
 * turns, and on this machine, whose speed drifts over a minute, a fixed order favoured the arm placed last. Rounds
 * alternate their order, so every arm runs at the same average position.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fixedRateInterleaved, measureInterleaved, roundOrder, throughputInterleaved } from '../bench/lib/measure.js'

/** The arms in the order they ran, consecutive calls of one arm collapsed into one turn. */
function turns(calls: number[]): number[] {
  return calls.filter((arm, i) => i === 0 || calls[i - 1] !== arm)
}

test('rounds alternate their order: forwards, then backwards', () => {
  assert.deepEqual(roundOrder(3, 0), [0, 1, 2])
  assert.deepEqual(roundOrder(3, 1), [2, 1, 0])
  assert.deepEqual(roundOrder(3, 2), [0, 1, 2])
  assert.deepEqual(roundOrder(1, 1), [0])
  // Over any two rounds each arm's positions add up to the same.
  for (let arm = 0; arm < 4; arm++) assert.equal(roundOrder(4, 0).indexOf(arm) + roundOrder(4, 1).indexOf(arm), 3)
})

test('throughput windows run in alternating order and are reported in round order', async () => {
  const calls: number[] = []
  const arm = (k: number) => async (): Promise<void> => {
    calls.push(k)
    await new Promise((resolve) => setImmediate(resolve))
  }
  const results = await throughputInterleaved([arm(0), arm(1), arm(2)], { rounds: 4, windowMs: 15, concurrency: 1 })
  // One unmeasured window each, then A B C, C B A, A B C, C B A (a round's first arm was the last one's last: one turn).
  assert.deepEqual(turns(calls), [0, 1, 2, 0, 1, 2, 1, 0, 1, 2, 1, 0])
  for (const r of results) {
    assert.equal(r.windows.length, 4)
    assert.ok(r.requests > 0 && r.rps > 0)
  }
})

test('timed runs alternate their order too', async () => {
  const calls: number[] = []
  await measureInterleaved([() => calls.push(0), () => calls.push(1)], { runs: 3, warmup: 0 })
  assert.deepEqual(calls, [0, 1, 1, 0, 0, 1])
})

test('fixed-rate windows alternate too, send at the rate whatever the answers, and count only what was answered', async () => {
  const calls: number[] = []
  const slow = (k: number) => async (): Promise<void> => {
    calls.push(k)
    // Slower than the rate's interval: an open loop keeps sending, several requests wait at once.
    await new Promise((resolve) => setTimeout(resolve, 30))
  }
  const results = await fixedRateInterleaved([slow(0), slow(1)], { rate: 200, windowMs: 200, rounds: 2 })
  // One unmeasured window each, then A B, B A (the second round's first arm was the first round's last: one turn).
  assert.deepEqual(turns(calls), [0, 1, 0, 1, 0])
  for (const r of results) {
    assert.equal(r.windows.length, 2)
    // Up to 40 a window (200 per second for 200 ms; fewer when the timer wakes late), where a closed loop waiting
    // 30 ms for each answer would send 7.
    assert.ok(r.answers > 2 * 10 && r.answers <= 2 * 41, `${r.answers} answers`)
    assert.ok(Number.isFinite(r.machineCpuPerAnswer) && r.machineCpuPerAnswer >= 0)
  }
  // At most maxInFlight wait at once.
  let waiting = 0
  let most = 0
  const held = async (): Promise<void> => {
    most = Math.max(most, ++waiting)
    await new Promise((resolve) => setTimeout(resolve, 40))
    waiting--
  }
  await fixedRateInterleaved([held], { rate: 1000, windowMs: 200, rounds: 1, maxInFlight: 5 })
  assert.equal(most, 5)
})
