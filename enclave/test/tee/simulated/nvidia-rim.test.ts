import { test } from 'node:test'
import { describe } from '../../../../test/helpers/suites.js'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, createPublicKey, sign, verify, X509Certificate, type BinaryLike, type KeyLike } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { C14nCanonicalization, SignedXml } from 'xml-crypto'
import { type GpuArch } from '@vouch/enclave'
import { composeRim, RIM_ALGORITHM, signRim, simulatedNvidiaRoots, type RimMeasurement } from '@vouch/enclave/simulated'
import { fixturesMissing, NVIDIA_FIXTURES, rimCertificates, rimSignedParts, rimSkeleton } from './nvidia-helpers.js'

const measurements = (active: readonly number[]): RimMeasurement[] =>
  Array.from({ length: 64 }, (_, index) => ({
    index,
    active: active.includes(index),
    values: active.includes(index)
      ? [createHash('sha384').update(`golden ${index}`).digest(), ...(index === 35 ? [new Uint8Array(48).fill(3)] : [])]
      : [new Uint8Array(48)],
  }))

function signedRim(arch: GpuArch, version = '580.159.03'): string {
  const { rimSigner, rimL3, rimCa, rimRoot } = simulatedNvidiaRoots(arch)
  const xml = composeRim({ chip: arch === 'HOPPER' ? 'GH100' : 'GB100', version, measurements: measurements([7, 21, 35]) })
  return signRim(xml, { key: rimSigner.key, chain: [rimSigner.der, rimL3.der, rimCa.der, rimRoot.der] })
}

/** Checks a RIM's signature with xml-crypto, its algorithms registered here independently of the writer. */
function xmlCryptoVerifies(xml: string, signerDer: Uint8Array): boolean {
  class C14n11 extends C14nCanonicalization {
    override getAlgorithmName(): string {
      return 'http://www.w3.org/2006/12/xml-c14n11'
    }
  }
  const sig = new SignedXml({ publicCert: new X509Certificate(signerDer).toString(), getCertFromKeyInfo: () => null })
  sig.CanonicalizationAlgorithms['http://www.w3.org/2006/12/xml-c14n11'] = C14n11
  sig.HashAlgorithms['http://www.w3.org/2001/04/xmldsig-more#sha384'] = class {
    getAlgorithmName = (): string => 'http://www.w3.org/2001/04/xmldsig-more#sha384'
    getHash = (text: string): string => createHash('sha384').update(text, 'utf8').digest('base64')
  }
  sig.SignatureAlgorithms['http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384'] = class {
    getAlgorithmName = (): string => 'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384'
    getSignature = (): string => {
      throw new Error('verification only')
    }
    verifySignature = (material: BinaryLike, key: KeyLike, value: string): boolean =>
      verify('sha384', Buffer.from(material as string), { key: createPublicKey(key), dsaEncoding: 'ieee-p1363' }, Buffer.from(value, 'base64'))
  } as unknown as (typeof sig.SignatureAlgorithms)[string]
  const signature = /<ds:Signature\b[\s\S]*<\/ds:Signature>/.exec(xml)![0]
  sig.loadSignature(signature)
  return sig.checkSignature(xml)
}

/** Recomputes digest and signature with node:crypto over an independent C14N of the document. */
function independentlyVerifies(xml: string): { digest: boolean; signature: boolean } {
  const parts = rimSignedParts(xml)
  const signer = new X509Certificate(rimCertificates(xml)[0]!)
  return {
    digest: createHash('sha384').update(parts.document, 'utf8').digest('base64') === parts.digestValue,
    signature: verify('sha384', Buffer.from(parts.signedInfo, 'utf8'), { key: signer.publicKey, dsaEncoding: 'ieee-p1363' }, parts.signatureValue),
  }
}

describe('simulated RIMs', () => {
  for (const arch of ['HOPPER', 'BLACKWELL'] as const) {
    test(`${arch}: the signature verifies with xml-crypto and with an independent C14N and node:crypto`, () => {
      const xml = signedRim(arch)
      const [signer] = rimCertificates(xml)
      assert.ok(xmlCryptoVerifies(xml, signer!))
      assert.deepEqual(independentlyVerifies(xml), { digest: true, signature: true })
    })
  }

  test('KeyInfo carries the L4 signer, L3, CA and root, and SignatureValue is a raw 96-byte r‖s', () => {
    const xml = signedRim('HOPPER')
    const roots = simulatedNvidiaRoots('HOPPER')
    assert.deepEqual(rimCertificates(xml), [roots.rimSigner.der, roots.rimL3.der, roots.rimCa.der, roots.rimRoot.der])
    assert.equal(rimSignedParts(xml).signatureValue.length, 96)
    // Base64 in 64-character lines, each certificate ending in a newline, as NVIDIA's.
    for (const m of xml.matchAll(/<ds:X509Certificate>([\s\S]*?)<\/ds:X509Certificate>/g)) {
      assert.match(m[1]!, /^([A-Za-z0-9+/]{64}\n)*[A-Za-z0-9+/=]{1,64}\n$/)
    }
  })

  test('the document keeps its composed bytes; the signature is its last child', () => {
    const { rimSigner } = simulatedNvidiaRoots('HOPPER')
    const unsigned = composeRim({ chip: 'GH100', version: '1.2.3', measurements: measurements([7]) })
    const signed = signRim(unsigned, { key: rimSigner.key, chain: [rimSigner.der] })
    const start = signed.indexOf('<ds:Signature')
    const end = signed.indexOf('</ds:Signature>') + '</ds:Signature>'.length
    assert.equal(signed.slice(0, start) + signed.slice(end), unsigned)
    assert.ok(signed.slice(start - 20, start).endsWith('</ns0:Payload>\n'))
    assert.ok(signed.slice(end).startsWith('</SoftwareIdentity>\n'))
  })

  test('tampering breaks the digest; another key breaks the signature', () => {
    const xml = signedRim('HOPPER')
    const [signer] = rimCertificates(xml)
    const tampered = xml.replace(/(index="7" active="True" alternatives="1" ns2:Hash0=")(.)/, (_, head: string, c: string) => head + (c === '0' ? '1' : '0'))
    assert.notEqual(tampered, xml)
    assert.equal(independentlyVerifies(tampered).digest, false)
    assert.equal(xmlCryptoVerifies(tampered, signer!), false)

    const { rimSigner } = simulatedNvidiaRoots('BLACKWELL')
    const wrongKey = signRim(composeRim({ chip: 'GH100', version: '1', measurements: measurements([7]) }), {
      key: rimSigner.key,
      chain: [simulatedNvidiaRoots('HOPPER').rimSigner.der],
    })
    assert.deepEqual(independentlyVerifies(wrongKey), { digest: true, signature: false })
  })

  test('composeRim writes NVIDIA’s attributes and refuses malformed values', () => {
    const xml = composeRim({ chip: 'GB100', version: '97.00.88.00.0F', tagId: 'ab'.repeat(48), measurements: measurements([35]) })
    assert.match(xml, /<SoftwareIdentity [^>]*name="GB100"[^>]*tagId="(ab){48}" version="1.0" tagVersion="0">/)
    assert.match(xml, /colloquialVersion="97.00.88.00.0F" edition="GPU" product="GB100"/)
    assert.match(xml, /ns1:PlatformManufacturerId="5703"[^>]*ns1:PlatformModel="GB100"[^>]*ns1:FirmwareManufacturerId="5703"/)
    assert.match(xml, /index="35" active="True" alternatives="2" ns2:Hash0="[0-9a-f]{96}" ns2:Hash1="(03){48}" name="Measurement_35" size="48"/)
    assert.equal(xml.match(/<ns0:Resource /g)!.length, 64)
    assert.throws(() => composeRim({ chip: 'GH100', version: '1', measurements: [{ index: 0, active: true, values: [] }] }), RangeError)
    assert.throws(() => composeRim({ chip: 'GH100', version: '1', measurements: [{ index: 0, active: true, values: [new Uint8Array(32)] }] }), RangeError)
    assert.equal(RIM_ALGORITHM.c14n11, 'http://www.w3.org/2006/12/xml-c14n11')
  })

  const xmlsec = spawnSync('xmlsec1', ['--version'], { encoding: 'utf8' })
  const xmlsecMissing = xmlsec.status === 0 ? false : 'xmlsec1 is not installed (the independent C14N above stands in for it)'
  test('xmlsec1 (libxmlsec, which NVIDIA’s C++ verifier uses) verifies simulated RIMs under the simulated root only', { skip: xmlsecMissing }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'vouch-rim-'))
    try {
      const run = (xml: string, rootDer: Uint8Array): number => {
        writeFileSync(join(dir, 'rim.xml'), xml)
        writeFileSync(join(dir, 'root.pem'), new X509Certificate(rootDer).toString())
        return spawnSync('xmlsec1', ['--verify', '--trusted-pem', 'root.pem', 'rim.xml'], { cwd: dir, encoding: 'utf8' }).status ?? -1
      }
      for (const arch of ['HOPPER', 'BLACKWELL'] as const) {
        const xml = signedRim(arch)
        const root = simulatedNvidiaRoots(arch).rimRoot.der
        assert.equal(run(xml, root), 0, `${arch} RIM under the simulated root`)
        assert.notEqual(run(xml.replace('index="7" active="True"', 'index="7" active="False"'), root), 0, 'tampered')
      }
      if (fixturesMissing === false) {
        const nvidiaRoot = readFileSync(join(NVIDIA_FIXTURES, 'roots', 'nvidia-corim-signing-root-ca.pem'))
        assert.notEqual(run(signedRim('HOPPER'), new Uint8Array(new X509Certificate(nvidiaRoot).raw)), 0, 'under NVIDIA’s root')
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('simulated RIMs against NVIDIA’s', { skip: fixturesMissing }, () => {
  const real = (...path: string[]): string => readFileSync(join(NVIDIA_FIXTURES, ...path), 'utf8')
  const driver = real('rims', 'NV_GPU_DRIVER_GH100_550.144.03.xml')
  const vbios = real('cases', 'hopper-h100-545.00-with-rims', '1010_0200_882_96005E0001_test_no_gpu.swidtag')

  test('the independent C14N reproduces NVIDIA’s digests and signatures, so it checks ours faithfully', () => {
    for (const xml of [driver, vbios, real('cases', 'hopper-h100-545.00-with-rims', 'Driver_RIM_test_no_gpu.swidtag')]) {
      assert.deepEqual(independentlyVerifies(xml), { digest: true, signature: true })
      assert.ok(xmlCryptoVerifies(xml, rimCertificates(xml)[0]!))
    }
    assert.deepEqual(independentlyVerifies(real('rims', 'negative-bad-signature-driver-rim.xml')), { digest: true, signature: false })
  })

  test('a simulated RIM has NVIDIA’s layout: the same elements, attributes, order, indentation and signature', () => {
    const simulated = signedRim('HOPPER')
    assert.equal(rimSkeleton(simulated), rimSkeleton(driver))
    assert.equal(rimSkeleton(simulated), rimSkeleton(vbios))
    // The SignedInfo algorithms are NVIDIA's, verbatim.
    const signedInfo = (xml: string): string => /<ds:SignedInfo>[\s\S]*?<ds:DigestValue>/.exec(xml)![0]
    assert.equal(signedInfo(simulated), signedInfo(driver))
    // The fixed attribute values are NVIDIA's too: everything but tagId, versions and hashes.
    const header = (xml: string): string =>
      xml.slice(0, xml.indexOf('<ns0:Resource')).replace(/tagId="[0-9a-f]+"/, '').replace(/colloquialVersion="[^"]*"/, '')
    assert.equal(header(simulated), header(driver))
  })

  test('ECDSA signing of SignedInfo is r‖s like NVIDIA’s (96 bytes, not DER)', () => {
    assert.equal(rimSignedParts(driver).signatureValue.length, 96)
    const { rimSigner } = simulatedNvidiaRoots('HOPPER')
    const der = sign('sha384', Buffer.from('x'), rimSigner.key)
    assert.notEqual(der.length, 96)
  })
})
