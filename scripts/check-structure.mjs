#!/usr/bin/env node
// Two structure rules the linter cannot state, checked over every workspace's src/ with the TypeScript parser:
// - no import cycle between modules, type-only imports included (a cycle of types still ties two modules'
//   meanings together, and the next change turns it into a runtime cycle);
// - no function longer than 80 lines, unless a comment right above it says why (`// long: <reason>`).
// Exits 1 listing what breaks a rule. Run: node scripts/check-structure.mjs [--max-lines N]
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = fileURLToPath(new URL('..', import.meta.url))
const WORKSPACES = ['protocol', 'verifier', 'enclave', 'host', 'client']
const maxAt = process.argv.indexOf('--max-lines')
const MAX_LINES = maxAt > 0 ? Number(process.argv[maxAt + 1]) : 80

function sources(dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) sources(path, out)
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

const files = WORKSPACES.flatMap((w) => sources(join(root, w, 'src')))
const known = new Set(files)
const parsed = new Map(files.map((f) => [f, ts.createSourceFile(f, readFileSync(f, 'utf8'), ts.ScriptTarget.ES2022, true)]))

/** The src file a relative specifier names (`./x.js` is `./x.ts`), or null for packages and files outside src/. */
function resolveImport(from, specifier) {
  if (!specifier.startsWith('.')) return null
  const base = resolve(dirname(from), specifier)
  for (const candidate of [base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')]) if (known.has(candidate)) return candidate
  return null
}

const graph = new Map()
for (const [file, sf] of parsed) {
  const targets = new Set()
  for (const statement of sf.statements) {
    const specifier = (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) && statement.moduleSpecifier
    if (specifier && ts.isStringLiteral(specifier)) {
      const target = resolveImport(file, specifier.text)
      if (target !== null) targets.add(target)
    }
  }
  graph.set(file, targets)
}

/** Strongly connected components with more than one file (Tarjan). */
function cycles() {
  let index = 0
  const stack = []
  const state = new Map()
  const found = []
  const visit = (v) => {
    state.set(v, { index, low: index, onStack: true })
    index++
    stack.push(v)
    for (const w of graph.get(v)) {
      if (!state.has(w)) {
        visit(w)
        state.get(v).low = Math.min(state.get(v).low, state.get(w).low)
      } else if (state.get(w).onStack) state.get(v).low = Math.min(state.get(v).low, state.get(w).index)
    }
    if (state.get(v).low === state.get(v).index) {
      const component = []
      let w
      do {
        w = stack.pop()
        state.get(w).onStack = false
        component.push(w)
      } while (w !== v)
      if (component.length > 1) found.push(component)
    }
  }
  for (const v of graph.keys()) if (!state.has(v)) visit(v)
  return found
}

/** Functions over the limit without a `// long:` comment right above them (or above the statement holding them). */
function longFunctions() {
  const found = []
  for (const [file, sf] of parsed) {
    const text = sf.getFullText()
    const visit = (node) => {
      if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line
        const lines = end - start + 1
        if (lines > MAX_LINES) {
          let holder = node
          while (holder.parent !== undefined && !ts.isSourceFile(holder.parent) && !ts.isClassLike(holder.parent) && !ts.isBlock(holder.parent)) holder = holder.parent
          const comments = ts.getLeadingCommentRanges(text, holder.getFullStart()) ?? []
          const reasoned = comments.some((c) => /\blong:\s*\S/.test(text.slice(c.pos, c.end)))
          if (!reasoned) {
            const name = node.name !== undefined && 'text' in node.name ? node.name.text : '(anonymous)'
            found.push(`${relative(root, file)}:${start + 1}: ${name} is ${lines} lines (over ${MAX_LINES}; say why with a \`// long:\` comment, or split it)`)
          }
        }
      }
      ts.forEachChild(node, visit)
    }
    visit(sf)
  }
  return found
}

const problems = [
  ...cycles().map((c) => `import cycle: ${c.map((f) => relative(root, f)).sort().join(' <-> ')}`),
  ...longFunctions(),
]
for (const p of problems) console.error(p)
if (problems.length > 0) {
  console.error(`\n${problems.length} structure problem(s)`)
  process.exit(1)
}
console.log(`structure: ${files.length} source files, no import cycle, no function over ${MAX_LINES} lines without a reason`)
