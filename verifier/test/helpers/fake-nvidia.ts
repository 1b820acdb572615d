/**
 * Fake NVIDIA services on 127.0.0.1: a RIM service answering `GET /v1/rim/<id>` in NVIDIA's JSON shape
 * (`{ id, rim: base64, sha256, ... }`), serving the real RIMs of `../shared/fixtures/nvidia-gpu` by
 * default, and an OCSP responder answering `POST /` (`application/ocsp-request`, parsed with
 * @peculiar/asn1-ocsp) for the certificates of a test PKI it is told about, signed by each
 * certificate's issuer, echoing the request's nonce. Both record every request and can be told to fail.
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate as AsnCertificate } from '@peculiar/asn1-x509'
import { fixtureText, fixturesMissing } from './fixtures.js'
import { buildTestOcspResponse, parseTestOcspRequest, serialHex, testCertId, type TestHash, type TestIdentity } from './ocsp-testkit.js'

/** One request a fake received. */
export interface FakeRequest {
  method: string
  path: string
  body: Uint8Array
  time: number
}

/** A canned answer. */
export interface FakeResponse {
  status: number
  body?: Uint8Array | string
  headers?: Record<string, string>
}

/** The real RIMs served by default, under the ids NVIDIA's service knows them by. */
export const FIXTURE_RIMS: ReadonlyArray<{ id: string; file: string[] }> = [
  { id: 'NV_GPU_DRIVER_GH100_550.144.03', file: ['nvidia-gpu', 'rims', 'NV_GPU_DRIVER_GH100_550.144.03.xml'] },
  // The 545.00 case's report names these two (driver 545.00; PROJECT 1010, PROJECT_SKU 0200, CHIP_SKU 882, VBIOS 96.00.5E.00.01).
  { id: 'NV_GPU_DRIVER_GH100_545.00', file: ['nvidia-gpu', 'cases', 'hopper-h100-545.00-with-rims', 'Driver_RIM_test_no_gpu.swidtag'] },
  { id: 'NV_GPU_VBIOS_1010_0200_882_96005E0001', file: ['nvidia-gpu', 'cases', 'hopper-h100-545.00-with-rims', '1010_0200_882_96005E0001_test_no_gpu.swidtag'] },
]

const HASH_BY_OID: Record<string, TestHash> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
}

/** NVIDIA's JSON answer for a RIM; `overrides` replace fields (a wrong sha256, another id). */
export function rimAnswer(id: string, xml: string | Uint8Array, overrides: Record<string, unknown> = {}): string {
  const bytes = typeof xml === 'string' ? Buffer.from(xml, 'utf8') : Buffer.from(xml)
  return JSON.stringify({
    id,
    rim: bytes.toString('base64'),
    sha256: createHash('sha256').update(bytes).digest('hex'),
    last_updated: '2025-01-01T00:00:00Z',
    request_id: '00000000-0000-0000-0000-000000000000',
    rim_format: 'TCG',
    ...overrides,
  })
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return new Uint8Array(Buffer.concat(chunks))
}

/** What the fake OCSP responder says about a certificate. */
export interface OcspAnswer {
  status: 'good' | 'revoked' | 'unknown'
  revocationTime?: Date
  reason?: number
}

/** A certificate the responder knows, with its issuer (whose key signs the answers). */
interface Known {
  cert: TestIdentity
  issuer: TestIdentity
  serial: string
  issuerKey: ArrayBuffer
}

/** The fake RIM service and OCSP responder. Create with {@link FakeNvidia.start}; `close()` when done. */
export class FakeNvidia {
  readonly rimRequests: FakeRequest[] = []
  readonly ocspRequests: FakeRequest[] = []
  /** RIM service answers by path (`/v1/rim/<id>`). Tests may replace entries. */
  readonly rims = new Map<string, FakeResponse>()
  /** OCSP statuses by certificate serial (lower-case hex); unset: good. */
  readonly statuses = new Map<string, OcspAnswer>()
  /** The responder's clock: thisUpdate and producedAt. Unset: the system clock. */
  now: () => Date = () => new Date()
  /** How long an OCSP answer is valid (nextUpdate − thisUpdate); null: no nextUpdate. */
  validityMs: number | null = 24 * 3600_000
  /** Delegated responders by issuer subject: sign instead of the issuer, embedded in the answer. */
  readonly delegates = new Map<string, TestIdentity>()
  /** Tamper with every OCSP answer: a different nonce, or none. */
  nonceOverride: Uint8Array | null | undefined = undefined
  rimUrl = ''
  ocspUrl = ''
  #known: Known[] = []
  #rimFailures: FakeResponse[] = []
  #ocspFailures: FakeResponse[] = []
  #rimServer: Server
  #ocspServer: Server

  private constructor() {
    if (!fixturesMissing('nvidia-gpu')) for (const { id, file } of FIXTURE_RIMS) this.setRim(id, fixtureText(...file))
    this.#rimServer = createServer((req, res) => void this.#serveRim(req, res))
    this.#ocspServer = createServer((req, res) => void this.#serveOcsp(req, res))
  }

  static async start(): Promise<FakeNvidia> {
    const fake = new FakeNvidia()
    const listen = (server: Server): Promise<string> =>
      new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)))
    fake.rimUrl = await listen(fake.#rimServer)
    fake.ocspUrl = await listen(fake.#ocspServer)
    return fake
  }

  /** Serves `xml` under `id` in NVIDIA's JSON shape (`overrides` replace fields of the JSON). */
  setRim(id: string, xml: string | Uint8Array, overrides: Record<string, unknown> = {}): void {
    this.rims.set(`/v1/rim/${id}`, { status: 200, body: rimAnswer(id, xml, overrides), headers: { 'content-type': 'application/json' } })
  }

  /** Teaches the responder certificates it may answer for, each signed by its issuer. */
  know(pairs: ReadonlyArray<{ cert: TestIdentity; issuer: TestIdentity }>): void {
    for (const { cert, issuer } of pairs) {
      const asn = AsnConvert.parse(cert.der, AsnCertificate)
      this.#known.push({
        cert,
        issuer,
        serial: Buffer.from(asn.tbsCertificate.serialNumber).toString('hex').replace(/^(00)+(?=.)/, ''),
        issuerKey: AsnConvert.parse(issuer.der, AsnCertificate).tbsCertificate.subjectPublicKeyInfo.subjectPublicKey,
      })
    }
  }

  /** Forgets every certificate: the responder then answers "unauthorized", as a real one does for a CA it does not serve. */
  forgetAll(): void {
    this.#known = []
  }

  /** The next `count` RIM requests get this answer (e.g. 429 with Retry-After, or 503). */
  failNextRim(count: number, response: FakeResponse): void {
    for (let i = 0; i < count; i++) this.#rimFailures.push(response)
  }

  /** The next `count` OCSP requests get this answer (an HTTP error, or an OCSP error status with HTTP 200). */
  failNextOcsp(count: number, response: FakeResponse): void {
    for (let i = 0; i < count; i++) this.#ocspFailures.push(response)
  }

  async #serveRim(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/'
    this.rimRequests.push({ method: req.method ?? '', path, body: await readBody(req), time: Date.now() })
    const answer = this.#rimFailures.shift() ?? (req.method === 'GET' ? this.rims.get(path) : undefined) ?? { status: 404, body: '{"error":"RIM not found"}' }
    res.writeHead(answer.status, answer.headers ?? {})
    res.end(answer.body === undefined ? undefined : typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body))
  }

  async #serveOcsp(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req)
    this.ocspRequests.push({ method: req.method ?? '', path: req.url ?? '/', body, time: Date.now() })
    const failure = this.#ocspFailures.shift()
    const answer = failure ?? this.#answerOcsp(req, body)
    res.writeHead(answer.status, answer.headers ?? { 'content-type': 'application/ocsp-response' })
    res.end(answer.body === undefined ? undefined : typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body))
  }

  #answerOcsp(req: IncomingMessage, body: Uint8Array): FakeResponse {
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/ocsp-request') return { status: 405 }
    let request: ReturnType<typeof parseTestOcspRequest>
    try {
      request = parseTestOcspRequest(body)
    } catch {
      return { status: 200, body: Uint8Array.of(0x30, 0x03, 0x0a, 0x01, 0x01) } // malformedRequest
    }
    const certId = request.certIds[0]
    const hash = certId === undefined ? undefined : HASH_BY_OID[certId.hashAlgorithm.algorithm]
    const known =
      certId === undefined || hash === undefined
        ? undefined
        : this.#known.find((k) => k.serial === serialHex(certId) && Buffer.from(certId.issuerKeyHash.buffer).equals(createHash(hash).update(new Uint8Array(k.issuerKey)).digest()))
    if (known === undefined || certId === undefined) return { status: 200, body: Uint8Array.of(0x30, 0x03, 0x0a, 0x01, 0x06) } // unauthorized
    const now = this.now()
    const answer = this.statuses.get(known.serial) ?? { status: 'good' }
    const delegate = this.delegates.get(known.issuer.name)
    const der = buildTestOcspResponse({
      signer: delegate ?? known.issuer,
      ...(delegate && { certs: [delegate] }),
      nonce: this.nonceOverride === undefined ? request.nonce : this.nonceOverride,
      producedAt: now,
      answers: [
        {
          // Echo the request's CertID, as responders do; it matches the testkit's own computation.
          certId: testCertId(known.cert.der, known.issuer.der, hash!),
          ...answer,
          thisUpdate: now,
          nextUpdate: this.validityMs === null ? null : new Date(now.getTime() + this.validityMs),
        },
      ],
    })
    return { status: 200, body: der }
  }

  /** OCSP requests answered for the certificate with this serial (as the responder parsed them). */
  ocspRequestsFor(serial: string): FakeRequest[] {
    return this.ocspRequests.filter((r) => {
      try {
        return serialHex(parseTestOcspRequest(r.body).certIds[0]!) === serial
      } catch {
        return false
      }
    })
  }

  async close(): Promise<void> {
    for (const server of [this.#rimServer, this.#ocspServer]) {
      server.closeAllConnections()
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())))
    }
  }
}
