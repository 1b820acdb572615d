/**
 * SEV-SNP verification, per real fixture: one bare ECDSA P-384 check of the report (the floor), warm
 * verification (caches filled: chain, signature, TCB, policy) and cold verification (caches emptied).
 * Target (DESIGN.md §10): warm median within 1.5× the bare check; cold at most 10 ms.
 */
import { verify, X509Certificate } from 'node:crypto'
import { parseAttestationReport } from '@vouch/protocol'
import { clearVerifierCaches, parsePolicy, verifySevSnp, type Policy } from '@vouch/verifier'
import { loadSevSnpCases, type SevSnpCase } from '../verifier/test/helpers/sev-snp-cases.js'
import { fixturesMissing } from '../verifier/test/helpers/fixtures.js'
import { measure, measureInterleaved, ms, type Timing } from './lib/measure.js'

const WARM_RUNS = 3000
const COLD_RUNS = 300

/** A policy that configures every SEV-SNP rule and accepts this case, so warm runs pay for all of them. */
function policyFor(c: SevSnpCase): Policy {
  const product = c.expected.product![0]!.toUpperCase() + c.expected.product!.slice(1)
  const t = c.expected.reportedTcb
  const tcb = `{ ${t.fmc !== undefined ? `fmc: ${t.fmc}, ` : ''}bootloader: ${t.bl}, tee: ${t.tee}, snp: ${t.snp}, microcode: ${t.ucode} }`
  return parsePolicy(
    `version: 1
name: bench
allowSimulated: false
sevSnp:
  allowedProducts: [${product}]
  allowedSigningKeys: [${c.expected.signingKey}]
  allowDebug: ${c.expected.debug}
  allowMigrationAgent: false
  requireCrl: false
  allowSmt: true
  allowedVmpls: [0, 1, 2, 3]
  measurements: ["${c.expected.measurement}"]
  hostData: ["${c.expected.hostData}"]
  minimumTcb: { ${product}: ${tcb} }
`,
    'bench-policy.yaml',
  )
}

/** Runs the scenario; returns the markdown section for docs/benchmarks.md. */
export async function benchSevSnp(log: (line: string) => void): Promise<string> {
  const missing = fixturesMissing('sev-snp')
  if (missing) return `## SEV-SNP verification\n\nSkipped: ${missing}\n`
  const rows: string[] = []
  for (const c of loadSevSnpCases().filter((k) => k.expected.authentic === true)) {
    const report = parseAttestationReport(c.input.report)
    const key = new X509Certificate(c.input.vek as Uint8Array).publicKey
    const signature = Buffer.concat([report.signature.r, report.signature.s])
    const options = { at: c.at!, policy: policyFor(c) }
    const check = async (): Promise<void> => {
      const result = await verifySevSnp(c.input, options)
      if (result.verdict !== 'accepted') throw new Error(`${c.name}: ${JSON.stringify(result.errors)}`)
    }
    const bareCheck = (): void => {
      if (!verify('sha384', report.signed, { key, dsaEncoding: 'ieee-p1363' }, signature)) throw new Error(`${c.name}: bare check failed`)
    }
    const [bare, warm] = (await measureInterleaved([bareCheck, check], { runs: WARM_RUNS })) as [Timing, Timing]
    const cold = await measure(check, { runs: COLD_RUNS, warmup: 20, before: clearVerifierCaches })
    const ratio = warm.median / bare.median
    log(`sev-snp ${c.name}: bare ${ms(bare.median)} ms, warm ${ms(warm.median)} ms (${ratio.toFixed(2)}×), cold ${ms(cold.median)} ms`)
    rows.push(
      `| ${c.name} | ${c.expected.product} v${c.expected.reportVersion} ${c.expected.signingKey} | ${ms(bare.median)} | ${ms(warm.median)} | ${ms(warm.p99)} | **${ratio.toFixed(2)}×** | ${ms(cold.median)} | ${ms(cold.p99)} |`,
    )
  }
  return `## SEV-SNP verification (\`bench/sev-snp.bench.ts\`)

Per real fixture, verified at its \`verifyAt\` under a policy that configures measurement, host data, TCB
minimums, VMPL, debug and SMT rules. *Bare* is one \`crypto.verify\` of the report's ECDSA P-384 signature
with a ready key object: the floor any verifier pays. *Warm* repeats full verification with the parse and
signature caches filled; bare and warm runs alternate (${WARM_RUNS} rounds) so both see the same machine.
*Cold* empties every cache before each run (${COLD_RUNS} runs), so it decodes the three certificates and
checks the two RSA-4096 PSS signatures again. Milliseconds. Targets (DESIGN.md §10): warm median ≤ 1.5×
bare, cold ≤ 10 ms.

| case | report | bare median | warm median | warm p99 | warm / bare | cold median | cold p99 |
|---|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}
`
}
