/**
 * A fake AMD Key Distribution Service on 127.0.0.1, serving the real AMD material from
 * `../shared/fixtures/sev-snp` at the exact KDS URLs (go-sev-guest tests use a getter keyed by URL the
 * same way): `/{vcek,vlek}/v1/{P}/cert_chain` (ASK or ASVK, then ARK), `/{vcek,vlek}/v1/{P}/crl` (the
 * newest fixture CRL of the product; the ARK signs both families' CRLs) and each VCEK case's `vek.der`
 * at the URL `kdsVcekUrl` computes from its report. It records every request and can be told to fail.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { decodeTcb, kdsVcekUrl, parseAttestationReport, type AttestationReport, type Product } from '@vouch/protocol'
import { FIXTURES_DIR, fixtureBytes, fixtureExists, fixtureText } from './fixtures.js'
import { loadSevSnpCases } from './sev-snp-cases.js'

/** One request the fake received. */
export interface KdsRequest {
  /** Path and query, e.g. `/vcek/v1/Turin/cert_chain`. */
  path: string
  /** `Date.now()` when it arrived. */
  time: number
}

/** A canned answer. */
export interface KdsResponse {
  status: number
  body?: Uint8Array | string
  headers?: Record<string, string>
}

const PRODUCTS: readonly Product[] = ['Milan', 'Genoa', 'Turin']

/** The newest fixture CRL of each product, by the date in its file name (`<product>_vcek_crl_<date>_n<k>.der`). */
function newestCrls(): Map<Product, Uint8Array> {
  const files = readdirSync(join(FIXTURES_DIR, 'sev-snp', 'roots', 'crl')).filter((f) => f.endsWith('.der')).sort()
  const out = new Map<Product, Uint8Array>()
  for (const product of PRODUCTS) {
    const newest = files.filter((f) => f.startsWith(`${product.toLowerCase()}_`)).at(-1)
    if (newest !== undefined) out.set(product, fixtureBytes('sev-snp', 'roots', 'crl', newest))
  }
  return out
}

/** A VCEK case the fake serves: its report and the path of its VCEK. */
export interface ServedVcek {
  name: string
  product: Product
  report: AttestationReport
  reportBytes: Uint8Array
  vek: Uint8Array
  path: string
  verifyAt: string | null
}

/** The fake KDS. Create with {@link FakeKds.start}; `close()` when done. */
export class FakeKds {
  readonly requests: KdsRequest[] = []
  /** Everything served, by path and query. Tests may replace entries. */
  readonly routes = new Map<string, KdsResponse>()
  /** VCEK cases by case name. */
  readonly vceks = new Map<string, ServedVcek>()
  /** The newest CRL of each product, as served. */
  readonly crls: Map<Product, Uint8Array>
  #failures: KdsResponse[] = []
  #server: Server
  url = ''

  private constructor() {
    this.crls = newestCrls()
    for (const product of PRODUCTS) {
      const dir = `sev-snp/roots/${product.toLowerCase()}`
      const ark = fixtureText(dir, 'ark.pem')
      this.routes.set(`/vcek/v1/${product}/cert_chain`, { status: 200, body: fixtureText(dir, 'ask.pem') + ark })
      this.routes.set(`/vlek/v1/${product}/cert_chain`, { status: 200, body: fixtureText(dir, 'asvk.pem') + ark })
      const crl = this.crls.get(product)
      if (crl !== undefined) {
        this.routes.set(`/vcek/v1/${product}/crl`, { status: 200, body: crl })
        this.routes.set(`/vlek/v1/${product}/crl`, { status: 200, body: crl })
      }
    }
    for (const c of loadSevSnpCases()) {
      const dir = `sev-snp/cases/${c.name}`
      if (c.expected.product === null || c.expected.signingKey !== 'VCEK' || !fixtureExists(dir, 'vek.der')) continue
      const product = (c.expected.product[0]!.toUpperCase() + c.expected.product.slice(1)) as Product
      const report = parseAttestationReport(c.input.report)
      const path = kdsVcekUrl(product, report.chipId, decodeTcb(report.reportedTcb, product), '')
      const vek = fixtureBytes(dir, 'vek.der')
      this.vceks.set(c.name, { name: c.name, product, report, reportBytes: c.input.report, vek, path, verifyAt: c.expected.verifyAt })
      this.routes.set(path, { status: 200, body: vek })
    }
    this.#server = createServer((req, res) => {
      const path = req.url ?? '/'
      this.requests.push({ path, time: Date.now() })
      const answer = this.#failures.shift() ?? this.routes.get(path) ?? { status: 404, body: 'Not Found' }
      res.writeHead(answer.status, answer.headers ?? {})
      res.end(answer.body === undefined ? undefined : typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body))
    })
  }

  /** Starts a fake on an ephemeral port of 127.0.0.1. */
  static async start(): Promise<FakeKds> {
    const kds = new FakeKds()
    await new Promise<void>((resolve) => kds.#server.listen(0, '127.0.0.1', resolve))
    kds.url = `http://127.0.0.1:${(kds.#server.address() as AddressInfo).port}`
    return kds
  }

  /**
   * Makes one request and forgets it, so the client's one-time set-up (the first `fetch` of a process
   * loads undici) does not delay the first recorded arrival and skew measured spacing.
   */
  async warmUp(): Promise<void> {
    await (await fetch(`${this.url}/warm-up`)).arrayBuffer()
    this.requests.length = 0
  }

  /** The next `count` requests, whatever they ask for, get this answer (e.g. 429 with Retry-After, or 500). */
  failNext(count: number, response: KdsResponse): void {
    for (let i = 0; i < count; i++) this.#failures.push(response)
  }

  /** Requests whose path starts with `prefix` (all when unset). */
  requestsTo(prefix = '/'): KdsRequest[] {
    return this.requests.filter((r) => r.path.startsWith(prefix))
  }

  /** A served VCEK case by name; throws if the fixtures do not have it. */
  vcek(name: string): ServedVcek {
    const served = this.vceks.get(name)
    if (served === undefined) throw new Error(`fake KDS: no VCEK case ${name}`)
    return served
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve, reject) => this.#server.close((error) => (error ? reject(error) : resolve())))
  }
}
