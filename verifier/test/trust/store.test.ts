/** TrustStore: the directory layout, atomic writes, the default directory, and lookups by report. */
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { decodeTcb, kdsHwId, parseAttestationReport } from '@vouch/protocol'
import { defaultTrustDir, tcbKey, TrustStore } from '@vouch/verifier/trust'
import { fixtureBytes, fixturesMissing } from '../helpers/fixtures.js'

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})
function tempStore(): TrustStore {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-store-'))
  dirs.push(dir)
  return new TrustStore(dir)
}

describe('defaultTrustDir', () => {
  const cases: { name: string; env: NodeJS.ProcessEnv; want: string }[] = [
    { name: '$VOUCH_TRUST_DIR first', env: { VOUCH_TRUST_DIR: '/srv/trust', XDG_CACHE_HOME: '/xdg' }, want: '/srv/trust' },
    { name: 'then $XDG_CACHE_HOME/vouch/trust', env: { XDG_CACHE_HOME: '/xdg' }, want: '/xdg/vouch/trust' },
    { name: 'a relative XDG_CACHE_HOME is ignored (XDG spec)', env: { XDG_CACHE_HOME: 'rel' }, want: '/home/u/.cache/vouch/trust' },
    { name: 'an empty VOUCH_TRUST_DIR is unset', env: { VOUCH_TRUST_DIR: '' }, want: '/home/u/.cache/vouch/trust' },
    { name: 'else ~/.cache/vouch/trust', env: {}, want: '/home/u/.cache/vouch/trust' },
  ]
  for (const c of cases) test(c.name, () => assert.equal(defaultTrustDir(c.env, '/home/u'), c.want))
})

describe('TrustStore layout', () => {
  test('tcbKey puts FMC first on Turin only', () => {
    assert.equal(tcbKey({ fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 }, 'Turin'), 'fmc0-bl1-tee0-snp2-ucode71')
    assert.equal(tcbKey({ bootloader: 4, tee: 0, snp: 24, microcode: 219 }, 'Milan'), 'bl4-tee0-snp24-ucode219')
  })

  test('paths follow KDS, writes are atomic and leave no temporary files', () => {
    const store = tempStore()
    const tcb = { bootloader: 10, tee: 0, snp: 27, microcode: 88 }
    assert.equal(store.vcekPath('Genoa', 'ab01', tcb), join(store.dir, 'amd/Genoa/vcek/ab01/bl10-tee0-snp27-ucode88.der'))
    assert.equal(store.chainPath('Turin', 'vlek'), join(store.dir, 'amd/Turin/vlek/cert_chain.pem'))
    assert.equal(store.crlPath('Milan', 'vcek'), join(store.dir, 'amd/Milan/vcek/crl.der'))
    store.writeVcek('Genoa', 'ab01', tcb, new Uint8Array([0x30, 0x00]))
    store.writeVcek('Genoa', 'ab01', tcb, new Uint8Array([0x30, 0x01]))
    assert.deepEqual(store.readVcek('Genoa', 'ab01', tcb), new Uint8Array([0x30, 0x01]))
    store.writeChain('Turin', 'vlek', [new Uint8Array(100).fill(7), new Uint8Array([1])])
    assert.match(store.readChain('Turin', 'vlek')!, /^-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/]{64}\n)+[A-Za-z0-9+/=]{1,64}\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nAQ==\n/)
    assert.deepEqual(readdirSync(join(store.dir, 'amd/Genoa/vcek/ab01')), ['bl10-tee0-snp27-ucode88.der'])
    assert.equal(store.readCrl('Milan', 'vcek'), null)
    assert.throws(() => store.vcekPath('Milan', '../../etc', tcb), TypeError)
  })

  test('the last-request time round-trips, and an unreadable file counts as none', () => {
    const store = tempStore()
    assert.equal(store.readLastRequest(), null)
    store.writeLastRequest(new Date('2026-01-02T03:04:05.678Z'))
    assert.equal(new TrustStore(store.dir).readLastRequest()?.toISOString(), '2026-01-02T03:04:05.678Z')
  })
})

describe('TrustStore.collateralFor', { skip: fixturesMissing('sev-snp') }, () => {
  test('a version 2 VCEK report: the product with a cached VCEK wins, Milan before Genoa', () => {
    const store = tempStore()
    const report = parseAttestationReport(fixtureBytes('sev-snp/cases/routex-genoa-v2/report.bin'))
    assert.equal(report.product, null)
    store.writeChain('Milan', 'vcek', [new Uint8Array([0x30, 0x00])])
    store.writeChain('Genoa', 'vcek', [new Uint8Array([0x30, 0x01])])
    assert.equal(store.collateralFor(report).product, 'Milan', 'with no VCEK anywhere, the first chain')
    const der = new Uint8Array([0x30, 0x02])
    store.writeVcek('Genoa', kdsHwId(report.chipId, 'Genoa'), decodeTcb(report.reportedTcb, 'Genoa'), der)
    const found = store.collateralFor(report)
    assert.equal(found.product, 'Genoa')
    assert.deepEqual(found.vek, der)
    assert.equal(found.crls, undefined)
    assert.equal(found.paths.chain, store.chainPath('Genoa', 'vcek'))
    assert.equal(store.collateralFor(report, { product: 'Milan' }).vek, undefined)
  })

  test('a VLEK report gets its ASVK chain and CRL, never a VEK', () => {
    const store = tempStore()
    const report = parseAttestationReport(fixtureBytes('sev-snp/cases/trustee-test-vlek-report/report.bin'))
    assert.deepEqual(store.collateralFor(report), { paths: {} })
    store.writeChain('Milan', 'vlek', [new Uint8Array([0x30, 0x00])])
    store.writeCrl('Milan', 'vlek', new Uint8Array([0x30, 0x03]))
    store.writeChain('Milan', 'vcek', [new Uint8Array([0x30, 0x01])])
    const found = store.collateralFor(report)
    assert.equal(found.vek, undefined)
    assert.equal(found.paths.chain, store.chainPath('Milan', 'vlek'))
    assert.deepEqual(found.crls, [new Uint8Array([0x30, 0x03])])
  })
})
