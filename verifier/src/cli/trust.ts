/** `vouch-verify trust fetch`: fill the trust directory from AMD KDS, validating everything first. */
import { relative } from 'node:path'
import { parseArgs } from 'node:util'
import { AMD_KDS_URL, parseAttestationReport, ProtocolError, type AttestationReport, type KeyFamily, type Product } from '@vouch/protocol'
import { AMD_KDS_MIN_INTERVAL_MS, fetchAmdCollateral, type CollateralSummary } from '../trust/kds.js'
import { defaultTrustDir, TrustStore } from '../trust/store.js'
import { readInput, UsageError } from './io.js'

export const TRUST_USAGE = `vouch-verify trust fetch [--report FILE] [--product Milan|Genoa|Turin]... [--vlek] [--trust-dir DIR]
                         [--kds-url URL] [--interval SECONDS] [--json]

  Fills the trust directory from AMD's Key Distribution Service. A certificate is stored only if it
  chains to the ARK pinned for its product (a downloaded root is never trusted for itself), a CRL only
  if that ARK signed it, a VCEK only if its extensions name the report's CHIP_ID and REPORTED_TCB.
  Certificates are cached forever; a CRL is fetched again once its nextUpdate has passed.

  --report FILE       fetch what this report needs: its product's chain (ASK, or ASVK for a VLEK report,
                      then ARK) and CRL, and for a VCEK report its VCEK at REPORTED_TCB (VLEKs are not
                      published by KDS). A version 2 report does not name its product: its VCEK is looked
                      up as Milan, then Genoa, or only as the --product given
  --product NAME      fetch this product's VCEK chain (ASK, ARK) and CRL; repeatable
  --vlek              with --product: the VLEK chain (ASVK, ARK) and CRL as well
  --trust-dir DIR     the cache (default: $VOUCH_TRUST_DIR, else $XDG_CACHE_HOME/vouch/trust, else
                      ~/.cache/vouch/trust)
  --kds-url URL       KDS base URL (default ${AMD_KDS_URL})
  --interval SECONDS  minimum time between KDS requests, kept across runs through the trust directory
                      (default ${AMD_KDS_MIN_INTERVAL_MS / 1000}, what AMD's KDS allows); 429 and 5xx answers are retried 3 times
  --json              print the summary as JSON

  Exit 0 when everything asked for is in the trust directory and valid, 1 when something could not be
  fetched or validated (nothing invalid is stored), 2 on usage errors.`

const PRODUCTS: readonly Product[] = ['Milan', 'Genoa', 'Turin']

function parseProduct(value: string): Product {
  const product = PRODUCTS.find((p) => p.toLowerCase() === value.toLowerCase())
  if (product === undefined) throw new UsageError(`--product ${value}: must be one of ${PRODUCTS.join(', ')}`)
  return product
}

function parseInterval(value: string | undefined): number {
  if (value === undefined) return AMD_KDS_MIN_INTERVAL_MS
  const seconds = Number(value)
  if (value.trim() === '' || !Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--interval ${value}: not a number of seconds`)
  return Math.round(seconds * 1000)
}

function parseKdsUrl(value: string | undefined): string {
  if (value === undefined) return AMD_KDS_URL
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UsageError(`--kds-url ${value}: not a URL`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError(`--kds-url ${value}: must be an http(s) URL`)
  return value
}

function loadReport(path: string): AttestationReport {
  try {
    return parseAttestationReport(readInput(path, '--report'))
  } catch (error) {
    if (error instanceof ProtocolError) throw new UsageError(`--report ${path}: ${error.message}`)
    throw error
  }
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

/** Runs `trust <subcommand>`; resolves to the exit code. */
export async function runTrust(args: string[], out: (text: string) => void, err: (text: string) => void = () => {}): Promise<number> {
  const [sub, ...rest] = args
  if (sub !== 'fetch') throw new UsageError(sub === undefined ? 'trust: missing subcommand (fetch)' : `trust: unknown subcommand "${sub}"`)
  const { values } = parseArgs({
    args: rest,
    options: {
      report: { type: 'string' },
      product: { type: 'string', multiple: true },
      vlek: { type: 'boolean', default: false },
      'trust-dir': { type: 'string' },
      'kds-url': { type: 'string' },
      interval: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
    allowPositionals: false,
  })
  const products = (values.product ?? []).map(parseProduct)
  if (values.report === undefined && products.length === 0) throw new UsageError('nothing to fetch: give --report FILE or --product NAME')
  if (values.vlek && products.length === 0) throw new UsageError('--vlek goes with --product (a report names its own family)')
  const report = values.report === undefined ? undefined : loadReport(values.report)
  const families: KeyFamily[] = values.vlek ? ['vcek', 'vlek'] : ['vcek']
  const store = new TrustStore(values['trust-dir'] ?? defaultTrustDir())
  const kdsUrl = parseKdsUrl(values['kds-url'])
  const minIntervalMs = parseInterval(values.interval)

  let summary: CollateralSummary
  try {
    summary = await fetchAmdCollateral({
      store,
      kdsUrl,
      minIntervalMs,
      ...(report && { report }),
      // For a v2 report, --product narrows the products its VCEK is looked up as.
      ...(report && products.length > 0 && { reportProducts: products }),
      products,
      families,
      log: (line) => err(`vouch-verify trust fetch: ${line}`),
    })
  } catch (error) {
    // The trust directory could not be written (permissions, full disk): not a verdict on the collateral.
    if (typeof (error as NodeJS.ErrnoException).syscall === 'string') {
      err(`vouch-verify trust fetch: trust directory ${store.dir}: ${(error as Error).message}`)
      return 2
    }
    throw error
  }
  out(values.json ? JSON.stringify(summary, null, 2) : render(summary))
  return summary.ok ? 0 : 1
}
