#!/usr/bin/env node
// Lists the names a workspace's entry points export that nothing outside its own src/ imports (other workspaces,
// tests, benchmarks, scripts) and no README or docs page names: exports nobody uses are API nobody asked for.
// A name may stay on purpose: list it in `publicApi` of the workspace's package.json ("vouch": { "publicApi": [...] }),
// with the reason in the README. Exits 1 listing the others. Run: node scripts/check-exports.mjs
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = fileURLToPath(new URL('..', import.meta.url))
const WORKSPACES = ['protocol', 'verifier', 'enclave', 'host', 'client']

function files(dir, test, out = []) {
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) files(path, test, out)
    else if (test(name)) out.push(path)
  }
  return out
}

const program = ts.createProgram({ rootNames: WORKSPACES.flatMap((w) => files(join(root, w, 'src'), (n) => n.endsWith('.ts'))), options: { allowJs: false, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true } })
const checker = program.getTypeChecker()

/** Entry files of a workspace: its package.json `exports`, by subpath. */
function entries(workspace) {
  const pkg = JSON.parse(readFileSync(join(root, workspace, 'package.json'), 'utf8'))
  return Object.entries(pkg.exports ?? {}).map(([subpath, target]) => ({
    specifier: subpath === '.' ? `@vouch/${workspace}` : `@vouch/${workspace}/${subpath.replace(/^\.\//, '')}`,
    file: join(root, workspace, typeof target === 'string' ? target : target['@vouch/source']),
    keep: new Set(pkg.vouch?.publicApi ?? []),
  }))
}

const consumers = [
  ...WORKSPACES.flatMap((w) => files(join(root, w, 'src'), (n) => n.endsWith('.ts')).map((f) => ({ f, w }))),
  ...['test', 'bench', 'scripts', ...WORKSPACES.map((w) => `${w}/test`)].flatMap((d) => files(join(root, d), (n) => /\.(ts|mjs|js)$/.test(n)).map((f) => ({ f, w: null }))),
]
const prose = [join(root, 'README.md'), ...files(join(root, 'docs'), (n) => n.endsWith('.md')), ...WORKSPACES.map((w) => join(root, w, 'README.md')).filter(existsSync)].map((f) => readFileSync(f, 'utf8')).join('\n')

/** Whether `text` (the file `from`) imports `target` by a relative path (`../src/index.js` for `src/index.ts`). */
function importsFile(from, text, target) {
  for (const [, spec] of text.matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
    if (resolve(dirname(from), spec).replace(/\.js$/, '.ts') === target) return true
  }
  return false
}

const unused = []
for (const workspace of WORKSPACES) {
  for (const entry of entries(workspace)) {
    const source = program.getSourceFile(entry.file)
    if (source === undefined) continue
    // Values only: a type named in an exported signature is part of that signature, used or not.
    const names = checker
      .getExportsOfModule(checker.getSymbolAtLocation(source))
      .filter((s) => ((s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s).flags & ts.SymbolFlags.Value) !== 0)
      .map((s) => s.name)
    const importers = consumers
      .filter((c) => c.w !== workspace)
      .map((c) => ({ c, text: readFileSync(c.f, 'utf8') }))
      .filter(({ c, text }) => text.includes(`'${entry.specifier}'`) || importsFile(c.f, text, entry.file))
      .map(({ text }) => text)
    for (const name of names) {
      if (entry.keep.has(name)) continue
      const word = new RegExp(`\\b${name}\\b`)
      if (importers.some((text) => word.test(text)) || word.test(prose)) continue
      unused.push(`${entry.specifier}: ${name} (${relative(root, entry.file)})`)
    }
  }
}
for (const line of unused) console.error(line)
if (unused.length > 0) {
  console.error(`\n${unused.length} export(s) nobody imports or documents: remove them, or list them in package.json "vouch.publicApi" and say why in the README`)
  process.exit(1)
}
console.log('exports: every exported name is imported outside its workspace, documented, or kept on purpose')
