/**
 * The trust center (issue 15, docs/trust-center.md): a static page at `/` that verifies the service in the visitor's
 * own browser, with the verifier's browser bundle, under a policy the visitor chooses. The host only serves files:
 * the page built by `npm run build:page` (trust-center/dist/) and the shipped policies (policies/*.yaml), read-only,
 * for the page to offer. Nothing is rendered on the server; a host that lies can only serve a page that fails to
 * verify it (or a different page: the page's own integrity is the visitor's to check, as with any web page).
 *
 * The files are read once, when the app is created, into memory: only the names found then are served (no path from
 * a request ever reaches the file system). Every answer carries {@link TRUST_CENTER_HEADERS}.
 */
import type { Request, Response } from 'express'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HostError } from '../errors.js'
import type { RouteDeps, RouteRegistrar } from '../http/router.js'

/**
 * Headers of the page's files. The Content-Security-Policy allows scripts, styles, images and requests from this
 * origin only: no inline script or style, no eval, no plugin, no framing (`frame-ancestors 'none'`), no form posts,
 * no `<base>`; so the page makes no third-party request, and injected markup cannot run.
 */
export const TRUST_CENTER_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
  // The page and the bundle change with the host's version: revalidated on each visit, never served stale.
  'Cache-Control': 'no-cache',
}

const MEDIA_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.yaml': 'application/yaml; charset=utf-8',
  '.svg': 'image/svg+xml',
}

/** Where the page and the policies are: this file sits at the same depth in host/src/routes/ and host/dist/routes/. */
const REPO = fileURLToPath(new URL('../../../', import.meta.url))
/** The built page, unless the settings name another directory. */
export const TRUST_CENTER_DIR = join(REPO, 'trust-center', 'dist')
const POLICIES_DIR = join(REPO, 'policies')

interface StaticFile {
  body: Buffer
  type: string
}

/** The files of `dir` with a known media type, by name; none when the directory does not exist. */
function readFiles(dir: string, only: (name: string) => boolean = () => true): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  if (!existsSync(dir)) return files
  for (const name of readdirSync(dir).sort()) {
    const type = MEDIA_TYPES[extname(name)]
    if (type !== undefined && only(name)) files.set(name, { body: readFileSync(join(dir, name)), type })
  }
  return files
}

function send(res: Response, file: StaticFile | undefined): void {
  if (file === undefined) throw new HostError('ERR_HOST_NOT_FOUND')
  res.status(200).set(TRUST_CENTER_HEADERS).set('Content-Type', file.type).send(file.body)
}

/**
 * `GET /` (the page), `GET /trust-center/{file}` (its script, styles and the verifier bundle), `GET
 * /trust-center/policies` (the shipped policies' names) and `GET /trust-center/policies/{file}`. Without a built page
 * (`npm run build:page` not run), `/` answers 404 and says so in the host's log.
 */
export function registerTrustCenterRoutes(route: RouteRegistrar, { log, trustCenterDir }: Pick<RouteDeps, 'log' | 'trustCenterDir'>): void {
  const dir = trustCenterDir === undefined ? TRUST_CENTER_DIR : trustCenterDir
  const page = dir === null ? new Map<string, StaticFile>() : readFiles(dir)
  if (dir !== null && !page.has('index.html')) log.warn({ dir }, 'trust center: no built page (npm run build:page); / answers 404')
  // Only the shipped policies: the schema and anything else in the folder are not the page's to offer.
  const policies = readFiles(POLICIES_DIR, (name) => name.endsWith('.yaml'))
  const list: StaticFile = { body: Buffer.from(JSON.stringify({ policies: [...policies.keys()] })), type: MEDIA_TYPES['.json']! }
  const file = (req: Request): string => (req.params as { file: string }).file
  route('/', { get: (_req, res) => send(res, page.get('index.html')) })
  route('/trust-center/policies', { get: (_req, res) => send(res, list) })
  route('/trust-center/policies/:file', { get: (req, res) => send(res, policies.get(file(req))) })
  route('/trust-center/:file', { get: (req, res) => send(res, page.get(file(req))) })
}
