// Computes the test vectors of docs/protocol.md from fixed inputs with the protocol code, and writes them
// between the `protocol-vectors` markers there. With --check, writes nothing and exits 1 if the doc is stale;
// protocol/test/protocol-doc.test.ts runs the same comparison, so the doc cannot drift from the code.
// Run: node --conditions=@vouch/source --import tsx scripts/protocol-vectors.ts [--check]
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  bindingStatement,
  bindingStatementText,
  canonicalJson,
  encodeRequestPlaintext,
  encodeResponsePlaintext,
  fromHex,
  gpuNonceFor,
  keysetDigest,
  openRequest,
  outputsDigest,
  reportDataFor,
  requestInfo,
  sha256Digest,
  signReceipt,
  toHex,
  type Keyset,
  type ReceiptPayload,
  type RequestPlaintext,
  type TensorData,
} from '../protocol/src/index.js'
import { sealRequestWithEphemeral, sealResponseWithNonce } from '../protocol/src/envelope.js'

/** The fixed inputs. Keys are well-known test keys: RFC 7748 §6.1 (X25519) and RFC 8032 §7.1 TEST 1 (Ed25519). */
export const VECTOR_INPUTS = {
  encPrivateKey: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  sigSeed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  ephemeralPrivateKey: '5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb',
  kid: 'vouch-test-1',
  notAfter: 1767225600,
  nonce: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
  gpuReports: ['gpu report 0', 'gpu report 1'].map((s) => toHex(new TextEncoder().encode(s))),
  models: [
    { name: 'ppocr-cls', version: '1', digest: sha256Digest(new TextEncoder().encode('ppocr-cls model')) },
    { name: 'ppocr-det', version: '4', digest: sha256Digest(new TextEncoder().encode('ppocr-det model')) },
  ],
  responseNonce: '202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f',
}

const PKCS8 = { x25519: '302e020100300506032b656e04220420', ed25519: '302e020100300506032b657004220420' }

function privateKey(type: 'x25519' | 'ed25519', hex: string): KeyObject {
  return createPrivateKey({ key: Buffer.from(PKCS8[type] + hex, 'hex'), format: 'der', type: 'pkcs8' })
}

function tensor(name: string, values: number[]): TensorData {
  const data = new Uint8Array(values.length * 4)
  const view = new DataView(data.buffer)
  values.forEach((v, i) => view.setFloat32(i * 4, v, true))
  return { name, datatype: 'FP32', shape: [1, values.length], data }
}

/** Every vector of docs/protocol.md, computed by the protocol code from {@link VECTOR_INPUTS}. */
export async function computeProtocolVectors(): Promise<Record<string, string>> {
  const i = VECTOR_INPUTS
  const enc = privateKey('x25519', i.encPrivateKey)
  const sig = privateKey('ed25519', i.sigSeed)
  const keyset: Keyset = {
    kid: i.kid,
    enc: { kty: 'OKP', crv: 'X25519', x: createPublicKey(enc).export({ format: 'jwk' }).x! },
    sig: { kty: 'OKP', crv: 'Ed25519', x: createPublicKey(sig).export({ format: 'jwk' }).x! },
    notAfter: i.notAfter,
  }
  const gpus = i.gpuReports.map((r) => ({ report: fromHex(r) }))
  const statement = bindingStatement({ nonce: fromHex(i.nonce), keyset, gpus, models: i.models })
  const unchallenged = bindingStatement({ nonce: null, keyset, gpus, models: i.models })

  const request: RequestPlaintext = {
    v: 1,
    id: 'req-0001',
    ts: 1764086400000,
    model: { name: 'ppocr-cls', version: '1' },
    inputs: [tensor('x', [0.5, -1])],
  }
  const requestBytes = encodeRequestPlaintext(request)
  const outputs = [tensor('softmax', [0.25, 0.75])]
  const payload: ReceiptPayload = {
    v: 1,
    id: request.id,
    iat: 1764086400,
    model: i.models[0]!,
    request: sha256Digest(requestBytes),
    response: outputsDigest(outputs),
    keyset: keysetDigest(keyset),
    evidence: sha256Digest(new TextEncoder().encode('evidence bundle bytes')),
    platform: 'simulated',
    attribution: [{ role: 'model', id: 'https://github.com/PaddlePaddle/PaddleOCR', name: 'PaddleOCR' }],
  }
  const receipt = await signReceipt(payload, sig, i.kid)
  const sealed = await sealRequestWithEphemeral(keyset.enc, i.kid, requestBytes, privateKey('x25519', i.ephemeralPrivateKey))
  const opened = await openRequest(enc, i.kid, sealed.body)
  const responseBytes = encodeResponsePlaintext({ v: 1, id: request.id, model: i.models[0]!, outputs, receipt })
  const response = await sealResponseWithNonce(opened.context, responseBytes, fromHex(i.responseNonce))

  return {
    'keyset JCS': canonicalJson(keyset),
    'keyset digest': keysetDigest(keyset),
    'statement JCS': bindingStatementText(statement),
    REPORT_DATA: toHex(reportDataFor(statement)),
    'GPU nonce': toHex(gpuNonceFor(fromHex(i.nonce), keyset)),
    'unchallenged statement JCS': bindingStatementText(unchallenged),
    'unchallenged REPORT_DATA': toHex(reportDataFor(unchallenged)),
    'unchallenged GPU nonce': toHex(gpuNonceFor(null, keyset)),
    'receipt payload JCS': canonicalJson(payload),
    receipt,
    'request info': toHex(requestInfo(i.kid)),
    'request plaintext': toHex(requestBytes),
    'request body': toHex(sealed.body),
    'response plaintext': toHex(responseBytes),
    'response body': toHex(response),
  }
}

/** The markdown between the markers: the inputs, then each vector in a fenced block. */
export function renderProtocolVectors(v: Record<string, string>): string {
  const i = VECTOR_INPUTS
  const block = (title: string, value: string): string => `${title}:\n\n\`\`\`\n${value}\n\`\`\`\n`
  return [
    '### Inputs',
    '',
    `- X25519 private key (\`keyset.enc\`, RFC 7748 §6.1 Alice): \`${i.encPrivateKey}\``,
    `- Ed25519 seed (\`keyset.sig\`, RFC 8032 §7.1 TEST 1): \`${i.sigSeed}\``,
    `- kid \`${i.kid}\`, notAfter \`${i.notAfter}\``,
    `- nonce: \`${i.nonce}\``,
    ...i.gpuReports.map((r, n) => `- GPU report ${n} (bytes, hex): \`${r}\``),
    ...i.models.map((m, n) => `- model ${n}: \`${JSON.stringify(m)}\``),
    `- HPKE ephemeral private key (RFC 7748 §6.1 Bob): \`${i.ephemeralPrivateKey}\``,
    `- response nonce: \`${i.responseNonce}\``,
    '- request plaintext: `{ v: 1, id: "req-0001", ts: 1764086400000, model: { name: "ppocr-cls", version: "1" }, inputs: [x: FP32 [1,2] = 0.5, -1] }`',
    '- receipt payload: as below; response outputs `[softmax: FP32 [1,2] = 0.25, 0.75]`; `evidence` is the digest of the UTF-8 text `evidence bundle bytes`',
    '',
    '### Binding',
    '',
    block('Keyset, JCS', v['keyset JCS']!),
    block('Keyset digest', v['keyset digest']!),
    block('Binding statement, JCS (the exact bytes REPORT_DATA hashes)', v['statement JCS']!),
    block('REPORT_DATA (SHA-512)', v['REPORT_DATA']!),
    block('GPU SPDM nonce', v['GPU nonce']!),
    block('Unchallenged (nonce null) statement, JCS', v['unchallenged statement JCS']!),
    block('Unchallenged REPORT_DATA', v['unchallenged REPORT_DATA']!),
    block('Unchallenged GPU SPDM nonce', v['unchallenged GPU nonce']!),
    '### Receipt',
    '',
    block('Payload, JCS (the JWS payload bytes)', v['receipt payload JCS']!),
    block('Receipt (compact JWS; Ed25519 is deterministic)', v['receipt']!),
    '### Sealed envelope',
    '',
    block('HPKE info (`"vouch/request/v1"` ‖ kid)', v['request info']!),
    block('Request plaintext (CBOR)', v['request plaintext']!),
    block('Request body (enc ‖ ciphertext)', v['request body']!),
    block('Response plaintext (CBOR, carrying the receipt above)', v['response plaintext']!),
    block('Response body (response nonce ‖ ciphertext)', v['response body']!),
  ]
    .join('\n')
    .trimEnd()
}

export const DOC_PATH = fileURLToPath(new URL('../docs/protocol.md', import.meta.url))
export const BEGIN = '<!-- protocol-vectors:begin (written by scripts/protocol-vectors.ts; do not edit) -->'
export const END = '<!-- protocol-vectors:end -->'

/** The generated part of a doc text, or undefined without markers. */
export function vectorBlock(doc: string): string | undefined {
  const start = doc.indexOf(BEGIN)
  const end = doc.indexOf(END)
  if (start < 0 || end < start) return undefined
  return doc.slice(start + BEGIN.length, end).trim()
}

async function main(): Promise<void> {
  const rendered = renderProtocolVectors(await computeProtocolVectors())
  const doc = readFileSync(DOC_PATH, 'utf8')
  if (process.argv.includes('--check')) {
    if (vectorBlock(doc) !== rendered) {
      console.error(`${DOC_PATH} is stale: run node --conditions=@vouch/source --import tsx scripts/protocol-vectors.ts`)
      process.exit(1)
    }
    return
  }
  const start = doc.indexOf(BEGIN)
  const end = doc.indexOf(END)
  if (start < 0 || end < start) throw new Error(`${DOC_PATH} has no ${BEGIN} … ${END} markers`)
  writeFileSync(DOC_PATH, `${doc.slice(0, start + BEGIN.length)}\n\n${rendered}\n\n${doc.slice(end)}`)
  console.log(`wrote the vectors of ${DOC_PATH}`)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main()
