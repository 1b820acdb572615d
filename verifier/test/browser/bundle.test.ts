/**
 * The browser bundle (`npm run build:browser`, verifier/src/browser.ts) in a real headless Chromium, driven by
 * playwright-core: every SEV-SNP and NVIDIA fixture case of ../shared/fixtures, and a bundle and an archive of real
 * evidence, verified in the page and in Node give the same Result, whole: verdict, every check (id, status, code,
 * detail, hint), every error and every claim. The page proves it ran the browser seam (WebCrypto), not Node's.
 * Skipped, saying why, without Chromium (Debian's `chromium`, which .ci/run installs) or without the fixtures.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { chromium, type Browser, type Page } from 'playwright-core'
import { encodeArchive, toBase64 } from '@vouch/protocol'
import { parsePolicy, verifyArchive, verifyBundle, verifyNvidiaGpu, verifySevSnp } from '@vouch/verifier'
import { describe } from '../../../test/helpers/suites.js'
import { fixturesMissing, fixtureText, REPO_ROOT } from '../helpers/fixtures.js'
import { loadGpuCases } from '../helpers/nvidia-cases.js'
import { AMD_CASE, GPU_CASE, realCrl, realEvidenceBundle, realRims } from '../helpers/real-evidence.js'
import { loadSevSnpCases } from '../helpers/sev-snp-cases.js'

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium'
const skip =
  fixturesMissing('sev-snp') ||
  fixturesMissing('nvidia-gpu') ||
  (existsSync(CHROMIUM) ? false : `Chromium not found at ${CHROMIUM}: install Debian's chromium package (.ci/run does, as root) or set CHROMIUM_PATH`)
const BUNDLE = join(REPO_ROOT, 'verifier/dist-browser/vouch-verifier.js')
const production = readFileSync(join(REPO_ROOT, 'policies/production.yaml'), 'utf8')

/** Bytes travel to the page as base64 (`{ $bytes }`), and are turned back into Uint8Arrays there. */
type Wire = null | boolean | number | string | Wire[] | { [key: string]: Wire }

function toWire(value: unknown): Wire {
  if (value instanceof Uint8Array) return { $bytes: toBase64(value) }
  if (value instanceof Date) return { $date: value.toISOString() }
  if (Array.isArray(value)) return value.map(toWire)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]))
  return value as Wire
}

/** One verification, run the same way on both sides: the function's name, its input and its options. */
interface Case {
  name: string
  fn: 'verifySevSnp' | 'verifyNvidiaGpu' | 'verifyBundle' | 'verifyArchive'
  input: unknown
  options: Record<string, unknown>
  /** Whether the production policy is parsed and passed as `options.policy`. */
  production?: boolean
}

function cases(): Case[] {
  const out: Case[] = []
  for (const c of loadSevSnpCases()) {
    const at = c.at === undefined ? {} : { at: c.at }
    out.push({ name: `sev-snp ${c.name}`, fn: 'verifySevSnp', input: c.input, options: at })
    out.push({ name: `sev-snp ${c.name} under production`, fn: 'verifySevSnp', input: c.input, options: at, production: true })
  }
  for (const c of loadGpuCases()) {
    out.push({ name: `nvidia-gpu ${c.name}`, fn: 'verifyNvidiaGpu', input: { ...c.input, nonce: c.expected.nonce }, options: {} })
    if (c.expected.rimVerifyAt !== undefined) {
      const rims = GPU_CASE.rims.map((r) => ({ id: r.id, xml: fixtureText('nvidia-gpu', 'cases', c.name, r.file) }))
      out.push({ name: `nvidia-gpu ${c.name} with its RIMs under production`, fn: 'verifyNvidiaGpu', input: { ...c.input, rims }, options: { at: new Date(c.expected.rimVerifyAt) }, production: true })
    }
  }
  // Real evidence in a bundle (its binding is not to this keyset: rejected for that alone) and in an archive with
  // AMD's CRL and NVIDIA's RIMs stapled: the binding, CBOR, policy and collateral paths.
  const { bytes } = realEvidenceBundle(AMD_CASE, true)
  out.push({ name: 'bundle of real evidence under production', fn: 'verifyBundle', input: bytes, options: { at: AMD_CASE.at, crls: [realCrl(AMD_CASE.crl)] }, production: true })
  const archive = encodeArchive({ v: 1, bundle: bytes, stapledAt: Math.floor(AMD_CASE.at.getTime() / 1000), crls: [realCrl(AMD_CASE.crl)], rims: realRims(), ocsp: [] })
  out.push({ name: 'archive of real evidence under production', fn: 'verifyArchive', input: archive, options: { at: GPU_CASE.at }, production: true })
  return out
}

async function inNode(c: Case): Promise<unknown> {
  const options = { ...c.options, ...(c.production && { policy: parsePolicy(production, 'production.yaml') }) }
  const fns = { verifySevSnp, verifyNvidiaGpu, verifyBundle, verifyArchive } as Record<Case['fn'], (input: unknown, options: unknown) => Promise<unknown>>
  return JSON.parse(JSON.stringify(await fns[c.fn](c.input, options)))
}

/**
 * What the page runs (plain JavaScript, as text: functions the test runner compiles would carry its helpers along):
 * every case in order, with the bundle's module loaded by the page as `window.vouch`; each Result comes back as JSON.
 */
const PAGE_RUN = `async (list) => {
  const vouch = window.vouch
  const fromWire = (value) => {
    if (Array.isArray(value)) return value.map(fromWire)
    if (value !== null && typeof value === 'object') {
      if (typeof value.$bytes === 'string') return Uint8Array.from(atob(value.$bytes), (ch) => ch.charCodeAt(0))
      if (typeof value.$date === 'string') return new Date(value.$date)
      return Object.fromEntries(Object.entries(value).map(([k, x]) => [k, fromWire(x)]))
    }
    return value
  }
  const results = []
  for (const c of list) {
    const options = fromWire(c.options)
    if (c.production) options.policy = vouch.parsePolicy(vouch.SHIPPED_POLICIES['production.yaml'], 'production.yaml')
    results.push(await vouch[c.fn](fromWire(c.input), options))
  }
  return JSON.stringify({ platform: vouch.platform.name, results })
}`

async function inBrowser(page: Page, all: readonly Case[]): Promise<{ platform: string; results: unknown[] }> {
  const wire = all.map((c) => ({ fn: c.fn, input: toWire(c.input), options: toWire(c.options), production: c.production === true }))
  const json = (await page.evaluate(`(${PAGE_RUN})(${JSON.stringify(wire)})`)) as string
  return JSON.parse(json) as { platform: string; results: unknown[] }
}

describe('the browser bundle in Chromium gives the Results Node gives', { skip }, () => {
  let server: Server
  let browser: Browser
  let page: Page
  const all = skip ? [] : cases()

  before(async () => {
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts/build-browser.mjs')], { cwd: REPO_ROOT })
    const bundle = readFileSync(BUNDLE)
    const index = '<!doctype html><title>vouch</title><script type="module">import * as vouch from "/vouch-verifier.js"; window.vouch = vouch; document.title = "ready"</script>'
    // Loopback only; 127.0.0.1 is a secure context, so WebCrypto is there.
    server = createServer((req, res) => {
      if (req.url === '/vouch-verifier.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
      else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(index)
      else res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], timeout: 30_000 })
    page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
    await page.waitForFunction('document.title === "ready"', undefined, { timeout: 30_000 }).catch(() => assert.fail(`the bundle did not load: ${errors.join('; ')}`))
  })

  after(async () => {
    await browser?.close()
    await new Promise((resolve) => server?.close(resolve))
  })

  test(`every case (${all.length}) verifies to the same Result, through WebCrypto`, { timeout: 120_000 }, async () => {
    const browserSide = await inBrowser(page, all)
    assert.equal(browserSide.platform, 'browser', 'the page must run the browser seam (WebCrypto), not a Node one')
    assert.equal(browserSide.results.length, all.length)
    const verdicts = { accepted: 0, rejected: 0 }
    for (const [i, c] of all.entries()) {
      const node = (await inNode(c)) as { verdict: 'accepted' | 'rejected' }
      assert.deepEqual(browserSide.results[i], node, c.name)
      verdicts[node.verdict]++
    }
    // Both outcomes are exercised: a seam that failed every signature, or passed every one, could not agree with Node.
    assert.ok(verdicts.accepted >= 10 && verdicts.rejected >= 10, JSON.stringify(verdicts))
  })
})
