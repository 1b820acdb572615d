/**
 * Per-hop tracing (protocol/src/hop-trace.ts, bench/hops.bench.ts): off, nothing is written and the traced function
 * runs as it is; on, one line per traced request with its hops, in order, and nothing but their names and times.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { hop, hopClock, traceHopsTo, traceRequest, tracingHops } from '@vouch/protocol/hop-trace'

test('hop tracing: off writes nothing; on, one line per request that marked hops, its hops in order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-hops-'))
  const file = join(dir, 'hops.jsonl')
  t.after(() => {
    traceHopsTo(null)
    rmSync(dir, { recursive: true, force: true })
  })

  traceHopsTo(null)
  assert.equal(tracingHops(), false)
  assert.equal(hopClock(), null)
  assert.equal(await traceRequest('client', async (mark) => (mark('a'), hop('b'), 42)), 42)
  assert.equal(existsSync(file), false)

  traceHopsTo(file)
  const since = hopClock()!
  await traceRequest('enclave', async (mark) => {
    hop('open')
    await new Promise((resolve) => setImmediate(resolve))
    hop('run')
    mark('seal')
  }, since)
  // A request that marks nothing is not written; one that fails is, with the hops it marked.
  await traceRequest('host', async () => undefined)
  await assert.rejects(traceRequest('worker', async () => (hop('feeds'), Promise.reject(new Error('refused')))), /refused/)
  hop('outside any request')

  const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { part: string; hops: Array<[string, number, number]> })
  assert.deepEqual(lines.map((l) => [l.part, l.hops.map(([name]) => name)]), [['enclave', ['open', 'run', 'seal']], ['worker', ['feeds']]])
  for (const [, wall, cpu] of lines.flatMap((l) => l.hops)) assert.ok(wall >= 0 && cpu >= 0)
  assert.deepEqual(Object.keys(lines[0]!), ['part', 'hops'])
})
