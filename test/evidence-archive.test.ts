/**
 * Issue 12 item 2 end to end: the enclave (simulated SEV-SNP and H100, in this process, over its socket), the real
 * `vouch-host` relaying to it with its stapler, the `@vouch/client` SDK, and `vouch-verify receipt --archive`. The
 * host's trust directory holds the simulated bundle's collateral, as `vouch-verify trust fetch` or the host's own
 * fetching would leave AMD's and NVIDIA's for real hardware: a CRL signed by the simulated ARK, the simulated GPU's
 * RIMs, OCSP responses signed by each simulated NVIDIA issuer. So every rule of `production.yaml` but
 * `allowSimulated` can be met from the archive alone; the policy here is production.yaml with that one line changed.
 * What is simulated: the TEE, its keys and all of that collateral (the real-collateral archive and stapling tests, on
 * the fixtures' AMD and NVIDIA collateral, are verifier/test/bundle/archive.test.ts and host/test/collateral.test.ts).
 * The host logs every answer (its receipt log is on by default), so an answer's inclusion proof is checked offline
 * beside its archive too.
 */
import assert from 'node:assert/strict'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createClient, ClientError, type InferResult, type VouchClient } from '@vouch/client'
import { createCpuTee, createGpuTee } from '@vouch/enclave'
import { issueCrl, simulatedAmdRoots } from '@vouch/enclave/simulated'
import { loadConfig, startHost, type RunningHost } from '@vouch/host'
import { decodeArchive, decodeBundle, decodeReceipt, encodeArchive, generateNoteKey, oipJsonToTensor, openNote, signNote, type EvidenceArchive, type OipJsonTensor } from '@vouch/protocol'
import { parsePolicy, verifyArchivedReceipt, verifyBundle, type Policy, type Result } from '@vouch/verifier'
import { TrustStore } from '@vouch/verifier/trust'
import { main as vouch } from '../client/src/cli.js'
import { startLinkServer, type LinkServer } from '../enclave/src/link/server.js'
import { createLogger } from '../enclave/src/logger.js'
import { EnclaveService } from '../enclave/src/service/enclave.js'
import { eventually, sink } from '../host/test/helpers/testkit.js'
import { main as vouchVerify } from '../verifier/src/cli/main.js'
import { fixtureBytes, fixturesMissing } from '../verifier/test/helpers/fixtures.js'
import { simulatedCollateral, writeSimulatedCollateral, type SimulatedCollateral } from './helpers/simulated-collateral.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const productionText = readFileSync(join(root, 'policies/production.yaml'), 'utf8')
/** production.yaml with `allowSimulated: true`: every other rule (CRL, RIMs, OCSP, TCB floors, ...) as shipped. */
const PRODUCTION_SIMULATED: Policy = parsePolicy(productionText.replace(/^allowSimulated: false$/m, 'allowSimulated: true'), 'production-simulated.yaml')
const sample = (JSON.parse(readFileSync(join(root, 'models/samples/ppocr-cls.json'), 'utf8')) as { inputs: OipJsonTensor[] }).inputs.map((t) => oipJsonToTensor(t))

const codes = (r: Result<unknown>): string[] => r.errors.map((e) => e.code)

/** Runs a CLI's `main` in this process; its output and errors together. */
async function runCli(main: (argv: string[], out: (t: string) => void, err: (t: string) => void) => Promise<number>, ...argv: string[]): Promise<{ code: number; out: string }> {
  const out: string[] = []
  const code = await main(argv, (t) => out.push(t), (t) => out.push(t))
  return { code, out: out.join('\n') }
}
const status = (r: Result<unknown>, id: string): string | undefined => r.checks.find((c) => c.id === id)?.status

/**
 * Runs `check` as on a machine with no network and no trust directory: every fetch is refused (and recorded: none may
 * be made), `VOUCH_TRUST_DIR` names a folder that does not exist. `run` is `vouch-verify` with its output.
 */
async function offline(check: (run: (...argv: string[]) => Promise<{ code: number; out: string }>) => Promise<void>): Promise<void> {
  const realFetch = globalThis.fetch
  const requests: string[] = []
  globalThis.fetch = ((input: string | URL | Request) => {
    requests.push(String(input))
    return Promise.reject(new Error('no network'))
  }) as typeof fetch
  const env = process.env['VOUCH_TRUST_DIR']
  process.env['VOUCH_TRUST_DIR'] = join(tmpdir(), 'vouch-no-such-trust-dir')
  try {
    await check((...argv) => runCli(vouchVerify, ...argv))
  } finally {
    globalThis.fetch = realFetch
    if (env === undefined) delete process.env['VOUCH_TRUST_DIR']
    else process.env['VOUCH_TRUST_DIR'] = env
  }
  assert.deepEqual(requests, [])
}

describe('stapled collateral: client and vouch-verify need nothing but the archive', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-archive-e2e-'))
  const log = createLogger('silent')
  let service: EnclaveService
  let linkServer: LinkServer
  let closeTees: () => Promise<void>
  let host: RunningHost
  let store: TrustStore
  let collateral: SimulatedCollateral
  let answer: InferResult
  const clients: VouchClient[] = []
  const client = (): VouchClient => {
    const c = createClient({ url: host.url, ca: host.tls.cert, policy: PRODUCTION_SIMULATED })
    clients.push(c)
    return c
  }

  before(async () => {
    const cpu = await createCpuTee('simulated')
    const gpu = await createGpuTee('simulated')
    closeTees = async () => {
      await gpu.close()
      await cpu.close()
    }
    service = await EnclaveService.create({ cpu, gpu, modelsDir: join(root, 'models'), log, attestRate: { burst: 1000, perSecond: 1000 } })
    const { bundle } = await service.attest({ nonce: null })
    store = new TrustStore(join(dir, 'trust'))
    collateral = simulatedCollateral(decodeBundle(bundle), new Date())
    writeSimulatedCollateral(store, collateral)
    const socket = join(dir, 'enclave.sock')
    linkServer = await startLinkServer(socket, service, log)
    const argv = ['--port', '0', '--enclave-socket', socket, '--collateral-dir', store.dir, '--no-collateral-fetch', '--log-level', 'silent']
    const { config } = loadConfig(argv, { env: {} }) as { help: false; config: Parameters<typeof startHost>[0] }
    host = await startHost(config, { log: sink('silent').log, env: { ...process.env, VOUCH_CACHE_DIR: join(dir, 'cache') } })
    await eventually(() => host.pool.up, 30_000, 'the link to the enclave')
    answer = await client().infer('ppocr-cls', sample)
  })
  after(async () => {
    for (const c of clients) c.close()
    await host?.close()
    await linkServer?.close()
    await service?.close()
    await closeTees?.()
    rmSync(dir, { recursive: true, force: true })
  })

  /** The answer's archive with `edit` applied to its collateral. */
  const edited = (edit: (a: EvidenceArchive) => Partial<EvidenceArchive>): Uint8Array => {
    const a = decodeArchive(answer.archive!)
    return encodeArchive({ ...a, ...edit(a) })
  }
  const verify = (archive: Uint8Array, policy = PRODUCTION_SIMULATED, at?: Date) => verifyArchivedReceipt(answer.receipt, { archive, policy, ...(at && { at }) })

  test('the client gets the archive, and meets production’s CRL, RIM and OCSP rules from it alone', async () => {
    assert.equal(answer.result.verdict, 'accepted')
    const archive = decodeArchive(answer.archive!)
    assert.deepEqual(Buffer.from(archive.bundle), Buffer.from(answer.evidence), 'the bundle inside, byte for byte, is the one the receipt names')
    assert.deepEqual([archive.crls.length, archive.rims.length, archive.ocsp.length], [1, 2, collateral.ocsp.length])
    const attested = answer.attestation.unchallenged.result
    for (const id of ['archive.collateral', 'cpu.revocation.crl', 'gpu[0].measurements', 'gpu[0].revocation.device', 'gpu[0].revocation.rim.driver', 'gpu[0].revocation.rim.vbios']) assert.equal(status(attested, id), 'pass', id)
    // The same bundle without the stapled collateral fails exactly those rules: stapling is what meets them.
    const bare = await verifyBundle(answer.evidence, { policy: PRODUCTION_SIMULATED, freshness: false })
    assert.deepEqual(codes(bare).sort(), ['ERR_POLICY_CRL_REQUIRED', 'ERR_POLICY_OCSP_REQUIRED', 'ERR_POLICY_RIM_REQUIRED'])
  })

  test('vouch infer --archive-out, then vouch-verify receipt --archive: accepted offline, as of the receipt’s time, with no trust directory and no request made', async () => {
    const files = { receipt: join(dir, 'receipt.jws'), archive: join(dir, 'archive.cbor'), policy: join(dir, 'production-simulated.yaml'), opening: join(dir, 'opening.hex'), request: join(dir, 'request.cbor'), outputs: join(dir, 'outputs.cbor') }
    writeFileSync(files.policy, productionText.replace(/^allowSimulated: false$/m, 'allowSimulated: true'))
    const kept = ['--receipt-out', files.receipt, '--archive-out', files.archive, '--opening-out', files.opening, '--request-out', files.request, '--outputs-out', files.outputs]
    const inferred = await runCli(vouch, 'infer', '--url', host.url, '--ca', host.tls.trustFile, '--policy', files.policy, '--model', 'ppocr-cls', '--input', join(root, 'models/samples/ppocr-cls.json'), ...kept)
    assert.equal(inferred.code, 0, inferred.out)
    assert.doesNotMatch(inferred.out, /stapled no collateral/)
    assert.equal(decodeArchive(readFileSync(files.archive)).crls.length, 1)
    await offline(async (run) => {
      const accepted = await run('receipt', files.receipt, '--archive', files.archive, '--policy', files.policy, '--json')
      assert.equal(accepted.code, 0, accepted.out)
      const result = JSON.parse(accepted.out) as Result<{ iat: number }>
      assert.equal(result.verdict, 'accepted')
      // With the receipt's opening, what was asked and answered is checked too, from the same archive.
      const opened = await run('receipt', files.receipt, '--archive', files.archive, '--policy', files.policy, '--opening', files.opening, '--request', files.request, '--outputs', files.outputs, '--json')
      assert.equal(opened.code, 0, opened.out)
      assert.deepEqual(['receipt.request', 'receipt.response'].map((id) => status(JSON.parse(opened.out) as Result<unknown>, id)), ['pass', 'pass'])
      // Shipped production.yaml: the one rule left is the one no simulated evidence can meet.
      const production = await run('receipt', files.receipt, '--archive', files.archive, '--policy', join(root, 'policies/production.yaml'), '--json')
      assert.equal(production.code, 1)
      assert.deepEqual([...new Set(codes(JSON.parse(production.out) as Result<unknown>))], ['ERR_POLICY_SAMPLE_TEE'], 'CPU and GPU are both simulated')
      // A day later the OCSP responses no longer speak for the verification time.
      const later = new Date((result.claims.iat + 2 * 86_400) * 1000).toISOString()
      const stale = await run('receipt', files.receipt, '--archive', files.archive, '--policy', files.policy, '--at', later, '--json')
      assert.equal(stale.code, 1)
      assert.ok(codes(JSON.parse(stale.out) as Result<unknown>).includes('ERR_OCSP_STALE'), stale.out)
      const both = await run('receipt', files.receipt, '--archive', files.archive, '--evidence', files.archive, '--policy', files.policy)
      assert.equal(both.code, 2)
    })
  })

  // Issue 12, Done when: a receipt, its archive and its inclusion proof, copied to a machine with no network, verify
  // under production.yaml's semantics as of the receipt's time. The host here logs every answer (its default).
  test('vouch infer --log --log-proof-out, the three files copied elsewhere: vouch-verify receipt --archive --log-proof accepts offline, inclusion checked', async () => {
    const logKey = host.receiptLog!.verifierKey
    const made = join(dir, 'logged')
    mkdirSync(made)
    const files = { receipt: join(made, 'receipt.jws'), archive: join(made, 'archive.cbor'), proof: join(made, 'proof.json'), policy: join(made, 'production-simulated.yaml') }
    writeFileSync(files.policy, productionText.replace(/^allowSimulated: false$/m, 'allowSimulated: true'))
    const kept = ['--receipt-out', files.receipt, '--archive-out', files.archive, '--log-proof-out', files.proof]
    const logged = ['--log', '--log-key', logKey, '--state-dir', join(made, 'state')]
    const inferred = await runCli(vouch, 'infer', '--url', host.url, '--ca', host.tls.trustFile, '--policy', files.policy, '--model', 'ppocr-cls', '--input', join(root, 'models/samples/ppocr-cls.json'), ...logged, ...kept)
    assert.equal(inferred.code, 0, inferred.out)
    // Elsewhere: only the receipt, the archive, the proof and the policy, nothing of the host's or client's state.
    const away = mkdtempSync(join(tmpdir(), 'vouch-offline-'))
    try {
      for (const file of Object.values(files)) copyFileSync(file, join(away, basename(file)))
      const [receipt, archive, proof, policy] = ['receipt.jws', 'archive.cbor', 'proof.json', 'production-simulated.yaml'].map((f) => join(away, f)) as [string, string, string, string]
      const iat = decodeReceipt(readFileSync(receipt, 'utf8').trim()).payload.iat
      const at = new Date(iat * 1000).toISOString()
      const parsed = JSON.parse(readFileSync(proof, 'utf8')) as { index: number; size: number; proof: string[]; checkpoint: string }
      assert.ok(parsed.proof.length > 0, 'the receipt is not alone in the log: its proof has hashes to change')
      /** A copy of the proof file with `edit` applied, in the offline folder. */
      const editedProof = (name: string, edit: (p: typeof parsed) => typeof parsed): string => {
        const file = join(away, name)
        writeFileSync(file, JSON.stringify(edit(structuredClone(parsed))))
        return file
      }
      const other = generateNoteKey(host.receiptLog!.origin)
      const { text } = await openNote(parsed.checkpoint, [logKey])
      const foreign = editedProof('foreign.json', (p) => ({ ...p, checkpoint: signNote(text, other.signerKey) }))
      const flipped = editedProof('flipped.json', (p) => {
        const hash = Buffer.from(p.proof[0]!, 'base64')
        hash[0]! ^= 0x01
        return { ...p, proof: [hash.toString('base64'), ...p.proof.slice(1)] }
      })
      await offline(async (run) => {
        const verify = (...more: string[]) => run('receipt', receipt, '--archive', archive, '--at', at, '--json', ...more)
        const accepted = await verify('--policy', policy, '--log-proof', proof, '--log-key', logKey)
        assert.equal(accepted.code, 0, accepted.out)
        const result = JSON.parse(accepted.out) as Result<unknown>
        assert.equal(result.verdict, 'accepted')
        assert.equal(status(result, 'receipt.log'), 'pass')
        assert.match(result.checks.find((c) => c.id === 'receipt.log')!.detail ?? '', new RegExp(`entry ${parsed.index} of ${host.receiptLog!.origin}, under its checkpoint of ${parsed.size} entries`))
        // Shipped production.yaml: refused for the simulated TEE alone; the log proof passes under it too.
        const production = await verify('--policy', join(root, 'policies/production.yaml'), '--log-proof', proof, '--log-key', logKey)
        assert.equal(production.code, 1)
        const refused = JSON.parse(production.out) as Result<unknown>
        assert.deepEqual([...new Set(codes(refused))], ['ERR_POLICY_SAMPLE_TEE'])
        assert.equal(status(refused, 'receipt.log'), 'pass')
        // A checkpoint signed by another log's key, a proof checked against another key, a proof hash changed: refused by code.
        for (const [what, args, code] of [
          ['checkpoint signed by another key', ['--log-proof', foreign, '--log-key', logKey], 'ERR_LOG_CHECKPOINT_UNTRUSTED'],
          ['another log key pinned', ['--log-proof', proof, '--log-key', other.verifierKey], 'ERR_LOG_CHECKPOINT_UNTRUSTED'],
          ['one proof byte changed', ['--log-proof', flipped, '--log-key', logKey], 'ERR_LOG_INCLUSION_INVALID'],
        ] as const) {
          const r = await verify('--policy', policy, ...args)
          assert.equal(r.code, 1, what)
          assert.deepEqual(codes(JSON.parse(r.out) as Result<unknown>), [code], what)
        }
      })
    } finally {
      rmSync(away, { recursive: true, force: true })
    }
  })

  test('a tampered stapled item is refused with its code', async () => {
    const flip = (der: Uint8Array): Uint8Array => {
      const copy = new Uint8Array(der)
      copy[copy.length - 5]! ^= 0x01
      return copy
    }
    const crl = await verify(edited((a) => ({ crls: a.crls.map(flip) })))
    assert.ok(codes(crl).includes('ERR_CRL_SIGNATURE_INVALID'), JSON.stringify(crl.errors))
    const ocsp = await verify(edited((a) => ({ ocsp: [flip(a.ocsp[0]!), ...a.ocsp.slice(1)] })))
    assert.ok(codes(ocsp).includes('ERR_OCSP_SIGNATURE_INVALID'), JSON.stringify(ocsp.errors))
    const rim = await verify(edited((a) => ({ rims: a.rims.map((r, i) => (i === 0 ? { ...r, xml: new TextEncoder().encode(Buffer.from(r.xml).toString('utf8').replace('active="True"', 'active="False"')) } : r)) })))
    assert.ok(codes(rim).includes('ERR_RIM_DIGEST_MISMATCH'), JSON.stringify(rim.errors))
  })

  test('a missing stapled item fails the production rule it was for', async () => {
    assert.deepEqual(codes(await verify(edited(() => ({ crls: [] })))), ['ERR_POLICY_CRL_REQUIRED'])
    assert.deepEqual(codes(await verify(edited(() => ({ ocsp: [] })))), ['ERR_POLICY_OCSP_REQUIRED'])
  })

  test('an archive of another bundle, or collateral of other evidence, is refused with its code', async () => {
    // The challenged bundle of the same attestation: same enclave, same keyset, not the bundle the receipt names.
    const other = await verify(answer.attestation.challenged.archive!)
    assert.deepEqual(codes(other), ['ERR_ARCHIVE_BUNDLE_MISMATCH'])
    // A CRL of another product's (simulated) ARK: collateral for other evidence.
    const milan = issueCrl({ issuer: simulatedAmdRoots('Milan').ark })
    const foreign = await verify(edited((a) => ({ crls: [...a.crls, milan] })))
    assert.ok(codes(foreign).includes('ERR_ARCHIVE_COLLATERAL_MISMATCH'), JSON.stringify(foreign.errors))
  })

  test('the client refuses a stapled item that does not verify, whoever stapled it', async () => {
    const [driver] = collateral.rims
    store.writeRim(driver!.id, driver!.xml.replace('active="True"', 'active="False"'))
    try {
      // A challenged bundle is archived afresh, with what the trust directory holds now.
      const error = await client().attest().then(
        () => assert.fail('accepted'),
        (e: unknown) => e as ClientError,
      )
      assert.ok(error instanceof ClientError && error.code === 'ERR_CLIENT_ATTESTATION_REJECTED', String(error))
      assert.ok(codes(error.result!).includes('ERR_RIM_DIGEST_MISMATCH'), JSON.stringify(error.result?.errors))
    } finally {
      store.writeRim(driver!.id, driver!.xml)
    }
  })

  test('AMD’s real CRL in the trust directory is not stapled to simulated evidence: its signature is not the simulated ARK’s', { skip: fixturesMissing('sev-snp') }, async () => {
    const real = fixtureBytes('sev-snp', 'roots', 'crl', 'genoa_vcek_crl_2026-08-19_n10.der')
    store.writeCrl(collateral.crl.product, collateral.crl.family, real)
    try {
      const attestation = await client().attest().catch((e: unknown) => (e as ClientError).attestation!)
      const archive = decodeArchive(attestation.challenged.archive!)
      assert.deepEqual(archive.crls, [])
      assert.ok(codes(attestation.challenged.result).includes('ERR_POLICY_CRL_REQUIRED'))
    } finally {
      store.writeCrl(collateral.crl.product, collateral.crl.family, collateral.crl.der)
    }
  })
})
