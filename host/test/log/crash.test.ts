/**
 * Issue 12, "Done when": kill -9 of a process appending 2,000 entries, at random moments, repeated. Each round a
 * child process opens the same log, offers again the last entries of the round before (acknowledged or not, as a
 * host retrying would), then appends 2,000 new ones with many in flight, keeping a checkpoint every so often; it is
 * killed with SIGKILL once it has acknowledged a random number of them (the last round runs to the end). After
 * every round the log opens, and holds every acknowledged entry at its acknowledged index, nothing twice, dense
 * indexes, stored hashes that are the tree of its entries, and a tree consistent with every checkpoint kept.
 */
import assert from 'node:assert/strict'
import { randomInt } from 'node:crypto'
import { test } from 'node:test'
import { generateNoteKey } from '@vouch/protocol'
import { describe } from '../../../test/helpers/suites.js'
import { createLogStore } from '../../src/log/store.js'
import { assertSoundLog, LOG_BACKENDS, startAppender, TEST_ORIGIN, useLogTarget } from '../helpers/log.js'

const PER_ROUND = 2_000
/** Entries of the round before that each round offers again first. */
const RETRIED = 50

const ROUNDS = { sqlite: 6, postgres: 4 }

for (const { name, skip } of LOG_BACKENDS) {
  describe(`kill -9 while appending (${name})`, { skip }, () => {
    const target = useLogTarget(name)
    const rounds = ROUNDS[name]

    test(`${rounds} rounds of 2,000 appends, killed at random moments: every acknowledged entry stays, once, at its index`, { timeout: 240_000 }, async () => {
      const location = await target.newLog()
      const { signerKey, verifierKey } = generateNoteKey(TEST_ORIGIN)
      const acknowledged = new Map<string, number>()
      let checkpoints = 0
      let previous: string[] = []
      for (let round = 0; round < rounds; round++) {
        const labels = [...previous.slice(-RETRIED), ...Array.from({ length: PER_ROUND }, (_, i) => `round ${round} entry ${i}`)]
        const last = round === rounds - 1
        const child = startAppender({ location, labels, window: 48, batch: { entries: 32, ms: 2 }, checkpointEvery: 97, signerKey, holdAtEnd: !last })
        if (!last) child.killAfter(randomInt(1, PER_ROUND))
        const exit = await child.exit
        if (last) assert.deepEqual(exit, { code: 0, signal: null, done: true })
        else assert.equal(exit.signal, 'SIGKILL', `round ${round} ended before it was killed: ${JSON.stringify(exit)}`)
        assert.deepEqual(child.conflicts, [])
        for (const [key, index] of child.acks) {
          assert.equal(acknowledged.get(key) ?? index, index, `${key} moved from index ${acknowledged.get(key)} to ${index}`)
          acknowledged.set(key, index)
        }
        checkpoints += child.checkpoints.length
        const store = createLogStore(await target.open(location), { entries: 1, ms: 0 })
        const keys = await assertSoundLog(store, acknowledged, verifierKey)
        assert.ok(keys.length >= acknowledged.size)
        await store.close()
        previous = labels
      }
      // The last round ran to the end: all of its entries, and the retried ones before them, are in.
      assert.equal(acknowledged.size >= PER_ROUND + RETRIED, true)
      assert.ok(checkpoints > 0, 'checkpoints were kept along the way')
    })
  })
}
