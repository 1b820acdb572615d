/**
 * The client sees the fleet (issue 13, items 2 and 3): a host in front of several simulated enclaves answers one
 * challenge with the evidence of each (a fleet document), the client verifies every enclave under its policy, spreads
 * requests over those it accepts and never seals to another key; an enclave that drains, forgets its key or goes away
 * is dropped and the request goes to the next one (attesting again when none is left), within a bound; an enclave lost
 * while running a request fails it clearly; a connection lost before the answer began is retried once; and a host
 * that predates fleets still works. The enclaves are in-test ones with real simulated evidence, real sealing and the
 * real classifier; the host is the HTTPS FakeHost routing by key id, as vouch-host's router does.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { decodeBundle, decodeFleet, encodeCbor, encodeFleet, FLEET_MEDIA_TYPE, type OipJsonTensor } from '@vouch/protocol'
import { SIMULATED_MEASUREMENT } from '@vouch/enclave/simulated'
import { parsePolicy, type Policy } from '@vouch/verifier'
import { createClient, type VouchClient } from '../src/index.js'
import { main } from '../src/cli.js'
import { DROP, FakeHost, problem, unknownKid, type Reply } from './helpers/fake-host.js'
import { rejectsWith } from './helpers/rejects.js'
import { startRogueEnclave, type RogueEnclave } from './helpers/rogue-enclave.js'
import { selfSignedCertificate, type TlsIdentity } from './helpers/tls.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const devText = readFileSync(join(root, 'policies/dev-simulated.yaml'), 'utf8')
const dev = parsePolicy(devText, 'dev-simulated.yaml')
/** dev-simulated, pinning the simulated guest's launch measurement: an enclave launched from another image is rejected. */
const pinnedText = devText.replace('  requireCrl: false', `  requireCrl: false\n  measurements: ["${SIMULATED_MEASUREMENT}"]`)
const pinned = parsePolicy(pinnedText, 'pinned.yaml')
const requiring = (n: number, text = pinnedText): Policy => parsePolicy(`${text}\nfleet:\n  minEnclaves: ${n}\n`, `min-${n}.yaml`)
const sample = JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: OipJsonTensor[] }

describe('a host in front of several enclaves', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-fleet-'))
  let tls: TlsIdentity
  let host: FakeHost
  /** Three enclaves of the simulated image, and one launched from another. */
  let good: RogueEnclave[]
  let other: RogueEnclave
  const kid = async (enclave: RogueEnclave): Promise<string> => decodeBundle(await enclave.attest(null)).keyset.kid
  const clients: VouchClient[] = []
  const client = (policy: Policy = dev): VouchClient => {
    const c = createClient({ url: host.url, policy, ca: tls.cert })
    clients.push(c)
    return c
  }
  const infer = (c: VouchClient) => c.infer('ppocr-cls', sample.inputs)

  before(async () => {
    good = await Promise.all([1, 2, 3].map(() => startRogueEnclave()))
    other = await startRogueEnclave({ measurement: new Uint8Array(48).fill(7) })
    tls = await selfSignedCertificate()
    host = await FakeHost.start(good[0]!, tls)
    host.fleet = good
  })
  afterEach(() => {
    host.reset()
    host.fleet = good
  })
  after(async () => {
    for (const c of clients) c.close()
    await host?.close()
    for (const e of [...(good ?? []), other]) await e?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  test('three accepted enclaves: one challenge, all three in the attestation, requests spread over all of them', async () => {
    const c = client()
    const attestation = await c.attest()
    assert.deepEqual(attestation.fleet.map((m) => m.index), [0, 1, 2])
    assert.deepEqual(attestation.rejected, [])
    const kids = await Promise.all(good.map(kid))
    assert.deepEqual(attestation.fleet.map((m) => m.keyset.kid), kids)
    assert.equal(attestation.keyset.kid, kids[0], 'the attestation itself is the first accepted enclave, as for a single one')
    for (const m of attestation.fleet) {
      assert.deepEqual(m.claims.nonces, [attestation.nonce])
      assert.equal(m.unchallenged.result.verdict, 'accepted')
    }
    assert.deepEqual(host.seen, { challenged: 1, unchallenged: 0, models: 0, infer: 0 }, 'the fleet document carries every unchallenged bundle too')

    const answers = []
    for (let i = 0; i < 6; i++) answers.push(await infer(c))
    assert.deepEqual(kids.map((k) => host.routed.get(k)), [2, 2, 2], 'round robin: two each')
    // Each answer's receipt names the evidence of the enclave it was sealed to.
    for (const a of answers) assert.deepEqual(a.evidence, attestation.fleet.find((m) => m.keyset.kid === a.attestation.keyset.kid)!.unchallenged.bytes)
    await Promise.all([1, 2, 3].map(() => infer(c)))
    assert.deepEqual(kids.map((k) => host.routed.get(k)), [3, 3, 3], 'concurrent requests take turns too')
    assert.equal(host.seen.challenged, 1, 'one attestation served them all')
  })

  test('an enclave whose evidence the policy rejects is listed with its Result, and never gets a request sealed to it', async () => {
    host.fleet = [good[0]!, other, good[1]!]
    const c = client(pinned)
    const attestation = await c.attest()
    assert.deepEqual(attestation.fleet.map((m) => m.index), [0, 2])
    assert.deepEqual(attestation.rejected.map((r) => r.index), [1])
    const [rejection] = attestation.rejected
    assert.equal(rejection!.error.code, 'ERR_CLIENT_ATTESTATION_REJECTED')
    assert.deepEqual(rejection!.result?.errors.map((e) => e.code), ['ERR_POLICY_MEASUREMENT_MISMATCH'])
    for (let i = 0; i < 6; i++) await infer(c)
    const rejected = await kid(other)
    assert.equal(host.keyIds.length, 6)
    assert.ok(!host.keyIds.includes(rejected), 'nothing sealed to the rejected enclave')
    assert.deepEqual([await kid(good[0]!), await kid(good[1]!)].map((k) => host.routed.get(k)), [3, 3])
  })

  test('minEnclaves 3 refuses a host whose policy-accepted enclaves are 2, before anything is sealed', async () => {
    host.fleet = [good[0]!, other, good[1]!]
    const error = await rejectsWith(client(requiring(3)).infer('ppocr-cls', sample.inputs), 'ERR_CLIENT_FLEET_TOO_SMALL')
    assert.match(error.message, /2 of the 3 enclaves .* are accepted under policy dev-simulated, which requires 3 \(fleet\.minEnclaves\)/)
    assert.deepEqual(error.fleet?.accepted.map((m) => m.index), [0, 2])
    assert.deepEqual(error.fleet?.rejected.map((r) => r.index), [1])
    assert.equal(error.fleet?.required, 3)
    assert.equal(host.seen.infer, 0)
    // Two are what it asks for: accepted.
    assert.equal((await client(requiring(2)).attest()).fleet.length, 2)
  })

  test('an enclave listed twice counts once toward minEnclaves', async () => {
    host.fleet = [good[0]!, good[0]!]
    const error = await rejectsWith(client(requiring(2)).attest(), 'ERR_CLIENT_FLEET_TOO_SMALL')
    assert.deepEqual(error.fleet?.accepted.map((m) => m.index), [0])
    assert.deepEqual(error.fleet?.rejected.map((r) => [r.index, r.result, r.error.code]), [[1, undefined, 'ERR_CLIENT_ATTESTATION_REJECTED']])
    assert.match(error.fleet!.rejected[0]!.error.message, /shows the keyset of enclave 0/)
  })

  test('an enclave whose bundle the host altered is rejected; none accepted is ERR_CLIENT_ATTESTATION_REJECTED with the first Result', async () => {
    const alter = (which: ReadonlySet<number>) => async (_: Uint8Array | null, next: () => Promise<Reply>): Promise<Reply> => {
      const reply = await next()
      const fleet = decodeFleet(reply.body)
      const enclaves = fleet.enclaves.map((m, i) => (which.has(i) ? { ...m, challenged: Uint8Array.from(m.challenged, (b, j) => (j === m.challenged.length - 10 ? b ^ 1 : b)) } : m))
      return { ...reply, body: encodeFleet({ ...fleet, enclaves }) }
    }
    host.onAttest = alter(new Set([1]))
    const c = client()
    const attestation = await c.attest()
    assert.deepEqual([attestation.fleet.map((m) => m.index), attestation.rejected.map((r) => r.index)], [[0, 2], [1]])
    assert.equal(attestation.rejected[0]!.result?.verdict, 'rejected')
    for (let i = 0; i < 4; i++) await infer(c)
    assert.ok(!host.keyIds.includes(await kid(good[1]!)))

    host.reset()
    host.onAttest = alter(new Set([0, 1, 2]))
    const error = await rejectsWith(client().attest(), 'ERR_CLIENT_ATTESTATION_REJECTED')
    assert.match(error.message, /none of the 3 enclaves/)
    assert.equal(error.result?.verdict, 'rejected')
    assert.ok(error.attestation?.challenged.bytes.length)
    assert.equal(error.fleet?.rejected.length, 3)
  })

  test('a fleet document answering another nonce, or malformed, is refused as an invalid response', async () => {
    host.onAttest = async (_, next) => {
      const reply = await next()
      return { ...reply, body: encodeFleet({ ...decodeFleet(reply.body), nonce: new Uint8Array(32).fill(1) }) }
    }
    const wrong = await rejectsWith(client().attest(), 'ERR_CLIENT_RESPONSE_INVALID')
    assert.match(wrong.message, /answers another challenge/)
    const malformed: Array<[string, Uint8Array]> = [
      ['not CBOR', Buffer.from('not a fleet')],
      ['a short nonce', encodeCbor({ v: 1, nonce: new Uint8Array(31), archived: false, enclaves: [] })],
      ['an enclave without its unchallenged bundle', encodeCbor({ v: 1, nonce: new Uint8Array(32), archived: false, enclaves: [{ challenged: new Uint8Array(4) }] })],
      ['another version', encodeCbor({ v: 2, nonce: new Uint8Array(32), archived: false, enclaves: [] })],
    ]
    for (const [name, body] of malformed) {
      host.onAttest = async () => ({ status: 200, type: FLEET_MEDIA_TYPE, body })
      const error = await rejectsWith(client().attest(), 'ERR_CLIENT_RESPONSE_INVALID')
      assert.match(error.message, /fleet attestation is malformed/, name)
    }
    // An empty fleet is a well-formed document offering nobody: too small for any policy.
    host.onAttest = async (nonce) => ({ status: 200, type: FLEET_MEDIA_TYPE, body: encodeFleet({ v: 1, nonce: nonce!, archived: false, enclaves: [] }) })
    const none = await rejectsWith(client().attest(), 'ERR_CLIENT_FLEET_TOO_SMALL')
    assert.deepEqual([none.fleet?.accepted.length, none.fleet?.rejected.length, none.fleet?.required], [0, 0, 1])
  })

  for (const [code, status] of [['ERR_ENCLAVE_DRAINING', 503], ['ERR_HOST_ENCLAVE_UNAVAILABLE', 503], ['ERR_ENCLAVE_UNKNOWN_KID', 409]] as const) {
    test(`an enclave answering ${status} ${code} is dropped and the request lands on another, with no error and no new attestation`, async () => {
      const c = client()
      await c.attest()
      const gone = await kid(good[1]!)
      host.onInfer = async (request, next) => (request.kid === gone ? problem(status, code, 'gone', '/v2/models/ppocr-cls/infer') : next())
      for (let i = 0; i < 6; i++) await infer(c)
      assert.equal(host.keyIds.filter((k) => k === gone).length, 1, 'tried once, then dropped')
      assert.equal(host.keyIds.length, 7)
      assert.deepEqual([await kid(good[0]!), await kid(good[2]!)].map((k) => host.routed.get(k)), [3, 3])
      assert.equal(host.seen.challenged, 1)
    })
  }

  test('409 from every enclave: one new attestation, then the answer; a re-sealed request each time', async () => {
    const c = client()
    await c.attest()
    const bodies: string[] = []
    host.onInfer = async (request, next) => {
      bodies.push(Buffer.from(request.body).toString('hex'))
      return host.seen.challenged === 1 ? unknownKid() : next()
    }
    const result = await infer(c)
    assert.equal(result.outputs.length, 1)
    assert.equal(host.seen.challenged, 2)
    assert.equal(host.seen.infer, 4, 'each of the three, then one after the new attestation')
    assert.equal(new Set(host.keyIds.slice(0, 3)).size, 3)
    assert.equal(new Set(bodies).size, 4, 'sealed anew for every send')
  })

  test('refusals are bounded: the fleet plus two sends, then the last refusal', async () => {
    host.onInfer = async () => problem(503, 'ERR_ENCLAVE_DRAINING', 'draining', '/v2/models/ppocr-cls/infer')
    const error = await rejectsWith(infer(client()), 'ERR_CLIENT_HTTP')
    assert.equal(error.problem?.code, 'ERR_ENCLAVE_DRAINING')
    assert.equal(host.seen.infer, 5, 'three enclaves, two more sends')
    assert.equal(host.seen.challenged, 2, 'the three dropped, one new attestation; the sends ran out before a second')
  })

  test('502 ERR_HOST_ENCLAVE_LOST (the enclave went away while running it) fails that request clearly, and nothing else', async () => {
    const c = client()
    await c.attest()
    host.onInfer = async () => problem(502, 'ERR_HOST_ENCLAVE_LOST', 'the enclave went away', '/v2/models/ppocr-cls/infer')
    const error = await rejectsWith(infer(c), 'ERR_CLIENT_HTTP')
    assert.equal(error.status, 502)
    assert.equal(error.problem?.code, 'ERR_HOST_ENCLAVE_LOST')
    assert.deepEqual([host.seen.infer, host.seen.challenged], [1, 1], 'not sent again: its outcome is unknown')
    host.onInfer = null
    assert.equal((await infer(c)).outputs.length, 1, 'the next request is served')
  })

  test('a connection lost before any byte of the answer is sent again once, sealed anew, on a new connection', async () => {
    const c = client()
    await c.attest()
    // No kept-alive connection left: the first send opens a new one (a reused one the transport itself retries).
    c.close()
    const bodies: string[] = []
    host.onInfer = async (request, next) => {
      bodies.push(Buffer.from(request.body).toString('hex'))
      return request.n === 1 ? DROP : next()
    }
    assert.equal((await infer(c)).outputs.length, 1)
    assert.equal(host.seen.infer, 2)
    assert.notEqual(bodies[0], bodies[1])
    assert.equal(host.seen.challenged, 1)

    host.reset()
    host.fleet = good
    c.close()
    host.onInfer = async () => DROP
    await rejectsWith(infer(c), 'ERR_CLIENT_UNREACHABLE')
    assert.equal(host.seen.infer, 2, 'once only')
  })

  test('a host shutting down (503 ERR_HOST_SHUTTING_DOWN, the request sent nowhere): once more, sealed anew, on a new connection; the enclave kept', async () => {
    const c = client()
    await c.attest()
    const leaving = () => ({ ...problem(503, 'ERR_HOST_SHUTTING_DOWN', 'shutting down', '/v2/models/ppocr-cls/infer'), headers: { connection: 'close' } })
    const bodies: string[] = []
    host.onInfer = async (request, next) => {
      bodies.push(Buffer.from(request.body).toString('hex'))
      return request.n === 1 ? leaving() : next()
    }
    assert.equal((await infer(c)).outputs.length, 1)
    assert.deepEqual([host.seen.infer, host.seen.challenged], [2, 1])
    assert.notEqual(bodies[0], bodies[1])
    for (let i = 0; i < 3; i++) await infer(c)
    assert.equal(new Set(host.keyIds).size, 3, 'no enclave was dropped for it')

    host.reset()
    host.fleet = good
    host.onInfer = async () => leaving()
    const error = await rejectsWith(infer(c), 'ERR_CLIENT_HTTP')
    assert.deepEqual([error.status, error.problem?.code, host.seen.infer], [503, 'ERR_HOST_SHUTTING_DOWN', 2])
  })

  test('a host that predates fleets (an evidence archive, one enclave) works as before: a fleet of one', async () => {
    host.fleet = null
    host.archives = true
    const c = client(requiring(1, devText))
    const attestation = await c.attest()
    assert.equal(attestation.fleet.length, 1)
    assert.deepEqual(attestation.rejected, [])
    assert.ok(attestation.challenged.archive !== undefined && attestation.unchallenged.archive !== undefined)
    assert.deepEqual(host.seen, { challenged: 1, unchallenged: 1, models: 0, infer: 0 })
    const result = await infer(c)
    assert.deepEqual(result.archive, attestation.unchallenged.archive)
    assert.equal(result.attestation.keyset.kid, await kid(good[0]!))
    // And a policy requiring two refuses it.
    const error = await rejectsWith(client(requiring(2, devText)).attest(), 'ERR_CLIENT_FLEET_TOO_SMALL')
    assert.deepEqual([error.fleet?.accepted.length, error.fleet?.required], [1, 2])
  })

  describe('the vouch CLI', () => {
    const write = (name: string, text: string): string => {
      const path = join(dir, name)
      writeFileSync(path, text)
      return path
    }
    const command = async (name: string, ...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
      const out: string[] = []
      const err: string[] = []
      const code = await main([name, '--url', host.url, '--ca', write('ca.pem', tls.cert), ...argv], (t) => out.push(t), (t) => err.push(t))
      return { code, out: out.join('\n'), err: err.join('\n') }
    }
    const run = (...argv: string[]) => command('attest', ...argv)

    test('lists every enclave, accepted or the first error, and how many the policy requires', async () => {
      host.fleet = [good[0]!, other, good[1]!]
      const r = await run('--policy', write('pinned.yaml', pinnedText))
      assert.equal(r.code, 0, r.out + r.err)
      assert.match(r.out, /: ACCEPTED/)
      assert.match(r.out, /^2 of 3 enclaves accepted \(policy requires 1\)$/m)
      const kids = [await kid(good[0]!), await kid(other), await kid(good[1]!)]
      assert.match(r.out, new RegExp(`^  #0  ${kids[0]}  simulated .*  ACCEPTED$`, 'm'))
      assert.match(r.out, new RegExp(`^  #1  ${kids[1]}  simulated .*  REJECTED  ERR_POLICY_MEASUREMENT_MISMATCH: `, 'm'))
      assert.match(r.out, new RegExp(`^  #2  ${kids[2]}  simulated .*  ACCEPTED$`, 'm'))

      const json = JSON.parse((await run('--policy', write('pinned.yaml', pinnedText), '--json')).out) as { verdict: string; fleet: { accepted: number; offered: number; required: number; enclaves: Array<{ index: number; kid: string; verdict: string; error?: { code: string } }> } }
      assert.equal(json.verdict, 'accepted')
      assert.deepEqual([json.fleet.accepted, json.fleet.offered, json.fleet.required], [2, 3, 1])
      assert.deepEqual(json.fleet.enclaves.map((e) => [e.index, e.kid, e.verdict, e.error?.code]), [
        [0, kids[0], 'accepted', undefined],
        [1, kids[1], 'rejected', 'ERR_POLICY_MEASUREMENT_MISMATCH'],
        [2, kids[2], 'accepted', undefined],
      ])
    })

    test('a fleet too small for the policy: exit 1, the list, and the refusal', async () => {
      host.fleet = [good[0]!, other, good[1]!]
      const r = await run('--policy', write('min-3.yaml', `${pinnedText}\nfleet:\n  minEnclaves: 3\n`))
      assert.equal(r.code, 1, r.out + r.err)
      assert.match(r.out, /: REJECTED/)
      assert.match(r.out, /^2 of 3 enclaves accepted \(policy requires 3\)$/m)
      assert.match(r.out, /ERR_CLIENT_FLEET_TOO_SMALL/)
      const json = JSON.parse((await run('--policy', write('min-3.yaml', `${pinnedText}\nfleet:\n  minEnclaves: 3\n`), '--json')).out) as { verdict: string; error: { code: string }; fleet: { accepted: number; required: number } }
      assert.deepEqual([json.verdict, json.error.code, json.fleet.accepted, json.fleet.required], ['rejected', 'ERR_CLIENT_FLEET_TOO_SMALL', 2, 3])
    })

    test('vouch infer refused for a fleet too small: exit 1, nothing sent, the list', async () => {
      host.fleet = [good[0]!, other, good[1]!]
      const policy = write('min-3.yaml', `${pinnedText}\nfleet:\n  minEnclaves: 3\n`)
      const r = await command('infer', '--policy', policy, '--model', 'ppocr-cls', '--input', join(root, 'models/samples/ppocr-cls.json'), '--state-dir', dir)
      assert.equal(r.code, 1, r.out + r.err)
      assert.match(r.out, /^vouch infer: REJECTED \(nothing was sealed or sent\)\n {2}ERR_CLIENT_FLEET_TOO_SMALL: /)
      assert.match(r.out, /^2 of 3 enclaves accepted \(policy requires 3\)$/m)
      assert.equal(host.seen.infer, 0)
    })

    test('a fleet of one prints what it printed before fleets', async () => {
      host.fleet = [good[0]!]
      const r = await run('--policy', write('dev.yaml', devText))
      assert.equal(r.code, 0, r.out + r.err)
      assert.doesNotMatch(r.out, /enclaves accepted/)
      assert.doesNotMatch(r.out, /^ {2}#0/m)
    })
  })
})
