/**
 * Evidence bundles holding real hardware evidence from `../shared/fixtures`: an SEV-SNP report with its VCEK and
 * AMD's chain, and optionally an H100's report and device chain, around a keyset and models made here. Their
 * reports were signed for other challenges, so a verifier rejects their binding (REPORT_DATA, the GPU nonce); every
 * other check, and every piece of collateral (AMD CRLs, NVIDIA RIMs), is real.
 */
import { encodeBundle, pemToDer, type EvidenceBundleV2 } from '@vouch/protocol'
import { testBundleV2 } from '../../../protocol/test/helpers/fixtures.js'
import { fixtureBytes, fixtureText } from './fixtures.js'
import { chainFiles } from './sev-snp-cases.js'

/** A Milan VCEK report (GCP): accepted under production.yaml at its `verifyAt` with the 2025-05-06 Milan CRL. */
export const AMD_CASE = { name: 'teekit-sev-gcp', product: 'milan', at: new Date('2025-12-06T06:04:27Z'), crl: 'milan_vcek_crl_2025-05-06_n6.der' } as const
/** A Milan VCEK report whose VCEK is valid in 2024, for the GPU case's time. */
export const OLDER_AMD_CASE = { name: 'virtee-report_milan', product: 'milan' } as const
/** An H100 on driver 545.00 with its driver and VBIOS RIMs, whose signers expired mid-2025: verify at its `rimVerifyAt`. */
export const GPU_CASE = {
  name: 'hopper-h100-545.00-with-rims',
  at: new Date('2024-06-01T00:00:00Z'),
  rims: [
    { id: 'NV_GPU_DRIVER_GH100_545.00', file: 'Driver_RIM_test_no_gpu.swidtag' },
    { id: 'NV_GPU_VBIOS_1010_0200_882_96005E0001', file: '1010_0200_882_96005E0001_test_no_gpu.swidtag' },
  ],
} as const

/** A real AMD CRL of `roots/crl`, DER. */
export function realCrl(file: string): Uint8Array {
  return fixtureBytes('sev-snp', 'roots', 'crl', file)
}

/** The real RIMs of {@link GPU_CASE}, under their RIM service ids, as bytes. */
export function realRims(): Array<{ id: string; xml: Uint8Array }> {
  return GPU_CASE.rims.map((r) => ({ id: r.id, xml: fixtureBytes('nvidia-gpu', 'cases', GPU_CASE.name, r.file) }))
}

/** A v2 bundle with the real CPU evidence of `cpuCase` and, when `gpu`, the real GPU evidence of {@link GPU_CASE}. */
export function realEvidenceBundle(cpuCase: { name: string; product: string }, gpu: boolean): { bundle: EvidenceBundleV2; bytes: Uint8Array } {
  const base = testBundleV2()
  const [ask, ark] = chainFiles(cpuCase.product, 'VCEK').map((f) => pemToDer(fixtureText(f))[0]!)
  const bundle: EvidenceBundleV2 = {
    ...base,
    platform: 'sev-snp',
    nonces: [],
    cpu: { type: 'sev-snp', report: fixtureBytes('sev-snp', 'cases', cpuCase.name, 'report.bin'), vek: fixtureBytes('sev-snp', 'cases', cpuCase.name, 'vek.der'), chain: [ask!, ark!] },
    gpus: gpu ? [{ type: 'nvidia-cc', arch: 'HOPPER', report: fixtureBytes('nvidia-gpu', 'cases', GPU_CASE.name, 'report.bin'), chain: pemToDer(fixtureText('nvidia-gpu', 'cases', GPU_CASE.name, 'chain.pem')) }] : [],
  }
  return { bundle, bytes: encodeBundle(bundle) }
}
