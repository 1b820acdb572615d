/**
 * The trust-center page (issue 15): what a visitor downloads, and how long the page takes to a verdict, in a real
 * headless Chromium (Debian's, driven by playwright-core) against the real `vouch-host` with its simulated enclave on
 * loopback, under `dev-simulated`.
 * - Size: the page's files as built (`npm run build:page`), raw and gzip.
 * - Cold: a fresh browser context each time (empty HTTP cache, no compiled code): from navigating to `/` to the verdict
 *   shown, the whole page loaded, the bundle parsed, the policy fetched and parsed, the evidence fetched and verified.
 * - Warm: the same page verifying again (a new challenge, new evidence): from the click to the verdict, as the page
 *   measures it (`data-ms`).
 * Run alone: node --conditions=@vouch/source --import tsx bench/trust-center.bench.ts (after `npm run build`).
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { chromium, type Page } from 'playwright-core'
import { ms, summarise } from './lib/measure.js'
import { startVouchHost, type HostProcess } from './lib/servers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'
const COLD_RUNS = 10
const WARM = { runs: 30, warmup: 3 }

/** Clicks "Verify now" and waits for a new verdict; the page's own measure of the click to the verdict, in ms. */
async function verifyOnce(page: Page): Promise<number> {
  await page.evaluate("document.querySelector('#attest-result').replaceChildren()")
  await page.click('#attest-button')
  await page.waitForSelector('#attest-result[data-ms] [data-verdict="accepted"]', { timeout: 60_000 })
  const value = Number(await page.getAttribute('#attest-result', 'data-ms'))
  await page.evaluate("document.querySelector('#attest-result').removeAttribute('data-ms')")
  return value
}

export async function benchTrustCenter(log: (line: string) => void): Promise<string> {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package or set CHROMIUM_PATH`)
  await promisify(execFile)(process.execPath, [join(REPO, 'scripts/build-page.mjs')], { cwd: REPO })
  const sizes = JSON.parse(readFileSync(join(REPO, 'trust-center/dist/size.json'), 'utf8')) as Record<string, { raw: number; gzip: number }>
  const cache = mkdtempSync(join(tmpdir(), 'vouch-bench-trust-center-'))
  let host: HostProcess | undefined
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 })
  try {
    // Each verdict asks for a challenged attestation: the per-client budget is raised so the bench is not throttled.
    host = await startVouchHost(cache, { hostArgs: ['--attest-burst', '1000', '--attest-per-minute', '100000'] })
    log(`trust-center: cold, ${COLD_RUNS} fresh browser contexts`)
    const cold: number[] = []
    const coldVerify: number[] = []
    for (let i = 0; i < COLD_RUNS; i++) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true })
      const page = await context.newPage()
      const started = performance.now()
      await page.goto(`${host.url}/`)
      await page.waitForSelector('body[data-ready="true"]')
      await page.selectOption('#policy-select', 'dev-simulated.yaml')
      coldVerify.push(await verifyOnce(page))
      cold.push(performance.now() - started)
      await context.close()
    }
    log(`trust-center: warm, ${WARM.runs} verdicts on one page`)
    const context = await browser.newContext({ ignoreHTTPSErrors: true })
    const page = await context.newPage()
    await page.goto(`${host.url}/`)
    await page.waitForSelector('body[data-ready="true"]')
    await page.selectOption('#policy-select', 'dev-simulated.yaml')
    for (let i = 0; i < WARM.warmup; i++) await verifyOnce(page)
    const warm: number[] = []
    for (let i = 0; i < WARM.runs; i++) warm.push(await verifyOnce(page))
    await context.close()
    const c = summarise(cold)
    const cv = summarise(coldVerify)
    const w = summarise(warm)
    const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
    const rows = Object.entries(sizes).map(([name, s]) => `| \`${name}\` | ${kib(s.raw)} | ${kib(s.gzip)} |`)
    // What a visit loads: everything but the error codes page, which only a link opens.
    const total = Object.entries(sizes)
      .filter(([name]) => name !== 'errors.html')
      .reduce((a, [, s]) => ({ raw: a.raw + s.raw, gzip: a.gzip + s.gzip }), { raw: 0, gzip: 0 })
    log(`trust-center: cold median ${ms(c.median)} ms, warm median ${ms(w.median)} ms`)
    return [
      '## Trust-center page: size and time to verdict in the browser (`bench/trust-center.bench.ts`)',
      '',
      `Headless Chromium (Debian's \`chromium\`, playwright-core) against the real \`vouch-host\` with its simulated enclave`,
      'on loopback (HTTPS), under `dev-simulated`; one enclave (a simulated SEV-SNP report and one simulated GPU), its',
      'evidence as the host serves it to a page. The files are served uncompressed (the host does not compress); gzip is what a',
      'compressing proxy in front would send.',
      '',
      '| file | raw | gzip |',
      '| --- | --- | --- |',
      ...rows,
      `| a visit loads (all but errors.html) | ${kib(total.raw)} | ${kib(total.gzip)} |`,
      '',
      '| time to verdict | median | p99 | runs |',
      '| --- | --- | --- | --- |',
      `| cold: navigate to \`/\` in a fresh context, to the verdict shown | ${ms(c.median)} ms | ${ms(c.p99)} ms | ${c.runs} |`,
      `| cold, of which the first "Verify now", from the click to the verdict shown | ${ms(cv.median)} ms | ${ms(cv.p99)} ms | ${cv.runs} |`,
      `| warm: "Verify now" on a loaded page, to the verdict shown (new challenge, new evidence) | ${ms(w.median)} ms | ${ms(w.p99)} ms | ${w.runs} |`,
      '',
      'Cold includes the page load: the HTML, app.js and the verifier bundle (preloaded beside it), then evaluating the',
      '650 KiB bundle, which is most of it; then fetching the list of policies, and on the click fetching and parsing',
      'the policy, the challenged attestation (the simulated hardware signs a fresh report), the verification and',
      "the page's rendering of every check. Warm is the click alone, with the bundle's code compiled and warm.",
      '',
    ].join('\n')
  } finally {
    await browser.close()
    await host?.stop()
    rmSync(cache, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchTrustCenter(console.log))
