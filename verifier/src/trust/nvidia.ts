/**
 * Fills a {@link TrustStore} with NVIDIA collateral for GPU reports: the driver and VBIOS RIMs from
 * NVIDIA's RIM service, and OCSP responses from NVIDIA's OCSP responder for the device chain (BROM,
 * provisioner ICA, identity CA) and for every RIM signing chain (signer, L3, CA). Everything is
 * validated before it is written: a RIM only if its signature verifies under a chain to a pinned
 * NVIDIA RIM root and it names the report's version, an OCSP response only if it answers for that
 * certificate, is signed by its issuer (or the issuer's delegated responder), echoes the request's
 * nonce and is current. A downloaded root is never trusted for itself (DESIGN.md §5).
 *
 * RIMs are cached forever (a RIM id names one signed document); OCSP responses until their nextUpdate.
 */
import { gpuRimIds, type GpuRimIds } from '../nvidia/rim-ids.js'
import { randomBytes } from 'node:crypto'
import { ProtocolError, type GpuAttestationReport } from '@vouch/protocol'
import { VerificationError, type ErrorCode } from '../errors.js'
import { architectureOf, verifyDeviceChain } from '../nvidia/device.js'
import { checkRim, MAX_RIM_BYTES, type RimCheck } from '../nvidia/rim.js'
import { DEFAULT_NVIDIA_TRUST, type NvidiaTrust } from '../nvidia/trust.js'
import { CheckCollector, type Check } from '../result.js'
import { commonName, parseCertificate, sha256Hex, type Certificate } from '../x509/certificate.js'
import { checkOcspStatus, type OcspStatus } from '../x509/ocsp-check.js'
import { ocspResponseStatusOf, parseOcspResponse, type OcspHashAlgorithm } from '../x509/ocsp-decode.js'
import { buildOcspRequest } from '../x509/ocsp-request.js'
import { toDerList, type DerInput } from '../x509/pem.js'
import { ServiceClient, type HttpHooks } from './http.js'
import type { CollateralStatus } from './kds.js'
import type { TrustStore } from './store.js'

/** NVIDIA's RIM service (`GET <url>/v1/rim/<id>`). */
export const NVIDIA_RIM_SERVICE_URL = 'https://rim.attestation.nvidia.com'
/** NVIDIA's OCSP responder (`POST <url>/`, `application/ocsp-request`). */
export const NVIDIA_OCSP_URL = 'https://ocsp.ndis.nvidia.com'
/** Minimum time between two requests to one NVIDIA service by default: NVIDIA publishes no rate limit. */
export const NVIDIA_MIN_INTERVAL_MS = 200
/** How many times a request that failed transiently (network, 429, 5xx, OCSP tryLater) is tried again by default. */
export const NVIDIA_RETRIES = 3
/** Per-request timeout by default. */
export const NVIDIA_TIMEOUT_MS = 30_000
/** The first retry waits at least this long, each later one twice as long. */
const BACKOFF_MS = 1000
/** The RIM service's JSON holds a base64 RIM: a bit over 4/3 of the largest RIM accepted. */
const MAX_RIM_ANSWER_BYTES = 2 * MAX_RIM_BYTES
/** OCSP responses are a few kilobytes. */
const MAX_OCSP_ANSWER_BYTES = 64 * 1024

/** One GPU whose collateral to fetch. */
export interface NvidiaGpuCollateralInput {
  /** The parsed report: its opaque fields name the RIMs. */
  report: GpuAttestationReport
  /** The device chain, leaf first (5 certificates): PEM text or DER. */
  chain: DerInput
}

/** What to fetch and how. Every option says what happens when it is unset. */
export interface FetchNvidiaCollateralOptions extends HttpHooks {
  /** Where validated collateral is cached. */
  store: TrustStore
  /** The GPUs; RIMs and OCSP responses they share are fetched once. */
  gpus: readonly NvidiaGpuCollateralInput[]
  /** RIM service base URL. Unset: {@link NVIDIA_RIM_SERVICE_URL}. */
  rimUrl?: string
  /** OCSP responder URL. Unset: {@link NVIDIA_OCSP_URL}. */
  ocspUrl?: string
  /** Whether to fetch OCSP responses. Unset: true. */
  ocsp?: boolean
  /** CertID hash of OCSP requests. Unset: SHA-384, as NVIDIA's verifiers ask. */
  ocspHash?: OcspHashAlgorithm
  /** Pinned roots that RIM chains and device chains must end in. Unset: {@link DEFAULT_NVIDIA_TRUST}. */
  trust?: NvidiaTrust
  /** The clock: certificate validity, OCSP freshness, request spacing. Unset: the system clock. */
  now?: () => Date
  /** Minimum time between two requests to one service. Unset: {@link NVIDIA_MIN_INTERVAL_MS}. */
  minIntervalMs?: number
  /**
   * Retries after a network error, HTTP 408, 429 or 5xx, or OCSP tryLater/internalError. Unset: {@link NVIDIA_RETRIES}.
   * Other 4xx, a name that does not resolve, a TLS failure and an answer that fails validation are never retried.
   */
  retries?: number
  /** Per-request timeout. Unset: {@link NVIDIA_TIMEOUT_MS}. */
  timeoutMs?: number
  /** Progress lines (requests, retries, refreshes). Unset: silent. */
  log?: (line: string) => void
}

/** The kinds of NVIDIA collateral. */
export type NvidiaCollateralKind = 'rim' | 'ocsp'

/** The outcome for one piece of NVIDIA collateral. */
export interface NvidiaCollateralItem {
  kind: NvidiaCollateralKind
  /** A RIM id, or for an OCSP response the certificate it is about ("GH100 A01 GSP BROM"). */
  name: string
  /** For an OCSP response: which chain the certificate belongs to ("device chain", "RIM NV_GPU_…"). */
  chain?: string
  status: CollateralStatus
  /** Where it comes from. */
  url: string
  /** Its file in the store. */
  path: string
  /** What was found, or for a failure what went wrong. */
  detail: string
  /** Set when `status` is `failed`. */
  error?: { code: ErrorCode; message: string }
}

/** What {@link fetchNvidiaCollateral} did. */
export interface NvidiaCollateralSummary {
  /** True when nothing failed: everything asked for is in the store and valid. */
  ok: boolean
  dir: string
  /** HTTP requests made (retries included), to the RIM service and the OCSP responder together. */
  requests: number
  items: NvidiaCollateralItem[]
  /** What the user should know that is not a failure (an expired RIM signer, a revoked certificate, ...). */
  notes: string[]
}

/** A check that failed inside a Result (a RIM check), carried as an error. */
class FailedCheck extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message)
  }
}

/** The code and message of a coded verifier or protocol error; anything else (a bug, a full disk) is rethrown. */
function errorOf(error: unknown): { code: ErrorCode; message: string } {
  if (error instanceof VerificationError || error instanceof ProtocolError || error instanceof FailedCheck) return { code: error.code, message: error.message }
  throw error
}

const label = (cert: Certificate): string => commonName(cert.subject) || cert.subject

/** Joins a base URL and a path without doubling or losing the slash. */
function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`
}

/**
 * Whether a RIM may be stored: every check of `checkRim` passed, or the only failure is that a
 * certificate of its chain has expired (the signature and the chain to the pinned root verified).
 * Returns the failure that forbids it, or null.
 */
function rimRefusal(checks: readonly Check[]): FailedCheck | null {
  const blocking = checks.find((c) => c.status === 'fail' && !(c.id === 'rim.validity' && c.code === 'ERR_CHAIN_EXPIRED'))
  return blocking === undefined ? null : new FailedCheck(blocking.code ?? 'ERR_RIM_MALFORMED', blocking.detail)
}

/** A RIM that passed {@link validateRim}: its KeyInfo chain, and whether a certificate of it has expired. */
interface ValidRim {
  certificates: Certificate[]
  expired: string | null
  version: string
  signer: string
}

/**
 * Checks a RIM for storing: authentic under a pinned root at `at` (an expired certificate is
 * tolerated, see {@link rimRefusal}) and naming `version`. Throws the failing check's code.
 */
async function validateRim(xml: string, version: string, trust: NvidiaTrust, at: Date): Promise<ValidRim> {
  const checks = new CheckCollector()
  const result: RimCheck = await checkRim(xml, { at, trust }, checks)
  const refusal = rimRefusal(checks.checks)
  if (refusal !== null) throw refusal
  if (result.document === null || result.claims === null) throw new VerificationError('ERR_RIM_MALFORMED', 'the RIM did not parse')
  if (result.document.colloquialVersion.toLowerCase() !== version.toLowerCase()) {
    throw new VerificationError('ERR_RIM_VERSION_MISMATCH', `the RIM is for version ${result.document.colloquialVersion}, the report says ${version}`)
  }
  const expired = checks.checks.find((c) => c.id === 'rim.validity' && c.status === 'fail')
  return {
    certificates: result.document.certificates.map((der, i) => parseCertificate(der, `RIM KeyInfo certificate ${i + 1}`)),
    expired: expired === undefined ? null : result.claims.certificateNotAfter,
    version: result.document.colloquialVersion,
    signer: result.claims.signer,
  }
}

/** The RIM service's answer: `{ id, rim: base64 XML, sha256: hex of the XML bytes, ... }`. Returns the XML bytes. */
function rimFromAnswer(body: Uint8Array, id: string): Uint8Array {
  const bad = (why: string): VerificationError => new VerificationError('ERR_COLLATERAL_FETCH', `the RIM service's answer for ${id} ${why}`)
  let answer: unknown
  try {
    answer = JSON.parse(Buffer.from(body).toString('utf8'))
  } catch {
    throw bad('is not JSON')
  }
  if (typeof answer !== 'object' || answer === null) throw bad('is not a JSON object')
  const { id: gotId, rim, sha256 } = answer as Record<string, unknown>
  if (gotId !== id) throw bad(`names another RIM: ${JSON.stringify(gotId)}`)
  if (typeof rim !== 'string' || rim.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(rim) || rim.length === 0) throw bad('has no base64 "rim"')
  if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) throw bad('has no hex "sha256"')
  const xml = new Uint8Array(Buffer.from(rim, 'base64'))
  const digest = sha256Hex(xml)
  if (digest !== sha256.toLowerCase()) throw bad(`says sha256 ${sha256.toLowerCase()}, but the RIM it carries hashes to ${digest}`)
  return xml
}

function describeOcsp(status: OcspStatus, cert: Certificate): string {
  const next = status.nextUpdate === null ? 'no nextUpdate' : `nextUpdate ${status.nextUpdate.toISOString()}`
  const revoked = status.status === 'revoked' ? ` since ${status.revocationTime?.toISOString() ?? '?'} (${status.reason ?? 'no reason given'})` : ''
  const signer = status.responder.kind === 'issuer' ? 'its issuer' : `delegated responder "${commonName(status.responder.subject) || status.responder.subject}"`
  return `${status.status}${revoked} for "${label(cert)}" (serial ${cert.serialNumber}), signed by ${signer}, thisUpdate ${status.thisUpdate.toISOString()}, ${next}`
}

/** One run: remembers what it did so each RIM and each certificate is fetched and reported once. */
class Run {
  readonly items: NvidiaCollateralItem[] = []
  readonly notes: string[] = []
  readonly #rims = new Map<string, ValidRim | null>()
  readonly #ocspDone = new Set<string>()
  readonly #store: TrustStore
  readonly #rimClient: ServiceClient
  readonly #ocspClient: ServiceClient
  readonly #rimUrl: string
  readonly #ocspUrl: string
  readonly #hash: OcspHashAlgorithm
  readonly #trust: NvidiaTrust
  readonly #now: () => Date
  readonly #log: (line: string) => void

  constructor(options: FetchNvidiaCollateralOptions, now: () => Date, log: (line: string) => void) {
    // Spacing is per client and per process: NVIDIA's services have no rule like KDS's one request per 10 seconds.
    const common = {
      fetch: options.fetch,
      sleep: options.sleep,
      now,
      minIntervalMs: options.minIntervalMs ?? NVIDIA_MIN_INTERVAL_MS,
      retries: options.retries ?? NVIDIA_RETRIES,
      backoffMs: BACKOFF_MS,
      timeoutMs: options.timeoutMs ?? NVIDIA_TIMEOUT_MS,
      log,
    }
    this.#rimClient = new ServiceClient({ ...common, service: 'the NVIDIA RIM service', maxBodyBytes: MAX_RIM_ANSWER_BYTES })
    this.#ocspClient = new ServiceClient({ ...common, service: 'the NVIDIA OCSP responder', maxBodyBytes: MAX_OCSP_ANSWER_BYTES })
    this.#store = options.store
    this.#rimUrl = options.rimUrl ?? NVIDIA_RIM_SERVICE_URL
    this.#ocspUrl = options.ocspUrl ?? NVIDIA_OCSP_URL
    this.#hash = options.ocspHash ?? 'sha384'
    this.#trust = options.trust ?? DEFAULT_NVIDIA_TRUST
    this.#now = now
    this.#log = log
  }

  get requests(): number {
    return this.#rimClient.requests + this.#ocspClient.requests
  }

  #failed(base: Omit<NvidiaCollateralItem, 'status' | 'detail'>, error: { code: ErrorCode; message: string }): NvidiaCollateralItem {
    return { ...base, status: 'failed', detail: error.message, error }
  }

  /** Describes a RIM that passed validation, and notes an expired certificate. */
  #describeRim(id: string, rim: ValidRim): string {
    if (rim.expired !== null) {
      const note =
        `RIM ${id}: a certificate of its signing chain expired ${rim.expired}; it is stored because its signature and chain to the ` +
        `pinned root verify, but verification accepts it only at a time before then`
      if (!this.notes.includes(note)) this.notes.push(note)
    }
    return `version ${rim.version}, signed by "${rim.signer}"${rim.expired === null ? '' : ` (certificate expired ${rim.expired})`}`
  }

  /** The RIM `id` naming `version`: from the store if valid there, else from the RIM service (validated, then stored). */
  async rim(id: string, version: string): Promise<ValidRim | null> {
    if (this.#rims.has(id)) return this.#rims.get(id)!
    const base = { kind: 'rim' as const, name: id, url: joinUrl(this.#rimUrl, `v1/rim/${encodeURIComponent(id)}`), path: this.#store.rimPath(id) }
    const now = this.#now()
    let result: ValidRim | null = null
    const cached = this.#store.readRim(id)
    if (cached !== null) {
      try {
        result = await validateRim(cached, version, this.#trust, now)
        this.items.push({ ...base, status: 'cached', detail: this.#describeRim(id, result) })
      } catch (error) {
        this.#log(`the cached RIM ${id} is not valid (${errorOf(error).message}): fetching it again`)
      }
    }
    if (result === null) {
      const got = await this.#rimClient.request({ method: 'GET', url: base.url, headers: { accept: 'application/json' } })
      if (!got.ok) {
        const message = got.status === 404 ? `the RIM service has no RIM ${id}: ${got.message}` : got.message
        this.items.push(this.#failed(base, { code: 'ERR_COLLATERAL_FETCH', message }))
      } else {
        try {
          const xml = rimFromAnswer(got.body, id)
          const rim = await validateRim(Buffer.from(xml).toString('utf8'), version, this.#trust, now)
          this.#store.writeRim(id, xml)
          this.items.push({ ...base, status: 'fetched', detail: this.#describeRim(id, rim) })
          result = rim
        } catch (error) {
          this.items.push(this.#failed(base, errorOf(error)))
        }
      }
    }
    this.#rims.set(id, result)
    return result
  }

  /**
   * The OCSP response about `cert` (issued by `issuer`, from a chain verified to a pinned root): the
   * cached one while it is valid and current, else a fresh one (new nonce), validated, then stored.
   */
  async ocsp(cert: Certificate, issuer: Certificate, chain: string): Promise<void> {
    if (this.#ocspDone.has(cert.sha256)) return
    this.#ocspDone.add(cert.sha256)
    const base = { kind: 'ocsp' as const, name: label(cert), chain, url: joinUrl(this.#ocspUrl, ''), path: this.#store.ocspPath(cert.sha256) }
    const now = this.#now()
    const cachedDer = this.#store.readOcsp(cert.sha256)
    let staleNote = ''
    if (cachedDer !== null) {
      try {
        const status = await checkOcspStatus(parseOcspResponse(cachedDer, 'cached OCSP response'), { certificate: cert, issuer, at: now, what: `"${label(cert)}"` })
        this.items.push({ ...base, status: 'cached', detail: describeOcsp(status, cert) })
        this.#noteStatus(status, cert)
        return
      } catch (error) {
        const e = errorOf(error)
        const why = e.code === 'ERR_OCSP_STALE' ? 'past its nextUpdate' : `not valid (${e.message})`
        this.#log(`the cached OCSP response about "${label(cert)}" is ${why}: fetching a newer one`)
        if (e.code === 'ERR_OCSP_STALE') staleNote = ' (the cached response, now stale, is kept)'
      }
    }
    const nonce = new Uint8Array(randomBytes(32))
    const got = await this.#ocspClient.request({
      method: 'POST',
      url: base.url,
      headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
      body: buildOcspRequest(cert, issuer, { hash: this.#hash, nonce }),
      transient: (body) => {
        // The responder answers these with HTTP 200; they are as transient as a 503.
        const status = ocspResponseStatusOf(body)
        return status === 'tryLater' || status === 'internalError' ? `OCSP responseStatus ${status}` : null
      },
    })
    if (!got.ok) {
      this.items.push(this.#failed(base, { code: 'ERR_COLLATERAL_FETCH', message: `${got.message}${staleNote}` }))
      return
    }
    try {
      const response = parseOcspResponse(got.body, `OCSP response about "${label(cert)}"`)
      const status = await checkOcspStatus(response, { certificate: cert, issuer, at: now, nonce, what: `"${label(cert)}"` })
      this.#store.writeOcsp(cert.sha256, response.der)
      this.items.push({ ...base, status: 'fetched', detail: describeOcsp(status, cert) })
      this.#noteStatus(status, cert)
    } catch (error) {
      const e = errorOf(error)
      this.items.push(this.#failed(base, { ...e, message: `${e.message}${staleNote}` }))
    }
  }

  #noteStatus(status: OcspStatus, cert: Certificate): void {
    if (status.status === 'good') return
    const what =
      status.status === 'revoked'
        ? `REVOKED since ${status.revocationTime?.toISOString() ?? '?'} (${status.reason ?? 'no reason given'})`
        : 'UNKNOWN to the responder'
    this.notes.push(`OCSP: "${label(cert)}" (serial ${cert.serialNumber}) is ${what}; verification rejects it unless the policy allows it`)
  }

  /** Everything one GPU needs. */
  async gpu(input: NvidiaGpuCollateralInput, index: number, ocsp: boolean): Promise<void> {
    const gpuName = `GPU ${index}`
    let certs: Certificate[]
    try {
      certs = toDerList(input.chain, `${gpuName} device chain`).map((der, i) => parseCertificate(der, `${gpuName} device chain certificate ${i}`))
    } catch (error) {
      this.#gpuFailure(gpuName, errorOf(error), ocsp)
      return
    }
    const arch = architectureOf(commonName(certs[0]!.subject))
    if (arch === null) {
      const message = `${gpuName}: the leaf "${label(certs[0]!)}" names no GPU architecture Vouch knows`
      this.#gpuFailure(gpuName, { code: 'ERR_GPU_ARCH_UNKNOWN', message }, ocsp)
      return
    }
    let ids: GpuRimIds | null = null
    try {
      ids = gpuRimIds(input.report, arch)
    } catch (error) {
      this.#gpuFailure(gpuName, errorOf(error), false)
    }
    const rims: Array<[string, ValidRim | null]> = []
    if (ids !== null) {
      rims.push([ids.driver, await this.rim(ids.driver, ids.driverVersion)])
      rims.push([ids.vbios, await this.rim(ids.vbios, ids.vbiosVersion)])
    }
    if (!ocsp) return
    try {
      // OCSP answers are only as good as the issuer they are checked under: the chain must reach a pinned root.
      await verifyDeviceChain(certs, this.#trust.deviceRoots, this.#now())
      // The FMC leaf is not served by NVIDIA's responder (spec §3.3): BROM, provisioner ICA and identity CA.
      for (let i = 1; i < certs.length - 1; i++) await this.ocsp(certs[i]!, certs[i + 1]!, `${gpuName} device chain`)
    } catch (error) {
      const e = errorOf(error)
      this.items.push(
        this.#failed(
          { kind: 'ocsp', name: `${gpuName} device chain`, chain: `${gpuName} device chain`, url: joinUrl(this.#ocspUrl, ''), path: '' },
          { code: e.code, message: `not fetched: the device chain does not verify: ${e.message}` },
        ),
      )
    }
    for (const [id, rim] of rims) {
      if (rim === null) continue
      // All but the root, which is pinned (spec §4.3).
      for (let i = 0; i < rim.certificates.length - 1; i++) await this.ocsp(rim.certificates[i]!, rim.certificates[i + 1]!, `RIM ${id}`)
    }
  }

  #gpuFailure(gpuName: string, error: { code: ErrorCode; message: string }, ocsp: boolean): void {
    const kinds: NvidiaCollateralKind[] = ocsp ? ['rim', 'ocsp'] : ['rim']
    for (const kind of kinds) {
      const url = kind === 'rim' ? joinUrl(this.#rimUrl, 'v1/rim/') : joinUrl(this.#ocspUrl, '')
      this.items.push(this.#failed({ kind, name: gpuName, url, path: '' }, { code: error.code, message: `not fetched: ${error.message}` }))
    }
  }
}

/**
 * Fetches NVIDIA collateral for `options.gpus` into `options.store`: each report's driver and VBIOS
 * RIMs (ids from its signed opaque fields, spec §4.1) and, unless `ocsp` is false, OCSP responses for
 * certificates 1..3 of its device chain (once that chain verifies to a pinned root) and for all but
 * the root of each RIM's signing chain, asked with a fresh 32-byte nonce.
 *
 * Cached RIMs are kept forever and cached OCSP responses until their nextUpdate; both are
 * re-validated on every run, and fetched ones are validated before anything is written. A RIM whose
 * chain has an expired certificate is stored (its signature and chain to the pinned root must
 * verify) with a note, because NVIDIA keeps serving such RIMs for older drivers and a verification
 * at a time before the expiry still accepts it. Never throws for service or validation failures:
 * they are `failed` items in the summary.
 *
 * @example
 * ```ts
 * const report = parseGpuAttestationReport(reportBytes)
 * const summary = await fetchNvidiaCollateral({ store: new TrustStore(), gpus: [{ report, chain: chainPem }] })
 * if (!summary.ok) for (const i of summary.items) if (i.error) console.error(i.error.code, i.error.message)
 * ```
 */
export async function fetchNvidiaCollateral(options: FetchNvidiaCollateralOptions): Promise<NvidiaCollateralSummary> {
  const now = options.now ?? (() => new Date())
  const log = options.log ?? (() => {})
  const run = new Run(options, now, log)
  for (const [i, gpu] of options.gpus.entries()) await run.gpu(gpu, i, options.ocsp ?? true)
  return { ok: run.items.every((i) => i.status !== 'failed'), dir: options.store.dir, requests: run.requests, items: run.items, notes: run.notes }
}
