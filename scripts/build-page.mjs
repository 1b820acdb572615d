#!/usr/bin/env node
// `npm run build:page`: the trust-center page (docs/trust-center.md) into trust-center/dist/, which vouch-host serves at
// `/`: the verifier bundle (npm run build:browser, run first), the page's script (trust-center/src/app.ts, bundled
// with esbuild; it imports the verifier bundle beside it), its HTML and styles, and docs/errors.md as errors.html
// with one anchor per code, so error links stay on the host (no third-party request). Prints the sizes.
import { build } from 'esbuild'
import { copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}trust-center/dist/`

await import('./build-browser.mjs')

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
await build({
  entryPoints: [`${root}trust-center/src/app.ts`],
  outfile: `${out}app.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  // Loaded by the browser beside app.js, as its own file: the same bundle docs/browser.md describes.
  external: ['./vouch-verifier.js'],
  minify: true,
  logLevel: 'warning',
})
copyFileSync(`${root}verifier/dist-browser/vouch-verifier.js`, `${out}vouch-verifier.js`)
copyFileSync(`${root}trust-center/index.html`, `${out}index.html`)
copyFileSync(`${root}trust-center/style.css`, `${out}style.css`)
writeFileSync(`${out}errors.html`, toErrorsPage(readFileSync(`${root}docs/errors.md`, 'utf8')))

const sizes = {}
for (const name of ['index.html', 'app.js', 'vouch-verifier.js', 'style.css', 'errors.html']) {
  const bytes = readFileSync(`${out}${name}`)
  sizes[name] = { raw: statSync(`${out}${name}`).size, gzip: gzipSync(bytes, { level: 9 }).length }
}
writeFileSync(`${out}size.json`, `${JSON.stringify(sizes)}\n`)
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`
for (const [name, s] of Object.entries(sizes)) console.log(`trust-center/dist/${name.padEnd(18)} ${kb(s.raw).padStart(10)} (${kb(s.gzip)} gzip)`)

/** Text as HTML text: the doc is ours, but nothing from it becomes markup unescaped. */
function escape(text) {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** Inline Markdown of the doc: `code` and [links](to) (relative links to other docs are shown as their text). */
function inline(text) {
  return escape(text)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\[([^\]]+)\]\(([^)]+)\)/g, (_m, label, href) => (href.startsWith('#') ? `<a href="${href}">${label}</a>` : label))
}

/**
 * docs/errors.md as a page: headings, paragraphs and the code tables, each code's row with the code as its id (the
 * page links to errors.html#ERR_...). The doc's Markdown is the small subset it uses.
 */
function toErrorsPage(markdown) {
  const body = []
  let rows = null
  let paragraph = []
  const flush = () => {
    if (paragraph.length > 0) body.push(`<p>${inline(paragraph.join(' '))}</p>`)
    paragraph = []
    if (rows !== null) body.push(`<table>${rows.join('')}</table>`)
    rows = null
  }
  for (const line of markdown.split('\n')) {
    const heading = /^(#{1,3}) (.*)$/.exec(line)
    if (heading) {
      flush()
      const level = heading[1].length
      body.push(`<h${level}>${inline(heading[2])}</h${level}>`)
    } else if (line.startsWith('|')) {
      if (paragraph.length > 0) {
        body.push(`<p>${inline(paragraph.join(' '))}</p>`)
        paragraph = []
      }
      if (/^\|[-| :]+\|$/.test(line)) continue
      const cells = line.slice(1, -1).split(' | ').map((c) => c.trim())
      const code = /^`(ERR_[A-Z0-9_]+)`$/.exec(cells[0] ?? '')?.[1]
      rows ??= []
      const tag = rows.length === 0 ? 'th' : 'td'
      rows.push(`<tr${code ? ` id="${code}"` : ''}>${cells.map((c) => `<${tag}>${inline(c)}</${tag}>`).join('')}</tr>`)
    } else if (line.trim() === '') flush()
    else paragraph.push(line.trim())
  }
  flush()
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Vouch error codes</title>
  <link rel="stylesheet" href="/trust-center/style.css">
</head>
<body>
<main>
<p><a href="/">Back to the trust center</a></p>
${body.join('\n')}
</main>
</body>
</html>
`
}
