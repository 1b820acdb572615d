/**
 * Issue 12, "Done when": two hosts on one PostgreSQL log, both taking traffic: one linear history, no lost or
 * duplicated entry. Two processes open the same log and, started together, each append 1,000 receipts of their own
 * and 100 that both are given (as when a client retries at another host), many in flight, keeping checkpoints. The
 * log then holds exactly the 2,100 entries, each once, every acknowledgement at its index (a shared receipt at one
 * index for both), the two hosts' batches interleaved, and one tree that every checkpoint of either host agrees
 * with. The same runs on one SQLite file, whose write lock makes the same promise for processes on one machine.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { generateNoteKey } from '@vouch/protocol'
import { describe } from '../../../test/helpers/suites.js'
import { createLogStore } from '../../src/log/store.js'
import { assertSoundLog, LOG_BACKENDS, startAppender, TEST_ORIGIN, useLogTarget } from '../helpers/log.js'

const OWN = 1_000
const SHARED = 100

for (const { name, skip } of LOG_BACKENDS) {
  describe(`two hosts appending to one log (${name})`, { skip }, () => {
    const target = useLogTarget(name)

    test('one linear history: every entry once, every acknowledgement at its index, one tree under both hosts\' checkpoints', { timeout: 120_000 }, async () => {
      const location = await target.newLog()
      // One log key, as hosts sharing a log share its configuration.
      const { signerKey, verifierKey } = generateNoteKey(TEST_ORIGIN)
      const shared = Array.from({ length: SHARED }, (_, i) => `shared ${i}`)
      const hosts = ['a', 'b'].map((host) => {
        const own = Array.from({ length: OWN }, (_, i) => `host ${host} entry ${i}`)
        // Each host meets the shared receipts at other moments: a at the start, b at the end.
        const labels = host === 'a' ? [...shared, ...own] : [...own, ...shared]
        return startAppender({ location, labels, window: 16, batch: { entries: 16, ms: 2 }, checkpointEvery: 50, signerKey, waitForGo: true })
      })
      await Promise.all(hosts.map((h) => h.ready))
      for (const h of hosts) h.go()
      for (const exit of await Promise.all(hosts.map((h) => h.exit))) assert.deepEqual(exit, { code: 0, signal: null, done: true })

      const [a, b] = hosts as [(typeof hosts)[0], (typeof hosts)[0]]
      assert.deepEqual([a.conflicts, b.conflicts], [[], []])
      const all = new Map([...a.acks, ...b.acks])
      for (const [key, index] of b.acks) assert.equal(a.acks.get(key) ?? index, index, `${key} acknowledged at ${a.acks.get(key)} by one host and ${index} by the other`)
      assert.equal(all.size, 2 * OWN + SHARED)

      const store = createLogStore(await target.open(location), { entries: 1, ms: 0 })
      assert.equal(await store.size(), 2 * OWN + SHARED, 'no entry lost, none twice')
      await assertSoundLog(store, all, verifierKey)
      assert.ok(a.checkpoints.length > 0 && b.checkpoints.length > 0)
      assert.equal((await store.checkpoints()).length > 0, true)
      await store.close()

      // Both took traffic at once: their entries interleave in the one history.
      const onlyA = [...a.acks].filter(([key]) => !b.acks.has(key)).map(([, i]) => i)
      const onlyB = [...b.acks].filter(([key]) => !a.acks.has(key)).map(([, i]) => i)
      assert.ok(Math.min(...onlyB) < Math.max(...onlyA) && Math.min(...onlyA) < Math.max(...onlyB), 'the two hosts\' entries interleave')
    })
  })
}
