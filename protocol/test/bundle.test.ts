/** The evidence bundle: round trips in CBOR and JSON, and every malformed field named by its path. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  assertBundle,
  bundleFromJson,
  bundleToJson,
  concatBytes,
  decodeBundle,
  decodeCbor,
  encodeBundle,
  encodeCbor,
  EVIDENCE_MEDIA_TYPE,
  bundleNonces,
  MAX_BUNDLE_NONCES,
  MAX_MANIFEST_BYTES,
  type EvidenceBundle,
  type EvidenceBundleV2,
  type ProtocolError,
} from '@vouch/protocol'
import { fakeDer, seedBytes, testBundle, testBundleV2 } from './helpers/fixtures.js'

type Mutable = Record<string, unknown>

/** A bundle as a plain, editable object tree (what a decoder sees). */
function raw(): Mutable {
  return decodeCbor(encodeBundle(testBundle())) as Mutable
}

function get(o: Mutable, path: string): { parent: Mutable; key: string } {
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.')
  let parent = o
  for (const p of parts.slice(0, -1)) parent = parent[p] as Mutable
  return { parent, key: parts.at(-1)! }
}

function withField(path: string, value: unknown): Mutable {
  const o = raw()
  const { parent, key } = get(o, path)
  if (value === DELETE) delete parent[key]
  else parent[key] = value
  return o
}

const DELETE = Symbol('delete')

describe('evidence bundle round trips', () => {
  test('CBOR: decode(encode(b)) equals b, and encoding is deterministic', () => {
    const b = testBundle()
    const bytes = encodeBundle(b)
    assert.deepEqual(decodeBundle(bytes), b)
    assert.deepEqual(encodeBundle(decodeBundle(bytes)), bytes)
    assert.equal(EVIDENCE_MEDIA_TYPE, 'application/vnd.vouch.evidence+cbor')
  })

  test('an unchallenged bundle (nonce null) without CRLs round trips', () => {
    const b: EvidenceBundle = { ...testBundle(), nonce: null, gpus: [] }
    delete b.cpu.crls
    assert.deepEqual(decodeBundle(encodeBundle(b)), b)
  })

  test('JSON: nonce in hex, bytes in padded base64, and back', () => {
    const b = testBundle()
    const json = bundleToJson(b)
    assert.ok(json.v === 1)
    assert.match(json.nonce!, /^[0-9a-f]{64}$/)
    assert.equal(json.cpu.vek, Buffer.from(b.cpu.vek).toString('base64'))
    assert.equal(json.gpus[1]!.chain[4], Buffer.from(b.gpus[1]!.chain[4]!).toString('base64'))
    assert.deepEqual(bundleFromJson(JSON.parse(JSON.stringify(json))), b)
  })

  test('properties outside the format never reach the wire', () => {
    const b = { ...testBundle(), extra: 'x' } as unknown as EvidenceBundle
    assert.throws(() => encodeBundle(b), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' && e.issues.includes('extra: is not a known field'))
  })
})

describe('decodeBundle rejects', () => {
  const cases: { name: string; path: string; value: unknown; issue: string }[] = [
    { name: 'an unknown platform', path: 'platform', value: 'tdx', issue: 'platform: must be one of "sev-snp", "simulated"' },
    { name: 'a short nonce', path: 'nonce', value: new Uint8Array(31), issue: 'nonce: must be 32 bytes, got 31' },
    { name: 'a hex-string nonce', path: 'nonce', value: 'ab'.repeat(32), issue: 'nonce: must be a byte string' },
    { name: 'a missing nonce (null is explicit)', path: 'nonce', value: DELETE, issue: 'nonce: is missing' },
    { name: 'a bad kid', path: 'keyset.kid', value: 'has space', issue: 'keyset.kid: must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -' },
    { name: 'a short enc key', path: 'keyset.enc.x', value: 'AAAA', issue: 'keyset.enc.x: must be 43 base64url characters (a 32-byte key)' },
    { name: 'a non-canonical enc key', path: 'keyset.enc.x', value: `${'A'.repeat(42)}B`, issue: 'keyset.enc.x: must be the canonical base64url of a 32-byte key' },
    { name: 'an Ed25519 key as the enc key', path: 'keyset.enc.crv', value: 'Ed25519', issue: 'keyset.enc.crv: must be "X25519"' },
    { name: 'an EC sig key', path: 'keyset.sig.kty', value: 'EC', issue: 'keyset.sig.kty: must be "OKP"' },
    { name: 'a private key in the keyset', path: 'keyset.sig.d', value: 'AAAA', issue: 'keyset.sig.d: is not a known field' },
    { name: 'a fractional notAfter', path: 'keyset.notAfter', value: 1.5, issue: 'keyset.notAfter: must be a non-negative integer' },
    { name: 'a model digest in upper case', path: 'models[0].digest', value: `sha256:${'AB'.repeat(32)}`, issue: 'models[0].digest: must be "sha256:" followed by 64 lower-case hex digits' },
    { name: 'a model without a version', path: 'models[1].version', value: DELETE, issue: 'models[1].version: is missing' },
    { name: 'an empty model name', path: 'models[0].name', value: '', issue: 'models[0].name: must be a non-empty string of at most 256 characters' },
    { name: 'another cpu type', path: 'cpu.type', value: 'tdx', issue: 'cpu.type: must be "sev-snp"' },
    { name: 'a short SEV-SNP report', path: 'cpu.report', value: new Uint8Array(1183), issue: 'cpu.report: must be 1184 bytes, got 1183' },
    { name: 'a PEM VEK', path: 'cpu.vek', value: new TextEncoder().encode('-----BEGIN CERTIFICATE-----'), issue: 'cpu.vek: must be DER (an ASN.1 SEQUENCE); PEM and other encodings are not accepted' },
    { name: 'a one-certificate chain', path: 'cpu.chain', value: [fakeDer('ask')], issue: 'cpu.chain: must hold 2 certificates (ASK or ASVK, then ARK), got 1' },
    { name: 'a CRL that is not bytes', path: 'cpu.crls[0]', value: 'crl', issue: 'cpu.crls[0]: must be a byte string' },
    { name: 'another GPU type', path: 'gpus[0].type', value: 'amd', issue: 'gpus[0].type: must be "nvidia-cc"' },
    { name: 'an unknown GPU architecture', path: 'gpus[1].arch', value: 'AMPERE', issue: 'gpus[1].arch: must be one of "HOPPER", "BLACKWELL"' },
    { name: 'an empty GPU report', path: 'gpus[0].report', value: new Uint8Array(0), issue: 'gpus[0].report: must not be empty' },
    { name: 'a four-certificate GPU chain', path: 'gpus[0].chain', value: [1, 2, 3, 4].map((i) => fakeDer(`c${i}`)), issue: 'gpus[0].chain: must hold 5 certificates, leaf first, got 4' },
    { name: 'a non-DER GPU certificate', path: 'gpus[1].chain[2]', value: new Uint8Array([1, 2]), issue: 'gpus[1].chain[2]: must be DER (an ASN.1 SEQUENCE); PEM and other encodings are not accepted' },
    { name: 'gpus as a map', path: 'gpus', value: {}, issue: 'gpus: must be an array' },
    { name: 'a negative issuedAt', path: 'issuedAt', value: -1, issue: 'issuedAt: must be a non-negative integer' },
    { name: 'an unknown top-level field', path: 'signature', value: new Uint8Array(1), issue: 'signature: is not a known field' },
    { name: 'an unknown cpu field', path: 'cpu.extra', value: 1, issue: 'cpu.extra: is not a known field' },
  ]
  for (const c of cases) {
    test(`${c.name}, naming ${c.path}`, () => {
      const bytes = encodeCbor(withField(c.path, c.value))
      assert.throws(
        () => decodeBundle(bytes),
        (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' && e.issues.includes(c.issue) && e.message.includes(c.issue),
      )
    })
  }

  test('every bad field at once, each by path', () => {
    const o = withField('platform', 'x')
    ;(o['keyset'] as Mutable)['kid'] = ''
    ;((o['gpus'] as Mutable[])[1] as Mutable)['arch'] = 'X'
    assert.throws(
      () => decodeBundle(encodeCbor(o)),
      (e: ProtocolError) => e.issues.length === 3 && ['platform', 'keyset.kid', 'gpus[1].arch'].every((p, i) => e.issues[i]!.startsWith(`${p}:`)),
    )
  })

  for (const v of [3, 0, '1']) {
    test(`version ${JSON.stringify(v)} as ERR_PROTOCOL_UNSUPPORTED_VERSION`, () => {
      assert.throws(() => decodeBundle(encodeCbor(withField('v', v))), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_UNSUPPORTED_VERSION')
    })
  }

  test('a missing version as malformed', () => {
    assert.throws(() => decodeBundle(encodeCbor(withField('v', DELETE))), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' && e.issues.includes('v: is missing'))
  })

  test('trailing bytes after the bundle', () => {
    const bytes = concatBytes(encodeBundle(testBundle()), new Uint8Array([0]))
    assert.throws(() => decodeBundle(bytes), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' && /trailing/.test(e.message))
  })

  test('a bundle that is not a map', () => {
    assert.throws(() => decodeBundle(encodeCbor([1])), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' && e.issues.includes('(root): must be a map'))
  })

  test('a bundle over maxBytes', () => {
    assert.throws(() => decodeBundle(encodeBundle(testBundle()), { maxBytes: 100 }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_TOO_LARGE')
  })

  test('assertBundle is the same guard for an in-memory value', () => {
    assert.doesNotThrow(() => assertBundle(testBundle()))
    assert.throws(() => assertBundle({ ...testBundle(), issuedAt: 'now' }), (e: ProtocolError) => e.issues.includes('issuedAt: must be a non-negative integer'))
  })
})

describe('bundleFromJson rejects', () => {
  const json = (): Mutable => JSON.parse(JSON.stringify(bundleToJson(testBundle()))) as Mutable
  test('a nonce that is not 64 lower-case hex digits', () => {
    const j = json()
    j['nonce'] = 'AB'.repeat(32)
    assert.throws(() => bundleFromJson(j), (e: ProtocolError) => e.issues.includes('nonce: must be 64 lower-case hex digits or null'))
  })
  test('unpadded or URL-alphabet base64, together with other bad fields', () => {
    const j = json()
    ;(j['cpu'] as Mutable)['vek'] = 'MAM_-w'
    j['platform'] = 'x'
    assert.throws(() => bundleFromJson(j), (e: ProtocolError) => e.issues.includes('cpu.vek: must be padded base64') && e.issues.some((i) => i.startsWith('platform:')))
  })
  test('version 3', () => {
    assert.throws(() => bundleFromJson({ ...json(), v: 3 }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_UNSUPPORTED_VERSION')
  })
  test('a v2 nonce that is not 64 lower-case hex digits', () => {
    const j = JSON.parse(JSON.stringify(bundleToJson(testBundleV2()))) as Mutable
    j['nonces'] = ['ab'.repeat(32), 'xyz']
    assert.throws(() => bundleFromJson(j), (e: ProtocolError) => e.issues.includes('nonces[1]: must be 64 lower-case hex digits'))
  })
})

describe('evidence bundle v2', () => {
  const raw2 = (): Mutable => decodeCbor(encodeBundle(testBundleV2())) as Mutable
  const withField2 = (path: string, value: unknown): Mutable => {
    const o = raw2()
    const { parent, key } = get(o, path)
    if (value === DELETE) delete parent[key]
    else parent[key] = value
    return o
  }

  test('CBOR and JSON round trips: nonces in hex, manifests and known answers as they are', () => {
    const b = testBundleV2()
    const bytes = encodeBundle(b)
    assert.deepEqual(decodeBundle(bytes), b)
    assert.deepEqual(encodeBundle(decodeBundle(bytes)), bytes)
    const json = bundleToJson(b)
    assert.ok(json.v === 2)
    assert.deepEqual(json.nonces, b.nonces.map((n) => Buffer.from(n).toString('hex')))
    assert.deepEqual(json.models[0]!.manifest, b.models[0]!.manifest)
    assert.deepEqual(bundleFromJson(JSON.parse(JSON.stringify(json))), b)
    assert.deepEqual(bundleNonces(b), b.nonces)
    assert.deepEqual(bundleNonces(testBundle()), [testBundle().nonce])
    assert.deepEqual(bundleNonces({ ...testBundle(), nonce: null }), [])
  })

  test('an unchallenged v2 bundle has no nonces', () => {
    const b: EvidenceBundleV2 = { ...testBundleV2(), nonces: [] }
    assert.deepEqual(decodeBundle(encodeBundle(b)), b)
  })

  const manifest = 'models[0].manifest'
  const cases: { name: string; path: string; value: unknown; issue: string }[] = [
    { name: 'a v1 nonce field', path: 'nonce', value: new Uint8Array(32), issue: 'nonce: is not a known field' },
    { name: 'no nonces field', path: 'nonces', value: DELETE, issue: 'nonces: is missing' },
    { name: 'a short nonce', path: 'nonces[1]', value: new Uint8Array(31), issue: 'nonces[1]: must be 32 bytes, got 31' },
    { name: 'a repeated nonce', path: 'nonces[1]', value: seedBytes('nonce'), issue: 'nonces[1]: repeats an earlier nonce' },
    { name: 'too many nonces', path: 'nonces', value: Array.from({ length: MAX_BUNDLE_NONCES + 1 }, (_, i) => seedBytes(`n${i}`)), issue: `nonces: must hold at most ${MAX_BUNDLE_NONCES} items, got ${MAX_BUNDLE_NONCES + 1}` },
    { name: 'a model without its manifest', path: `${manifest}`, value: DELETE, issue: 'models[0].manifest: is missing' },
    { name: 'a model without its known answer (null is explicit)', path: 'models[1].knownAnswer', value: DELETE, issue: 'models[1].knownAnswer: is missing' },
    { name: 'a malformed known answer', path: 'models[0].knownAnswer.output', value: 'sha256:xyz', issue: 'models[0].knownAnswer.output: must be "sha256:" followed by 64 lower-case hex digits' },
    { name: 'a manifest naming another model', path: `${manifest}.name`, value: 'ppocr-det', issue: `${manifest}.name: must be the model's name "ppocr-cls"` },
    { name: 'a manifest of another version', path: `${manifest}.version`, value: '9', issue: `${manifest}.version: must be the model's version "1"` },
    { name: 'a manifest pinning other bytes', path: `${manifest}.sha256`, value: 'ee'.repeat(32), issue: `${manifest}.sha256: must be the model's digest` },
    { name: 'a manifest without a publisher', path: `${manifest}.publisher`, value: DELETE, issue: `${manifest}.publisher: is missing` },
    { name: 'a manifest crediting nobody', path: `${manifest}.contributors`, value: [], issue: `${manifest}.contributors: must name at least one contributor` },
    { name: 'a contributor without a name', path: `${manifest}.contributors[0].name`, value: DELETE, issue: `${manifest}.contributors[0].name: is missing` },
    { name: 'bytes inside a manifest', path: `${manifest}.logo`, value: new Uint8Array(4), issue: `${manifest}.logo: must be JSON data (text, number, boolean, null, array or map)` },
    { name: 'a manifest over its size bound', path: `${manifest}.description`, value: 'x'.repeat(MAX_MANIFEST_BYTES), issue: `${manifest}: must be at most ${MAX_MANIFEST_BYTES} bytes as JCS text` },
  ]
  for (const c of cases) {
    test(`rejects ${c.name}, naming ${c.path}`, () => {
      assert.throws(
        () => decodeBundle(encodeCbor(withField2(c.path, c.value))),
        (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' && e.issues.includes(c.issue),
      )
    })
  }

  test('rejects the same model and version listed twice', () => {
    const o = raw2()
    const models = o['models'] as Mutable[]
    models[1] = models[0]!
    assert.throws(() => decodeBundle(encodeCbor(o)), (e: ProtocolError) => e.issues.includes('models[1]: names a model and version listed before it'))
  })

  test('a v1 bundle still decodes as v1, and a v1 shape under v: 2 does not', () => {
    assert.equal(decodeBundle(encodeBundle(testBundle())).v, 1)
    const o = decodeCbor(encodeBundle(testBundle())) as Mutable
    o['v'] = 2
    assert.throws(() => decodeBundle(encodeCbor(o)), (e: ProtocolError) => e.issues.includes('nonce: is not a known field') && e.issues.includes('nonces: is missing'))
  })
})
