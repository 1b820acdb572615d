/**
 * An in-test enclave whose answers a test can tamper with after signing: real simulated evidence (so the
 * client attests it under dev-simulated), a real model, real sealing, and a hook over the response
 * plaintext before it is sealed. It plays a compromised or buggy enclave, which no host can: the
 * receipt travels inside the sealed response.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  decodeRequestPlaintext,
  encodeCbor,
  encodeTensors,
  exportReceiptOpening,
  keysetDigest,
  openRequest,
  receiptCommitment,
  sealResponse,
  signReceipt,
  type ReceiptPayload,
  type RequestPlaintext,
  type TensorData,
} from '@vouch/protocol'
import { createCpuTee, loadModel, type LoadedModel } from '@vouch/enclave'
import { EvidenceService } from '../../../enclave/src/service/evidence.js'
import { generateKeyset } from '../../../enclave/src/service/keys.js'
import { BackendError, type Backend } from './fake-host.js'

const root = fileURLToPath(new URL('../../..', import.meta.url))

/** What a tamper hook gets besides the response: the request and the receipt of the previous answer. */
export interface TamperContext {
  request: RequestPlaintext
  /** The request plaintext bytes, as the client sealed them. */
  plaintext: Uint8Array
  /** The outputs the model gave. */
  outputs: TensorData[]
  /** The request's opening, which the honest (v2) receipt's commitments are keyed with. */
  opening: Uint8Array
  previousReceipt: string | null
  /** Signs `payload` with a key the evidence does not attest. */
  signWithForeignKey(payload: ReceiptPayload): Promise<string>
  /** Signs `payload` with the attested key: what an enclave running other code than its manifests say could do. */
  signWithEnclaveKey(payload: ReceiptPayload): Promise<string>
  payload: ReceiptPayload
}

/** The in-test enclave. */
export interface RogueEnclave extends Backend {
  /** Rewrites the response plaintext before it is sealed; null answers honestly. */
  tamper: ((response: Record<string, unknown>, context: TamperContext) => Promise<Record<string, unknown>> | Record<string, unknown>) | null
  close(): Promise<void>
}

/** Starts the in-test enclave with the PP-OCR classifier; `measurement` (48 bytes): launched from another image than the simulated one. */
export async function startRogueEnclave(options: { measurement?: Uint8Array } = {}): Promise<RogueEnclave> {
  const cpu = await createCpuTee('simulated', options.measurement === undefined ? {} : { measurement: options.measurement })
  const model: LoadedModel = await loadModel(join(root, 'models/ppocr-cls.yaml'))
  const keyset = generateKeyset(new Date(), 3600)
  const ref = { name: model.name, version: model.version, digest: model.digest }
  const evidence = new EvidenceService(cpu, null, keyset, [{ ...ref, manifest: model.manifestData, knownAnswer: model.knownAnswer }], { burst: 1000, perSecond: 1000 })
  const foreign: KeyObject = generateKeyPairSync('ed25519').privateKey
  let previousReceipt: string | null = null

  const rogue: RogueEnclave = {
    tamper: null,
    attest: async (nonce) => (nonce === null ? await evidence.unchallenged() : await evidence.challenged(nonce)).bytes,
    models: async () => [{ ...model.metadata, digest: model.digest }],
    async infer(kid, _name, _version, body) {
      if (kid !== keyset.public.kid) throw new BackendError('ERR_ENCLAVE_UNKNOWN_KID', 409, 'unknown kid')
      const { plaintext, context } = await openRequest(keyset.encPrivateKey, kid, body)
      const request = decodeRequestPlaintext(plaintext)
      const outputs = await model.run(request.inputs, request.outputs?.map((o) => o.name))
      const bundle = await evidence.unchallenged()
      const opening = await exportReceiptOpening(context)
      const payload: ReceiptPayload = {
        v: 2,
        id: request.id,
        iat: Math.floor(Date.now() / 1000),
        model: ref,
        request: receiptCommitment(opening, plaintext),
        response: receiptCommitment(opening, encodeTensors(outputs)),
        keyset: keysetDigest(keyset.public),
        evidence: bundle.digest,
        platform: bundle.bundle.platform,
        attribution: model.attribution.map((a) => ({ role: a.role, id: a.id, name: a.name })),
      }
      const receipt = await signReceipt(payload, keyset.sigPrivateKey, kid)
      let response: Record<string, unknown> = {
        v: 1,
        id: request.id,
        model: ref,
        outputs: outputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape, data: t.data })),
        receipt,
      }
      if (rogue.tamper !== null) {
        response = await rogue.tamper(response, { request, plaintext, outputs, opening, previousReceipt, payload, signWithForeignKey: (p) => signReceipt(p, foreign, kid), signWithEnclaveKey: (p) => signReceipt(p, keyset.sigPrivateKey, kid) })
      }
      previousReceipt = receipt
      return sealResponse(context, encodeCbor(response))
    },
    async close() {
      await model.close()
      await cpu.close()
    },
  }
  return rogue
}
