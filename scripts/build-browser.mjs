#!/usr/bin/env node
// `npm run build:browser`: bundles verifier/src/browser.ts, with @vouch/protocol's browser platform seam, into one
// ES module for browsers, verifier/dist-browser/vouch-verifier.js, and prints its size (raw and gzip). Fails when
// the bundle would import a Node built-in: the browser has none (docs/browser.md).
import { build } from 'esbuild'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = fileURLToPath(new URL('..', import.meta.url))
const outfile = `${root}verifier/dist-browser/vouch-verifier.js`

/** Gives xml-crypto's files, and only them, the Buffer they use on the verifier's path (scripts/browser-shims). */
const xmlCryptoBuffer = {
  name: 'xml-crypto-buffer',
  setup(b) {
    b.onLoad({ filter: /node_modules\/xml-crypto\/lib\/.*\.js$/ }, (args) => ({
      contents: `var Buffer = require(${JSON.stringify(`${root}scripts/browser-shims/xml-crypto-buffer.cjs`)}).Buffer;\n${readFileSync(args.path, 'utf8')}`,
      loader: 'js',
      resolveDir: dirname(args.path),
    }))
  },
}

const result = await build({
  entryPoints: [`${root}verifier/src/browser.ts`],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  // Browsers with Ed25519 in WebCrypto (Chrome 137, Firefox 129, Safari 17).
  target: ['es2022'],
  // The TypeScript sources, as the tests run them; the `browser` condition and field pick the browser seam.
  conditions: ['@vouch/source'],
  loader: { '.yaml': 'text' },
  // Node built-ins xml-crypto requires, for what the verifier does not use (scripts/browser-shims says why each).
  alias: { crypto: `${root}scripts/browser-shims/crypto.cjs`, util: `${root}scripts/browser-shims/util.cjs` },
  // Modules of @vouch/protocol that only Node uses (sealing, the command line) import node:*; nothing the verifier
  // needs reaches them, so they are left out, and the check below proves no import of one survived.
  external: ['node:*'],
  plugins: [xmlCryptoBuffer],
  minify: true,
  legalComments: 'eof',
  metafile: true,
  logLevel: 'warning',
})

const code = readFileSync(outfile)
const text = code.toString('utf8')
// A Node built-in left as an import would fail to load in a browser: refuse it here, by name.
const builtins = [...new Set([...text.matchAll(/(?:from|import|require\()\s*["'](node:[a-z_/]+|crypto|fs|path|os|zlib|module|util|buffer)["']/g)].map((m) => m[1]))]
if (builtins.length > 0) {
  console.error(`the browser bundle imports Node built-ins: ${builtins.join(', ')}`)
  process.exit(1)
}
const size = { raw: code.length, gzip: gzipSync(code, { level: 9 }).length }
mkdirSync(`${root}verifier/dist-browser`, { recursive: true })
writeFileSync(`${root}verifier/dist-browser/size.json`, `${JSON.stringify(size)}\n`)
const inputs = Object.entries(result.metafile.outputs[Object.keys(result.metafile.outputs)[0]].inputs)
const byPackage = new Map()
for (const [path, { bytesInOutput }] of inputs) {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1] ?? path.split('/')[0]
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + bytesInOutput)
}
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`
console.log(`verifier/dist-browser/vouch-verifier.js: ${kb(size.raw)} (${kb(size.gzip)} gzip)`)
for (const [pkg, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${pkg.padEnd(28)} ${kb(bytes)}`)
