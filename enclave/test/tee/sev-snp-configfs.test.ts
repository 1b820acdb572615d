/**
 * The SEV-SNP configfs-tsm device against a fake configfs kernel (helpers/fake-tsm.ts): the request
 * protocol (entry, generation, inblob, privlevel, outblob, auxblob, provider, rmdir), the checks on what
 * comes back, and the certificate table, answering with the simulated PSP and replaying real reports.
 */
import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import {
  createCpuTee,
  createSevSnpConfigfsTee,
  requestTsmReport,
  TeeError,
  type CpuTee,
  type SevSnpConfigfsOptions,
  type TeeErrorCode,
} from '@vouch/enclave'
import { createSimulatedPsp, type PspReport } from '@vouch/enclave/simulated'
import {
  CERT_TABLE_GUID,
  composeCertTable,
  KEY_INFO_OFFSET,
  parseAttestationReport,
  ProtocolError,
  REPORT_DATA_OFFSET,
  type CertTableEntry,
} from '@vouch/protocol'
import { fixtureBytes, fixturesMissing, fixtureText } from '../../../verifier/test/helpers/fixtures.js'
import { createFakeTsm, type FakeTsm, type FakeTsmOptions } from './helpers/fake-tsm.js'

const reportData = (byte: number): Uint8Array => new Uint8Array(64).fill(byte)
const teeError = (code: TeeErrorCode) => (e: unknown): boolean => {
  assert.ok(e instanceof TeeError, String(e))
  assert.equal(e.code, code, e.message)
  return true
}

/** The table a host provisions for a PSP answer: VEK under its own GUID, the intermediate under ASK's, the ARK. */
function certTable(answer: Pick<PspReport, 'vek' | 'chain'>, signingKey: 'VCEK' | 'VLEK' = 'VCEK', omit: string[] = []): Uint8Array {
  const entries: CertTableEntry[] = [
    { guid: CERT_TABLE_GUID[signingKey], data: answer.vek },
    { guid: CERT_TABLE_GUID.ASK, data: answer.chain[0] },
    { guid: CERT_TABLE_GUID.ARK, data: answer.chain[1] },
  ]
  return composeCertTable(entries.filter((e) => !omit.includes(e.guid)))
}

const fakes: FakeTsm[] = []
after(() => fakes.forEach((f) => f.dispose()))
function fake(options: FakeTsmOptions): FakeTsm {
  const tsm = createFakeTsm(options)
  fakes.push(tsm)
  return tsm
}

/** A fake whose PSP is the simulated one: it signs whatever REPORT_DATA was written, at the written VMPL. */
function simulatedKernel(overrides: Partial<FakeTsmOptions> & { signingKey?: 'VCEK' | 'VLEK'; omit?: string[] } = {}): FakeTsm {
  const psp = createSimulatedPsp({ signingKey: overrides.signingKey ?? 'VCEK' })
  return fake({
    async answer(inblob, privlevel) {
      const answer = await psp.getReport(inblob, { vmpl: privlevel })
      return { outblob: answer.report, auxblob: certTable(answer, overrides.signingKey, overrides.omit) }
    },
    ...overrides,
  })
}

async function device(tsm: FakeTsm, options: SevSnpConfigfsOptions = {}): Promise<CpuTee> {
  return createSevSnpConfigfsTee({ root: tsm.root, fs: tsm.fs, ...options })
}

describe('configfs-tsm requests answered by the simulated PSP', () => {
  test('the evidence carries the REPORT_DATA written, the auxblob certificates, and the entry is gone', async () => {
    const tsm = simulatedKernel()
    const tee = await device(tsm)
    assert.equal(tee.kind, 'sev-snp')
    assert.equal(tee.platform, 'sev-snp')
    const evidence = await tee.attest(reportData(0x42))
    const report = parseAttestationReport(evidence.report)
    assert.deepEqual(report.reportData, reportData(0x42))
    assert.equal(report.signingKey, 'VCEK')
    assert.match(new X509Certificate(evidence.vek).subject, /CN=SEV-VCEK/)
    assert.match(new X509Certificate(evidence.chain[0]).subject, /CN=SEV-Genoa/)
    assert.match(new X509Certificate(evidence.chain[1]).subject, /CN=ARK-Genoa/)
    assert.equal(evidence.crls, undefined)
    assert.equal(tsm.entries.length, 1)
    assert.match(tsm.entries[0]!, /\/vouch-\d+-[0-9a-f]{16}$/)
    assert.deepEqual(await tsm.remaining(), [])
  })

  test('privlevel is written and counted: the report is at that VMPL and the generation check passes', async () => {
    const tsm = simulatedKernel()
    const answer = await requestTsmReport(reportData(1), { root: tsm.root, fs: tsm.fs, privlevel: 2 })
    assert.equal(answer.provider, 'sev_guest')
    assert.equal(answer.generation, 2)
    assert.equal(parseAttestationReport(answer.outblob).vmpl, 2)
    const evidence = await (await device(tsm, { privlevel: 3 })).attest(reportData(2))
    assert.equal(parseAttestationReport(evidence.report).vmpl, 3)
  })

  test('a VLEK report takes the VLEK entry and the ASVK filed under the ASK GUID', async () => {
    const tsm = simulatedKernel({ signingKey: 'VLEK' })
    const evidence = await (await device(tsm)).attest(reportData(3))
    assert.equal(parseAttestationReport(evidence.report).signingKey, 'VLEK')
    assert.match(new X509Certificate(evidence.vek).subject, /CN=SEV-VLEK/)
    assert.match(new X509Certificate(evidence.chain[0]).subject, /CN=SEV-VLEK-Genoa/)
  })

  test('concurrent requests use separate entries and each gets its own report', async () => {
    const tsm = simulatedKernel()
    const tee = await device(tsm)
    const results = await Promise.all([4, 5, 6].map((b) => tee.attest(reportData(b))))
    results.forEach((r, i) => assert.deepEqual(parseAttestationReport(r.report).reportData, reportData(4 + i)))
    assert.equal(new Set(tsm.entries).size, 3)
    assert.deepEqual(await tsm.remaining(), [])
  })

  test('createCpuTee("sev-snp") opens the same device', async () => {
    const tsm = simulatedKernel()
    const tee = await createCpuTee('sev-snp', { root: tsm.root, fs: tsm.fs })
    assert.deepEqual(parseAttestationReport((await tee.attest(reportData(7))).report).reportData, reportData(7))
  })
})

describe('what the device refuses', () => {
  test('a missing configfs-tsm tree is ERR_TEE_UNAVAILABLE at creation (node:fs, no fake)', async () => {
    const tsm = simulatedKernel()
    await assert.rejects(createSevSnpConfigfsTee({ root: join(tsm.root, 'absent') }), teeError('ERR_TEE_UNAVAILABLE'))
    await assert.rejects(createCpuTee('sev-snp', { root: join(tsm.root, 'absent') }), teeError('ERR_TEE_UNAVAILABLE'))
  })

  test('no permission to make an entry is ERR_TEE_UNAVAILABLE; an I/O error reading outblob is ERR_TEE_REQUEST_FAILED', async () => {
    const denied = simulatedKernel({ fail: { call: 'mkdir', code: 'EACCES' } })
    await assert.rejects((await device(denied)).attest(reportData(1)), teeError('ERR_TEE_UNAVAILABLE'))
    const failing = simulatedKernel({ fail: { call: 'read:outblob', code: 'EIO' } })
    await assert.rejects((await device(failing)).attest(reportData(1)), teeError('ERR_TEE_REQUEST_FAILED'))
    assert.deepEqual(await failing.remaining(), [])
    const floor = simulatedKernel({ fail: { call: 'write:privlevel', code: 'EINVAL' } })
    await assert.rejects((await device(floor, { privlevel: 0 })).attest(reportData(1)), teeError('ERR_TEE_REQUEST_FAILED'))
  })

  test('another provider (a TDX guest) is ERR_TEE_UNSUPPORTED, before anything is written', async () => {
    let asked = false
    const tsm = fake({
      provider: 'tdx_guest',
      answer: () => {
        asked = true
        return { outblob: new Uint8Array(1184) }
      },
    })
    await assert.rejects((await device(tsm)).attest(reportData(1)), teeError('ERR_TEE_UNSUPPORTED'))
    assert.equal(asked, false)
    assert.deepEqual(await tsm.remaining(), [])
  })

  test('a second writer during the request is ERR_TEE_RACE, and the entry is still removed', async () => {
    const tsm = simulatedKernel({
      beforeOutblob: (entry, fs) => fs.writeFile(join(entry, 'inblob'), reportData(0xee)),
    })
    await assert.rejects((await device(tsm)).attest(reportData(1)), teeError('ERR_TEE_RACE'))
    assert.deepEqual(await tsm.remaining(), [])
  })

  test('a truncated or padded outblob is ERR_TEE_REPORT_INVALID', async () => {
    const psp = createSimulatedPsp()
    for (const size of [0, 1000, 1183, 1185, 4096]) {
      const tsm = fake({
        async answer(inblob) {
          const answer = await psp.getReport(inblob)
          const outblob = new Uint8Array(size)
          outblob.set(answer.report.subarray(0, Math.min(size, answer.report.length)))
          return { outblob, auxblob: certTable(answer) }
        },
      })
      await assert.rejects((await device(tsm)).attest(reportData(1)), teeError('ERR_TEE_REPORT_INVALID'), `${size} bytes`)
    }
  })

  test('REPORT_DATA other than the inblob is ERR_TEE_REPORT_INVALID, unless expectReportData is false', async () => {
    const psp = createSimulatedPsp()
    const stale = await psp.getReport(reportData(0x99))
    const tsm = fake({ answer: () => ({ outblob: stale.report, auxblob: certTable(stale) }) })
    await assert.rejects((await device(tsm)).attest(reportData(1)), teeError('ERR_TEE_REPORT_INVALID'))
    const evidence = await (await device(tsm, { expectReportData: false })).attest(reportData(1))
    assert.deepEqual(evidence.report, stale.report)
  })

  test('an unsigned report (SIGNING_KEY 7) is ERR_TEE_REPORT_INVALID', async () => {
    const psp = createSimulatedPsp()
    const tsm = fake({
      async answer(inblob) {
        const answer = await psp.getReport(inblob)
        const outblob = answer.report.slice()
        new DataView(outblob.buffer).setUint32(KEY_INFO_OFFSET, 7 << 2, true)
        return { outblob, auxblob: certTable(answer) }
      },
    })
    await assert.rejects((await device(tsm)).attest(reportData(1)), teeError('ERR_TEE_REPORT_INVALID'))
  })

  test('reportData of another size and a privlevel out of range are RangeErrors', async () => {
    const tsm = simulatedKernel()
    const tee = await device(tsm)
    await assert.rejects(tee.attest(new Uint8Array(32)), RangeError)
    await assert.rejects(createSevSnpConfigfsTee({ root: tsm.root, fs: tsm.fs, privlevel: 4 }), RangeError)
    assert.deepEqual(tsm.entries, [])
  })

  test('after close, attest is ERR_TEE_CLOSED', async () => {
    const tsm = simulatedKernel()
    const tee = await device(tsm)
    await tee.close()
    await tee.close()
    await assert.rejects(tee.attest(reportData(1)), teeError('ERR_TEE_CLOSED'))
  })
})

describe('certificates from the auxblob', () => {
  const cases: Array<{ name: string; options: Parameters<typeof simulatedKernel>[0] }> = [
    { name: 'a table without the VCEK', options: { omit: [CERT_TABLE_GUID.VCEK] } },
    { name: 'a table without the ASK', options: { omit: [CERT_TABLE_GUID.ASK] } },
    { name: 'a table without the ARK', options: { omit: [CERT_TABLE_GUID.ARK] } },
    { name: 'a VLEK report with only a VCEK in the table', options: { signingKey: 'VLEK', omit: [CERT_TABLE_GUID.VLEK] } },
    { name: 'an empty auxblob', options: { omit: Object.values(CERT_TABLE_GUID) } },
    { name: 'no auxblob attribute', options: { omitAuxblob: true } },
  ]
  for (const c of cases) {
    test(`${c.name} is ERR_TEE_CERTS_MISSING`, async () => {
      const tsm = simulatedKernel(c.options)
      await assert.rejects((await device(tsm)).attest(reportData(1)), teeError('ERR_TEE_CERTS_MISSING'))
    })
  }

  test('a malformed table is ERR_TEE_CERTS_MISSING with the parse error as cause', async () => {
    const psp = createSimulatedPsp()
    const tsm = fake({
      async answer(inblob) {
        const answer = await psp.getReport(inblob)
        return { outblob: answer.report, auxblob: certTable(answer).subarray(0, 30) }
      },
    })
    await assert.rejects((await device(tsm)).attest(reportData(1)), (e: unknown) => {
      assert.ok(e instanceof TeeError && e.code === 'ERR_TEE_CERTS_MISSING')
      assert.ok(e.cause instanceof ProtocolError && e.cause.code === 'ERR_PROTOCOL_MALFORMED')
      return true
    })
  })

  test('a collateral source fills what the table lacks; what the table has wins', async () => {
    const psp = createSimulatedPsp()
    const full = await psp.getReport(reportData(0))
    const tsm = simulatedKernel({ omit: [CERT_TABLE_GUID.ASK, CERT_TABLE_GUID.ARK] })
    const asked: string[] = []
    const bogus = new Uint8Array([1, 2, 3])
    const tee = await device(tsm, {
      async collateral(report, signingKey) {
        asked.push(signingKey)
        assert.deepEqual(report.subarray(REPORT_DATA_OFFSET, REPORT_DATA_OFFSET + 64), reportData(9))
        return { vek: bogus, chain: full.chain, crls: [bogus] }
      },
    })
    const evidence = await tee.attest(reportData(9))
    assert.deepEqual(asked, ['VCEK'])
    // The table's VCEK, not the collateral's.
    assert.match(new X509Certificate(evidence.vek).subject, /CN=SEV-VCEK/)
    assert.deepEqual(evidence.chain, full.chain)
    assert.deepEqual(evidence.crls, [bogus])
  })
})

describe('replaying real reports', { skip: fixturesMissing('sev-snp') }, () => {
  const der = (path: string): Uint8Array => new Uint8Array(new X509Certificate(fixtureText(path)).raw)
  const cases = [
    { name: 'tinfoil-verifier-test', product: 'genoa', signingKey: 'VCEK' as const },
    { name: 'trustee-test-vlek-report', product: 'milan', signingKey: 'VLEK' as const },
  ]
  for (const c of cases) {
    test(`${c.name}: the report, ${c.signingKey} and chain flow through unchanged`, async () => {
      const report = fixtureBytes('sev-snp/cases', c.name, 'report.bin')
      const vek = fixtureBytes('sev-snp/cases', c.name, 'vek.der')
      const chain: [Uint8Array, Uint8Array] = [
        der(`sev-snp/roots/${c.product}/${c.signingKey === 'VLEK' ? 'asvk' : 'ask'}.pem`),
        der(`sev-snp/roots/${c.product}/ark.pem`),
      ]
      const written: Uint8Array[] = []
      const tsm = fake({
        answer(inblob) {
          written.push(inblob)
          return { outblob: report, auxblob: certTable({ vek, chain }, c.signingKey) }
        },
      })
      // A replayed report's REPORT_DATA is fixed by its signature: the default check refuses it.
      await assert.rejects((await device(tsm)).attest(reportData(1)), teeError('ERR_TEE_REPORT_INVALID'))
      const evidence = await (await device(tsm, { expectReportData: false })).attest(reportData(2))
      assert.deepEqual(written.at(-1), reportData(2))
      assert.deepEqual(evidence, { report, vek, chain })
      assert.deepEqual(await tsm.remaining(), [])
    })
  }
})
