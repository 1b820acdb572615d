/**
 * NVIDIA GPU report verification, per real fixture: one bare ECDSA P-384 check of the report (the
 * floor), warm verification (device chain, FWID, signature, nonce, policy; caches filled) and cold.
 * Target (DESIGN.md §10): warm median within 1.5× the bare check.
 */
import { verify } from 'node:crypto'
import { parseGpuAttestationReport, pemToDer } from '@vouch/protocol'
import { clearVerifierCaches, parsePolicy, verifyNvidiaGpu, verifyRim } from '@vouch/verifier'
import { fixturesMissing, fixtureText } from '../verifier/test/helpers/fixtures.js'
import { loadGpuCases } from '../verifier/test/helpers/nvidia-cases.js'
import { measure, measureInterleaved, ms, type Timing } from './lib/measure.js'
import { X509Certificate } from 'node:crypto'

const WARM_RUNS = 3000
const COLD_RUNS = 300

export async function benchNvidiaGpu(log: (line: string) => void): Promise<string> {
  const missing = fixturesMissing('nvidia-gpu')
  if (missing) return `## NVIDIA GPU verification\n\nSkipped: ${missing}\n`
  const rows: string[] = []
  for (const c of loadGpuCases().filter((k) => k.expected.authentic && ['hopper-h100-580.159.03', 'hopper-h100-550.90.07', 'hopper-h100-545.00-with-rims', 'blackwell-gb100-575.32', 'hgx-h100-ppcie-gpu0'].includes(k.name))) {
    const report = parseGpuAttestationReport(c.input.report)
    const key = new X509Certificate(pemToDer(c.input.chain)[0]!).publicKey
    const policy = parsePolicy(
      JSON.stringify({ version: 1, name: 'bench', allowSimulated: false, nvidiaGpu: { required: true, allowedArchitectures: [c.expected.arch], requireRimMatch: false, requireOcsp: false, minimumDriverVersion: '545.0', allowedVbiosVersions: [c.expected.vbiosVersion] } }),
      'bench.json',
    )
    const input = { ...c.input, nonce: c.expected.nonce }
    const check = async (): Promise<void> => {
      const result = await verifyNvidiaGpu(input, { policy })
      if (result.verdict !== 'accepted') throw new Error(`${c.name}: ${JSON.stringify(result.errors)}`)
    }
    const bareCheck = (): void => {
      if (!verify('sha384', report.signed, { key, dsaEncoding: 'ieee-p1363' }, report.signature)) throw new Error(`${c.name}: bare check failed`)
    }
    const [bare, warm] = (await measureInterleaved([bareCheck, check], { runs: WARM_RUNS })) as [Timing, Timing]
    const cold = await measure(check, { runs: COLD_RUNS, warmup: 20, before: clearVerifierCaches })
    const ratio = warm.median / bare.median
    log(`nvidia-gpu ${c.name}: bare ${ms(bare.median)} ms, warm ${ms(warm.median)} ms (${ratio.toFixed(2)}×), cold ${ms(cold.median)} ms`)
    rows.push(`| ${c.name} | ${c.expected.arch} ${c.expected.driverVersion} | ${ms(bare.median)} | ${ms(warm.median)} | ${ms(warm.p99)} | **${ratio.toFixed(2)}×** | ${ms(cold.median)} | ${ms(cold.p99)} |`)
  }
  const rimRows: string[] = []
  const rimCases: Array<{ name: string; xml: string; at: Date }> = [
    { name: 'NV_GPU_DRIVER_GH100_550.144.03 (driver RIM)', xml: fixtureText('nvidia-gpu/rims/NV_GPU_DRIVER_GH100_550.144.03.xml'), at: new Date('2025-06-01T00:00:00Z') },
    { name: '1010_0200_882_96005E0001 (VBIOS RIM)', xml: fixtureText('nvidia-gpu/cases/hopper-h100-545.00-with-rims/1010_0200_882_96005E0001_test_no_gpu.swidtag'), at: new Date('2024-06-01T00:00:00Z') },
  ]
  for (const r of rimCases) {
    const check = async (): Promise<void> => {
      const result = await verifyRim(r.xml, { at: r.at })
      if (result.verdict !== 'accepted') throw new Error(`${r.name}: ${JSON.stringify(result.errors)}`)
    }
    const warm = await measure(check, { runs: WARM_RUNS })
    const cold = await measure(check, { runs: 100, warmup: 10, before: clearVerifierCaches })
    log(`rim ${r.name}: warm ${ms(warm.median)} ms, cold ${ms(cold.median)} ms`)
    rimRows.push(`| ${r.name} | ${ms(warm.median)} | ${ms(cold.median)} | ${ms(cold.p99)} |`)
  }
  const withRims = loadGpuCases().find((k) => k.name === 'hopper-h100-545.00-with-rims')!
  const rimsInput = { ...withRims.input, nonce: withRims.expected.nonce, rims: [fixtureText('nvidia-gpu/cases/hopper-h100-545.00-with-rims/Driver_RIM_test_no_gpu.swidtag'), rimCases[1]!.xml] }
  const gpuWithRims = async (): Promise<void> => {
    const result = await verifyNvidiaGpu(rimsInput, { at: new Date(withRims.expected.rimVerifyAt!) })
    if (result.verdict !== 'accepted') throw new Error(`with RIMs: ${JSON.stringify(result.errors)}`)
  }
  const full = await measure(gpuWithRims, { runs: WARM_RUNS })
  const fullCold = await measure(gpuWithRims, { runs: 100, warmup: 10, before: clearVerifierCaches })
  log(`nvidia-gpu with both RIMs: warm ${ms(full.median)} ms, cold ${ms(fullCold.median)} ms`)

  return `## NVIDIA GPU report verification (\`bench/nvidia-gpu.bench.ts\`)

Per real GPU fixture: parse the SPDM report, verify the five-certificate device chain to the pinned NVIDIA
Device Identity CA, the FWID binding, the report signature and the nonce, under a policy with architecture
and version rules. *Bare* is one \`crypto.verify\` of the report's ECDSA P-384 signature with a ready key;
bare and warm runs alternate (${WARM_RUNS} rounds). *Cold* empties every cache before each run (${COLD_RUNS}
runs): five certificates decoded and four chain signatures checked again. Milliseconds. Target (DESIGN.md
§10): warm median ≤ 1.5× bare.

| case | GPU | bare median | warm median | warm p99 | warm / bare | cold median | cold p99 |
|---|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

### RIM verification

\`verifyRim\`: parse, KeyInfo chain to the pinned NVIDIA CoRIM signing root, validity, enveloped XMLDSig
(C14N 1.1, SHA-384, ECDSA P-384). Warm reuses the parse and signature caches (keyed by the RIM's SHA-256);
cold empties them (100 runs). Milliseconds.

| RIM | warm median | cold median | cold p99 |
|---|---:|---:|---:|
${rimRows.join('\n')}

A GPU report with both its RIMs (hopper-h100-545.00-with-rims at its \`rimVerifyAt\`: device chain,
signature, nonce, two RIMs, 32 golden measurements compared): warm median ${ms(full.median)} ms, cold median
${ms(fullCold.median)} ms.
`
}
