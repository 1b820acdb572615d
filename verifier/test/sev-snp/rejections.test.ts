/**
 * Real evidence, altered: every tampering and every wrong pairing is rejected, each with its own code.
 * Forged chains (a revoked ASK, a TCB the certificate disagrees with) are in test/sev-snp-forged.test.ts,
 * which uses the simulated AMD CA.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { SIGNATURE_OFFSET } from '@vouch/protocol'
import { verifySevSnp, type SevSnpInput } from '@vouch/verifier'
import { fixtureBytes, fixturesMissing, fixtureText } from '../helpers/fixtures.js'
import { chainFiles, loadSevSnpCases, type SevSnpCase } from '../helpers/sev-snp-cases.js'

const skip = fixturesMissing('sev-snp')
const byName = new Map<string, SevSnpCase>(skip ? [] : loadSevSnpCases().map((c) => [c.name, c]))
const get = (name: string): SevSnpCase => byName.get(name)!
const codes = (r: { errors: Array<{ code: string }> }): string[] => r.errors.map((e) => e.code)
const chainOf = (product: string, key: 'VCEK' | 'VLEK' = 'VCEK'): string => chainFiles(product, key).map((f) => fixtureText(f)).join('')
const crl = (name: string): Uint8Array => fixtureBytes('sev-snp/roots/crl', name)

describe('flipping any byte of the signed part of a real report', { skip }, () => {
  for (const name of ['oak-milan_oc_release', 'oak-turin_oc', 'routex-genoa-v5']) {
    test(`${name}: all ${SIGNATURE_OFFSET} positions are rejected`, async () => {
      const c = get(name)
      const seen = new Set<string>()
      for (let i = 0; i < SIGNATURE_OFFSET; i++) {
        const report = Uint8Array.from(c.input.report)
        report[i]! ^= 0xff
        const result = await verifySevSnp({ ...c.input, report }, { at: c.at! })
        assert.equal(result.verdict, 'rejected', `byte 0x${i.toString(16)} flipped was accepted`)
        seen.add(codes(result)[0]!)
      }
      // Most positions only break the signature; the others are caught first by a parse rule or by the
      // certificate disagreeing with the altered field.
      assert.ok(seen.has('ERR_REPORT_SIGNATURE_INVALID'))
      const allowed = new Set([
        'ERR_REPORT_SIGNATURE_INVALID', 'ERR_REPORT_VERSION_UNSUPPORTED', 'ERR_REPORT_RESERVED', 'ERR_REPORT_SIGNATURE_ALGORITHM',
        'ERR_REPORT_SIGNING_KEY_INVALID', 'ERR_REPORT_PRODUCT_UNKNOWN', 'ERR_PROTOCOL_MALFORMED', 'ERR_VCEK_TCB_MISMATCH',
        'ERR_VCEK_CHIP_ID_MISMATCH', 'ERR_CHAIN_PRODUCT_MISMATCH', 'ERR_SIGNING_KEY_MISMATCH',
      ])
      assert.deepEqual([...seen].filter((code) => !allowed.has(code)), [])
    })
  }

  test('a flipped signature byte is rejected as an invalid signature', async () => {
    const c = get('oak-milan_oc_release')
    const report = Uint8Array.from(c.input.report)
    report[SIGNATURE_OFFSET + 5]! ^= 0x01
    const result = await verifySevSnp({ ...c.input, report }, { at: c.at! })
    assert.deepEqual(codes(result), ['ERR_REPORT_SIGNATURE_INVALID'])
  })
})

describe('malformed reports', { skip }, () => {
  const base = (): Uint8Array => Uint8Array.from(get('oak-turin_oc').input.report)
  const cases: Array<{ name: string; mutate: (r: Uint8Array) => Uint8Array; want: string }> = [
    { name: 'truncated', mutate: (r) => r.subarray(0, 1183), want: 'ERR_REPORT_LENGTH' },
    { name: 'extended', mutate: (r) => Uint8Array.from([...r, 0]), want: 'ERR_REPORT_LENGTH' },
    { name: 'empty', mutate: () => new Uint8Array(0), want: 'ERR_REPORT_LENGTH' },
    { name: 'version 1', mutate: (r) => ((r[0] = 1), r), want: 'ERR_REPORT_VERSION_UNSUPPORTED' },
    { name: 'version 6', mutate: (r) => ((r[0] = 6), r), want: 'ERR_REPORT_VERSION_UNSUPPORTED' },
    { name: 'signature algorithm 2', mutate: (r) => ((r[0x34] = 2), r), want: 'ERR_REPORT_SIGNATURE_ALGORITHM' },
    { name: 'signing key 7 (none)', mutate: (r) => ((r[0x48] = 7 << 2), r), want: 'ERR_REPORT_SIGNING_KEY_INVALID' },
    { name: 'signing key 2 (reserved)', mutate: (r) => ((r[0x48] = 2 << 2), r), want: 'ERR_REPORT_SIGNING_KEY_INVALID' },
    { name: 'key info bit 5', mutate: (r) => ((r[0x48] = 0x20), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'reserved 0x4C', mutate: (r) => ((r[0x4c] = 1), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'reserved after CPUID', mutate: (r) => ((r[0x18b] = 1), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'reserved 0x1EB', mutate: (r) => ((r[0x1eb] = 1), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'reserved before signature', mutate: (r) => ((r[0x29f] = 1), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'signature R high bytes', mutate: (r) => ((r[0x2a0 + 60] = 1), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'signature reserved tail', mutate: (r) => ((r[0x4a0 - 1] = 1), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'POLICY bit 17 clear', mutate: (r) => ((r[0x0a] = 0), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'POLICY bit 40', mutate: (r) => ((r[0x0d] = 1), r), want: 'ERR_REPORT_RESERVED' },
    { name: 'unknown CPUID family', mutate: (r) => ((r[0x188] = 0x17), r), want: 'ERR_REPORT_PRODUCT_UNKNOWN' },
    { name: 'unknown CPUID model', mutate: (r) => ((r[0x189] = 0x50), r), want: 'ERR_REPORT_PRODUCT_UNKNOWN' },
    { name: 'VMPL 4', mutate: (r) => ((r[0x30] = 4), r), want: 'ERR_PROTOCOL_MALFORMED' },
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const result = await verifySevSnp({ ...get('oak-turin_oc').input, report: c.mutate(base()) }, { at: get('oak-turin_oc').at! })
      assert.equal(result.verdict, 'rejected')
      assert.deepEqual(codes(result), [c.want])
      assert.equal(result.claims, null)
      assert.equal(result.checks[0]?.id, 'report.parse')
    })
  }
  test('a v2 report with non-zero bytes where v3 has CPUID', async () => {
    const c = get('virtee-report_milan')
    const report = Uint8Array.from(c.input.report)
    report[0x188] = 0x19
    const result = await verifySevSnp({ ...c.input, report }, { at: c.at! })
    assert.deepEqual(codes(result), ['ERR_REPORT_RESERVED'])
  })
})

describe('wrong certificates', { skip }, () => {
  test('swapping VEKs between two Milan reports', async () => {
    const c = get('oak-milan_oc_release')
    const other = get('teekit-sev-gcp')
    const result = await verifySevSnp({ ...c.input, vek: other.input.vek! }, { at: c.at! })
    assert.equal(result.verdict, 'rejected')
    assert.ok(codes(result).includes('ERR_VCEK_CHIP_ID_MISMATCH'), codes(result).join())
    assert.ok(codes(result).includes('ERR_REPORT_SIGNATURE_INVALID'))
  })

  test("another product's chain", async () => {
    const c = get('tinfoil-verifier-test')
    const result = await verifySevSnp({ ...c.input, chain: chainOf('milan') }, { at: c.at! })
    assert.equal(result.verdict, 'rejected')
    assert.equal(codes(result)[0], 'ERR_CHAIN_PRODUCT_MISMATCH')
  })

  test("a v2 report with another product's chain names the product from the chain and breaks the link", async () => {
    const c = get('virtee-report_milan')
    const result = await verifySevSnp({ ...c.input, chain: chainOf('genoa') }, { at: c.at! })
    assert.equal(result.verdict, 'rejected')
    assert.equal(codes(result)[0], 'ERR_CHAIN_PRODUCT_MISMATCH')
  })

  test('a VLEK with the VCEK chain (ASK instead of ASVK)', async () => {
    const c = get('trustee-test-vlek-report')
    const result = await verifySevSnp({ ...c.input, chain: chainOf('milan', 'VCEK') }, { at: c.at! })
    assert.equal(result.verdict, 'rejected')
    assert.ok(codes(result).includes('ERR_CHAIN_BROKEN'), codes(result).join())
  })

  test('the chain in the wrong order', async () => {
    const c = get('oak-milan_oc_release')
    const [ask, ark] = chainFiles('milan', 'VCEK').map((f) => fixtureText(f))
    const result = await verifySevSnp({ ...c.input, chain: ark! + ask! }, { at: c.at! })
    assert.equal(result.verdict, 'rejected')
    assert.equal(codes(result)[0], 'ERR_CHAIN_UNTRUSTED')
  })

  test('an ASK in place of the ARK is not a pinned root', async () => {
    const c = get('oak-milan_oc_release')
    const [ask] = chainFiles('milan', 'VCEK').map((f) => fixtureText(f))
    const result = await verifySevSnp({ ...c.input, chain: ask! + ask! }, { at: c.at! })
    assert.equal(codes(result)[0], 'ERR_CHAIN_UNTRUSTED')
  })

  test('a chain with one certificate', async () => {
    const c = get('oak-milan_oc_release')
    const [ask] = chainFiles('milan', 'VCEK').map((f) => fixtureText(f))
    const result = await verifySevSnp({ ...c.input, chain: ask! }, { at: c.at! })
    assert.deepEqual(codes(result), ['ERR_INPUT_INVALID'])
  })

  test('garbage in place of the VEK', async () => {
    const c = get('oak-milan_oc_release')
    const result = await verifySevSnp({ ...c.input, vek: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]) }, { at: c.at! })
    assert.deepEqual(codes(result), ['ERR_CERT_MALFORMED'])
  })

  test('a tampered VEK signature', async () => {
    const c = get('oak-milan_oc_release')
    const vek = Uint8Array.from(c.input.vek as Uint8Array)
    vek[vek.length - 10]! ^= 0x01
    const result = await verifySevSnp({ ...c.input, vek }, { at: c.at! })
    assert.ok(codes(result).includes('ERR_CHAIN_SIGNATURE_INVALID'), codes(result).join())
  })

  test('no VEK and no chain', async () => {
    const c = get('oak-milan_oc_release')
    const result = await verifySevSnp({ report: c.input.report }, { at: c.at! })
    assert.deepEqual(codes(result), ['ERR_COLLATERAL_MISSING'])
    assert.equal(result.claims?.product, 'Milan')
  })
})

describe('validity at the injectable clock', { skip }, () => {
  test('an expired VLEK at the real clock', async () => {
    const c = get('trustee-test-vlek-report')
    const result = await verifySevSnp(c.input)
    assert.deepEqual(codes(result), ['ERR_CHAIN_EXPIRED'])
  })

  test('a VCEK before it was issued', async () => {
    const c = get('oak-turin_oc')
    const result = await verifySevSnp(c.input, { at: new Date('2020-01-01T00:00:00Z') })
    assert.ok(codes(result).includes('ERR_CHAIN_NOT_YET_VALID'))
  })
})

describe('revocation with real AMD CRLs', { skip }, () => {
  const verifyWith = (name: string, crls: Uint8Array[], at?: string) => {
    const c = get(name)
    return verifySevSnp({ ...c.input, crls }, { at: at ? new Date(at) : c.at! })
  }
  test('a current CRL that lists nothing of this chain passes', async () => {
    const result = await verifyWith('teekit-sev-gcp', [crl('milan_vcek_crl_2025-05-06_n6.der')])
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    assert.equal(result.checks.find((k) => k.id === 'revocation.crl')?.status, 'pass')
  })
  test('a CRL past its nextUpdate is stale', async () => {
    const result = await verifyWith('tinfoil-verifier-test', [crl('genoa_vcek_crl_2024-10-23_n4.der')])
    assert.deepEqual(codes(result), ['ERR_CRL_STALE'])
  })
  test('a CRL issued after the verification time is not yet valid', async () => {
    const result = await verifyWith('oak-milan_oc_release', [crl('milan_vcek_crl_2025-05-06_n6.der')])
    assert.deepEqual(codes(result), ['ERR_CRL_NOT_YET_VALID'])
  })
  test("another product's CRL", async () => {
    const result = await verifyWith('teekit-sev-gcp', [crl('genoa_vcek_crl_2024-10-23_n4.der')])
    assert.deepEqual(codes(result), ['ERR_CRL_SIGNATURE_INVALID'])
  })
  test('a tampered CRL', async () => {
    const der = Uint8Array.from(crl('milan_vcek_crl_2025-05-06_n6.der'))
    der[der.length - 3]! ^= 0x01
    const result = await verifyWith('teekit-sev-gcp', [der])
    assert.deepEqual(codes(result), ['ERR_CRL_SIGNATURE_INVALID'])
  })
  test('garbage as a CRL', async () => {
    const result = await verifyWith('teekit-sev-gcp', [new Uint8Array([0x30, 0x00])])
    assert.equal(result.verdict, 'rejected')
    assert.ok(['ERR_CRL_MALFORMED', 'ERR_INPUT_INVALID'].includes(codes(result)[0]!), codes(result).join())
  })
})

describe('REPORT_DATA binding', { skip }, () => {
  test('the expected REPORT_DATA matches', async () => {
    const c = get('oak-turin_oc')
    const result = await verifySevSnp(c.input, { at: c.at!, reportData: Buffer.from(c.expected.reportData, 'hex') })
    assert.equal(result.verdict, 'accepted')
  })
  test('a different REPORT_DATA is a binding mismatch', async () => {
    const c = get('oak-turin_oc')
    const result = await verifySevSnp(c.input, { at: c.at!, reportData: new Uint8Array(64) })
    assert.deepEqual(codes(result), ['ERR_REPORT_BINDING_MISMATCH'])
  })
})

export type { SevSnpInput }
