/**
 * `npm run bench`: runs every benchmark scenario in one process, prints the figures and writes
 * docs/benchmarks.md with the machine they ran on. Scenarios are `bench/<scenario>.bench.ts`.
 */
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { benchCli } from './cli.bench.js'
import { benchE2e } from './e2e.bench.js'
import { benchEnclave } from './enclave.bench.js'
import { benchFleet } from './fleet.bench.js'
import { benchInference } from './inference.bench.js'
import { benchNvidiaGpu } from './nvidia-gpu.bench.js'
import { benchReceiptLog } from './receipt-log.bench.js'
import { benchSevSnp } from './sev-snp.bench.js'
import { benchTlog } from './tlog.bench.js'
import { machine } from './lib/measure.js'

const scenarios: Array<(log: (line: string) => void) => Promise<string>> = [
  benchSevSnp,
  benchNvidiaGpu,
  benchCli,
  benchInference,
  benchEnclave,
  benchE2e,
  benchTlog,
  benchReceiptLog,
  benchFleet,
]

const sections: string[] = []
for (const scenario of scenarios) sections.push(await scenario((line) => console.log(line)))

const doc = `# Benchmarks

Written by \`npm run bench\` (bench/run.ts); do not edit by hand. Every figure in a table comes from the
same run, on: ${machine()}, ${new Date().toISOString().slice(0, 10)}.

${sections.join('\n')}`
const target = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url))
writeFileSync(target, doc)
console.log(`wrote ${target}`)
