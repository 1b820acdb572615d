/**
 * The strict DER X.509 decoder against two independent parsers (node:crypto's OpenSSL and
 * @peculiar/x509) on every real certificate and CRL in the fixtures, then its rejections.
 */
import 'reflect-metadata'
import assert from 'node:assert/strict'
import { X509Certificate as NodeCertificate } from 'node:crypto'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import * as x509 from '@peculiar/x509'
import { parseCertificate } from '../../src/x509/certificate.js'
import { parseCrl } from '../../src/x509/crl.js'
import { pemToDer } from '@vouch/protocol'
import { FIXTURES_DIR, fixtureBytes, fixturesMissing, fixtureText } from '../helpers/fixtures.js'

const skip = fixturesMissing('sev-snp') || fixturesMissing('nvidia-gpu')

function realCertificates(): Array<{ name: string; der: Uint8Array }> {
  const out: Array<{ name: string; der: Uint8Array }> = []
  for (const product of ['milan', 'genoa', 'turin']) {
    for (const role of ['ark', 'ask', 'asvk']) out.push({ name: `${product}/${role}`, der: pemToDer(fixtureText('sev-snp/roots', product, `${role}.pem`))[0]! })
  }
  for (const c of readdirSync(join(FIXTURES_DIR, 'sev-snp/cases'))) {
    try {
      out.push({ name: `${c}/vek`, der: fixtureBytes('sev-snp/cases', c, 'vek.der') })
    } catch {
      // parse-only case without a VEK
    }
  }
  for (const c of readdirSync(join(FIXTURES_DIR, 'nvidia-gpu/cases'))) {
    pemToDer(fixtureText('nvidia-gpu/cases', c, 'chain.pem')).forEach((der, i) => out.push({ name: `${c}/chain[${i}]`, der }))
  }
  for (const f of readdirSync(join(FIXTURES_DIR, 'nvidia-gpu/roots'))) out.push({ name: f, der: pemToDer(fixtureText('nvidia-gpu/roots', f))[0]! })
  return out
}

describe('certificates decode as OpenSSL and @peculiar/x509 read them', { skip }, () => {
  for (const { name, der } of skip ? [] : realCertificates()) {
    test(name, () => {
      const ours = parseCertificate(der, name)
      const node = new NodeCertificate(der)
      const peculiar = new x509.X509Certificate(der)
      assert.equal(ours.serialNumber, BigInt(`0x${node.serialNumber}`).toString(16).padStart(ours.serialNumber.length, '0'))
      // @peculiar/x509 prints the serialNumber attribute by its OID; we name it.
      const named = (dn: string): string => dn.replaceAll('2.5.4.5=', 'serialNumber=')
      assert.equal(ours.subject, named(peculiar.subject))
      assert.equal(ours.issuer, named(peculiar.issuer))
      assert.equal(ours.notBefore.getTime(), new Date(node.validFrom).getTime())
      assert.equal(ours.notAfter.getTime(), new Date(node.validTo).getTime())
      assert.equal(ours.isCa, node.ca ? true : (peculiar.getExtension(x509.BasicConstraintsExtension)?.ca ?? null) === null ? null : false)
      assert.deepEqual(Buffer.from(ours.spki), node.publicKey.export({ type: 'spki', format: 'der' }))
      // The key type and size read from the SPKI (what key requirements check, in Node and in a browser) are Node's.
      const details = node.publicKey.asymmetricKeyDetails!
      const curves: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384' }
      assert.deepEqual(ours.publicKey, node.publicKey.asymmetricKeyType === 'rsa' ? { type: 'rsa', bits: details.modulusLength } : { type: 'ec', curve: curves[details.namedCurve!] })
      assert.deepEqual([...ours.extensions.keys()].sort(), Array.from(peculiar.extensions, (e) => e.type).sort())
      const usage = peculiar.getExtension(x509.KeyUsagesExtension)
      if (usage) assert.equal(ours.keyUsage?.keyCertSign, (usage.usages & x509.KeyUsageFlags.keyCertSign) !== 0)
      const alg = peculiar.signatureAlgorithm as { name: string; hash?: { name: string }; saltLength?: number }
      if (ours.signatureAlgorithm.kind === 'rsa-pss') {
        assert.equal(alg.name, 'RSA-PSS')
        assert.equal(ours.signatureAlgorithm.saltLength, alg.saltLength)
      } else assert.equal(ours.signatureAlgorithm.kind, 'ecdsa')
    })
  }
})

describe('CRLs decode as @peculiar/x509 reads them', { skip }, () => {
  for (const f of skip ? [] : readdirSync(join(FIXTURES_DIR, 'sev-snp/roots/crl'))) {
    test(f, () => {
      const der = fixtureBytes('sev-snp/roots/crl', f)
      const ours = parseCrl(der)
      const peculiar = new x509.X509Crl(der)
      assert.equal(ours.issuer, peculiar.issuer)
      assert.equal(ours.thisUpdate.getTime(), peculiar.thisUpdate.getTime())
      assert.equal(ours.nextUpdate?.getTime(), peculiar.nextUpdate?.getTime())
      assert.deepEqual([...ours.revoked.keys()], Array.from(peculiar.entries, (e) => e.serialNumber.replace(/^(00)+(?=.)/, '').toLowerCase()))
    })
  }
})

describe('strict DER', { skip }, () => {
  const ark = (): Uint8Array => Uint8Array.from(pemToDer(fixtureText('sev-snp/roots/milan/ark.pem'))[0]!)
  const rejects = (der: Uint8Array, pattern: RegExp): void => {
    assert.throws(() => parseCertificate(der), (e: { code?: string; message: string }) => e.code === 'ERR_CERT_MALFORMED' && pattern.test(e.message))
  }
  test('trailing bytes after the certificate', () => rejects(Uint8Array.from([...ark(), 0]), /trailing|runs past|single|element/))
  test('a truncated certificate', () => rejects(ark().subarray(0, 500), /truncated|runs past/))
  test('a non-minimal length', () => {
    // Re-encode the outer SEQUENCE length with one more length octet than needed.
    const der = ark()
    const count = der[1]! & 0x7f
    const longer = Uint8Array.from([0x30, 0x80 | (count + 1), 0, ...der.subarray(2)])
    rejects(longer, /non-minimal/)
  })
  test('a signature algorithm that differs inside and outside the signed part', () => {
    const der = pemToDer(fixtureText('nvidia-gpu/cases/hopper-h100-580.159.03/chain.pem'))[0]!
    const copy = Uint8Array.from(der)
    // ecdsa-with-SHA384 (…04 03 03) → ecdsa-with-SHA256 (…04 03 02) in the outer AlgorithmIdentifier only.
    const outer = Buffer.from(copy).lastIndexOf(Buffer.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03]))
    copy[outer + 7] = 0x02
    rejects(copy, /differ/)
  })
  test('not a certificate at all', () => rejects(new Uint8Array([0x04, 0x01, 0x00]), /expected tag/))
})
