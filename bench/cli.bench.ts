/**
 * `vouch-verify sev-snp` as a user runs it: a new process per report. Wall time from spawn to exit and
 * peak RSS (DESIGN.md §10: at most 120 MB on any fixture).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { FIXTURES_DIR, fixturesMissing } from '../verifier/test/helpers/fixtures.js'
import { loadSevSnpCases } from '../verifier/test/helpers/sev-snp-cases.js'
import { ms } from './lib/measure.js'

const RUNS = 7
const bin = fileURLToPath(new URL('../verifier/bin/vouch-verify.js', import.meta.url))
const preload = fileURLToPath(new URL('./lib/report-peak-rss.mjs', import.meta.url))

export async function benchCli(log: (line: string) => void): Promise<string> {
  const missing = fixturesMissing('sev-snp')
  if (missing) return `## vouch-verify process\n\nSkipped: ${missing}\n`
  const dir = mkdtempSync(join(tmpdir(), 'vouch-bench-'))
  const rows: string[] = []
  try {
    for (const c of loadSevSnpCases().filter((k) => k.expected.authentic === true)) {
      const chain = join(dir, `${c.name}.pem`)
      writeFileSync(chain, c.input.chain as string)
      const args = ['--import', preload, bin, 'sev-snp', '--report', join(FIXTURES_DIR, c.files.report), '--vek', join(FIXTURES_DIR, c.files.vek!), '--chain', chain, '--at', c.expected.verifyAt!, '--no-trust-dir', '--json']
      const walls: number[] = []
      let peak = 0
      for (let i = 0; i < RUNS; i++) {
        const start = process.hrtime.bigint()
        const run = spawnSync(process.execPath, args, { encoding: 'utf8' })
        walls.push(Number(process.hrtime.bigint() - start) / 1e6)
        if (run.status !== 0) throw new Error(`${c.name}: exit ${run.status}: ${run.stderr}`)
        peak = Math.max(peak, Number(/VOUCH_PEAK_RSS_KB=(\d+)/.exec(run.stderr)?.[1] ?? 0))
      }
      walls.sort((a, b) => a - b)
      const wall = walls[Math.floor(walls.length / 2)]!
      log(`cli ${c.name}: ${ms(wall)} ms, peak RSS ${(peak / 1024).toFixed(1)} MB`)
      rows.push(`| ${c.name} | ${ms(wall)} | ${(peak / 1024).toFixed(1)} |`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return `## \`vouch-verify sev-snp\` as a process (\`bench/cli.bench.ts\`)

A new Node process per verification, as a relying party runs it: spawn to exit, median of ${RUNS}, and the
largest peak resident set size seen. Target (DESIGN.md §10): at most 120 MB.

| case | wall median (ms) | peak RSS (MB) |
|---|---:|---:|
${rows.join('\n')}
`
}
