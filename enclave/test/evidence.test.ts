/**
 * The evidence service: v2 bundles whose binding the verifier accepts, the unchallenged one built once, and challenged
 * ones answered together: challenges that arrive while the hardware is busy, or while the rate limit holds it back,
 * share the next report (at most 64 each), a repeated nonce shares its answer, and past the waiting bound the enclave
 * says so instead of queueing without end. (test/enclave-link.test.ts verifies such bundles on the simulated TEE.)
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, test } from 'node:test'
import { bindingStatementV2, MAX_BUNDLE_NONCES, reportDataFor, toHex, type BundleModel } from '@vouch/protocol'
import { EvidenceService, MAX_WAITING_CHALLENGES, type CpuAttester } from '../src/service/evidence.js'
import { generateKeyset } from '../src/service/keys.js'

const MODELS: BundleModel[] = [
  {
    name: 'm',
    version: '1',
    digest: `sha256:${'ab'.repeat(32)}`,
    manifest: { name: 'm', version: '1', sha256: 'ab'.repeat(32), publisher: 'npm:p', license: 'MIT', contributors: [{ role: 'publisher', id: 'npm:p', name: 'P' }] },
    knownAnswer: { input: `sha256:${'01'.repeat(32)}`, output: `sha256:${'02'.repeat(32)}` },
  },
]

/** A CPU attester that records each REPORT_DATA asked for and answers when told to (or at once). */
function recordingCpu(options: { hold?: boolean; fail?: number } = {}): CpuAttester & { asked: Uint8Array[]; release(): void } {
  const asked: Uint8Array[] = []
  let gate: (() => void) | null = null
  let failures = options.fail ?? 0
  return {
    platform: 'simulated',
    asked,
    release: () => gate?.(),
    async attest(reportData) {
      asked.push(reportData)
      if (options.hold === true) await new Promise<void>((resolve) => (gate = resolve))
      if (failures > 0) {
        failures--
        throw Object.assign(new Error('the PSP is busy'), { code: 'ERR_TEE_REQUEST_FAILED' })
      }
      return { report: new Uint8Array(1184), vek: Uint8Array.of(0x30, 0), chain: [Uint8Array.of(0x30, 0), Uint8Array.of(0x30, 0)] }
    },
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const nonces = (n: number): Uint8Array[] => Array.from({ length: n }, () => new Uint8Array(randomBytes(32)))

describe('EvidenceService', () => {
  test('bundles are v2 and their REPORT_DATA commits to the v2 statement; the unchallenged one is built once', async () => {
    const cpu = recordingCpu()
    const evidence = new EvidenceService(cpu, null, generateKeyset(), MODELS)
    const a = await evidence.unchallenged()
    const b = await evidence.unchallenged()
    assert.equal(a, b)
    assert.equal(cpu.asked.length, 1)
    assert.equal(a.bundle.v, 2)
    assert.deepEqual(a.bundle.nonces, [])
    assert.deepEqual(a.bundle.models, MODELS)
    assert.equal(toHex(cpu.asked[0]!), toHex(reportDataFor(bindingStatementV2(a.bundle))))
  })

  test('challenges arriving while the hardware is busy are answered together by the next report', async () => {
    const cpu = recordingCpu({ hold: true })
    const evidence = new EvidenceService(cpu, null, generateKeyset(), MODELS)
    const [first, ...later] = nonces(5)
    const firstAnswer = evidence.challenged(first!)
    await tick()
    const laterAnswers = later.map((n) => evidence.challenged(n))
    assert.equal(evidence.waiting, 4)
    cpu.release()
    const one = await firstAnswer
    await tick()
    cpu.release()
    const rest = await Promise.all(laterAnswers)
    assert.equal(cpu.asked.length, 2, 'two hardware reports for five challenges')
    assert.deepEqual(one.bundle.nonces.map(toHex), [toHex(first!)])
    for (const answer of rest) assert.equal(answer, rest[0])
    assert.deepEqual(rest[0]!.bundle.nonces.map(toHex), later.map(toHex))
  })

  test('a nonce asked twice while it waits shares one answer', async () => {
    const cpu = recordingCpu({ hold: true })
    const evidence = new EvidenceService(cpu, null, generateKeyset(), MODELS)
    void evidence.challenged(nonces(1)[0]!)
    await tick()
    const [n] = nonces(1)
    const a = evidence.challenged(n!)
    const b = evidence.challenged(Uint8Array.from(n!))
    assert.equal(a, b)
    assert.equal(evidence.waiting, 1)
    cpu.release()
    await tick()
    cpu.release()
    assert.deepEqual((await a).bundle.nonces.map(toHex), [toHex(n!)])
  })

  test('a report answers at most 64 challenges; the rest wait for the next', async () => {
    const cpu = recordingCpu({ hold: true })
    const evidence = new EvidenceService(cpu, null, generateKeyset(), MODELS, { burst: 100, perSecond: 100 })
    void evidence.challenged(nonces(1)[0]!)
    await tick()
    const many = nonces(MAX_BUNDLE_NONCES + 10)
    const answers = many.map((n) => evidence.challenged(n))
    for (let i = 0; i < 3; i++) {
      cpu.release()
      await tick()
    }
    const built = await Promise.all(answers)
    assert.equal(cpu.asked.length, 3)
    assert.equal(built[0]!.bundle.nonces.length, MAX_BUNDLE_NONCES)
    assert.equal(built.at(-1)!.bundle.nonces.length, 10)
  })

  test(`past ${MAX_WAITING_CHALLENGES} waiting challenges, ERR_ENCLAVE_ATTEST_RATE_LIMITED; the waiting ones are still answered`, async () => {
    const cpu = recordingCpu({ hold: true })
    const evidence = new EvidenceService(cpu, null, generateKeyset(), MODELS, { burst: 100, perSecond: 100 })
    void evidence.challenged(nonces(1)[0]!)
    await tick()
    const waiting = nonces(MAX_WAITING_CHALLENGES).map((n) => evidence.challenged(n))
    await assert.rejects(evidence.challenged(nonces(1)[0]!), (e: { code?: string }) => e.code === 'ERR_ENCLAVE_ATTEST_RATE_LIMITED')
    const timer = setInterval(() => cpu.release(), 1)
    try {
      assert.equal((await Promise.all(waiting)).length, MAX_WAITING_CHALLENGES)
    } finally {
      clearInterval(timer)
    }
  })

  test('the rate limit makes challenges wait for the next token instead of refusing them', async () => {
    const cpu = recordingCpu()
    const evidence = new EvidenceService(cpu, null, generateKeyset(), MODELS, { burst: 1, perSecond: 50 })
    const first = await evidence.challenged(nonces(1)[0]!)
    const second = await evidence.challenged(nonces(1)[0]!)
    assert.notEqual(first, second)
    assert.equal(cpu.asked.length, 2)
  })

  test('a hardware failure fails the challenges of that report; the next challenge asks the hardware again', async () => {
    const cpu = recordingCpu({ fail: 1 })
    const evidence = new EvidenceService(cpu, null, generateKeyset(), MODELS)
    await assert.rejects(evidence.challenged(nonces(1)[0]!), (e: { code?: string }) => e.code === 'ERR_TEE_REQUEST_FAILED')
    assert.equal((await evidence.challenged(nonces(1)[0]!)).bundle.nonces.length, 1)
  })
})
