/**
 * Evidence archives on real collateral: bundles holding real SEV-SNP and H100 evidence (`../shared/fixtures`) with
 * AMD's real CRLs and NVIDIA's real RIMs stapled. What is real: the reports, VCEK, AMD chain, CRLs, GPU device chain
 * and RIMs, each verified under the pinned AMD and NVIDIA roots at the fixtures' clocks. What is not: the keyset,
 * models and receipt, made here; so the real reports, signed for other challenges, fail the binding
 * (`ERR_REPORT_BINDING_MISMATCH`, `ERR_GPU_NONCE_MISMATCH`) and that is the only failure an intact archive shows;
 * and since policies are evaluated on authentic evidence only, a missing item shows here as the check it leaves
 * undone (the policy's refusal of it is shown on simulated evidence, whose binding holds, in
 * test/evidence-archive.test.ts). Every stapled item that is tampered with or for other evidence is refused with
 * its code.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { encodeArchive, keysetDigest, receiptCommitment, sha256Digest, signReceipt, type EvidenceArchive } from '@vouch/protocol'
import { parsePolicy, verifyArchive, verifyArchivedReceipt, type Result } from '@vouch/verifier'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { testKeys } from '../../../protocol/test/helpers/fixtures.js'
import { fixturesMissing, fixtureBytes } from '../helpers/fixtures.js'
import { AMD_CASE, GPU_CASE, OLDER_AMD_CASE, realCrl, realEvidenceBundle, realRims } from '../helpers/real-evidence.js'

const skip = fixturesMissing('sev-snp') || fixturesMissing('nvidia-gpu')
const PRODUCTION = parsePolicy(readFileSync(fileURLToPath(new URL('../../../policies/production.yaml', import.meta.url)), 'utf8'), 'policies/production.yaml')

const codes = (r: Result<unknown>): string[] => r.errors.map((e) => e.code)
const status = (r: Result<unknown>, id: string): string | undefined => r.checks.find((c) => c.id === id)?.status

function archiveOf(bundle: Uint8Array, collateral: Partial<Pick<EvidenceArchive, 'crls' | 'rims' | 'ocsp'>>): Uint8Array {
  return encodeArchive({ v: 1, bundle, stapledAt: 1_765_000_000, crls: [], rims: [], ocsp: [], ...collateral })
}

/** A copy of `der` with one byte of its signature (near the end) flipped. */
function flipped(der: Uint8Array): Uint8Array {
  const copy = new Uint8Array(der)
  copy[copy.length - 5]! ^= 0x01
  return copy
}

/** A receipt for the first model of `bundle`, signed with the test keyset's key at `at`. */
async function receiptFor(bundle: ReturnType<typeof realEvidenceBundle>, at: Date): Promise<string> {
  const model = bundle.bundle.models[0]!
  const opening = new Uint8Array(32).fill(7)
  const payload = {
    v: 2 as const,
    id: 'req-archive-1',
    iat: Math.floor(at.getTime() / 1000),
    model: { name: model.name, version: model.version, digest: model.digest },
    request: receiptCommitment(opening, new TextEncoder().encode('request plaintext')),
    response: receiptCommitment(opening, new TextEncoder().encode('outputs')),
    keyset: keysetDigest(bundle.bundle.keyset),
    evidence: sha256Digest(bundle.bytes),
    platform: bundle.bundle.platform,
    attribution: model.manifest.contributors,
  }
  return signReceipt(payload, testKeys().sig, bundle.bundle.keyset.kid)
}

describe('an archive with the real AMD CRL', { skip }, () => {
  const real = (): ReturnType<typeof realEvidenceBundle> => realEvidenceBundle(AMD_CASE, false)

  test('verifies offline under production.yaml as of the receipt time: every check but the binding passes', async () => {
    const bundle = real()
    const jws = await receiptFor(bundle, AMD_CASE.at)
    const result = await verifyArchivedReceipt(jws, { archive: archiveOf(bundle.bytes, { crls: [realCrl(AMD_CASE.crl)] }), policy: PRODUCTION })
    assert.deepEqual(codes(result), ['ERR_REPORT_BINDING_MISMATCH'], JSON.stringify(result.errors))
    const checks = ['archive.decode', 'archive.bundle', 'archive.collateral', 'cpu.chain.ark', 'cpu.chain.intermediate', 'cpu.chain.vek', 'cpu.chain.validity', 'cpu.revocation.crl', 'cpu.report.signature', 'receipt.signature', 'receipt.binding', 'receipt.attribution']
    for (const id of checks) assert.equal(status(result, id), 'pass', id)
    assert.equal(status(result, 'cpu.report.data'), 'fail')
  })

  test('the same archive, verified after the CRL’s nextUpdate (--at), is refused: ERR_CRL_STALE', async () => {
    const bundle = real()
    const jws = await receiptFor(bundle, AMD_CASE.at)
    const result = await verifyArchivedReceipt(jws, { archive: archiveOf(bundle.bytes, { crls: [realCrl(AMD_CASE.crl)] }), policy: PRODUCTION, at: new Date('2026-06-01T00:00:00Z') })
    assert.ok(codes(result).includes('ERR_CRL_STALE'), JSON.stringify(result.errors))
  })

  test('a tampered CRL is refused: ERR_CRL_SIGNATURE_INVALID', async () => {
    const bundle = real()
    const result = await verifyArchivedReceipt(await receiptFor(bundle, AMD_CASE.at), { archive: archiveOf(bundle.bytes, { crls: [flipped(realCrl(AMD_CASE.crl))] }), policy: PRODUCTION })
    assert.ok(codes(result).includes('ERR_CRL_SIGNATURE_INVALID'), JSON.stringify(result.errors))
    assert.equal(status(result, 'cpu.revocation.crl'), 'fail')
  })

  test('without the CRL, revocation is left unchecked', async () => {
    const bundle = real()
    const result = await verifyArchivedReceipt(await receiptFor(bundle, AMD_CASE.at), { archive: archiveOf(bundle.bytes, {}), policy: PRODUCTION })
    assert.equal(status(result, 'cpu.revocation.crl'), 'skip')
    assert.deepEqual(codes(result), ['ERR_REPORT_BINDING_MISMATCH'])
  })

  test('a CRL of another product (Genoa’s, for a Milan bundle) is collateral for other evidence: ERR_ARCHIVE_COLLATERAL_MISMATCH', async () => {
    const bundle = real()
    const result = await verifyArchivedReceipt(await receiptFor(bundle, AMD_CASE.at), { archive: archiveOf(bundle.bytes, { crls: [realCrl('genoa_vcek_crl_2024-10-23_n4.der')] }), policy: PRODUCTION })
    assert.ok(codes(result).includes('ERR_ARCHIVE_COLLATERAL_MISMATCH'), JSON.stringify(result.errors))
    assert.equal(status(result, 'archive.collateral'), 'fail')
  })

  test('an archive of another bundle than the receipt names is refused, and nothing else is verified: ERR_ARCHIVE_BUNDLE_MISMATCH', async () => {
    const bundle = real()
    const other = realEvidenceBundle(OLDER_AMD_CASE, false)
    const result = await verifyArchivedReceipt(await receiptFor(bundle, AMD_CASE.at), { archive: archiveOf(other.bytes, { crls: [realCrl(AMD_CASE.crl)] }), policy: PRODUCTION })
    assert.deepEqual(codes(result), ['ERR_ARCHIVE_BUNDLE_MISMATCH'])
    assert.equal(result.verdict, 'rejected')
  })

  test('an archive that is not one: ERR_PROTOCOL_MALFORMED', async () => {
    const bundle = real()
    const result = await verifyArchivedReceipt(await receiptFor(bundle, AMD_CASE.at), { archive: bundle.bytes, policy: PRODUCTION })
    assert.deepEqual(codes(result), ['ERR_PROTOCOL_MALFORMED'])
  })
})

describe('an archive with NVIDIA’s real RIMs', { skip }, () => {
  const real = (): ReturnType<typeof realEvidenceBundle> => realEvidenceBundle(OLDER_AMD_CASE, true)

  test('the RIMs verify under the pinned NVIDIA RIM root and every golden measurement matches; only the binding fails', async () => {
    const bundle = real()
    const result = await verifyArchive(archiveOf(bundle.bytes, { rims: realRims() }), { at: GPU_CASE.at })
    const rim = (kind: string): string[] => ['root', 'chain', 'validity', 'signature', 'match'].map((step) => `gpu[0].rim.${kind}.${step}`)
    for (const id of ['archive.collateral', 'gpu[0].chain', 'gpu[0].signature', ...rim('driver'), ...rim('vbios'), 'gpu[0].measurements']) {
      assert.equal(status(result, id), 'pass', `${id}: ${JSON.stringify(result.checks.find((c) => c.id === id))}`)
    }
    assert.deepEqual(codes(result).sort(), ['ERR_GPU_NONCE_MISMATCH', 'ERR_REPORT_BINDING_MISMATCH'])
  })

  test('a tampered RIM is refused with its RIM code, never trusted because it was stapled', async () => {
    const bundle = real()
    const [driver, vbios] = realRims()
    const xml = Buffer.from(driver!.xml).toString('utf8').replace(/active="True"/, 'active="False"')
    const result = await verifyArchive(archiveOf(bundle.bytes, { rims: [{ id: driver!.id, xml: new TextEncoder().encode(xml) }, vbios!] }), { at: GPU_CASE.at })
    assert.deepEqual(codes(result).sort(), ['ERR_GPU_NONCE_MISMATCH', 'ERR_REPORT_BINDING_MISMATCH', 'ERR_RIM_DIGEST_MISMATCH'])
    assert.equal(status(result, 'gpu[0].rim.driver.signature'), 'fail')
    assert.equal(status(result, 'gpu[0].measurements'), 'pass', 'the VBIOS RIM still verifies and its golden values are compared')
  })

  test('without the RIMs, no golden value is compared', async () => {
    const bundle = real()
    const result = await verifyArchive(archiveOf(bundle.bytes, {}), { at: GPU_CASE.at })
    assert.equal(status(result, 'gpu[0].measurements'), 'skip')
    assert.ok(!result.checks.some((c) => c.id.startsWith('gpu[0].rim')))
  })

  test('a RIM that none of the bundle’s GPUs names is collateral for other evidence: ERR_ARCHIVE_COLLATERAL_MISMATCH', async () => {
    const bundle = real()
    const other = { id: 'NV_GPU_DRIVER_GH100_550.144.03', xml: fixtureBytes('nvidia-gpu', 'rims', 'NV_GPU_DRIVER_GH100_550.144.03.xml') }
    const result = await verifyArchive(archiveOf(bundle.bytes, { rims: [...realRims(), other] }), { at: GPU_CASE.at })
    assert.ok(codes(result).includes('ERR_ARCHIVE_COLLATERAL_MISMATCH'), JSON.stringify(result.errors))
    // The RIMs that are this GPU's are still verified, and pass.
    assert.equal(status(result, 'gpu[0].measurements'), 'pass')
  })
})
