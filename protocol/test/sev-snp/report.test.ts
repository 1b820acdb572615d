import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type {
  ProtocolError} from '@vouch/protocol';
import {
  composeAttestationReport,
  decodeGuestPolicy,
  decodePlatformInfo,
  decodeTcb,
  encodeGuestPolicy,
  encodeTcb,
  fromHex,
  kdsCertChainUrl,
  kdsCrlUrl,
  kdsVcekUrl,
  parseAttestationReport,
  PRODUCT_CPUID,
  productFromCpuid,
  REPORT_SIZE,
  setReportSignature,
  toHex,
  type ReportFields,
} from '@vouch/protocol'

const fields = (): ReportFields => ({
  policy: encodeGuestPolicy({ abiMinor: 55, abiMajor: 1, smt: true, migrateMa: false, debug: false, singleSocket: false, cxlAllowed: false, memAes256Xts: false, raplDis: false, ciphertextHiding: false, pageSwapDisable: false }),
  vmpl: 0,
  currentTcb: encodeTcb({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 }, 'Turin'),
  signingKey: 'VCEK',
  reportData: new Uint8Array(64).fill(7),
  measurement: new Uint8Array(48).fill(8),
  reportId: new Uint8Array(32).fill(9),
  reportedTcb: encodeTcb({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 }, 'Turin'),
  cpuid: PRODUCT_CPUID.Turin,
  chipId: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  committedTcb: encodeTcb({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 }, 'Turin'),
  currentVersion: { major: 1, minor: 55, build: 40 },
  committedVersion: { major: 1, minor: 55, build: 40 },
  launchTcb: encodeTcb({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 }, 'Turin'),
  launchMitVector: 3n,
  currentMitVector: 0x3fn,
})

describe('ATTESTATION_REPORT compose and parse', () => {
  test('a composed v5 report parses back to the same fields', () => {
    const raw = composeAttestationReport(fields())
    setReportSignature(raw, new Uint8Array(96).map((_, i) => i + 1))
    const r = parseAttestationReport(raw)
    assert.equal(raw.length, REPORT_SIZE)
    assert.equal(r.version, 5)
    assert.equal(r.product, 'Turin')
    assert.deepEqual(r.cpuid, PRODUCT_CPUID.Turin)
    assert.equal(r.signingKey, 'VCEK')
    assert.deepEqual(decodeTcb(r.reportedTcb, 'Turin'), { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 })
    assert.equal(toHex(r.chipId), '0102030405060708' + '00'.repeat(56))
    assert.equal(r.launchMitVector, 3n)
    assert.equal(r.currentMitVector, 0x3fn)
    assert.deepEqual(r.currentVersion, { major: 1, minor: 55, build: 40 })
    assert.equal(toHex(r.reportIdMa), 'ff'.repeat(32))
    assert.deepEqual([...r.signature.r], Array.from({ length: 48 }, (_, i) => i + 1))
    assert.deepEqual([...r.signature.s], Array.from({ length: 48 }, (_, i) => i + 49))
    assert.equal(decodeGuestPolicy(r.policy).abiMinor, 55)
    assert.equal(decodeGuestPolicy(r.policy).smt, true)
  })

  test('the signature is stored little-endian', () => {
    const raw = composeAttestationReport(fields())
    const sig = new Uint8Array(96)
    sig[47] = 0xaa // least significant byte of R
    sig[0] = 0xbb // most significant byte of R
    setReportSignature(raw, sig)
    assert.equal(raw[0x2a0], 0xaa)
    assert.equal(raw[0x2a0 + 47], 0xbb)
  })

  test('oversized fields are refused', () => {
    assert.throws(() => composeAttestationReport({ ...fields(), reportData: new Uint8Array(65) }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
    assert.throws(() => setReportSignature(new Uint8Array(REPORT_SIZE), new Uint8Array(95)), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
    assert.throws(() => setReportSignature(new Uint8Array(10), new Uint8Array(96)), (e: ProtocolError) => e.code === 'ERR_REPORT_LENGTH')
  })
})

describe('TCB_VERSION layouts', () => {
  test('Milan and Genoa: bl tee 0 0 0 0 snp ucode', () => {
    const raw = fromHex('0300000000000873')
    assert.deepEqual(decodeTcb(raw, 'Milan'), { bootloader: 3, tee: 0, snp: 8, microcode: 115 })
    assert.equal(toHex(encodeTcb({ bootloader: 3, tee: 0, snp: 8, microcode: 115 }, 'Genoa')), '0300000000000873')
  })
  test('Turin: fmc bl tee snp 0 0 0 ucode (oak-turin_oc)', () => {
    const raw = fromHex('0001000200000047')
    assert.deepEqual(decodeTcb(raw, 'Turin'), { fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 })
    assert.equal(toHex(encodeTcb({ fmc: 1, bootloader: 1, tee: 1, snp: 4, microcode: 82 }, 'Turin')), '0101010400000052')
  })
  test('a TCB_VERSION must be 8 bytes', () => {
    assert.throws(() => decodeTcb(new Uint8Array(7), 'Milan'), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED')
  })
})

describe('product identification from CPUID', () => {
  const rows: Array<[number, number, string | null]> = [
    [0x19, 0x01, 'Milan'],
    [0x19, 0x11, 'Genoa'],
    [0x19, 0xa0, 'Genoa'],
    [0x1a, 0x02, 'Turin'],
    [0x19, 0x50, null],
    [0x1a, 0x20, null],
    [0x17, 0x31, null],
  ]
  for (const [family, model, want] of rows) {
    test(`family 0x${family.toString(16)} model 0x${model.toString(16)} → ${want ?? 'unknown'}`, () => {
      assert.equal(productFromCpuid({ family, model, stepping: 1 }), want)
    })
  }
})

describe('guest POLICY and PLATFORM_INFO', () => {
  test('the debug-enabled go-sev-guest policy 0xb0000', () => {
    const p = decodeGuestPolicy(0xb0000n)
    assert.equal(p.debug, true)
    assert.equal(p.smt, true)
    assert.equal(p.migrateMa, false)
    assert.equal(encodeGuestPolicy(p), 0xb0000n)
  })
  test('PLATFORM_INFO bits', () => {
    assert.deepEqual(decodePlatformInfo(0x25n), { smtEnabled: true, tsmeEnabled: false, eccEnabled: true, raplDisabled: false, ciphertextHidingEnabled: false, aliasCheckComplete: true })
  })
})

describe('KDS URLs', () => {
  test('Turin VCEK: 8-byte hwID and fmcSPL', () => {
    const chipId = fromHex('3b42092f69c656d3' + '00'.repeat(56))
    assert.equal(
      kdsVcekUrl('Turin', chipId, { fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 }),
      'https://kdsintf.amd.com/vcek/v1/Turin/3b42092f69c656d3?fmcSPL=0&blSPL=1&teeSPL=0&snpSPL=2&ucodeSPL=71',
    )
  })
  test('Milan VCEK: 64-byte hwID, no fmcSPL', () => {
    const url = kdsVcekUrl('Milan', new Uint8Array(64).fill(0xab), { bootloader: 3, tee: 0, snp: 8, microcode: 115 }, 'http://127.0.0.1:9/')
    assert.equal(url, `http://127.0.0.1:9/vcek/v1/Milan/${'ab'.repeat(64)}?blSPL=3&teeSPL=0&snpSPL=8&ucodeSPL=115`)
  })
  test('chains and CRLs per family', () => {
    assert.equal(kdsCertChainUrl('Genoa', 'vlek'), 'https://kdsintf.amd.com/vlek/v1/Genoa/cert_chain')
    assert.equal(kdsCrlUrl('Milan', 'vcek'), 'https://kdsintf.amd.com/vcek/v1/Milan/crl')
  })
})

describe('hex helpers', () => {
  test('fromHex checks characters and length', () => {
    assert.equal(toHex(fromHex('0xABcd')), 'abcd')
    assert.throws(() => fromHex('abc'), /not a hex string/)
    assert.throws(() => fromHex('zz'), /not a hex string/)
    assert.throws(() => fromHex('abcd', '--report-data', 64), /expected 64 bytes/)
  })
})
