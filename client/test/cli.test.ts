/**
 * The `vouch` CLI contract: exit codes (0 accepted, 1 rejected, 2 usage or unreachable), `--help`,
 * `--save` byte for byte, `--json` shapes, gzipped inputs, and files that `vouch-verify` re-checks.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { decodeArchive } from '@vouch/protocol'
import { main as verify } from '../../verifier/src/cli/main.js'
import { ALIAS_BOMB } from '../../verifier/test/helpers/hostile-yaml.js'
import { LinkClient } from '../../test/helpers/link-client.js'
import { freePort } from '../../test/helpers/net.js'
import { main } from '../src/cli.js'
import { startEnclave } from './helpers/enclave.js'
import { FakeHost, linkBackend } from './helpers/fake-host.js'
import { selfSignedCertificate } from './helpers/tls.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dev = join(root, 'policies/dev-simulated.yaml')
const production = join(root, 'policies/production.yaml')
const cls = join(root, 'models/samples/ppocr-cls.json')
const det = join(root, 'models/samples/ppocr-det.json.gz')

async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, (t) => out.push(t), (t) => err.push(t))
  return { code, out: out.join('\n'), err: err.join('\n') }
}

describe('usage', () => {
  test('no command prints usage and exits 2; --help exits 0', async () => {
    const none = await run()
    assert.equal(none.code, 2)
    assert.match(none.out, /usage: vouch <command>/)
    assert.equal((await run('--help')).code, 0)
  })
  for (const command of ['attest', 'infer', 'models']) {
    test(`${command} --help`, async () => {
      const r = await run(command, '--help')
      assert.equal(r.code, 0)
      assert.match(r.out, new RegExp(`^vouch ${command} --url URL`))
    })
  }
  test('an unknown command, an unknown flag, a missing flag: 2', async () => {
    assert.equal((await run('verify')).code, 2)
    const flag = await run('attest', '--url', 'https://x', '--policy', dev, '--bogus')
    assert.equal(flag.code, 2)
    assert.match(flag.err, /--bogus/)
    assert.match((await run('attest', '--policy', dev)).err, /--url is required/)
    assert.match((await run('attest', '--url', 'https://x')).err, /--policy is required/)
    assert.match((await run('infer', '--url', 'https://x', '--policy', dev, '--input', cls)).err, /--model is required/)
  })
  test('unreadable or invalid inputs: 2, naming the flag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-cli-usage-'))
    try {
      assert.match((await run('attest', '--url', 'https://x', '--policy', join(dir, 'none.yaml'))).err, /--policy .*none\.yaml: cannot read/)
      writeFileSync(join(dir, 'bad.yaml'), 'version: 2\n')
      assert.equal((await run('attest', '--url', 'https://x', '--policy', join(dir, 'bad.yaml'))).code, 2)
      assert.match((await run('attest', '--url', 'https://x', '--policy', dev, '--nonce', 'abcd')).err, /--nonce must be 64 hex/)
      assert.match((await run('attest', '--url', 'http://x', '--policy', dev)).err, /must be https/)
      writeFileSync(join(dir, 'in.json'), '{"inputs": []}')
      assert.match((await run('infer', '--url', 'https://x', '--policy', dev, '--model', 'm', '--input', join(dir, 'in.json'))).err, /--input .*in\.json: inputs must be a non-empty array/)
      assert.equal((await run('attest', '--url', 'https://x', '--policy', dev, '--ca', 'c.pem', '--insecure-tls')).code, 2)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  // Issue 10, item 5: input files are bounded before they are read whole, and refused with a code.
  test('oversized inputs and the alias bomb: 2, with the code, naming the flag', { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-cli-hostile-'))
    try {
      const huge = join(dir, 'huge')
      writeFileSync(huge, '')
      truncateSync(huge, 100 * 1024 * 1024) // sparse: reading it whole would still take 100 MB
      const policy = await run('attest', '--url', 'https://x', '--policy', huge)
      assert.equal(policy.code, 2)
      assert.ok(policy.err.includes(`--policy ERR_POLICY_INVALID: ${huge}:1:1: a policy is at most 262144 bytes`), policy.err)
      const ca = await run('attest', '--url', 'https://x', '--policy', dev, '--ca', huge)
      assert.equal(ca.code, 2)
      assert.ok(ca.err.includes(`--ca ERR_INPUT_INVALID: ${huge}: a certificate file is at most 1048576 bytes`), ca.err)
      truncateSync(huge, 300 * 1024 * 1024)
      const input = await run('infer', '--url', 'https://x', '--policy', dev, '--model', 'm', '--input', huge)
      assert.equal(input.code, 2)
      assert.ok(input.err.includes(`--input ERR_CLIENT_REQUEST_INVALID: ${huge}: an inference request file is at most 268435456 bytes`), input.err)
      writeFileSync(join(dir, 'bomb.yaml'), ALIAS_BOMB)
      const bomb = await run('attest', '--url', 'https://x', '--policy', join(dir, 'bomb.yaml'))
      assert.equal(bomb.code, 2)
      assert.match(bomb.err, /--policy ERR_POLICY_INVALID: .*bomb\.yaml:8:\d+: e\[0\]: aliases here expand the policy/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
  test('nobody listening: 2', async () => {
    const r = await run('attest', '--url', `https://127.0.0.1:${await freePort()}`, '--policy', dev)
    assert.equal(r.code, 2)
    assert.match(r.err, /ERR_CLIENT_UNREACHABLE/)
  })
})

describe('against a host relaying to a simulated enclave', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-cli-'))
  let stop: () => Promise<void>
  let link: LinkClient
  let host: FakeHost
  let ca: string
  const connection = (): string[] => ['--url', host.url, '--ca', ca]

  before(async () => {
    const socket = join(dir, 'enclave.sock')
    stop = await startEnclave(socket)
    link = await LinkClient.connect(socket)
    const tls = await selfSignedCertificate()
    ca = join(dir, 'host.pem')
    writeFileSync(ca, tls.cert)
    host = await FakeHost.start(linkBackend(link), tls)
  })
  after(async () => {
    await host?.close()
    link?.close()
    await stop?.()
    rmSync(dir, { recursive: true, force: true })
  })

  test('attest: accepted, the checks table, and --save writes the bundle byte for byte', async () => {
    const saved = join(dir, 'bundle.cbor')
    const nonce = 'ab'.repeat(32)
    const r = await run('attest', ...connection(), '--policy', dev, '--nonce', nonce, '--save', saved)
    assert.equal(r.code, 0, r.out + r.err)
    assert.match(r.out, /vouch attest https:\/\/127\.0\.0\.1:\d+: ACCEPTED/)
    assert.match(r.out, /policy {4}dev-simulated/)
    // Nothing failed: one row per group of checks, and the way to see them all.
    assert.match(r.out, /^ {2}cpu\.\* +pass +\d+ checks passed, \d+ skipped$/m)
    assert.match(r.out, /--verbose lists all \d+ checks/)
    assert.match(r.out, /unchallenged bundle \(the evidence receipts name\): ACCEPTED {2}sha256:/)
    assert.deepEqual(readFileSync(saved), Buffer.from(host.lastChallenged!))
    // The saved file is what vouch-verify checks on its own, offline.
    assert.equal(await verify(['bundle', saved, '--nonce', nonce, '--policy', dev], () => undefined, () => undefined), 0)
  })
  test('attest --json: { verdict, nonce, challenged, unchallenged }', async () => {
    const r = await run('attest', ...connection(), '--policy', dev, '--json')
    assert.equal(r.code, 0)
    const json = JSON.parse(r.out) as { verdict: string; nonce: string; challenged: { verdict: string; claims: { nonces: string[] } }; unchallenged: { verdict: string; claims: { nonces: string[] } } }
    assert.equal(json.verdict, 'accepted')
    assert.match(json.nonce, /^[0-9a-f]{64}$/)
    assert.ok(json.challenged.claims.nonces.includes(json.nonce))
    assert.equal(json.unchallenged.verdict, 'accepted')
    assert.deepEqual(json.unchallenged.claims.nonces, [])
  })
  test('attest under production: 1, the failed check shown, and the rejected bundle still saved', async () => {
    const saved = join(dir, 'rejected.cbor')
    const r = await run('attest', ...connection(), '--policy', production, '--save', saved)
    assert.equal(r.code, 1)
    assert.match(r.out, /^vouch attest https:\/\/127\.0\.0\.1:\d+: REJECTED/)
    assert.match(r.out, /ERR_POLICY_SAMPLE_TEE/)
    assert.match(r.out, new RegExp(`saved the challenged bundle to ${saved.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`))
    assert.deepEqual(readFileSync(saved), Buffer.from(host.lastChallenged!))
    const json = JSON.parse((await run('attest', ...connection(), '--policy', production, '--json')).out) as { verdict: string; error: { code: string } }
    assert.equal(json.verdict, 'rejected')
    assert.equal(json.error.code, 'ERR_CLIENT_ATTESTATION_REJECTED')
  })
  test('without --ca the self-signed certificate is refused (2); --insecure-tls goes on and still verifies', async () => {
    const strict = await run('attest', '--url', host.url, '--policy', dev)
    assert.equal(strict.code, 2)
    assert.match(strict.err, /ERR_CLIENT_TLS/)
    assert.equal((await run('attest', '--url', host.url, '--policy', dev, '--insecure-tls')).code, 0)
    assert.equal((await run('attest', '--url', host.url, '--policy', production, '--insecure-tls')).code, 1)
  })

  test('infer: verified, with the model, its contributors and an output preview', async () => {
    const r = await run('infer', ...connection(), '--policy', dev, '--model', 'ppocr-cls', '--input', cls)
    assert.equal(r.code, 0, r.out + r.err)
    assert.match(r.out, /^vouch infer: ACCEPTED {2}ppocr-cls 2\.0 answered request [0-9a-f-]{36}/)
    assert.match(r.out, /platform {2}simulated .*\+ 1 GPU \(HOPPER/)
    assert.match(r.out, /policy {4}dev-simulated/)
    assert.match(r.out, /model-author {2}PaddleOCR authors/)
    assert.match(r.out, /softmax_0\.tmp_0 {2}FP32 \[1, 2\] {2}2 elements/)
    assert.match(r.out, /max [0-9.e-]+ at \[0, [01]\]/)
    assert.match(r.out, /^receipt \(compact JWS.*\n {2}[\w-]+\.[\w-]+\.[\w-]+$/m)
  })
  test('infer --json, --receipt-out and --evidence-out: files vouch-verify accepts offline', async () => {
    const receipt = join(dir, 'receipt.jws')
    const evidence = join(dir, 'evidence.cbor')
    const r = await run('infer', ...connection(), '--policy', dev, '--model', 'ppocr-cls', '--input', cls, '--json', '--receipt-out', receipt, '--evidence-out', evidence)
    assert.equal(r.code, 0, r.err)
    const json = JSON.parse(r.out) as { model_name: string; id: string; outputs: Array<{ name: string; datatype: string; shape: number[]; data: number[] }>; receipt: string; claims: { id: string; model: { name: string }; attribution: unknown[]; evidence: { platform: string } } }
    assert.equal(json.model_name, 'ppocr-cls')
    assert.deepEqual(Object.keys(json.outputs[0]!).sort(), ['data', 'datatype', 'name', 'shape'])
    assert.equal(json.outputs[0]!.data.length, 2)
    assert.equal(json.claims.id, json.id)
    assert.equal(json.claims.evidence.platform, 'simulated')
    assert.ok(json.claims.attribution.length > 0)
    assert.equal(readFileSync(receipt, 'utf8'), json.receipt)
    assert.equal(await verify(['receipt', receipt, '--evidence', evidence, '--policy', dev], () => undefined, () => undefined), 0)
    // The opening is the client's secret: never printed, only written where asked.
    assert.ok(!('receiptOpening' in json) && !/opening/i.test(r.out))
  })
  test('infer --opening-out, --request-out and --outputs-out: vouch-verify checks what was asked and answered', async () => {
    const [receipt, evidence, opening, request, outputs] = ['r.jws', 'e.cbor', 'opening.hex', 'request.cbor', 'outputs.cbor'].map((n) => join(dir, n)) as [string, string, string, string, string]
    const r = await run('infer', ...connection(), '--policy', dev, '--model', 'ppocr-cls', '--input', cls, '--receipt-out', receipt, '--evidence-out', evidence, '--opening-out', opening, '--request-out', request, '--outputs-out', outputs)
    assert.equal(r.code, 0, r.out + r.err)
    assert.match(readFileSync(opening, 'utf8'), /^[0-9a-f]{64}\n$/)
    assert.ok(!r.out.includes(readFileSync(opening, 'utf8').trim()), 'the opening is not printed')
    const out: string[] = []
    const code = await verify(['receipt', receipt, '--evidence', evidence, '--policy', dev, '--opening', opening, '--request', request, '--outputs', outputs], (t) => out.push(t), () => undefined)
    assert.equal(code, 0, out.join('\n'))
    assert.match(out.join('\n'), /request checked, outputs checked/)
  })
  test('infer --archive-out from a host that staples nothing: the bundle alone in an archive, said so, and vouch-verify accepts it', async () => {
    const receipt = join(dir, 'receipt-2.jws')
    const evidence = join(dir, 'evidence-2.cbor')
    const archive = join(dir, 'archive-2.cbor')
    const r = await run('infer', ...connection(), '--policy', dev, '--model', 'ppocr-cls', '--input', cls, '--receipt-out', receipt, '--evidence-out', evidence, '--archive-out', archive)
    assert.equal(r.code, 0, r.err)
    assert.match(r.err, /the host stapled no collateral to its evidence: the archive holds the bundle alone/)
    const decoded = decodeArchive(readFileSync(archive))
    assert.deepEqual(Buffer.from(decoded.bundle), readFileSync(evidence))
    assert.deepEqual([decoded.crls, decoded.rims, decoded.ocsp], [[], [], []])
    assert.equal(await verify(['receipt', receipt, '--archive', archive, '--policy', dev], () => undefined, () => undefined), 0)
  })
  test('infer with a gzipped OIP v2 request (the detector sample): a short preview, not megabytes', async () => {
    const r = await run('infer', ...connection(), '--policy', dev, '--model', 'ppocr-det', '--input', det)
    assert.equal(r.code, 0, r.out + r.err)
    assert.match(r.out, /FP32 \[1, 1, 640, 640\] {2}409600 elements/)
    assert.ok(r.out.length < 4000, `${r.out.length} characters`)
  })
  test('infer under production: 1, and nothing was sealed', async () => {
    host.reset()
    const r = await run('infer', ...connection(), '--policy', production, '--model', 'ppocr-cls', '--input', cls)
    assert.equal(r.code, 1)
    assert.match(r.out, /ERR_POLICY_SAMPLE_TEE/)
    assert.equal(host.seen.infer, 0)
  })
  test('a production refusal is short: the headline names the command, each failed check once, one row per group of the others', async () => {
    const failed = ['cpu.policy.simulated', 'cpu.policy.crl', 'gpu[0].policy.simulated', 'gpu[0].policy.rim', 'gpu[0].policy.ocsp']
    const count = (text: string, id: string): number => text.split('\n').filter((line) => line.startsWith(`  ${id} `)).length
    for (const command of ['attest', 'infer'] as const) {
      const extra = command === 'infer' ? ['--model', 'ppocr-cls', '--input', cls] : []
      const r = await run(command, ...connection(), '--policy', production, ...extra)
      assert.equal(r.code, 1)
      const lines = r.out.split('\n')
      assert.match(lines[0]!, new RegExp(`^vouch ${command} https://127\\.0\\.0\\.1:\\d+.*: REJECTED {2}\\(\\d+ passed, 5 failed, \\d+ skipped\\)$`))
      assert.ok(lines.length <= 50, `${lines.length} lines:\n${r.out}`)
      for (const id of failed) assert.equal(count(r.out, id), 1, `${id} once`)
      assert.equal(lines.filter((l) => /^ {2}CHECK +STATUS +DETAIL$/.test(l)).length, 1, 'one table')
      for (const group of ['bundle.*', 'cpu.*', 'gpu[0].*', 'policy.*']) assert.match(r.out, new RegExp(`^ {2}${group.replace(/[.*[\]]/g, '\\$&')} +pass +\\d+ checks? passed`, 'm'))
      // Passed and skipped checks are counted, not listed; errors already under a failed check are not repeated.
      assert.equal(count(r.out, 'cpu.chain.ark'), 0)
      assert.doesNotMatch(r.out, /^errors:$/m)
      assert.match(r.out, /^unchallenged bundle \(the evidence receipts name\): REJECTED, on the same failed checks/m)
      if (command === 'infer') assert.match(lines.at(-1)!, /^nothing was sealed or sent: the enclave's evidence is not accepted under policy production$/)

      const verbose = await run(command, ...connection(), '--policy', production, ...extra, '--verbose')
      assert.equal(verbose.code, 1)
      assert.ok(verbose.out.split('\n').length > 150, 'every check of both bundles')
      for (const id of failed) assert.equal(count(verbose.out, id), 2, `${id} in both bundles' tables`)
      assert.equal(count(verbose.out, 'cpu.chain.ark'), 2)
    }
  })
  test('infer: a tampered answer is 1; a model the enclave does not have is 2', async () => {
    host.onInfer = async (_, next) => ({ ...(await next()), body: new Uint8Array(64) })
    const tampered = await run('infer', ...connection(), '--policy', dev, '--model', 'ppocr-cls', '--input', cls, '--json')
    assert.equal(tampered.code, 1)
    assert.equal((JSON.parse(tampered.out) as { error: { code: string } }).error.code, 'ERR_CLIENT_RESPONSE_INVALID')
    host.reset()
    const missing = await run('infer', ...connection(), '--policy', dev, '--model', 'nope', '--input', cls)
    assert.equal(missing.code, 2)
    assert.match(missing.err, /HTTP 404: ERR_ENCLAVE_MODEL_NOT_FOUND/)
  })
  test('models: readable and --json', async () => {
    const r = await run('models', ...connection())
    assert.equal(r.code, 0)
    assert.match(r.out, /2 models listed by/)
    assert.match(r.out, /ppocr-det 4\.0|ppocr-det/)
    assert.match(r.out, /inputs {3}x FP32 \[-1, 3, -1, -1\]/)
    const json = JSON.parse((await run('models', ...connection(), '--json')).out) as { models: Array<{ name: string }> }
    assert.deepEqual(json.models.map((m) => m.name).sort(), ['ppocr-cls', 'ppocr-det'])
  })
})
