import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, verify, X509Certificate } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate } from '@peculiar/asn1-x509'
import {
  AMD_OID,
  decodeGuestPolicy,
  decodeTcb,
  encodeGuestPolicy,
  parseAttestationReport,
  toHex,
  type Product,
  type Tcb,
} from '@vouch/protocol'
import {
  SIMULATED_CSP_ID,
  SIMULATED_GUEST_POLICY,
  SIMULATED_MEASUREMENT,
  SIMULATED_TCB,
  createSimulatedPsp,
  simulatedArkSpkiSha256,
  simulatedChipId,
} from '@vouch/enclave/simulated'

/** The pins the verifier carries for the simulated ARKs (default seed). A change here breaks them. */
const ARK_SPKI_SHA256: Readonly<Record<Product, string>> = {
  Milan: '1fdbe9c6e6f8d312c5fd1dddb9a47e7ebd4170633a00bafc07f0d516f1f32326',
  Genoa: '4e96f83ad9ad004e5a98624e429fa541f8e90194904cda83c61193ba435134ce',
  Turin: '0f76d2d66b493fcd3bc4fc2e6a3f4be2d59593600d206c5d517b0568880a9d89',
}
const PRODUCTS: Product[] = ['Milan', 'Genoa', 'Turin']

const reportData = (fill: number): Uint8Array => new Uint8Array(64).fill(fill)

function amdExtensions(der: Uint8Array): Map<string, Uint8Array> {
  const exts = AsnConvert.parse(der, Certificate).tbsCertificate.extensions ?? []
  return new Map(exts.map((e) => [e.extnID, new Uint8Array(e.extnValue.buffer)]))
}

/** A small DER INTEGER (tag 02) as a number. */
function derInteger(bytes: Uint8Array | undefined): number {
  assert.ok(bytes !== undefined && bytes[0] === 0x02 && bytes[1] === bytes.length - 2, 'an INTEGER')
  return Number(BigInt('0x' + toHex(bytes.subarray(2))))
}

/** The TCB a VCEK or VLEK certifies, read from its AMD extensions. */
function certifiedTcb(der: Uint8Array, product: Product): Tcb {
  const ext = amdExtensions(der)
  const tcb: Tcb = {
    bootloader: derInteger(ext.get(AMD_OID.blSpl)),
    tee: derInteger(ext.get(AMD_OID.teeSpl)),
    snp: derInteger(ext.get(AMD_OID.snpSpl)),
    microcode: derInteger(ext.get(AMD_OID.ucodeSpl)),
  }
  if (product === 'Turin') tcb.fmc = derInteger(ext.get(AMD_OID.fmcSpl))
  return tcb
}

function verifiesUnder(child: Uint8Array, issuer: Uint8Array): boolean {
  const c = new X509Certificate(child)
  const i = new X509Certificate(issuer)
  return c.checkIssued(i) && c.verify(i.publicKey)
}

describe('createSimulatedPsp', () => {
  for (const product of PRODUCTS) {
    test(`${product}: a version 5 report that parses, with the right fields`, async () => {
      const psp = createSimulatedPsp({ product })
      const { report } = await psp.getReport(reportData(0x5a))
      assert.equal(report.length, 1184)
      const parsed = parseAttestationReport(report)
      assert.equal(parsed.version, 5)
      assert.equal(parsed.product, product)
      assert.equal(parsed.signingKey, 'VCEK')
      assert.equal(parsed.signatureAlgo, 1)
      assert.equal(parsed.vmpl, 0)
      assert.deepEqual(parsed.reportData, reportData(0x5a))
      assert.equal(toHex(parsed.measurement), SIMULATED_MEASUREMENT)
      assert.deepEqual(parsed.hostData, new Uint8Array(32))
      assert.deepEqual(decodeGuestPolicy(parsed.policy), SIMULATED_GUEST_POLICY)
      assert.equal(parsed.policy, 0x30137n, 'SMT, reserved bit 17, ABI 1.55')
      for (const tcb of [parsed.reportedTcb, parsed.committedTcb, parsed.launchTcb, parsed.currentTcb]) {
        assert.deepEqual(decodeTcb(tcb, product), SIMULATED_TCB[product])
      }
      assert.deepEqual(parsed.chipId, simulatedChipId(product))
      assert.deepEqual(parsed.chipId, psp.chipId)
      assert.deepEqual(parsed.reportIdMa, new Uint8Array(32).fill(0xff))
      assert.equal(parsed.maskChipKey, false)
      assert.equal(parsed.authorKeyEn, false)
      assert.equal(parsed.currentVersion.major, 1)
      assert.equal(parsed.currentVersion.minor, 55)
      assert.notEqual(parsed.launchMitVector, null)
    })

    test(`${product}: the signature verifies under the VCEK, which the chain certifies`, async () => {
      const { report, vek, chain } = await createSimulatedPsp({ product }).getReport(reportData(1))
      const parsed = parseAttestationReport(report)
      const signature = Buffer.concat([parsed.signature.r, parsed.signature.s])
      const vcek = new X509Certificate(vek)
      assert.ok(verify('sha384', parsed.signed, { key: vcek.publicKey, dsaEncoding: 'ieee-p1363' }, signature))
      const tampered = Uint8Array.from(report)
      tampered[0x50] = tampered[0x50]! ^ 1
      assert.ok(!verify('sha384', tampered.subarray(0, 0x2a0), { key: vcek.publicKey, dsaEncoding: 'ieee-p1363' }, signature))

      const [ask, ark] = chain
      assert.ok(verifiesUnder(vek, ask), 'VCEK under ASK')
      assert.ok(verifiesUnder(ask, ark), 'ASK under ARK')
      assert.ok(verifiesUnder(ark, ark), 'ARK self-signed')
      assert.match(new X509Certificate(ask).subject, new RegExp(`CN=SEV-${product}$`))
      assert.match(vcek.subject, /CN=SEV-VCEK$/)
      const at = new Date('2026-11-25T00:00:00Z')
      for (const der of [vek, ask, ark]) {
        const cert = new X509Certificate(der)
        assert.ok(new Date(cert.validFrom) <= at && at < new Date(cert.validTo), `${cert.subject} valid on ${at.toISOString()}`)
      }
    })

    test(`${product}: the VCEK extensions decode to REPORTED_TCB and CHIP_ID`, async () => {
      const { report, vek } = await createSimulatedPsp({ product }).getReport(reportData(2))
      const parsed = parseAttestationReport(report)
      assert.deepEqual(certifiedTcb(vek, product), decodeTcb(parsed.reportedTcb, product))
      const ext = amdExtensions(vek)
      const hwId = ext.get(AMD_OID.hwId)!
      if (product === 'Turin') {
        assert.equal(hwId.length, 8)
        assert.deepEqual(hwId, parsed.chipId.subarray(0, 8))
        assert.deepEqual(parsed.chipId.subarray(8), new Uint8Array(56))
        assert.equal(ext.has(AMD_OID.spl4), false)
        assert.equal(derInteger(ext.get(AMD_OID.structVersion)), 1)
      } else {
        assert.deepEqual(hwId, parsed.chipId)
        assert.equal(derInteger(ext.get(AMD_OID.spl4)), 0)
        assert.equal(derInteger(ext.get(AMD_OID.structVersion)), 0)
      }
      const productName = { Milan: 'Milan-B0', Genoa: 'Genoa', Turin: 'Turin' }[product]
      assert.deepEqual(ext.get(AMD_OID.productName), Uint8Array.of(0x16, productName.length, ...Buffer.from(productName)))
      assert.equal(ext.has(AMD_OID.cspId), false)
    })

    test(`${product}: a VLEK report, under the ASVK, with cspID and no hwID`, async () => {
      const psp = createSimulatedPsp({ product, signingKey: 'VLEK' })
      const { report, vek, chain } = await psp.getReport(reportData(3))
      const parsed = parseAttestationReport(report)
      assert.equal(parsed.signingKey, 'VLEK')
      const signature = Buffer.concat([parsed.signature.r, parsed.signature.s])
      const key = new X509Certificate(vek).publicKey
      assert.ok(verify('sha384', parsed.signed, { key, dsaEncoding: 'ieee-p1363' }, signature))
      assert.ok(verifiesUnder(vek, chain[0]))
      assert.ok(verifiesUnder(chain[0], chain[1]))
      assert.match(new X509Certificate(chain[0]).subject, new RegExp(`CN=SEV-VLEK-${product}$`))
      assert.match(new X509Certificate(vek).subject, /CN=SEV-VLEK$/)
      const ext = amdExtensions(vek)
      assert.deepEqual(ext.get(AMD_OID.cspId), Uint8Array.of(0x16, SIMULATED_CSP_ID.length, ...Buffer.from(SIMULATED_CSP_ID)))
      assert.equal(ext.has(AMD_OID.hwId), false)
      assert.deepEqual(certifiedTcb(vek, product), decodeTcb(parsed.reportedTcb, product))
    })

    test(`${product}: the ARK SPKI SHA-256 is the pinned constant`, async () => {
      assert.equal(simulatedArkSpkiSha256(product), ARK_SPKI_SHA256[product])
      const { chain } = await createSimulatedPsp({ product }).getReport(reportData(4))
      const spki = new X509Certificate(chain[1]).publicKey.export({ type: 'spki', format: 'der' })
      assert.equal(createHash('sha256').update(spki).digest('hex'), ARK_SPKI_SHA256[product])
    })
  }

  test('defaults to Genoa; certificates and REPORT_ID stay fixed for one PSP, REPORT_DATA follows each request', async () => {
    const psp = createSimulatedPsp()
    assert.equal(psp.product, 'Genoa')
    assert.equal(psp.signingKey, 'VCEK')
    const a = await psp.getReport(reportData(7))
    const b = await psp.getReport(reportData(8))
    assert.deepEqual(a.vek, b.vek)
    assert.deepEqual(a.chain, b.chain)
    const [pa, pb] = [parseAttestationReport(a.report), parseAttestationReport(b.report)]
    assert.deepEqual(pa.reportId, pb.reportId)
    assert.deepEqual(pb.reportData, reportData(8))
    const other = parseAttestationReport((await createSimulatedPsp().getReport(reportData(7))).report)
    assert.notDeepEqual(other.reportId, pa.reportId, 'a new PSP is a new launch')
  })

  test('derives everything from the seed: same seed, same keys and chip; another seed, other ones', async () => {
    const vcekKey = async (seed?: string): Promise<string> => {
      const { vek } = await createSimulatedPsp({ product: 'Milan', ...(seed === undefined ? {} : { seed }) }).getReport(reportData(0))
      return toHex(new X509Certificate(vek).publicKey.export({ type: 'spki', format: 'der' }))
    }
    assert.equal(await vcekKey(), await vcekKey())
    assert.notEqual(await vcekKey('another seed'), await vcekKey())
    assert.notEqual(simulatedArkSpkiSha256('Milan', 'another seed'), ARK_SPKI_SHA256.Milan)
    assert.notDeepEqual(simulatedChipId('Milan', 'another seed'), simulatedChipId('Milan'))
  })

  test('the VCEK key follows the TCB, as AMD versions its keys', async () => {
    const spki = async (tcb: Tcb): Promise<string> => {
      const { vek } = await createSimulatedPsp({ product: 'Genoa', tcb }).getReport(reportData(0))
      return toHex(new X509Certificate(vek).publicKey.export({ type: 'spki', format: 'der' }))
    }
    const before = await spki({ bootloader: 10, tee: 0, snp: 27, microcode: 88 })
    assert.notEqual(await spki({ bootloader: 10, tee: 0, snp: 28, microcode: 88 }), before)
  })

  test('options set the report fields', async () => {
    const measurement = new Uint8Array(48).fill(0x11)
    const hostData = new Uint8Array(32).fill(0x22)
    const chipId = new Uint8Array(64).fill(0x33)
    const tcb = { bootloader: 9, tee: 1, snp: 20, microcode: 200 }
    const psp = createSimulatedPsp({
      product: 'Milan',
      measurement,
      hostData,
      chipId,
      tcb,
      vmpl: 2,
      policy: { debug: true, smt: false },
      guestSvn: 5,
      familyId: new Uint8Array(16).fill(0x44),
      imageId: new Uint8Array(16).fill(0x55),
      platformInfo: 0x3n,
      firmware: { major: 1, minor: 58, build: 3 },
    })
    const { report, vek } = await psp.getReport(reportData(9))
    const parsed = parseAttestationReport(report)
    assert.deepEqual(parsed.measurement, measurement)
    assert.deepEqual(psp.measurement, measurement)
    assert.deepEqual(parsed.hostData, hostData)
    assert.deepEqual(parsed.chipId, chipId)
    assert.deepEqual(amdExtensions(vek).get(AMD_OID.hwId), chipId)
    assert.deepEqual(decodeTcb(parsed.reportedTcb, 'Milan'), tcb)
    assert.deepEqual(certifiedTcb(vek, 'Milan'), tcb)
    assert.equal(parsed.vmpl, 2)
    assert.equal(parseAttestationReport((await psp.getReport(reportData(9), { vmpl: 0 })).report).vmpl, 0)
    assert.deepEqual(decodeGuestPolicy(parsed.policy), { ...SIMULATED_GUEST_POLICY, debug: true, smt: false })
    assert.equal(parsed.guestSvn, 5)
    assert.deepEqual(parsed.familyId, new Uint8Array(16).fill(0x44))
    assert.deepEqual(parsed.imageId, new Uint8Array(16).fill(0x55))
    assert.equal(parsed.platformInfo, 0x3n)
    assert.deepEqual(parsed.currentVersion, { major: 1, minor: 58, build: 3 })
    assert.deepEqual(parsed.committedVersion, { major: 1, minor: 58, build: 3 })

    const raw = encodeGuestPolicy({ ...SIMULATED_GUEST_POLICY, migrateMa: true })
    const p2 = parseAttestationReport((await createSimulatedPsp({ product: 'Milan', policy: raw }).getReport(reportData(0))).report)
    assert.equal(p2.policy, raw)
  })

  test('MASK_CHIP_ID reports zeros while the VCEK keeps the hwID', async () => {
    const psp = createSimulatedPsp({ product: 'Genoa', maskChipId: true })
    const { report, vek } = await psp.getReport(reportData(0))
    const parsed = parseAttestationReport(report)
    assert.deepEqual(parsed.chipId, new Uint8Array(64))
    assert.deepEqual(psp.chipId, new Uint8Array(64))
    assert.deepEqual(amdExtensions(vek).get(AMD_OID.hwId), simulatedChipId('Genoa'))
  })

  test('VLEK cspID can be named', async () => {
    const psp = createSimulatedPsp({ product: 'Genoa', signingKey: 'VLEK', cspId: 'CN=example.test' })
    const { vek } = await psp.getReport(reportData(0))
    assert.deepEqual(amdExtensions(vek).get(AMD_OID.cspId), Uint8Array.of(0x16, 15, ...Buffer.from('CN=example.test')))
  })

  test('returned bytes are copies: changing them does not touch the next report', async () => {
    const psp = createSimulatedPsp({ product: 'Genoa' })
    const first = await psp.getReport(reportData(0))
    first.vek.fill(0)
    first.chain[1].fill(0)
    psp.chipId.fill(0)
    psp.measurement.fill(0)
    const second = await psp.getReport(reportData(0))
    assert.ok(verifiesUnder(second.chain[1], second.chain[1]))
    assert.deepEqual(parseAttestationReport(second.report).chipId, simulatedChipId('Genoa'))
    assert.equal(toHex(parseAttestationReport(second.report).measurement), SIMULATED_MEASUREMENT)
  })

  test('rejects malformed requests and options', async () => {
    const psp = createSimulatedPsp({ product: 'Genoa' })
    await assert.rejects(psp.getReport(new Uint8Array(32)), RangeError)
    await assert.rejects(psp.getReport(reportData(0), { vmpl: 4 }), RangeError)
    assert.throws(() => createSimulatedPsp({ measurement: new Uint8Array(32) }), RangeError)
    assert.throws(() => createSimulatedPsp({ hostData: new Uint8Array(48) }), RangeError)
    assert.throws(() => createSimulatedPsp({ chipId: new Uint8Array(8) }), RangeError)
    assert.throws(() => createSimulatedPsp({ familyId: new Uint8Array(8) }), RangeError)
    assert.throws(() => createSimulatedPsp({ vmpl: -1 }), RangeError)
  })

  test('SIMULATED_MEASUREMENT is the SHA-384 of the simulated launch text', () => {
    assert.equal(SIMULATED_MEASUREMENT, createHash('sha384').update('vouch/simulated-tee/v1 SEV-SNP launch').digest('hex'))
  })
})
