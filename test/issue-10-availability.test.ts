/**
 * Issue 10, availability, against the real `vouch-host` supervising the real `vouch-enclave` (simulated SEV-SNP and
 * GPU) over HTTPS on loopback, with the shipped limits:
 * - slow bodies: 200 connections that open sealed requests and trickle their bodies (declaring 16 MiB they never
 *   send, or chunked without end) do not hold up a real sealed request, and are cut off once the rate rule applies;
 * - attestation flood: one client asking for challenged attestations as fast as it can is turned away at its own
 *   budget (429 with Retry-After), and another client, at another address, attests meanwhile without a refusal.
 * Clients play several addresses through 127.0.0.0/8, all loopback on Linux.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createClient, loadPolicy, type FetchLike, type InferInput } from '@vouch/client'
import { loadConfig, startHost, type HostConfig, type RunningHost } from '@vouch/host'
import { eventually, sink } from '../host/test/helpers/testkit.js'
import { boundFetch, openSlowBody, type SlowBody } from './helpers/attackers.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const policy = loadPolicy(join(root, 'policies/dev-simulated.yaml'))
const sample = JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: InferInput[] }
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

describe('issue 10: slow bodies and attestation floods do not starve other clients', () => {
  const cache = mkdtempSync(join(tmpdir(), 'vouch-issue-10-'))
  let host: RunningHost

  before(async () => {
    // The shipped limits, but a rate window long enough that all 200 slow bodies are surely still open while the
    // real request is measured, on a loaded machine too.
    const { config } = loadConfig(['--port', '0', '--gpu', 'simulated', '--log-level', 'warn', '--body-rate-window-ms', '6000'], { env: {} }) as { help: false; config: HostConfig }
    host = await startHost(config, { log: sink('warn').log, env: { ...process.env, VOUCH_CACHE_DIR: cache } })
    await eventually(() => host.pool.up, 120_000, 'the enclave to be ready')
  })
  after(async () => {
    await host?.close()
    rmSync(cache, { recursive: true, force: true })
  })

  test('200 slow bodies open: a real sealed request completes in under 2 s, and each slow one is cut off with 408 ERR_HOST_BODY_TOO_SLOW', async () => {
    const client = createClient({ url: host.url, policy, ca: host.tls.cert, timeoutMs: 10_000 })
    const attackers: SlowBody[] = []
    try {
      await client.attest()
      // Half declare 16 MiB they never send, half send chunked bodies that never end; 4 from each of 50 addresses.
      for (let i = 0; i < 200; i++) {
        attackers.push(openSlowBody({ port: host.port, ca: host.tls.cert, localAddress: `127.0.1.${1 + (i % 50)}`, mode: i % 2 === 0 ? 'declared' : 'chunked', intervalMs: 500 }))
      }
      await Promise.all(attackers.map((a) => a.opened))
      let answered = 0
      for (const a of attackers) void a.outcome.then(() => answered++)
      // Every one has sent a byte or more, so every one is being read.
      await sleep(700)

      const started = performance.now()
      const result = await client.infer('ppocr-cls', sample.inputs)
      const elapsed = performance.now() - started
      assert.equal(answered, 0, 'the slow connections were all still open')
      assert.equal(result.result.verdict, 'accepted')
      assert.ok(elapsed < 2_000, `the sealed request took ${Math.round(elapsed)} ms`)
      // Each holds at most the first 4 KiB block of its body, not what it declared.
      const held = Number(/^vouch_request_body_bytes (\d+)$/m.exec(await host.metrics.registry.metrics())?.[1])
      assert.ok(held <= 200 * 4096, `${held} bytes of bodies held`)

      const outcomes = await Promise.all(attackers.map((a) => a.outcome))
      const wrong = outcomes.filter((o) => o.status !== 408 || o.code !== 'ERR_HOST_BODY_TOO_SLOW' || !o.closedByHost)
      assert.deepEqual(wrong, [], `${wrong.length} slow connections ended otherwise`)
    } finally {
      for (const a of attackers) a.close()
      client.close()
    }
  })

  test('one client floods challenged attestations: it is turned away at its own budget, and another client attests meanwhile', async () => {
    // The flooder: 4 connections from 127.0.0.1 asking for fresh challenges back to back.
    const agent = new Agent({ keepAlive: true, localAddress: '127.0.0.1', ca: host.tls.cert, maxSockets: 4 })
    const flooded: Array<{ status: number; code: string | undefined; retryAfter: string | undefined }> = []
    let flooding = true
    const challenge = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(`${host.url}/v1/attestation?nonce=${randomBytes(32).toString('hex')}`, { agent }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const code = res.statusCode === 200 ? undefined : (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code: string }).code
            flooded.push({ status: res.statusCode!, code, retryAfter: res.headers['retry-after'] })
            resolve()
          })
        })
        req.on('error', reject)
        req.end()
      })
    const flood = Array.from({ length: 4 }, async () => {
      while (flooding) await challenge()
    })

    // The other client, from 127.0.0.2, with every answer it got recorded.
    const bound = boundFetch('127.0.0.2', host.tls.cert)
    const answers: number[] = []
    const fetch: FetchLike = async (url, init) => {
      const response = await bound.fetch(url, init)
      if (url.includes('nonce=')) answers.push(response.status)
      return response
    }
    const other = createClient({ url: host.url, policy, fetch })
    try {
      // Long enough for the flooder to use up its burst and more.
      await eventually(() => flooded.some((f) => f.status === 429), 10_000, 'the flooder to be turned away')
      await sleep(1_000)
      const attestation = await other.attest()
      assert.equal(attestation.challenged.result.verdict, 'accepted')
      assert.deepEqual(answers, [200], 'the other client was never turned away')
    } finally {
      flooding = false
      await Promise.all(flood)
      agent.destroy()
      other.close()
      bound.close()
    }
    const refused = flooded.filter((f) => f.status !== 200)
    assert.ok(refused.length > 0)
    for (const f of refused) {
      assert.deepEqual([f.status, f.code], [429, 'ERR_HOST_ATTEST_RATE_LIMITED'])
      assert.ok(Number(f.retryAfter) >= 1, `Retry-After ${f.retryAfter}`)
    }
    // The shipped budget: 5 back to back, then one a second; the flood ran a few seconds.
    assert.ok(flooded.length - refused.length <= 5 + 10, `${flooded.length - refused.length} challenges served to the flooder`)
  })
})
