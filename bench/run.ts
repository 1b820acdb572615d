/**
 * `npm run bench`: runs every benchmark scenario in one process, prints the figures and writes
 * docs/benchmarks.md with the machine they ran on. Scenarios are `bench/<scenario>.bench.ts`.
 * `npm run bench -- fleet receipt-log` runs only those scenarios and replaces only their sections of
 * docs/benchmarks.md, each then marked with the machine and date of its own run.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { benchAllocator } from './allocator.bench.js'
import { benchCli } from './cli.bench.js'
import { benchE2e } from './e2e.bench.js'
import { benchEnclave } from './enclave.bench.js'
import { benchFleet } from './fleet.bench.js'
import { benchFloors } from './floors.bench.js'
import { benchHops } from './hops.bench.js'
import { benchInference } from './inference.bench.js'
import { benchNvidiaGpu } from './nvidia-gpu.bench.js'
import { benchReceiptLog } from './receipt-log.bench.js'
import { benchSevSnp } from './sev-snp.bench.js'
import { benchSplit } from './split.bench.js'
import { benchTlog } from './tlog.bench.js'
import { benchTrustCenter } from './trust-center.bench.js'
import { machine } from './lib/measure.js'

/** Each scenario by the name of its file, `bench/<name>.bench.ts`, in the order of the results file. */
const scenarios: Record<string, (log: (line: string) => void) => Promise<string>> = {
  'sev-snp': benchSevSnp,
  'nvidia-gpu': benchNvidiaGpu,
  cli: benchCli,
  inference: benchInference,
  enclave: benchEnclave,
  e2e: benchE2e,
  hops: benchHops,
  floors: benchFloors,
  split: benchSplit,
  allocator: benchAllocator,
  tlog: benchTlog,
  'receipt-log': benchReceiptLog,
  fleet: benchFleet,
  'trust-center': benchTrustCenter,
}

const target = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url))
const today = (): string => new Date().toISOString().slice(0, 10)
const chosen = process.argv.slice(2)
for (const name of chosen) {
  if (!Object.hasOwn(scenarios, name)) {
    console.error(`unknown scenario ${name} (known: ${Object.keys(scenarios).join(', ')})`)
    process.exit(2)
  }
}

/** The sections of docs/benchmarks.md, each from its `## ` heading, under the name of the bench file it names. */
function sectionsOf(doc: string): Map<string, string> {
  const sections = new Map<string, string>()
  for (const part of doc.split(/\n(?=## )/).slice(1)) {
    const name = /bench\/([a-z0-9-]+)\.bench\.ts/.exec(part.split('\n', 1)[0]!)?.[1] ?? /^## (.*)$/m.exec(part)![1]!
    sections.set(name, `${part.trimEnd()}\n`)
  }
  return sections
}

const run = chosen.length === 0 ? Object.keys(scenarios) : chosen
const results = new Map<string, string>()
for (const name of run) results.set(name, await scenarios[name]!((line) => console.log(line)))

let doc: string
if (chosen.length === 0) {
  doc = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts); do not edit by hand. Every figure in a table comes from the
same run, on: ${machine()}, ${today()}, unless its section says it was run on its own.

${[...results.values()].join('\n')}`
} else {
  const previous = readFileSync(target, 'utf8')
  const head = previous.split(/\n(?=## )/)[0]!
  const sections = sectionsOf(previous)
  for (const [name, text] of results) {
    const [heading, ...rest] = text.split('\n')
    sections.set(name, `${heading}\n\n_Run on its own (\`npm run bench -- ${name}\`) on: ${machine()}, ${today()}._\n${rest.join('\n').trimEnd()}\n`)
  }
  // Sections in the order of the scenarios, any others (older headings) after them.
  const order = [...Object.keys(scenarios).filter((n) => sections.has(n)), ...[...sections.keys()].filter((n) => !Object.hasOwn(scenarios, n))]
  doc = `${head.trimEnd()}\n\n${order.map((n) => sections.get(n)!).join('\n')}`
}
writeFileSync(target, doc)
console.log(`wrote ${target}`)
