/**
 * Policy evaluation on real SEV-SNP evidence: the shipped policies, and each rule rejecting with its
 * own code while naming what it expected and what it got.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { parsePolicy, verifySevSnp, type Policy } from '@vouch/verifier'
import { fixturesMissing, REPO_ROOT } from '../helpers/fixtures.js'
import { loadSevSnpCases, type SevSnpCase } from '../helpers/sev-snp-cases.js'

const skip = fixturesMissing('sev-snp')
const byName = new Map<string, SevSnpCase>(skip ? [] : loadSevSnpCases().map((c) => [c.name, c]))
const get = (name: string): SevSnpCase => byName.get(name)!
const shipped = (name: string): Policy => parsePolicy(readFileSync(`${REPO_ROOT}/policies/${name}`, 'utf8'), `policies/${name}`)

/** A permissive test policy that configures nothing optional; `sevSnp` overrides are merged in. */
function policy(sevSnp: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Policy {
  const doc = {
    version: 1,
    name: 'test',
    allowSimulated: false,
    sevSnp: {
      allowedProducts: ['Milan', 'Genoa', 'Turin'],
      allowedSigningKeys: ['VCEK', 'VLEK'],
      allowDebug: false,
      allowMigrationAgent: false,
      requireCrl: false,
      ...sevSnp,
    },
    ...top,
  }
  return parsePolicy(JSON.stringify(doc, null, 2), 'test-policy.json')
}

async function verifyUnder(name: string, p: Policy) {
  const c = get(name)
  return verifySevSnp(c.input, { at: c.at!, policy: p })
}

const codes = (r: { errors: Array<{ code: string }> }): string[] => r.errors.map((e) => e.code)

describe('shipped policies', { skip }, () => {
  test('production rejects the genuine but debug-enabled gosev-attestation', async () => {
    const result = await verifyUnder('gosev-attestation', shipped('production.yaml'))
    assert.equal(result.verdict, 'rejected')
    assert.ok(codes(result).includes('ERR_POLICY_DEBUG_NOT_ALLOWED'), codes(result).join())
    const debug = result.checks.find((k) => k.id === 'policy.debug')!
    assert.match(debug.hint!, /sevSnp\.allowDebug \(policies\/production\.yaml:\d+\)/)
  })

  test('production requires a CRL', async () => {
    const result = await verifyUnder('oak-turin_oc', shipped('production.yaml'))
    assert.deepEqual(codes(result), ['ERR_POLICY_CRL_REQUIRED'])
  })

  test('production accepts a current report with a current CRL', async () => {
    const c = get('teekit-sev-gcp')
    const crl = readFileSync(`${REPO_ROOT}/../shared/fixtures/sev-snp/roots/crl/milan_vcek_crl_2025-05-06_n6.der`)
    const result = await verifySevSnp({ ...c.input, crls: [crl] }, { at: c.at!, policy: shipped('production.yaml') })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
  })

  test('production rejects Milan evidence below its TCB floor', async () => {
    const result = await verifyUnder('virtee-report_milan', shipped('production.yaml'))
    assert.ok(codes(result).includes('ERR_POLICY_TCB_TOO_LOW'))
  })

  test('dev-simulated accepts real evidence it is given too (it adds the simulated roots, it removes no rule)', async () => {
    const result = await verifyUnder('oak-turin_oc', shipped('dev-simulated.yaml'))
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
  })
})

describe('measurement lists', { skip }, () => {
  test('a report outside the list is rejected, and the message names both values', async () => {
    const allowed = 'ab'.repeat(48)
    const result = await verifyUnder('oak-milan_oc_release', policy({ measurements: [allowed] }))
    assert.deepEqual(codes(result), ['ERR_POLICY_MEASUREMENT_MISMATCH'])
    const message = result.errors[0]!.message
    assert.ok(message.includes(allowed))
    assert.ok(message.includes(get('oak-milan_oc_release').expected.measurement))
  })
  test('any one entry of the list matches', async () => {
    const result = await verifyUnder('oak-milan_oc_release', policy({ measurements: ['ab'.repeat(48), get('oak-milan_oc_release').expected.measurement] }))
    assert.equal(result.verdict, 'accepted')
  })
})

describe('each rule rejects with its own code', { skip }, () => {
  const rows: Array<{ name: string; fixture: string; sevSnp?: Record<string, unknown>; top?: Record<string, unknown>; want: string }> = [
    { name: 'product not allowed', fixture: 'oak-turin_oc', sevSnp: { allowedProducts: ['Milan'] }, want: 'ERR_POLICY_PRODUCT_NOT_ALLOWED' },
    { name: 'VLEK not allowed', fixture: 'trustee-test-vlek-report', sevSnp: { allowedSigningKeys: ['VCEK'] }, want: 'ERR_POLICY_SIGNING_KEY_NOT_ALLOWED' },
    { name: 'SMT not allowed', fixture: 'oak-turin_oc', sevSnp: { allowSmt: false }, want: 'ERR_POLICY_SMT_NOT_ALLOWED' },
    { name: 'ABI too low', fixture: 'oak-turin_oc', sevSnp: { minimumAbi: { major: 1, minor: 55 } }, want: 'ERR_POLICY_ABI_TOO_LOW' },
    { name: 'guest policy flag missing', fixture: 'oak-turin_oc', sevSnp: { requireGuestPolicy: ['singleSocket'] }, want: 'ERR_POLICY_GUEST_POLICY_MISSING' },
    { name: 'VMPL 1 not allowed', fixture: 'trustee-test-vlek-report', sevSnp: { allowedVmpls: [0] }, want: 'ERR_POLICY_VMPL_NOT_ALLOWED' },
    { name: 'guest SVN too low', fixture: 'oak-turin_oc', sevSnp: { minimumGuestSvn: 1 }, want: 'ERR_POLICY_GUEST_SVN_TOO_LOW' },
    { name: 'host data', fixture: 'oak-turin_oc', sevSnp: { hostData: ['11'.repeat(32)] }, want: 'ERR_POLICY_HOST_DATA_MISMATCH' },
    { name: 'report data', fixture: 'oak-turin_oc', sevSnp: { reportData: '22'.repeat(64) }, want: 'ERR_POLICY_REPORT_DATA_MISMATCH' },
    { name: 'ID key', fixture: 'oak-turin_oc', sevSnp: { idKeyDigests: ['33'.repeat(48)] }, want: 'ERR_POLICY_ID_KEY_NOT_ALLOWED' },
    { name: 'author key', fixture: 'oak-turin_oc', sevSnp: { authorKeyDigests: ['44'.repeat(48)] }, want: 'ERR_POLICY_AUTHOR_KEY_NOT_ALLOWED' },
    { name: 'chip not on the allow-list', fixture: 'oak-milan_oc_release', sevSnp: { chipIds: ['55'.repeat(64)] }, want: 'ERR_POLICY_CHIP_ID_NOT_ALLOWED' },
    { name: 'TCB below the floor', fixture: 'oak-turin_oc', sevSnp: { minimumTcb: { Milan: { bootloader: 0, tee: 0, snp: 0, microcode: 0 }, Genoa: { bootloader: 0, tee: 0, snp: 0, microcode: 0 }, Turin: { fmc: 1, bootloader: 1, tee: 0, snp: 2, microcode: 71 } } }, want: 'ERR_POLICY_TCB_TOO_LOW' },
    { name: 'firmware too old', fixture: 'oak-turin_oc', sevSnp: { minimumFirmware: { Milan: '1.0.0', Genoa: '1.0.0', Turin: '9.0.0' } }, want: 'ERR_POLICY_FIRMWARE_TOO_OLD' },
    { name: 'provisional firmware', fixture: 'trustee-test-vlek-report', sevSnp: { allowProvisionalFirmware: false }, want: 'ERR_POLICY_PROVISIONAL_FIRMWARE' },
    { name: 'CRL required', fixture: 'oak-turin_oc', sevSnp: { requireCrl: true }, want: 'ERR_POLICY_CRL_REQUIRED' },
    { name: 'no sevSnp section', fixture: 'oak-turin_oc', top: { sevSnp: undefined }, want: 'ERR_POLICY_MISSING_SECTION' },
  ]
  for (const row of rows) {
    test(row.name, async () => {
      const result = await verifyUnder(row.fixture, policy(row.sevSnp, row.top))
      assert.equal(result.verdict, 'rejected')
      // TCB floors fail once for each of REPORTED, COMMITTED and LAUNCH TCB: same code.
      assert.deepEqual([...new Set(codes(result))], [row.want])
      const failed = result.checks.find((k) => k.status === 'fail')!
      assert.ok(failed.hint && failed.hint.length > 0, 'a failed policy check says what to change')
    })
  }

  test('the matching values pass every configured rule', async () => {
    const c = get('oak-turin_oc')
    const e = c.expected
    const result = await verifyUnder(
      'oak-turin_oc',
      policy({
        allowSmt: true,
        minimumAbi: { major: 0, minor: 0 },
        allowedVmpls: [0],
        minimumGuestSvn: 0,
        measurements: [e.measurement],
        hostData: [e.hostData],
        reportData: e.reportData,
        chipIds: [e.chipId.slice(0, 16)],
        minimumTcb: { Milan: { bootloader: 0, tee: 0, snp: 0, microcode: 0 }, Genoa: { bootloader: 0, tee: 0, snp: 0, microcode: 0 }, Turin: { fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 } },
        allowProvisionalFirmware: false,
      }),
    )
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    const skipped = result.checks.filter((k) => k.status === 'skip').map((k) => k.id)
    assert.deepEqual(skipped.sort(), ['policy.author-key', 'policy.crl', 'policy.firmware', 'policy.guest-policy', 'policy.id-key', 'revocation.crl', 'report.data'].sort())
  })

  test('a policy is not evaluated on evidence that failed authenticity', async () => {
    const c = get('constellation-vlek')
    const result = await verifySevSnp(c.input, { at: c.at!, policy: policy({ allowedProducts: ['Genoa'] }) })
    assert.deepEqual(codes(result), ['ERR_REPORT_SIGNATURE_INVALID'])
    assert.equal(result.checks.at(-1)?.id, 'policy')
    assert.equal(result.checks.at(-1)?.status, 'skip')
  })

  test('a stale CRL passes only where the policy allows stale CRLs, and the current Genoa ASK 020002 is not the revoked 020001', async () => {
    const c = get('tinfoil-verifier-test')
    const crl = readFileSync(`${REPO_ROOT}/../shared/fixtures/sev-snp/roots/crl/genoa_vcek_crl_2024-10-23_n4.der`)
    const strict = await verifySevSnp({ ...c.input, crls: [crl] }, { at: c.at!, policy: policy({ requireCrl: true }) })
    assert.deepEqual(codes(strict), ['ERR_CRL_STALE'])
    const lenient = await verifySevSnp({ ...c.input, crls: [crl] }, { at: c.at!, policy: policy({ requireCrl: true, allowStaleCrl: true }) })
    assert.equal(lenient.verdict, 'accepted', JSON.stringify(lenient.errors))
    assert.match(lenient.checks.find((k) => k.id === 'revocation.crl')!.detail, /stale, allowed by policy/)
  })
})
