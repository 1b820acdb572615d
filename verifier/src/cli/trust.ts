/** `vouch-verify trust fetch`: fill the trust directory from AMD KDS and NVIDIA's services, validating everything first. */
import { relative } from 'node:path'
import {
  AMD_KDS_URL,
  parseAttestationReport,
  closestName,
  parseCommandLine,
  parseGpuAttestationReport,
  ProtocolError,
  type AttestationReport,
  type GpuAttestationReport,
  type KeyFamily,
  type Product,
} from '@vouch/protocol'
import { AMD_KDS_MIN_INTERVAL_MS, fetchAmdCollateral, type CollateralSummary } from '../trust/kds.js'
import {
  fetchNvidiaCollateral,
  NVIDIA_MIN_INTERVAL_MS,
  NVIDIA_OCSP_URL,
  NVIDIA_RIM_SERVICE_URL,
  type NvidiaCollateralSummary,
  type NvidiaGpuCollateralInput,
} from '../trust/nvidia.js'
import { defaultTrustDir, TrustStore } from '../trust/store.js'
import { readInput, UsageError } from './io.js'

export const TRUST_USAGE = `vouch-verify trust fetch [--report FILE] [--product Milan|Genoa|Turin]... [--vlek] [--kds-url URL]
                         [--gpu-report FILE --gpu-chain FILE]... [--rim-url URL] [--ocsp-url URL] [--no-ocsp]
                         [--trust-dir DIR] [--interval SECONDS] [--json]

  Fills the trust directory from AMD's Key Distribution Service and NVIDIA's RIM service and OCSP
  responder, storing only what validates. AMD: a certificate only if it chains to the ARK pinned for
  its product (a downloaded root is never trusted for itself), a CRL only if that ARK signed it, a
  VCEK only if its extensions name the report's CHIP_ID and REPORTED_TCB. NVIDIA: a RIM only if its
  signature verifies under a chain to the pinned NVIDIA RIM root and it names the report's version,
  an OCSP response only if the certificate's issuer (or its delegated responder) signed it, it echoes
  the request's nonce and it is current. Certificates and RIMs are cached forever; a CRL or an OCSP
  response is fetched again once its nextUpdate has passed.

  AMD SEV-SNP
  --report FILE       fetch what this report needs: its product's chain (ASK, or ASVK for a VLEK report,
                      then ARK) and CRL, and for a VCEK report its VCEK at REPORTED_TCB (VLEKs are not
                      published by KDS). A version 2 report does not name its product: its VCEK is looked
                      up as Milan, then Genoa, or only as the --product given
  --product NAME      fetch this product's VCEK chain (ASK, ARK) and CRL; repeatable
  --vlek              with --product: the VLEK chain (ASVK, ARK) and CRL as well
  --kds-url URL       KDS base URL (default ${AMD_KDS_URL})

  NVIDIA GPU
  --gpu-report FILE   a GPU attestation report (as NVML returns it): fetch its driver and VBIOS RIMs
                      (ids from its signed opaque fields) and OCSP responses for the device chain
                      (BROM, provisioner ICA, identity CA) and for each RIM's signing chain
  --gpu-chain FILE    that GPU's device certificate chain, leaf first (PEM); one per --gpu-report,
                      in the same order (repeat both for the GPUs of one machine)
  --rim-url URL       RIM service base URL (default ${NVIDIA_RIM_SERVICE_URL})
  --ocsp-url URL      OCSP responder URL (default ${NVIDIA_OCSP_URL})
  --no-ocsp           fetch the RIMs only
  A RIM whose signing certificate has expired is stored with a note when its signature and chain
  verify: verification accepts it only at a time before the expiry.

  --trust-dir DIR     the cache (default: $VOUCH_TRUST_DIR, else $XDG_CACHE_HOME/vouch/trust, else
                      ~/.cache/vouch/trust)
  --interval SECONDS  minimum time between requests to one service (default ${AMD_KDS_MIN_INTERVAL_MS / 1000} for KDS, what AMD allows,
                      kept across runs through the trust directory; ${NVIDIA_MIN_INTERVAL_MS / 1000} for NVIDIA's services);
                      network errors and 408, 429 and 5xx answers are retried 3 times; what would fail
                      again (another 4xx, a TLS failure, an unknown host, an invalid answer) is not
  --json              print the summary as JSON (with both AMD and NVIDIA items: { ok, amd, nvidia })

  Exit 0 when everything asked for is in the trust directory and valid, 1 when something could not be
  fetched or validated (nothing invalid is stored), 2 on usage errors.`

export const TRUST_OPTIONS = {
  report: { type: 'string' },
  product: { type: 'string', multiple: true },
  vlek: { type: 'boolean', default: false },
  'kds-url': { type: 'string' },
  'gpu-report': { type: 'string', multiple: true },
  'gpu-chain': { type: 'string', multiple: true },
  'rim-url': { type: 'string' },
  'ocsp-url': { type: 'string' },
  'no-ocsp': { type: 'boolean', default: false },
  'trust-dir': { type: 'string' },
  interval: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const

const PRODUCTS: readonly Product[] = ['Milan', 'Genoa', 'Turin']

function parseProduct(value: string): Product {
  const product = PRODUCTS.find((p) => p.toLowerCase() === value.toLowerCase())
  if (product === undefined) throw new UsageError(`--product ${value}: must be one of ${PRODUCTS.join(', ')}`)
  return product
}

function parseInterval(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--interval ${value}: not a number of seconds`)
  return Math.round(seconds * 1000)
}

function parseUrl(value: string | undefined, flag: string, fallback: string): string {
  if (value === undefined) return fallback
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UsageError(`${flag} ${value}: not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`${flag} ${value}: must be an http(s) URL`)
  return value
}

function loadReport(path: string): AttestationReport {
  try {
    return parseAttestationReport(readInput(path, '--report', 'sevSnpReport'))
  } catch (error) {
    if (error instanceof ProtocolError) throw new UsageError(`--report ${path}: ${error.message}`)
    throw error
  }
}

function loadGpu(reportPath: string, chainPath: string): NvidiaGpuCollateralInput {
  let report: GpuAttestationReport
  try {
    report = parseGpuAttestationReport(readInput(reportPath, '--gpu-report', 'gpuReport'))
  } catch (error) {
    if (error instanceof ProtocolError) throw new UsageError(`--gpu-report ${reportPath}: ${error.message}`)
    throw error
  }
  return { report, chain: Buffer.from(readInput(chainPath, '--gpu-chain', 'certificates')).toString('utf8') }
}

function render(summary: CollateralSummary): string {
  const counts = { fetched: 0, cached: 0, failed: 0 }
  for (const item of summary.items) counts[item.status]++
  const rows = summary.items.map((item) => ({ item, name: relative(summary.dir, item.path) }))
  const width = Math.max(4, ...rows.map((r) => r.name.length))
  const lines = [
    `vouch-verify trust fetch: ${summary.ok ? 'OK' : 'INCOMPLETE'}  (${counts.fetched} fetched, ${counts.cached} cached, ${counts.failed} failed; ` +
      `${summary.requests} KDS request${summary.requests === 1 ? '' : 's'})`,
    `  trust directory ${summary.dir}`,
    '',
    `  STATUS   ${'FILE'.padEnd(width)}  DETAIL`,
  ]
  for (const { item, name } of rows) {
    lines.push(`  ${(item.status === 'failed' ? 'FAILED' : item.status).padEnd(7)}  ${name.padEnd(width)}  ${item.detail}`)
    if (item.error) lines.push(`  ${' '.repeat(7)}  ${' '.repeat(width)}  [${item.error.code}] ${item.url}`)
  }
  if (summary.notes.length > 0) lines.push('', 'notes:', ...summary.notes.map((n) => `  ${n}`))
  return lines.join('\n')
}

function renderNvidia(summary: NvidiaCollateralSummary): string {
  const counts = { fetched: 0, cached: 0, failed: 0 }
  for (const item of summary.items) counts[item.status]++
  const rows = summary.items.map((item) => ({ item, name: item.path === '' ? item.name : relative(summary.dir, item.path) }))
  const width = Math.max(4, ...rows.map((r) => r.name.length))
  const lines = [
    `vouch-verify trust fetch (NVIDIA): ${summary.ok ? 'OK' : 'INCOMPLETE'}  (${counts.fetched} fetched, ${counts.cached} cached, ${counts.failed} failed; ` +
      `${summary.requests} request${summary.requests === 1 ? '' : 's'})`,
    `  trust directory ${summary.dir}`,
    '',
    `  STATUS   ${'FILE'.padEnd(width)}  DETAIL`,
  ]
  for (const { item, name } of rows) {
    const what = item.kind === 'rim' ? `RIM ${item.name}` : `OCSP ${item.chain ?? ''}`.trim()
    const tag = item.kind === 'ocsp' ? `[${what}] ` : ''
    lines.push(`  ${(item.status === 'failed' ? 'FAILED' : item.status).padEnd(7)}  ${name.padEnd(width)}  ${tag}${item.detail}`)
    if (item.error) lines.push(`  ${' '.repeat(7)}  ${' '.repeat(width)}  [${item.error.code}] ${item.url}`)
  }
  if (summary.notes.length > 0) lines.push('', 'notes:', ...summary.notes.map((n) => `  ${n}`))
  return lines.join('\n')
}

/** Runs `trust <subcommand>`; resolves to the exit code. */
export async function runTrust(args: string[], out: (text: string) => void, err: (text: string) => void = () => {}): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'fetch') throw new UsageError(sub === undefined ? 'missing subcommand (fetch)' : `unknown subcommand "${sub}"${closestName(sub, ['fetch']) ? ': did you mean fetch?' : ''}`)
  const { values } = parseCommandLine(rest, { options: TRUST_OPTIONS })
  const products = (values.product ?? []).map(parseProduct)
  const gpuReports = values['gpu-report'] ?? []
  const gpuChains = values['gpu-chain'] ?? []
  const amd = values.report !== undefined || products.length > 0
  if (!amd && gpuReports.length === 0) throw new UsageError('nothing to fetch: give --report FILE, --product NAME or --gpu-report FILE --gpu-chain FILE')
  if (values.vlek && products.length === 0) throw new UsageError('--vlek goes with --product (a report names its own family)')
  if (gpuChains.length !== gpuReports.length) {
    throw new UsageError(`give one --gpu-chain per --gpu-report (got ${gpuReports.length} reports and ${gpuChains.length} chains)`)
  }
  const kdsUrl = parseUrl(values['kds-url'], '--kds-url', AMD_KDS_URL)
  const rimUrl = parseUrl(values['rim-url'], '--rim-url', NVIDIA_RIM_SERVICE_URL)
  const ocspUrl = parseUrl(values['ocsp-url'], '--ocsp-url', NVIDIA_OCSP_URL)
  const interval = parseInterval(values.interval)
  const report = values.report === undefined ? undefined : loadReport(values.report)
  const gpus = gpuReports.map((file, i) => loadGpu(file, gpuChains[i]!))
  const families: KeyFamily[] = values.vlek ? ['vcek', 'vlek'] : ['vcek']
  const store = new TrustStore(values['trust-dir'] ?? defaultTrustDir())
  const log = (line: string): void => err(`vouch-verify trust fetch: ${line}`)

  let amdSummary: CollateralSummary | undefined
  let nvidiaSummary: NvidiaCollateralSummary | undefined
  try {
    if (amd) {
      amdSummary = await fetchAmdCollateral({
        store,
        kdsUrl,
        minIntervalMs: interval ?? AMD_KDS_MIN_INTERVAL_MS,
        ...(report && { report }),
        // For a v2 report, --product narrows the products its VCEK is looked up as.
        ...(report && products.length > 0 && { reportProducts: products }),
        products,
        families,
        log,
      })
    }
    if (gpus.length > 0) {
      nvidiaSummary = await fetchNvidiaCollateral({
        store,
        gpus,
        rimUrl,
        ocspUrl,
        ocsp: !values['no-ocsp'],
        ...(interval !== undefined && { minIntervalMs: interval }),
        log,
      })
    }
  } catch (error) {
    // The trust directory could not be written (permissions, full disk): not a verdict on the collateral.
    if (typeof (error as NodeJS.ErrnoException).syscall === 'string') {
      err(`vouch-verify trust fetch: trust directory ${store.dir}: ${(error as Error).message}`)
      return 2
    }
    throw error
  }
  const ok = (amdSummary?.ok ?? true) && (nvidiaSummary?.ok ?? true)
  if (values.json) {
    // One service: its summary as it always was; both: side by side.
    const json = amdSummary && nvidiaSummary ? { ok, amd: amdSummary, nvidia: nvidiaSummary } : (amdSummary ?? nvidiaSummary)
    out(JSON.stringify(json, null, 2))
  } else out([amdSummary && render(amdSummary), nvidiaSummary && renderNvidia(nvidiaSummary)].filter((t) => t).join('\n\n'))
  return ok ? 0 : 1
}
