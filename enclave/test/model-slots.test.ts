/**
 * Requests open per model: ModelSlots itself, and SealedInference opening at most `perModel` requests of a model
 * at once while the rest wait sealed, all answered in the end; an unknown model refused before any of that.
 */
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, test } from 'node:test'
import { decodeResponsePlaintext, encodeRequestPlaintext, openResponse, sealRequest, type TensorData } from '@vouch/protocol'
import type { LoadedModel } from '../src/inference/index.js'
import type { BuiltBundle } from '../src/service/evidence.js'
import { generateKeyset } from '../src/service/keys.js'
import { DEFAULT_OPEN_PER_MODEL, ModelSlots } from '../src/service/model-slots.js'
import { ReplayGuard, SealedInference } from '../src/service/sealed.js'

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('ModelSlots', () => {
  test('at most perModel holders per model; the rest wait in arrival order; models do not share slots', async () => {
    const slots = new ModelSlots(2)
    const order: string[] = []
    const a1 = await slots.acquire('a')
    const a2 = await slots.acquire('a')
    const waiters = ['a3', 'a4'].map((name) => slots.acquire('a').then((release) => (order.push(name), release)))
    const b1 = await slots.acquire('b')
    await tick()
    assert.deepEqual([order, slots.waiting('a'), slots.waiting('b')], [[], 2, 0])
    a2()
    a2() // a second call frees nothing more
    await tick()
    assert.deepEqual([order, slots.waiting('a')], [['a3'], 1])
    a1()
    await tick()
    assert.deepEqual(order, ['a3', 'a4'])
    for (const release of await Promise.all(waiters)) release()
    b1()
    // All free again: two can be taken at once, not three.
    const again = [await slots.acquire('a'), await slots.acquire('a')]
    let third = false
    void slots.acquire('a').then(() => (third = true))
    await tick()
    assert.equal(third, false)
    again[0]!()
    await tick()
    assert.equal(third, true)
  })

  test('a waiter whose signal aborts leaves the line; the others keep their order', async () => {
    const slots = new ModelSlots(1)
    const first = await slots.acquire('a')
    const controller = new AbortController()
    const gaveUp = slots.acquire('a', controller.signal)
    const next = slots.acquire('a')
    controller.abort(new Error('the link timed out'))
    await assert.rejects(gaveUp, /the link timed out/)
    assert.equal(slots.waiting('a'), 1)
    first()
    ;(await next)()
    await assert.rejects(slots.acquire('a', AbortSignal.abort(new Error('already'))), /already/)
    // Nothing leaked: the one slot is free.
    ;(await slots.acquire('a'))()
  })

  test('the default is 2, and perModel must be a positive integer', () => {
    assert.equal(DEFAULT_OPEN_PER_MODEL, 2)
    assert.equal(new ModelSlots().perModel, 2)
    for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new ModelSlots(bad), RangeError)
  })
})

describe('SealedInference with a slow model', () => {
  const keyset = generateKeyset()
  const input: TensorData = { name: 'x', datatype: 'FP32', shape: [1], data: new Uint8Array(4) }
  let running = 0
  let mostAtOnce = 0
  let runs = 0
  const model: LoadedModel = {
    name: 'slow',
    version: '1',
    digest: `sha256:${'0'.repeat(64)}`,
    attribution: [],
    run: async (inputs: readonly TensorData[]) => {
      running++
      runs++
      mostAtOnce = Math.max(mostAtOnce, running)
      await new Promise((resolve) => setTimeout(resolve, 20))
      running--
      return inputs.map((i) => ({ ...i, name: 'y' }))
    },
  } as unknown as LoadedModel
  const models = {
    get(name: string): LoadedModel {
      if (name === model.name) return model
      throw Object.assign(new Error('no such model'), { code: 'ERR_ENCLAVE_MODEL_NOT_FOUND' })
    },
  }
  const evidence = (): Promise<BuiltBundle> => Promise.resolve({ digest: `sha256:${'1'.repeat(64)}`, bundle: { platform: 'simulated' } } as unknown as BuiltBundle)
  const sealed = new SealedInference(keyset, models, evidence, new ReplayGuard(), new ModelSlots(2))

  const request = async (): Promise<Uint8Array> => {
    const plaintext = encodeRequestPlaintext({ v: 1, id: randomUUID(), ts: Date.now(), model: { name: 'slow' }, inputs: [input] })
    const { body, context } = await sealRequest(keyset.public.enc, keyset.public.kid, plaintext)
    const answer = await sealed.handle(keyset.public.kid, 'slow', null, body)
    return decodeResponsePlaintext(await openResponse(context, answer.body)).outputs[0]!.data
  }

  test('twelve requests at once: all answered, never more than two open', async () => {
    const outputs = await Promise.all(Array.from({ length: 12 }, request))
    assert.equal(outputs.length, 12)
    for (const o of outputs) assert.deepEqual(o, input.data)
    assert.equal(mostAtOnce, 2)
  })

  test('a request given up on while it waits is dropped unopened, and never runs', async () => {
    const before = runs
    const holders = [request(), request()]
    const plaintext = encodeRequestPlaintext({ v: 1, id: randomUUID(), ts: Date.now(), model: { name: 'slow' }, inputs: [input] })
    const { body } = await sealRequest(keyset.public.enc, keyset.public.kid, plaintext)
    const controller = new AbortController()
    const waiting = sealed.handle(keyset.public.kid, 'slow', null, body, controller.signal)
    controller.abort(Object.assign(new Error('timeout'), { code: 'ERR_ENCLAVE_TIMEOUT' }))
    await assert.rejects(waiting, (e) => (e as { code?: string }).code === 'ERR_ENCLAVE_TIMEOUT')
    await Promise.all(holders)
    assert.equal(runs - before, 2)
  })

  test('a route to an unknown model is refused before its body is even opened', async () => {
    await assert.rejects(sealed.handle(keyset.public.kid, 'nope', null, new Uint8Array(8)), (e) => (e as { code?: string }).code === 'ERR_ENCLAVE_MODEL_NOT_FOUND')
  })
})
