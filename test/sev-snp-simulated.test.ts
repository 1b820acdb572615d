/**
 * The simulated PSP against the verifier: its roots are the pinned simulated anchors, dev-simulated
 * accepts its reports, production and the no-policy default reject them. Then forgeries built with
 * the simulated AMD CA, which real evidence cannot provide: a revoked ASK, a VCEK whose TCB disagrees
 * with the report, an expired VCEK.
 */
import assert from 'node:assert/strict'
import { sign, X509Certificate, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createSimulatedPsp, issueCrl, issueVek, simulatedAmdRoots, simulatedArkSpkiSha256, SIMULATED_TCB, type CertificateExtension } from '@vouch/enclave/simulated'
import { composeAttestationReport, encodeTcb, parseAttestationReport, PRODUCT_CPUID, setReportSignature, SIGNATURE_OFFSET, type Product, type Tcb } from '@vouch/protocol'
import { parsePolicy, SIMULATED_ARK_ANCHORS, verifySevSnp, type Policy } from '@vouch/verifier'

const root = fileURLToPath(new URL('..', import.meta.url))
const shipped = (name: string): Policy => parsePolicy(readFileSync(`${root}/policies/${name}`, 'utf8'), `policies/${name}`)
const codes = (r: { errors: Array<{ code: string }> }): string[] => r.errors.map((e) => e.code)
const reportData = new Uint8Array(64).fill(0x5a)

describe('simulated roots', () => {
  for (const product of ['Milan', 'Genoa', 'Turin'] as const) {
    test(`the verifier pins the ${product} ARK the public seed derives`, () => {
      const pin = SIMULATED_ARK_ANCHORS.find((a) => a.product === product)!
      assert.equal(pin.simulated, true)
      assert.equal(pin.spkiSha256, simulatedArkSpkiSha256(product))
    })
  }
})

describe('simulated reports under the shipped policies', () => {
  const cases: Array<{ product: Product; signingKey: 'VCEK' | 'VLEK' }> = [
    { product: 'Genoa', signingKey: 'VCEK' },
    { product: 'Milan', signingKey: 'VCEK' },
    { product: 'Turin', signingKey: 'VCEK' },
    { product: 'Genoa', signingKey: 'VLEK' },
  ]
  for (const c of cases) {
    test(`${c.product} ${c.signingKey}: dev-simulated accepts, production and no policy reject`, async () => {
      const psp = createSimulatedPsp(c)
      const { report, vek, chain } = await psp.getReport(reportData)
      const input = { report, vek, chain: [...chain] }

      const dev = await verifySevSnp(input, { policy: shipped('dev-simulated.yaml'), reportData })
      assert.equal(dev.verdict, 'accepted', JSON.stringify(dev.errors))
      assert.equal(dev.claims?.simulated, true)
      assert.equal(dev.claims?.product, c.product)
      assert.equal(dev.claims?.reportVersion, 5)

      const production = await verifySevSnp(input, { policy: shipped('production.yaml') })
      assert.equal(production.verdict, 'rejected')
      assert.ok(codes(production).includes('ERR_POLICY_SAMPLE_TEE'), codes(production).join())

      const none = await verifySevSnp(input)
      assert.deepEqual(codes(none), ['ERR_POLICY_SAMPLE_TEE'])
    })
  }

  test('without the simulated anchors in the trust material, the chain is untrusted', async () => {
    const { report, vek, chain } = await createSimulatedPsp().getReport(reportData)
    const result = await verifySevSnp({ report, vek, chain: [...chain] }, { policy: shipped('dev-simulated.yaml'), trust: { arks: [] } })
    assert.equal(codes(result)[0], 'ERR_CHAIN_UNTRUSTED')
  })
})

/** A v5 report for `product` with REPORTED_TCB `tcb`, signed by `key`. */
function signedReport(product: Product, reported: Tcb, chipId: Uint8Array, key: KeyObject): Uint8Array {
  const tcbBytes = (t: Tcb): Uint8Array => encodeTcb(t, product)
  const raw = composeAttestationReport({
    policy: 0x30000n,
    vmpl: 0,
    currentTcb: tcbBytes(reported),
    signingKey: 'VCEK',
    reportData,
    measurement: new Uint8Array(48).fill(1),
    reportId: new Uint8Array(32).fill(2),
    reportedTcb: tcbBytes(reported),
    cpuid: PRODUCT_CPUID[product],
    chipId,
    committedTcb: tcbBytes(reported),
    currentVersion: { major: 1, minor: 55, build: 40 },
    committedVersion: { major: 1, minor: 55, build: 40 },
    launchTcb: tcbBytes(reported),
  })
  setReportSignature(raw, sign('sha384', raw.subarray(0, SIGNATURE_OFFSET), { key, dsaEncoding: 'ieee-p1363' }))
  return raw
}

describe('forged chains from the simulated AMD CA', () => {
  const dev = (): Policy => shipped('dev-simulated.yaml')

  test('a revoked ASK: a CRL the ARK signed lists its serial', async () => {
    const { report, vek, chain } = await createSimulatedPsp().getReport(reportData)
    const roots = simulatedAmdRoots('Genoa')
    const askSerial = new X509Certificate(chain[0]).serialNumber
    const crl = issueCrl({ issuer: roots.ark, revoked: [{ serial: BigInt(`0x${askSerial}`), date: new Date('2025-06-01T00:00:00Z') }], thisUpdate: new Date(Date.now() - 86_400_000), nextUpdate: new Date(Date.now() + 7 * 86_400_000) })
    const result = await verifySevSnp({ report, vek, chain: [...chain], crls: [crl] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_CERT_REVOKED'])
  })

  test('the same CRL without that serial passes, and satisfies requireCrl', async () => {
    const { report, vek, chain } = await createSimulatedPsp().getReport(reportData)
    const roots = simulatedAmdRoots('Genoa')
    const crl = issueCrl({ issuer: roots.ark, revoked: [{ serial: 0xabcdefn }], thisUpdate: new Date(Date.now() - 86_400_000), nextUpdate: new Date(Date.now() + 7 * 86_400_000) })
    const strict = parsePolicy(readFileSync(`${root}/policies/dev-simulated.yaml`, 'utf8').replace('requireCrl: false', 'requireCrl: true'), 'dev-simulated-crl.yaml')
    const result = await verifySevSnp({ report, vek, chain: [...chain], crls: [crl] }, { policy: strict })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    assert.equal(result.checks.find((k) => k.id === 'policy.crl')?.status, 'pass')
  })

  test('a CRL signed by another ARK (Milan) for a Genoa chain', async () => {
    const { report, vek, chain } = await createSimulatedPsp().getReport(reportData)
    const crl = issueCrl({ issuer: simulatedAmdRoots('Milan').ark, thisUpdate: new Date(Date.now() - 86_400_000), nextUpdate: new Date(Date.now() + 86_400_000) })
    const result = await verifySevSnp({ report, vek, chain: [...chain], crls: [crl] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_CRL_SIGNATURE_INVALID'])
  })

  test('a TCB that disagrees with the certificate (report correctly signed by the VCEK)', async () => {
    const psp = createSimulatedPsp()
    const roots = simulatedAmdRoots('Genoa')
    const certified = SIMULATED_TCB.Genoa
    const vek = issueVek({ product: 'Genoa', issuer: roots.intermediate, tcb: certified, hwId: psp.chipId })
    const report = signedReport('Genoa', { ...certified, snp: certified.snp + 1 }, psp.chipId, vek.key)
    const result = await verifySevSnp({ report, vek: vek.der, chain: [roots.intermediate.der, roots.ark.der] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_VCEK_TCB_MISMATCH'])
  })

  test('a VCEK that expired before now, at the real clock', async () => {
    const psp = createSimulatedPsp()
    const roots = simulatedAmdRoots('Genoa')
    const tcb = SIMULATED_TCB.Genoa
    const vek = issueVek({ product: 'Genoa', issuer: roots.intermediate, tcb, hwId: psp.chipId, notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2025-01-01T00:00:00Z') })
    const report = signedReport('Genoa', tcb, psp.chipId, vek.key)
    const result = await verifySevSnp({ report, vek: vek.der, chain: [roots.intermediate.der, roots.ark.der] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_CHAIN_EXPIRED'])
    const then = await verifySevSnp({ report, vek: vek.der, chain: [roots.intermediate.der, roots.ark.der] }, { policy: dev(), at: new Date('2024-06-01T00:00:00Z') })
    assert.equal(then.verdict, 'accepted', JSON.stringify(then.errors))
  })

  test('a VCEK for another chip', async () => {
    const psp = createSimulatedPsp()
    const roots = simulatedAmdRoots('Genoa')
    const vek = issueVek({ product: 'Genoa', issuer: roots.intermediate, tcb: SIMULATED_TCB.Genoa, hwId: new Uint8Array(64).fill(9) })
    const report = signedReport('Genoa', SIMULATED_TCB.Genoa, psp.chipId, vek.key)
    const result = await verifySevSnp({ report, vek: vek.der, chain: [roots.intermediate.der, roots.ark.der] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_VCEK_CHIP_ID_MISMATCH'])
  })

  test('a VCEK signed with PKCS#1 v1.5 instead of PSS', async () => {
    const psp = createSimulatedPsp()
    const roots = simulatedAmdRoots('Genoa')
    const vek = issueVek({ product: 'Genoa', issuer: roots.intermediate, tcb: SIMULATED_TCB.Genoa, hwId: psp.chipId, signatureAlgorithm: 'rsa-pkcs1-sha384' })
    const report = signedReport('Genoa', SIMULATED_TCB.Genoa, psp.chipId, vek.key)
    const result = await verifySevSnp({ report, vek: vek.der, chain: [roots.intermediate.der, roots.ark.der] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_CHAIN_ALGORITHM'])
  })

  test('a VCEK without its hwID extension', async () => {
    const psp = createSimulatedPsp()
    const roots = simulatedAmdRoots('Genoa')
    const vek = issueVek({
      product: 'Genoa',
      issuer: roots.intermediate,
      tcb: SIMULATED_TCB.Genoa,
      hwId: psp.chipId,
      extensions: (defaults) => defaults.filter((e) => e.oid !== '1.3.6.1.4.1.3704.1.4'),
    })
    const report = signedReport('Genoa', SIMULATED_TCB.Genoa, psp.chipId, vek.key)
    const result = await verifySevSnp({ report, vek: vek.der, chain: [roots.intermediate.der, roots.ark.der] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_VEK_EXTENSION_INVALID'])
  })

  test('a report whose SIGNING_KEY says VLEK, signed by a VCEK', async () => {
    const { report, chain } = await createSimulatedPsp().getReport(reportData)
    const roots = simulatedAmdRoots('Genoa')
    const vcek = issueVek({ product: 'Genoa', issuer: roots.intermediate, tcb: SIMULATED_TCB.Genoa, hwId: parseAttestationReport(report).chipId })
    const altered = Uint8Array.from(report)
    altered[0x48] = 1 << 2
    setReportSignature(altered, sign('sha384', altered.subarray(0, SIGNATURE_OFFSET), { key: vcek.key, dsaEncoding: 'ieee-p1363' }))
    const result = await verifySevSnp({ report: altered, vek: vcek.der, chain: [...chain] }, { policy: dev() })
    assert.deepEqual(codes(result), ['ERR_SIGNING_KEY_MISMATCH'])
  })

  /** A Genoa report signed by a VCEK issued with `options`, verified under dev-simulated. */
  async function withVek(options: Partial<Parameters<typeof issueVek>[0]>) {
    const psp = createSimulatedPsp()
    const roots = simulatedAmdRoots('Genoa')
    const vek = issueVek({ product: 'Genoa', issuer: roots.intermediate, tcb: SIMULATED_TCB.Genoa, hwId: psp.chipId, ...options })
    const report = signedReport('Genoa', SIMULATED_TCB.Genoa, psp.chipId, vek.key)
    return verifySevSnp({ report, vek: vek.der, chain: [roots.intermediate.der, roots.ark.der] }, { policy: dev() })
  }
  const without = (oid: string) => (defaults: CertificateExtension[]) => defaults.filter((e) => e.oid !== oid)

  test('a hwID wrapped in a DER OCTET STRING (as go-sev-guest also accepts) verifies', async () => {
    const result = await withVek({ hwIdEncoding: 'octet-string' })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
  })
  test('a VCEK that carries both hwID and cspID', async () => {
    const result = await withVek({
      extensions: (defaults) => [...defaults, { oid: '1.3.6.1.4.1.3704.1.5', critical: false, value: Uint8Array.from([0x16, 0x03, 0x61, 0x62, 0x63]) }],
    })
    assert.deepEqual(codes(result), ['ERR_VEK_EXTENSION_INVALID'])
  })
  test('an SPL that is not an INTEGER', async () => {
    const result = await withVek({
      extensions: (defaults) => defaults.map((e) => (e.oid === '1.3.6.1.4.1.3704.1.3.1' ? { ...e, value: Uint8Array.from([0x16, 0x01, 0x31]) } : e)),
    })
    assert.deepEqual(codes(result), ['ERR_VEK_EXTENSION_INVALID'])
  })
  test('a VCEK without productName', async () => {
    const result = await withVek({ extensions: without('1.3.6.1.4.1.3704.1.2') })
    assert.deepEqual(codes(result), ['ERR_CHAIN_PRODUCT_MISMATCH', 'ERR_VEK_EXTENSION_INVALID'])
  })
  test('a VCEK with an unprocessed critical extension', async () => {
    const result = await withVek({ extensions: (defaults) => [...defaults, { oid: '1.2.3.4', critical: true, value: Uint8Array.from([0x05, 0x00]) }] })
    assert.deepEqual(codes(result), ['ERR_CHAIN_CONSTRAINTS'])
  })
  test('a VCEK that claims to be a CA', async () => {
    const result = await withVek({ extensions: (defaults) => [...defaults, { oid: '2.5.29.19', critical: true, value: Uint8Array.from([0x30, 0x03, 0x01, 0x01, 0xff]) }] })
    assert.deepEqual(codes(result), ['ERR_CHAIN_CONSTRAINTS'])
  })
  test('a masked CHIP_ID: the chip comparison is skipped with its reason, the rest verifies', async () => {
    const { report, vek, chain } = await createSimulatedPsp({ maskChipId: true }).getReport(reportData)
    const result = await verifySevSnp({ report, vek, chain: [...chain] }, { policy: dev() })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
    const chip = result.checks.find((k) => k.id === 'vek.chip-id')!
    assert.equal(chip.status, 'skip')
    assert.match(chip.detail, /MASK_CHIP_ID/)
  })
})
