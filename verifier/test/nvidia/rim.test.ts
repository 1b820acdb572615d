/**
 * NVIDIA RIMs: genuine ones verify while their chain is valid and are rejected as expired after;
 * NVIDIA's negative RIMs and every tampering are rejected, each with its own code.
 */
import assert from 'node:assert/strict'
import { createHash, X509Certificate } from 'node:crypto'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import {
  checkRim,
  CheckCollector,
  clearVerifierCaches,
  MAX_RIM_BYTES,
  NVIDIA_DEVICE_IDENTITY_CA,
  NVIDIA_RIM_ROOT_CA,
  parseRim,
  verifyRim,
  type Result,
  type RimClaims,
} from '@vouch/verifier'
import { fixturesMissing, fixtureText } from '../helpers/fixtures.js'

const skip = fixturesMissing('nvidia-gpu')
const CASE = 'cases/hopper-h100-545.00-with-rims'
const FILES = {
  driver550: 'rims/NV_GPU_DRIVER_GH100_550.144.03.xml',
  badSignature: 'rims/negative-bad-signature-driver-rim.xml',
  badChain: 'rims/negative-bad-chain-vbios-rim.xml',
  driver545: `${CASE}/Driver_RIM_test_no_gpu.swidtag`,
  vbios545: `${CASE}/1010_0200_882_96005E0001_test_no_gpu.swidtag`,
} as const
type FileName = keyof typeof FILES

const xmlOf = (name: FileName): string => fixtureText('nvidia-gpu', FILES[name])
/** The 545.00 case's `rimVerifyAt`: its RIM signing certificates expired mid-2025. */
const rimVerifyAt = (): Date => new Date((JSON.parse(fixtureText('nvidia-gpu', CASE, 'expected.json')) as { rimVerifyAt: string }).rimVerifyAt)
const AT_550 = new Date('2025-06-01T00:00:00Z')
const codes = (r: Result<unknown>): string[] => r.errors.map((e) => e.code)
const status = (r: Result<unknown>, id: string): string | undefined => r.checks.find((c) => c.id === id)?.status

/** Replaces exactly one occurrence of `from`, so a mutation cannot silently miss. */
function replaceOnce(xml: string, from: string | RegExp, to: string): string {
  const count = typeof from === 'string' ? xml.split(from).length - 1 : [...xml.matchAll(new RegExp(from, 'g'))].length
  assert.equal(count, 1, `expected one occurrence of ${String(from)}`)
  return xml.replace(from, to)
}

const SIGNATURE = /<ds:Signature [\s\S]*<\/ds:Signature>/
const certTexts = (xml: string): string[] => [...xml.matchAll(/<ds:X509Certificate>([^<]*)<\/ds:X509Certificate>/g)].map((m) => m[1]!)
/** `xml` with its KeyInfo leaf (the first X509Certificate) replaced by `base64`. */
const withLeaf = (xml: string, base64: string): string => replaceOnce(xml, `<ds:X509Certificate>${certTexts(xml)[0]!}<`, `<ds:X509Certificate>${base64}<`)
const resourceLine = (xml: string, index: number): string => new RegExp(`\\s*<ns0:Resource [^>]*index="${index}" [^>]*/>`).exec(xml)![0]

describe('genuine RIMs', { skip }, () => {
  const cases: Array<{ name: string; file: FileName; at: () => Date | undefined; want: string[] }> = [
    { name: '550.144.03 driver RIM while its chain is valid (2025-06-01)', file: 'driver550', at: () => AT_550, want: [] },
    { name: '550.144.03 driver RIM after its signer and L3 expired (2027-06-01)', file: 'driver550', at: () => new Date('2027-06-01T00:00:00Z'), want: ['ERR_CHAIN_EXPIRED'] },
    { name: '550.144.03 driver RIM before its signer was issued (2024-06-01)', file: 'driver550', at: () => new Date('2024-06-01T00:00:00Z'), want: ['ERR_CHAIN_NOT_YET_VALID'] },
    { name: '545.00 driver RIM at rimVerifyAt', file: 'driver545', at: rimVerifyAt, want: [] },
    { name: '545.00 VBIOS RIM at rimVerifyAt', file: 'vbios545', at: rimVerifyAt, want: [] },
    { name: '545.00 driver RIM at the real clock', file: 'driver545', at: () => undefined, want: ['ERR_CHAIN_EXPIRED'] },
    { name: '545.00 VBIOS RIM at the real clock', file: 'vbios545', at: () => undefined, want: ['ERR_CHAIN_EXPIRED'] },
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const at = c.at()
      const result = await verifyRim(xmlOf(c.file), at === undefined ? {} : { at })
      assert.deepEqual(codes(result), c.want)
      assert.equal(result.verdict, c.want.length === 0 ? 'accepted' : 'rejected')
      // Expiry is its own check: the chain and the signature still verify.
      for (const id of ['rim.parse', 'rim.root', 'rim.chain', 'rim.signature']) assert.equal(status(result, id), 'pass', id)
      assert.equal(status(result, 'rim.validity'), c.want.length === 0 ? 'pass' : 'fail')
      assert.notEqual(result.claims, null)
    })
  }

  test('claims of the 550.144.03 driver RIM', async () => {
    const result = await verifyRim(xmlOf('driver550'), { at: AT_550 })
    const want: RimClaims = {
      tagId: '8aa5c875798aecff29b7e3ca2e564ccbda4d47c37276f44f927ffc2ca17d84b1ec3198c69854bbe1556270c1feb493cd',
      product: 'GH100',
      version: '550.144.03',
      manufacturerId: '5703',
      signer: 'HCC RIM L4 Signer',
      activeIndices: [7, ...Array.from({ length: 20 }, (_, i) => 21 + i)],
      certificateNotAfter: '2026-12-30T16:56:50.000Z',
      simulated: false,
    }
    assert.deepEqual(result.claims, want)
    assert.equal(result.checks.find((c) => c.id === 'rim.chain')?.detail, 'HCC RIM L4 Signer ← NVIDIA Reference Value L3 GH100 002 ← NVIDIA Reference Value GH100 CA ← NVIDIA CoRIM signing Root CA')
  })

  test('claims of the 545.00 VBIOS RIM', async () => {
    const result = await verifyRim(xmlOf('vbios545'), { at: rimVerifyAt() })
    assert.equal(result.claims?.version, '96.00.5E.00.01')
    assert.deepEqual(result.claims?.activeIndices, [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12])
    assert.equal(result.claims?.certificateNotAfter, '2025-06-22T09:38:54.000Z')
  })

  test('the expiry failure says what to do', async () => {
    const result = await verifyRim(xmlOf('driver545'))
    const check = result.checks.find((c) => c.id === 'rim.validity')!
    assert.equal(check.code, 'ERR_CHAIN_EXPIRED')
    assert.match(check.detail, /HCC RIM L4 Signer.*expired 2025-06-26/)
    assert.match(check.hint ?? '', /current RIM/)
  })

  test('verifying again (cached) and after clearing the caches gives the same Result', async () => {
    for (const file of ['driver550', 'badSignature', 'badChain'] as const) {
      const first = await verifyRim(xmlOf(file), { at: AT_550 })
      const cached = await verifyRim(xmlOf(file), { at: AT_550 })
      clearVerifierCaches()
      const cold = await verifyRim(xmlOf(file), { at: AT_550 })
      assert.deepEqual(cached, first, file)
      assert.deepEqual(cold, first, file)
    }
  })
})

describe("NVIDIA's negative RIMs", { skip }, () => {
  test('negative-bad-signature-driver-rim: a valid chain, a SignatureValue that does not verify', async () => {
    const result = await verifyRim(xmlOf('badSignature'), { at: AT_550 })
    assert.deepEqual(codes(result), ['ERR_RIM_SIGNATURE_INVALID'])
    assert.equal(status(result, 'rim.chain'), 'pass')
    assert.equal(status(result, 'rim.signature'), 'fail')
  })

  test('negative-bad-chain-vbios-rim: a debug root that is not pinned, and no L3 between it and the signer', async () => {
    // KeyInfo is [HCC RIM L4 Signer, NVIDIA CoRIM L1 Root CA Debug Only]; the signer's issuer,
    // "NVIDIA Reference Value L3 GH100 001 Debug Only", is missing. Both faults are reported.
    const result = await verifyRim(xmlOf('badChain'), { at: AT_550 })
    assert.deepEqual(codes(result), ['ERR_CHAIN_UNTRUSTED', 'ERR_CHAIN_BROKEN'])
    assert.match(result.errors[0]!.message, /Debug Only/)
    assert.match(result.errors[1]!.message, /L3 GH100 001 Debug Only/)
    assert.equal(status(result, 'rim.validity'), 'pass')
    // The signer is not trusted, so its key is not used.
    assert.equal(status(result, 'rim.signature'), 'skip')
  })
})

describe('tampered RIMs', { skip }, () => {
  const xml550 = (): string => xmlOf('driver550')
  const cases: Array<{ name: string; build: () => string; at?: () => Date; want: string[]; check: string }> = [
    {
      name: 'one Hash0 changed',
      build: () => replaceOnce(xml550(), 'ns2:Hash0="4a5e4b3d', 'ns2:Hash0="5a5e4b3d'),
      want: ['ERR_RIM_DIGEST_MISMATCH'],
      check: 'rim.signature',
    },
    {
      name: 'an active flag flipped (index 7 True → False)',
      build: () => replaceOnce(xml550(), 'index="7" active="True"', 'index="7" active="False"'),
      want: ['ERR_RIM_DIGEST_MISMATCH'],
      check: 'rim.signature',
    },
    {
      name: 'an inactive entry made active (index 0)',
      build: () => replaceOnce(xml550(), 'index="0" active="False"', 'index="0" active="True"'),
      want: ['ERR_RIM_DIGEST_MISMATCH'],
      check: 'rim.signature',
    },
    {
      name: 'a Resource removed (index 63)',
      build: () => replaceOnce(xml550(), resourceLine(xml550(), 63), ''),
      want: ['ERR_RIM_DIGEST_MISMATCH'],
      check: 'rim.signature',
    },
    {
      name: 'colloquialVersion changed',
      build: () => replaceOnce(xml550(), 'colloquialVersion="550.144.03"', 'colloquialVersion="550.144.04"'),
      want: ['ERR_RIM_DIGEST_MISMATCH'],
      check: 'rim.signature',
    },
    {
      name: 'a second Signature added after the first',
      build: () => replaceOnce(xml550(), SIGNATURE, `${SIGNATURE.exec(xml550())![0]}${SIGNATURE.exec(xml550())![0]}`),
      want: ['ERR_RIM_SIGNATURE_STRUCTURE'],
      check: 'rim.parse',
    },
    {
      name: 'a copy of the Signature hidden in the Payload',
      build: () => replaceOnce(xml550(), '</ns0:Payload>', `${SIGNATURE.exec(xml550())![0]}</ns0:Payload>`),
      want: ['ERR_RIM_SIGNATURE_STRUCTURE'],
      check: 'rim.parse',
    },
    {
      name: 'the Signature moved inside the Payload',
      build: () => replaceOnce(xml550().replace(SIGNATURE, ''), '</ns0:Payload>', `${SIGNATURE.exec(xml550())![0]}</ns0:Payload>`),
      want: ['ERR_RIM_SIGNATURE_STRUCTURE'],
      check: 'rim.parse',
    },
    {
      name: 'the Signature removed',
      build: () => replaceOnce(xml550(), SIGNATURE, ''),
      want: ['ERR_RIM_SIGNATURE_STRUCTURE'],
      check: 'rim.parse',
    },
    {
      name: 'a DOCTYPE with an internal entity',
      build: () => `<!DOCTYPE SoftwareIdentity [<!ENTITY v "550.144.03">]>\n${replaceOnce(xml550(), 'colloquialVersion="550.144.03"', 'colloquialVersion="&v;"')}`,
      want: ['ERR_RIM_MALFORMED'],
      check: 'rim.parse',
    },
    {
      name: 'a DOCTYPE with an external entity (XXE)',
      build: () => `<!DOCTYPE SoftwareIdentity [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n${replaceOnce(xml550(), 'name="Measurement_0"', 'name="&x;"')}`,
      want: ['ERR_RIM_MALFORMED'],
      check: 'rim.parse',
    },
    {
      name: 'the KeyInfo leaf replaced by the leaf of another RIM under the same L3 (545.00 VBIOS leaf in the 545.00 driver RIM)',
      build: () => withLeaf(xmlOf('driver545'), certTexts(xmlOf('vbios545'))[0]!),
      at: rimVerifyAt,
      want: ['ERR_RIM_SIGNATURE_INVALID'],
      check: 'rim.signature',
    },
    {
      name: 'the KeyInfo leaf replaced by a leaf of another L3 (545.00 driver leaf in the 550.144.03 RIM)',
      build: () => withLeaf(xml550(), certTexts(xmlOf('driver545'))[0]!),
      want: ['ERR_CHAIN_BROKEN'],
      check: 'rim.chain',
    },
    {
      name: 'the root removed from KeyInfo',
      build: () => replaceOnce(xml550(), `<ds:X509Certificate>${certTexts(xml550())[3]!}</ds:X509Certificate>`, ''),
      want: ['ERR_CHAIN_UNTRUSTED'],
      check: 'rim.root',
    },
    {
      name: 'the root replaced by the NVIDIA Device Identity CA (pinned for GPUs, not for RIMs)',
      build: () => {
        const device = fixtureText('nvidia-gpu', 'roots/nvidia-device-identity-ca.pem').replace(/-----[A-Z ]+-----|\s+/g, '')
        return replaceOnce(xml550(), certTexts(xml550())[3]!, device)
      },
      want: ['ERR_CHAIN_UNTRUSTED', 'ERR_CHAIN_BROKEN'],
      check: 'rim.root',
    },
    {
      name: 'a KeyInfo certificate that is not DER',
      build: () => withLeaf(xml550(), 'MIIBAAAA'),
      want: ['ERR_CERT_MALFORMED'],
      check: 'rim.parse',
    },
    {
      name: 'SignatureValue truncated to 64 bytes',
      build: () => replaceOnce(xml550(), /<ds:SignatureValue>[^<]*<\/ds:SignatureValue>/, `<ds:SignatureValue>${Buffer.alloc(64, 1).toString('base64')}</ds:SignatureValue>`),
      want: ['ERR_RIM_SIGNATURE_INVALID'],
      check: 'rim.signature',
    },
    {
      name: 'DigestValue altered',
      build: () => replaceOnce(xml550(), /<ds:DigestValue>[^<]*<\/ds:DigestValue>/, `<ds:DigestValue>${Buffer.alloc(48, 7).toString('base64')}</ds:DigestValue>`),
      want: ['ERR_RIM_DIGEST_MISMATCH'],
      check: 'rim.signature',
    },
    {
      name: 'Reference URI pointing at an element id',
      build: () => replaceOnce(xml550(), '<ds:Reference URI="">', '<ds:Reference URI="#payload">'),
      want: ['ERR_RIM_SIGNATURE_STRUCTURE'],
      check: 'rim.signature',
    },
    {
      name: 'Reference without URI',
      build: () => replaceOnce(xml550(), '<ds:Reference URI="">', '<ds:Reference>'),
      want: ['ERR_RIM_SIGNATURE_STRUCTURE'],
      check: 'rim.signature',
    },
    {
      name: 'a second Reference',
      build: () => replaceOnce(xml550(), /<ds:Reference URI="">[\s\S]*<\/ds:Reference>/, `${/<ds:Reference URI="">[\s\S]*<\/ds:Reference>/.exec(xml550())![0]}`.repeat(2)),
      want: ['ERR_RIM_SIGNATURE_STRUCTURE'],
      check: 'rim.signature',
    },
    {
      name: 'a ds:Object in the Signature',
      build: () => replaceOnce(xml550(), '</ds:KeyInfo>', '</ds:KeyInfo><ds:Object>x</ds:Object>'),
      want: ['ERR_RIM_SIGNATURE_STRUCTURE'],
      check: 'rim.parse',
    },
    ...(
      [
        ['SignatureMethod RSA-SHA256', 'xmldsig-more#ecdsa-sha384', 'xmldsig-more#rsa-sha256'],
        ['SignatureMethod ECDSA-SHA256', 'xmldsig-more#ecdsa-sha384', 'xmldsig-more#ecdsa-sha256'],
        ['exclusive canonicalization', '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2006/12/xml-c14n11"/>', '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'],
        ['C14N 1.0 canonicalization', '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2006/12/xml-c14n11"/>', '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'],
        ['DigestMethod SHA-256', 'http://www.w3.org/2001/04/xmldsig-more#sha384', 'http://www.w3.org/2001/04/xmlenc#sha256'],
        ['no enveloped-signature transform', '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>', ''],
      ] as const
    ).map(([name, from, to]) => ({ name: `algorithm: ${name}`, build: () => replaceOnce(xml550(), from, to), want: ['ERR_RIM_SIGNATURE_ALGORITHM'], check: 'rim.signature' })),
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const result = await verifyRim(c.build(), { at: c.at?.() ?? AT_550 })
      assert.equal(result.verdict, 'rejected')
      assert.deepEqual(codes(result), c.want)
      assert.equal(status(result, c.check), 'fail')
    })
  }

  test('no single-bit change anywhere in the document is accepted with different content', async () => {
    // A change either is rejected or (white space in a tag, say) leaves the signed content as it was.
    const xml = xml550()
    const original = parseRim(xml)
    let seed = 550144
    const seen = new Set<string>()
    for (let n = 0; n < 200; n++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      const at = seed % xml.length
      const mutated = xml.slice(0, at) + String.fromCharCode(xml.charCodeAt(at) ^ 0x01) + xml.slice(at + 1)
      const result = await verifyRim(mutated, { at: AT_550 })
      if (result.verdict === 'accepted') assert.deepEqual(parseRim(mutated), original, `position ${at}`)
      else seen.add(codes(result)[0]!)
    }
    assert.ok(seen.has('ERR_RIM_DIGEST_MISMATCH') && seen.has('ERR_RIM_MALFORMED'), [...seen].join(' '))
  })

  test('trusting no RIM root rejects a genuine RIM as untrusted', async () => {
    const result = await verifyRim(xml550(), { at: AT_550, trust: { deviceRoots: [NVIDIA_DEVICE_IDENTITY_CA], rimRoots: [] } })
    assert.deepEqual(codes(result), ['ERR_CHAIN_UNTRUSTED'])
    assert.equal(status(result, 'rim.signature'), 'skip')
  })

  test('an invalid verification time fails the validity check instead of passing it', async () => {
    const result = await verifyRim(xml550(), { at: new Date('not a date') })
    assert.deepEqual(codes(result), ['ERR_INPUT_INVALID'])
    assert.equal(status(result, 'rim.validity'), 'fail')
  })

  test('the device root does not sign RIMs: pinning it as a RIM root changes nothing', async () => {
    const result = await verifyRim(xml550(), { at: AT_550, trust: { deviceRoots: [], rimRoots: [NVIDIA_DEVICE_IDENTITY_CA] } })
    assert.deepEqual(codes(result), ['ERR_CHAIN_UNTRUSTED'])
  })
})

describe('malformed RIMs', { skip }, () => {
  const xml550 = (): string => xmlOf('driver550')
  const cases: Array<{ name: string; build: () => string; want?: string }> = [
    { name: 'empty', build: () => '' },
    { name: 'not XML', build: () => 'NV_GPU_DRIVER_GH100_550.144.03' },
    { name: 'truncated', build: () => xml550().slice(0, 5000) },
    { name: `over ${MAX_RIM_BYTES} bytes`, build: () => xml550() + ' '.repeat(MAX_RIM_BYTES) },
    { name: 'text after the document element', build: () => `${xml550()}junk` },
    { name: 'a comment before the document element', build: () => `<!-- x -->${xml550()}` },
    { name: 'a lower-case doctype (which xmldom accepts as a DocumentType)', build: () => `<!doctype SoftwareIdentity>${xml550()}` },
    { name: 'an XML declaration after the document element', build: () => `${xml550()}<?xml version="1.0"?>` },
    { name: 'another document element', build: () => replaceOnce(xml550(), /^<SoftwareIdentity /, '<SoftwareIdentityX ').replace(/<\/SoftwareIdentity>\s*$/, '</SoftwareIdentityX>') },
    { name: 'SWID namespace changed', build: () => replaceOnce(xml550(), 'xmlns="http://standards.iso.org/iso/19770/-2/2015/schema.xsd"', 'xmlns="urn:other"').replace('xmlns:ns0="http://standards.iso.org/iso/19770/-2/2015/schema.xsd"', 'xmlns:ns0="urn:other"') },
    { name: 'Meta removed', build: () => replaceOnce(xml550(), /<ns0:Meta [^>]*\/>/, '') },
    { name: 'Meta repeated', build: () => replaceOnce(xml550(), /<ns0:Meta [^>]*\/>/, `${/<ns0:Meta [^>]*\/>/.exec(xml550())![0]}`.repeat(2)) },
    { name: 'Payload removed', build: () => replaceOnce(xml550(), /<ns0:Payload [\s\S]*<\/ns0:Payload>/, '') },
    { name: 'colloquialVersion missing', build: () => replaceOnce(xml550(), 'colloquialVersion="550.144.03" ', '') },
    { name: 'FirmwareManufacturerId missing', build: () => replaceOnce(xml550(), ' ns1:FirmwareManufacturerId="5703"', '') },
    { name: 'duplicate index', build: () => replaceOnce(xml550(), 'index="63"', 'index="62"') },
    { name: 'index 64', build: () => replaceOnce(xml550(), 'index="63"', 'index="64"') },
    { name: 'index with a leading zero', build: () => replaceOnce(xml550(), 'index="7"', 'index="07"') },
    { name: 'alternatives 2 with only Hash0', build: () => replaceOnce(xml550(), 'index="7" active="True" alternatives="1"', 'index="7" active="True" alternatives="2"') },
    { name: 'a Hash1 beyond alternatives 1', build: () => replaceOnce(xml550(), resourceLine(xml550(), 7), resourceLine(xml550(), 7).replace('ns2:Hash0=', `ns2:Hash1="${'ab'.repeat(48)}" ns2:Hash0=`)) },
    { name: 'a Hash0 in no namespace', build: () => replaceOnce(xml550(), resourceLine(xml550(), 7), resourceLine(xml550(), 7).replace('ns2:Hash0=', `Hash0="${'ab'.repeat(48)}" ns2:Hash0=`)) },
    { name: 'a hash shorter than 2×size', build: () => replaceOnce(xml550(), 'ns2:Hash0="4a5e4b3d', 'ns2:Hash0="4a5e4b') },
    { name: 'a hash with non-hex digits', build: () => replaceOnce(xml550(), 'ns2:Hash0="4a5e4b3d', 'ns2:Hash0="4a5e4bzz') },
    { name: 'size 32 with 48-byte hashes', build: () => replaceOnce(xml550(), resourceLine(xml550(), 7), resourceLine(xml550(), 7).replace('size="48"', 'size="32"')) },
    { name: 'active neither True nor False', build: () => replaceOnce(xml550(), 'index="7" active="True"', 'index="7" active="Yes"') },
    { name: 'a Resource of another type', build: () => replaceOnce(xml550(), 'type="Measurement" index="7"', 'type="File" index="7"') },
    { name: 'an xml:lang attribute', build: () => replaceOnce(xml550(), '<SoftwareIdentity ', '<SoftwareIdentity xml:lang="en" ') },
    { name: 'an unbound prefix', build: () => replaceOnce(xml550(), '<ns0:Entity ', '<ns9:Entity ').replace('</ns0:Entity>', '</ns9:Entity>') },
    { name: 'a duplicate attribute', build: () => replaceOnce(xml550(), 'index="7" ', 'index="7" index="8" ') },
    { name: 'deep nesting', build: () => replaceOnce(xml550(), '<ns0:Entity ', `${'<ns0:Link>'.repeat(40)}${'</ns0:Link>'.repeat(40)}<ns0:Entity `) },
    { name: 'a KeyInfo certificate that is not base64', build: () => withLeaf(xml550(), 'not*base64'), want: 'ERR_RIM_SIGNATURE_STRUCTURE' },
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const want = c.want ?? 'ERR_RIM_MALFORMED'
      const xml = c.build()
      assert.throws(() => parseRim(xml), { code: want })
      const result = await verifyRim(xml, { at: AT_550 })
      assert.deepEqual(codes(result), [want])
      assert.equal(result.claims, null)
      assert.deepEqual(result.checks.map((ch) => ch.status), ['fail', 'skip', 'skip', 'skip', 'skip'])
    })
  }

  test('a value that is not a string is an invalid input, not an exception', async () => {
    const result = await verifyRim(new Uint8Array([0x3c]) as unknown as string)
    assert.deepEqual(codes(result), ['ERR_INPUT_INVALID'])
  })

  test('a byte-order mark before the document is accepted', async () => {
    const result = await verifyRim(`\ufeff${xml550()}`, { at: AT_550 })
    assert.equal(result.verdict, 'accepted')
  })
})

describe('parseRim', { skip }, () => {
  test('reads Meta, every measurement and the KeyInfo certificates of the 550.144.03 driver RIM', () => {
    const xml = xmlOf('driver550')
    const rim = parseRim(xml)
    assert.equal(rim.tagId, '8aa5c875798aecff29b7e3ca2e564ccbda4d47c37276f44f927ffc2ca17d84b1ec3198c69854bbe1556270c1feb493cd')
    assert.equal(rim.name, 'GH100')
    assert.equal(rim.product, 'GH100')
    assert.equal(rim.colloquialVersion, '550.144.03')
    assert.equal(rim.firmwareManufacturerId, '5703')
    assert.equal(rim.platformModel, 'GH100')
    assert.deepEqual(rim.measurements.map((m) => m.index), Array.from({ length: 64 }, (_, i) => i))
    assert.deepEqual(rim.measurements[7], {
      index: 7,
      active: true,
      name: 'Measurement_7',
      size: 48,
      alternatives: ['4a5e4b3d501fe31f91bd8b6f2921b58437704a504dbedba971440e840c938c805612689ae3ac04b1009515a179063d49'],
    })
    assert.equal(rim.measurements[0]!.active, false)
    // Multi-alternative entries (spec §4.2): 23, 24, 32, 33, 34 have 2, 35 has 2-4, 36 has 3.
    for (const i of [23, 24, 32, 33, 34, 35, 36]) assert.ok(rim.measurements[i]!.alternatives.length >= 2, `index ${i}`)
    assert.deepEqual(rim.certificates.map((der) => Buffer.from(der).toString('base64')), certTexts(xml).map((t) => t.replace(/\s+/g, '')))
    assert.ok(Object.isFrozen(rim) && Object.isFrozen(rim.measurements))
  })

  test('the Blackwell RIM with the debug chain parses (its faults are in the chain, not the structure)', () => {
    const rim = parseRim(xmlOf('badChain'))
    assert.equal(rim.product, 'GB100')
    assert.equal(rim.certificates.length, 2)
  })
})

describe('checkRim', { skip }, () => {
  test('records its checks under a prefix and returns the document with its authenticity', async () => {
    const checks = new CheckCollector()
    const driver = await checkRim(xmlOf('driver545'), { at: rimVerifyAt() }, checks, 'rim.driver')
    const vbios = await checkRim(xmlOf('badChain'), { at: AT_550 }, checks, 'rim.vbios')
    assert.equal(driver.authentic, true)
    assert.equal(driver.document?.colloquialVersion, '545.00')
    assert.equal(vbios.authentic, false)
    assert.equal(vbios.document?.product, 'GB100')
    assert.deepEqual(checks.checks.map((c) => `${c.id}:${c.status}`), [
      'rim.driver.parse:pass', 'rim.driver.root:pass', 'rim.driver.chain:pass', 'rim.driver.validity:pass', 'rim.driver.signature:pass',
      'rim.vbios.parse:pass', 'rim.vbios.root:fail', 'rim.vbios.chain:fail', 'rim.vbios.validity:pass', 'rim.vbios.signature:skip',
    ])
  })
})

describe('NVIDIA trust pins', { skip }, () => {
  const spkiSha256 = (cert: string | Buffer): string => createHash('sha256').update(new X509Certificate(cert).publicKey.export({ type: 'spki', format: 'der' })).digest('hex')
  test('the RIM root pin is the SPKI of roots/nvidia-corim-signing-root-ca.pem', () => {
    assert.equal(NVIDIA_RIM_ROOT_CA.spkiSha256, spkiSha256(fixtureText('nvidia-gpu', 'roots/nvidia-corim-signing-root-ca.pem')))
    assert.equal(NVIDIA_RIM_ROOT_CA.simulated, false)
  })
  test('the device root pin is the SPKI of roots/nvidia-device-identity-ca.pem', () => {
    assert.equal(NVIDIA_DEVICE_IDENTITY_CA.spkiSha256, spkiSha256(fixtureText('nvidia-gpu', 'roots/nvidia-device-identity-ca.pem')))
    assert.equal(NVIDIA_DEVICE_IDENTITY_CA.simulated, false)
  })
  test('the RIM root in every genuine RIM is the pinned one', () => {
    for (const file of ['driver550', 'driver545', 'vbios545'] as const) {
      const certs = certTexts(xmlOf(file))
      assert.equal(spkiSha256(Buffer.from(certs.at(-1)!, 'base64')), NVIDIA_RIM_ROOT_CA.spkiSha256, file)
    }
  })
})
