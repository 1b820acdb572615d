/**
 * Where each model's session runs (load-models.ts, `sessions`): a model whose known-answer run is short moves to the
 * enclave's thread (inline-session.ts), the others stay on their worker threads; either way the same answers.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { InferenceError, runModel, type LoadedModel } from '@vouch/enclave'
import type { TensorData } from '@vouch/protocol'
import { MODELS_DIR, loadAll, readSample } from './helpers/models.js'

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (e: unknown) => e instanceof InferenceError && e.code === code)
}

const byName = (models: LoadedModel[]): Map<string, LoadedModel> => new Map(models.map((m) => [m.name, m]))
const NAMES = ['ppocr-cls', 'ppocr-det'] as const

describe("sessions on the enclave's thread and on workers", () => {
  let onWorkers: Map<string, LoadedModel>
  let inline: Map<string, LoadedModel>
  before(async () => {
    onWorkers = byName(await loadAll(MODELS_DIR, { sessions: 'worker' }))
    // Any known-answer run short enough: both shipped models move to the enclave's thread.
    inline = byName(await loadAll(MODELS_DIR, { inlineMaxRunMs: 60_000 }))
  })
  after(async () => {
    await Promise.all([...onWorkers.values(), ...inline.values()].map((m) => m.close()))
  })

  test("`sessions: 'worker'` keeps every session on its worker; a short enough known-answer run moves it to the enclave's thread", () => {
    for (const name of NAMES) {
      assert.equal(onWorkers.get(name)!.thread, 'worker', name)
      assert.equal(inline.get(name)!.thread, 'enclave', name)
    }
  })

  test('a model moved gives the known answer and the outputs its worker gives, bit for bit, run after run', async () => {
    for (const name of NAMES) {
      const [w, i] = [onWorkers.get(name)!, inline.get(name)!]
      assert.deepEqual(i.knownAnswer, w.knownAnswer, name)
      const inputs = readSample(name)
      const expected = await runModel(w, inputs)
      // Concurrent runs on one thread, each with its own input buffer, then again with the buffers reused.
      for (const outputs of [...(await Promise.all([runModel(i, inputs), runModel(i, inputs)])), await runModel(i, inputs)]) {
        assert.deepEqual(outputs.map((o) => [o.name, o.datatype, o.shape, Buffer.from(o.data)]), expected.map((o) => [o.name, o.datatype, o.shape, Buffer.from(o.data)]), name)
      }
    }
  })

  test("a run onnxruntime refuses on the enclave's thread is ERR_INFERENCE_RUNTIME, and the model runs on", async () => {
    const det = inline.get('ppocr-det')!
    const odd: TensorData = { name: 'x', datatype: 'FP32', shape: [1, 3, 100, 100], data: new Uint8Array(3 * 100 * 100 * 4) }
    await rejectsWith(runModel(det, [odd]), 'ERR_INFERENCE_RUNTIME')
    assert.equal((await runModel(det, readSample('ppocr-det'))).length, 1)
  })

  test("closed on the enclave's thread: the run under way and later ones fail with ERR_INFERENCE_MODEL_CLOSED", async () => {
    const [cls] = await loadAll(MODELS_DIR, { inlineMaxRunMs: 60_000 }).then((models) => {
      for (const m of models) if (m.name !== 'ppocr-cls') void m.close()
      return models.filter((m) => m.name === 'ppocr-cls')
    })
    assert.equal(cls!.thread, 'enclave')
    const inputs = readSample('ppocr-cls')
    const underWay = runModel(cls!, inputs)
    await cls!.close()
    await rejectsWith(underWay, 'ERR_INFERENCE_MODEL_CLOSED')
    await rejectsWith(runModel(cls!, inputs), 'ERR_INFERENCE_MODEL_CLOSED')
  })
})
