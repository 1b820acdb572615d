import 'reflect-metadata'
import { test } from 'node:test'
import { describe } from '../../../../test/helpers/suites.js'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { constants, createHash, createPublicKey, verify, X509Certificate } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate, CertificateList } from '@peculiar/asn1-x509'
import * as x509 from '@peculiar/x509'
import { AMD_OID, type Product } from '@vouch/protocol'
import {
  deriveEcPrivateKey,
  issueArk,
  issueCrl,
  issueIntermediate,
  issueVek,
  simulatedAmdRoots,
  type IssuedCertificate,
} from '@vouch/enclave/simulated'

const PRODUCTS: Product[] = ['Milan', 'Genoa', 'Turin']
const REPO_ROOT = resolve(fileURLToPath(new URL('../../../..', import.meta.url)))
const FIXTURES_DIR = process.env['VOUCH_FIXTURES_DIR'] ?? resolve(REPO_ROOT, '../shared/fixtures')
const SEV_FIXTURES = join(FIXTURES_DIR, 'sev-snp')
const fixturesMissing = existsSync(SEV_FIXTURES)
  ? false
  : `real evidence not found at ${SEV_FIXTURES} (../shared/fixtures beside the repository); set VOUCH_FIXTURES_DIR to run these tests`

function realDer(...parts: string[]): Uint8Array {
  const bytes = readFileSync(join(SEV_FIXTURES, ...parts))
  return new Uint8Array(parts.at(-1)!.endsWith('.pem') ? new X509Certificate(bytes).raw : bytes)
}

const hex = (b: ArrayBuffer | Uint8Array): string => Buffer.from(b instanceof Uint8Array ? b : new Uint8Array(b)).toString('hex')
const der = (value: unknown): string => hex(AsnConvert.serialize(value))

// SKI and AKI hold key hashes; hwID is per chip: only their lengths are compared.
const KEY_DEPENDENT = ['2.5.29.14', '2.5.29.35', AMD_OID.hwId]

/** The parts of a certificate that must match AMD's byte for byte, with key-dependent values left out. */
function shape(bytes: Uint8Array) {
  const cert = AsnConvert.parse(bytes, Certificate)
  const tbs = cert.tbsCertificate
  return {
    outerAlgorithm: der(cert.signatureAlgorithm),
    tbsAlgorithm: der(tbs.signature),
    serial: hex(tbs.serialNumber),
    issuer: der(tbs.issuer),
    subject: der(tbs.subject),
    validityYears: tbs.validity.notAfter.getTime().getUTCFullYear() - tbs.validity.notBefore.getTime().getUTCFullYear(),
    timeTypes: [tbs.validity.notBefore.utcTime ? 'utc' : 'gen', tbs.validity.notAfter.utcTime ? 'utc' : 'gen'],
    spkiAlgorithm: der(tbs.subjectPublicKeyInfo.algorithm),
    spkiBits: tbs.subjectPublicKeyInfo.subjectPublicKey.byteLength,
    extensions: (tbs.extensions ?? []).map((e) => ({
      oid: e.extnID,
      critical: e.critical,
      value: KEY_DEPENDENT.includes(e.extnID) ? `<${e.extnValue.byteLength} bytes>` : hex(e.extnValue.buffer),
    })),
  }
}

/** The raw TBS and the signature of a signed SEQUENCE { tbs, algorithm, BIT STRING }, without re-encoding. */
function splitSigned(bytes: Uint8Array): { tbs: Uint8Array; signature: Uint8Array } {
  const header = (offset: number): { start: number; end: number } => {
    const first = bytes[offset + 1]!
    const lengthBytes = first & 0x80 ? first & 0x7f : 0
    let length = lengthBytes === 0 ? first : 0
    for (let i = 0; i < lengthBytes; i++) length = length * 256 + bytes[offset + 2 + i]!
    const start = offset + 2 + lengthBytes
    return { start, end: start + length }
  }
  const outer = header(0)
  const tbsEnd = header(outer.start).end
  const algorithmEnd = header(tbsEnd).end
  const sig = header(algorithmEnd)
  return { tbs: bytes.subarray(outer.start, tbsEnd), signature: bytes.subarray(sig.start + 1, sig.end) }
}

function extensionValue(bytes: Uint8Array, oid: string): Uint8Array | undefined {
  const ext = AsnConvert.parse(bytes, Certificate).tbsCertificate.extensions?.find((e) => e.extnID === oid)
  return ext === undefined ? undefined : new Uint8Array(ext.extnValue.buffer)
}

function verifiesUnder(child: IssuedCertificate | Uint8Array, issuer: IssuedCertificate | Uint8Array): boolean {
  const c = new X509Certificate(child instanceof Uint8Array ? child : child.der)
  const i = new X509Certificate(issuer instanceof Uint8Array ? issuer : issuer.der)
  return c.checkIssued(i) && c.verify(i.publicKey)
}

describe('simulated AMD chain', () => {
  for (const product of PRODUCTS) {
    test(`${product}: ARK → ASK → VCEK and ARK → ASVK → VLEK verify with node:crypto`, () => {
      const vcekRoots = simulatedAmdRoots(product, 'VCEK')
      const vlekRoots = simulatedAmdRoots(product, 'VLEK')
      assert.deepEqual(vlekRoots.ark.der, vcekRoots.ark.der, 'one ARK per product')
      assert.ok(verifiesUnder(vcekRoots.ark, vcekRoots.ark), 'ARK self-signed')
      assert.ok(verifiesUnder(vcekRoots.intermediate, vcekRoots.ark), 'ASK under ARK')
      assert.ok(verifiesUnder(vlekRoots.intermediate, vlekRoots.ark), 'ASVK under ARK')
      const tcb = { bootloader: 1, tee: 2, snp: 3, microcode: 4, fmc: 5 }
      const hwId = new Uint8Array(product === 'Turin' ? 8 : 64).fill(9)
      const vcek = issueVek({ product, issuer: vcekRoots.intermediate, tcb, hwId })
      const vlek = issueVek({ product, kind: 'VLEK', issuer: vlekRoots.intermediate, tcb, cspId: 'CN=test' })
      assert.ok(verifiesUnder(vcek, vcekRoots.intermediate), 'VCEK under ASK')
      assert.ok(verifiesUnder(vlek, vlekRoots.intermediate), 'VLEK under ASVK')
      assert.ok(!verifiesUnder(vcek, vlekRoots.intermediate), 'VCEK not under ASVK')
      assert.equal(new X509Certificate(vcek.der).publicKey.asymmetricKeyDetails?.namedCurve, 'secp384r1')
    })
  }

  test('@peculiar/x509 (the verifier stack) parses and verifies the chain, PSS parameters included', async () => {
    const { ark, intermediate } = simulatedAmdRoots('Genoa')
    const tcb = { bootloader: 1, tee: 0, snp: 2, microcode: 3 }
    const vcek = issueVek({ product: 'Genoa', issuer: intermediate, tcb, hwId: new Uint8Array(64) })
    const [a, i, v] = [ark.der, intermediate.der, vcek.der].map((d) => new x509.X509Certificate(d))
    assert.equal(a!.subject, 'OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=ARK-Genoa')
    assert.equal(v!.serialNumber, '00')
    assert.deepEqual(v!.signatureAlgorithm, { name: 'RSA-PSS', hash: { name: 'SHA-384' }, saltLength: 48 })
    assert.ok(await a!.verify({ signatureOnly: true }))
    assert.ok(await i!.verify({ publicKey: a!, signatureOnly: true }))
    assert.ok(await v!.verify({ publicKey: i!, signatureOnly: true }))
    assert.equal(new Uint8Array(v!.getExtension(AMD_OID.hwId)!.value).length, 64)
  })
})

describe('fidelity to AMD certificates', { skip: fixturesMissing }, () => {
  for (const product of PRODUCTS) {
    const dir = product.toLowerCase()
    for (const [kind, file] of [['ASK', 'ask.pem'], ['ASVK', 'asvk.pem']] as const) {
      test(`${product}: ARK and ${kind} match AMD's structure byte for byte (keys and dates aside)`, () => {
        const { ark, intermediate } = simulatedAmdRoots(product, kind === 'ASK' ? 'VCEK' : 'VLEK')
        assert.deepEqual(shape(ark.der), shape(realDer('roots', dir, 'ark.pem')))
        assert.deepEqual(shape(intermediate.der), shape(realDer('roots', dir, file)))
      })
    }
  }

  const leaves: Array<[string, Product, 'VCEK' | 'VLEK']> = [
    ['teekit-sev-gcp', 'Milan', 'VCEK'],
    ['routex-genoa-v5', 'Genoa', 'VCEK'],
    ['oak-turin_oc', 'Turin', 'VCEK'],
    ['trustee-test-vlek-report', 'Milan', 'VLEK'],
  ]
  for (const [name, product, kind] of leaves) {
    test(`${product} ${kind} matches AMD's KDS ${kind} from ${name}`, () => {
      const real = realDer('cases', name, 'vek.der')
      const realShape = shape(real)
      const splValue = (oid: string): number => {
        const v = extensionValue(real, oid)
        return v === undefined ? 0 : Number(BigInt('0x' + hex(v.subarray(2))))
      }
      const tcb = {
        bootloader: splValue(AMD_OID.blSpl),
        tee: splValue(AMD_OID.teeSpl),
        snp: splValue(AMD_OID.snpSpl),
        microcode: splValue(AMD_OID.ucodeSpl),
        ...(product === 'Turin' ? { fmc: splValue(AMD_OID.fmcSpl) } : {}),
      }
      const issuer = simulatedAmdRoots(product, kind).intermediate
      const cspId = kind === 'VLEK' ? Buffer.from(extensionValue(real, AMD_OID.cspId)!.subarray(2)).toString('ascii') : undefined
      const ours = issueVek({
        product,
        kind,
        issuer,
        tcb,
        ...(kind === 'VCEK' ? { hwId: extensionValue(real, AMD_OID.hwId)! } : { cspId: cspId! }),
        notBefore: new Date('2025-01-01T00:00:00Z'),
        ...(kind === 'VLEK' ? { notAfter: new Date('2026-01-01T00:00:00Z') } : {}),
      })
      assert.deepEqual(shape(ours.der), realShape)
      if (kind === 'VCEK') assert.deepEqual(extensionValue(ours.der, AMD_OID.hwId), extensionValue(real, AMD_OID.hwId))
    })
  }
})

describe('issueCrl', () => {
  test('is signed by the ARK like AMD (RSASSA-PSS, SHA-384, salt 48) and lists the revoked serials', async () => {
    const { ark } = simulatedAmdRoots('Genoa')
    const thisUpdate = new Date('2026-11-01T00:00:00Z')
    const revoked = [{ serial: 0x020001n, date: new Date('2022-10-31T12:00:00Z') }]
    const crl = issueCrl({ issuer: ark, thisUpdate, revoked, crlNumber: 10n })
    const { tbs, signature } = splitSigned(crl)
    const arkKey = new X509Certificate(ark.der).publicKey
    assert.equal(verify('sha384', tbs, { key: arkKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 }, signature), true)

    const parsed = new x509.X509Crl(crl)
    assert.ok(await parsed.verify({ publicKey: new x509.X509Certificate(ark.der) }))
    assert.equal(parsed.issuer, 'OU=Engineering, C=US, L=Santa Clara, ST=CA, O=Advanced Micro Devices, CN=ARK-Genoa')
    assert.deepEqual(parsed.thisUpdate, thisUpdate)
    assert.deepEqual(parsed.nextUpdate, new Date('2026-12-01T00:00:00Z'))
    assert.deepEqual(
      parsed.entries.map((e) => [e.serialNumber, e.revocationDate.toISOString()]),
      [['020001', '2022-10-31T12:00:00.000Z']],
    )
    assert.deepEqual(parsed.extensions.map((e) => e.type), ['2.5.29.35', '2.5.29.20'])
  })

  test('matches the structure of a real AMD CRL', { skip: fixturesMissing }, () => {
    const real = AsnConvert.parse(readFileSync(join(SEV_FIXTURES, 'roots/crl/genoa_vcek_crl_2026-08-19_n10.der')), CertificateList)
    const ours = AsnConvert.parse(
      issueCrl({ issuer: simulatedAmdRoots('Genoa').ark, revoked: [{ serial: 0x020001n }], crlNumber: 10n }),
      CertificateList,
    )
    for (const list of [real, ours]) assert.equal(list.tbsCertList.version, 1)
    assert.equal(der(ours.signatureAlgorithm), der(real.signatureAlgorithm))
    assert.equal(der(ours.tbsCertList.signature), der(real.tbsCertList.signature))
    assert.equal(der(ours.tbsCertList.issuer), der(real.tbsCertList.issuer))
    const entries = (l: CertificateList) =>
      l.tbsCertList.revokedCertificates?.map((r) => [hex(r.userCertificate), r.crlEntryExtensions])
    assert.deepEqual(entries(ours), entries(real))
    const exts = (l: CertificateList) =>
      l.tbsCertList.crlExtensions?.map((e) => [
        e.extnID,
        e.critical,
        e.extnID === '2.5.29.35' ? e.extnValue.byteLength : hex(e.extnValue.buffer),
      ])
    assert.deepEqual(exts(ours), exts(real))
  })

  test('omits revokedCertificates when nothing is revoked, and nextUpdate when asked', () => {
    const crl = AsnConvert.parse(issueCrl({ issuer: simulatedAmdRoots('Turin').ark, nextUpdate: null }), CertificateList)
    assert.equal(crl.tbsCertList.revokedCertificates, undefined)
    assert.equal(crl.tbsCertList.nextUpdate, undefined)
  })
})

describe('forging bad chains', () => {
  const tcb = { bootloader: 1, tee: 0, snp: 2, microcode: 3 }

  test('extensions can be dropped, altered or added', () => {
    const { intermediate } = simulatedAmdRoots('Genoa')
    const vcek = issueVek({
      product: 'Genoa',
      issuer: intermediate,
      tcb,
      hwId: new Uint8Array(64),
      extensions: (defaults) => [
        ...defaults.filter((e) => e.oid !== AMD_OID.hwId),
        { oid: AMD_OID.cspId, critical: true, value: Uint8Array.of(0x16, 1, 0x41) },
      ],
    })
    assert.equal(extensionValue(vcek.der, AMD_OID.hwId), undefined)
    assert.deepEqual(extensionValue(vcek.der, AMD_OID.cspId), Uint8Array.of(0x16, 1, 0x41))
    assert.ok(verifiesUnder(vcek, intermediate))
  })

  test('hwID can carry a DER OCTET STRING wrapper, as some tools write it', () => {
    const hwId = new Uint8Array(64).fill(0xab)
    const issuer = simulatedAmdRoots('Milan').intermediate
    const vcek = issueVek({ product: 'Milan', issuer, tcb, hwId, hwIdEncoding: 'octet-string' })
    assert.deepEqual(extensionValue(vcek.der, AMD_OID.hwId), Uint8Array.of(0x04, 64, ...hwId))
  })

  test('other signature algorithms, serials, names, validity and keys', () => {
    const ark = issueArk({
      product: 'Milan',
      signatureAlgorithm: 'rsa-pkcs1-sha384',
      serial: 0x1234n,
      notBefore: new Date('2030-01-01T00:00:00Z'),
      notAfter: new Date('2060-01-01T00:00:00Z'),
      subject: { O: 'Not AMD' },
    })
    const cert = new X509Certificate(ark.der)
    assert.ok(cert.verify(cert.publicKey))
    assert.equal(cert.serialNumber, '1234')
    assert.match(cert.subject, /O=Not AMD/)
    assert.equal(cert.validTo, 'Jan  1 00:00:00 2060 GMT')
    assert.equal(AsnConvert.parse(ark.der, Certificate).signatureAlgorithm.algorithm, '1.2.840.113549.1.1.12')

    // an ASK holding an EC key, signing the VCEK with ECDSA
    const ask = issueIntermediate({
      product: 'Milan',
      kind: 'ASK',
      issuer: ark,
      key: deriveEcPrivateKey('test', 'ec-ask'),
      signatureAlgorithm: 'rsa-pss-sha256',
    })
    assert.ok(verifiesUnder(ask, ark))
    const vcek = issueVek({ product: 'Milan', issuer: ask, tcb, hwId: new Uint8Array(64), signatureAlgorithm: 'ecdsa-sha384' })
    assert.ok(verifiesUnder(vcek, ask))
    assert.equal(new X509Certificate(ask.der).publicKey.asymmetricKeyType, 'ec')
  })

  test('an issuer without subjectKeyIdentifier gets an AKI computed from its key (RFC 5280 method 1)', () => {
    const ark = issueArk({ product: 'Genoa', extensions: (defaults) => defaults.filter((e) => e.oid !== '2.5.29.14') })
    assert.equal(extensionValue(ark.der, '2.5.29.14'), undefined)
    const ask = issueIntermediate({ product: 'Genoa', kind: 'ASK', issuer: ark })
    const bits = AsnConvert.parse(ark.der, Certificate).tbsCertificate.subjectPublicKeyInfo.subjectPublicKey
    const keyId = createHash('sha1').update(new Uint8Array(bits)).digest('hex')
    assert.equal(hex(extensionValue(ask.der, '2.5.29.35')!), '30168014' + keyId)
    assert.ok(verifiesUnder(ask, ark))
  })

  test('a VCEK needs hwId and a VLEK needs cspId', () => {
    const { intermediate } = simulatedAmdRoots('Genoa')
    assert.throws(() => issueVek({ product: 'Genoa', issuer: intermediate, tcb }), TypeError)
    assert.throws(() => issueVek({ product: 'Genoa', kind: 'VLEK', issuer: intermediate, tcb }), TypeError)
    assert.throws(() => issueVek({ product: 'Genoa', kind: 'VLEK', issuer: intermediate, tcb, cspId: 'é' }), RangeError)
    assert.throws(() => issueVek({ product: 'Genoa', issuer: intermediate, tcb, hwId: new Uint8Array(64), serial: -1n }), RangeError)
  })

  test('the issuer key must be private', () => {
    const { ark } = simulatedAmdRoots('Genoa')
    assert.throws(
      () => issueIntermediate({ product: 'Genoa', kind: 'ASK', issuer: { der: ark.der, key: createPublicKey(ark.key) } }),
      TypeError,
    )
  })
})

describe('openssl cross-check', () => {
  const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' })
  const skip = openssl.status === 0 ? false : 'the openssl command is not available'

  test('openssl verify accepts both chains and the CRL', { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-amd-ca-'))
    try {
      const pem = (bytes: Uint8Array): string => new X509Certificate(bytes).toString()
      const at = String(Math.floor(new Date('2026-11-25T00:00:00Z').getTime() / 1000))
      for (const kind of ['VCEK', 'VLEK'] as const) {
        const { ark, intermediate } = simulatedAmdRoots('Turin', kind)
        const tcb = { fmc: 1, bootloader: 1, tee: 1, snp: 4, microcode: 82 }
        const leaf = issueVek({ product: 'Turin', kind, issuer: intermediate, tcb, hwId: new Uint8Array(8).fill(1), cspId: 'CN=test' })
        writeFileSync(join(dir, 'ark.pem'), pem(ark.der))
        writeFileSync(join(dir, 'int.pem'), pem(intermediate.der))
        writeFileSync(join(dir, 'leaf.pem'), pem(leaf.der))
        const args = ['verify', '-attime', at, '-CAfile', join(dir, 'ark.pem'), '-untrusted', join(dir, 'int.pem')]
        const result = spawnSync('openssl', [...args, join(dir, 'leaf.pem')], { encoding: 'utf8' })
        assert.equal(result.status, 0, `${kind}: ${result.stdout}${result.stderr}`)
      }
      writeFileSync(join(dir, 'crl.der'), issueCrl({ issuer: simulatedAmdRoots('Turin').ark }))
      const args = ['crl', '-inform', 'DER', '-in', join(dir, 'crl.der'), '-noout', '-CAfile', join(dir, 'ark.pem')]
      const crl = spawnSync('openssl', args, { encoding: 'utf8' })
      assert.equal(crl.status, 0, crl.stderr)
      assert.match(crl.stderr + crl.stdout, /verify OK/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
