/** `vouch-verify nvidia-gpu`: verify the attestation reports of one or more NVIDIA confidential GPUs. */
import { verifyNvidiaGpu, verifyNvidiaGpus, type NvidiaGpuInput, type NvidiaGpuVerifyOptions } from '../nvidia/verify.js'
import type { NvidiaGpuClaims } from '../nvidia/claims.js'
import { parseCommandLine, parseGpuAttestationReport, type GpuAttestationReport } from '@vouch/protocol'
import type { Result } from '../result.js'
import type { TrustStore } from '../trust/store.js'
import { fromTrustDir, loadPolicy, openTrustDir, parseAt, parseHexFlag, readInput, UsageError } from './io.js'
import { nvidiaCollateralFromTrustDir } from './trust-dir.js'
import { renderResult } from './render.js'

export const NVIDIA_GPU_USAGE = `vouch-verify nvidia-gpu --report FILE --chain FILE [--nonce HEX] [--rim FILE]... [--ocsp FILE]...
                        [--at RFC3339] [--policy FILE] [--trust-dir DIR | --no-trust-dir] [--json | --verbose]

  --report FILE   the attestation report as NVML returns it (SPDM request and signed response)
  --chain FILE    the GPU's device certificate chain, leaf first (PEM, as NVML returns it)
                  Repeat --report and --chain, in pairs, to verify the GPUs of one machine together
                  (the policy's nvidiaGpu.count then applies).
  --nonce HEX     the 32-byte nonce the report must answer
  --rim FILE      a driver or VBIOS RIM (TCG/SWID XML); repeatable. Named like NVIDIA's RIM service
                  names them (NV_GPU_VBIOS_1010_0200_882_96005E0001.xml), the id is checked against the report
  --ocsp FILE     an OCSP response (DER) about a device or RIM chain certificate; repeatable
  --at RFC3339    verify certificates and OCSP responses at this time (default: now)
  --trust-dir DIR take the RIMs and OCSP responses not given above from this trust directory, filled by
                  \`vouch-verify trust fetch --gpu-report\` (default: $VOUCH_TRUST_DIR or ~/.cache/vouch/trust,
                  when it exists). A cached OCSP response is used only if it covers the verification time
  --no-trust-dir  use only the files given on the command line
  --policy FILE   policy (YAML or JSON); without it only authenticity is checked
  --json          print the Result as JSON
  --verbose       list every check (default: the failed ones, and a count per group of the others)`

export const NVIDIA_GPU_OPTIONS = {
  report: { type: 'string', multiple: true },
  chain: { type: 'string', multiple: true },
  nonce: { type: 'string' },
  rim: { type: 'string', multiple: true },
  ocsp: { type: 'string', multiple: true },
  at: { type: 'string' },
  'trust-dir': { type: 'string' },
  'no-trust-dir': { type: 'boolean', default: false },
  policy: { type: 'string' },
  json: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
} as const

function summary(claims: NvidiaGpuClaims | null, label = ''): string[] {
  if (claims === null) return [`${label}the report could not be parsed`]
  return [
    `${label}${claims.arch ?? 'unknown architecture'} · ${claims.hwmodel ?? 'unverified device'} · driver ${claims.driverVersion ?? '?'} · VBIOS ${claims.vbiosVersion ?? '?'}${claims.simulated ? ' · SIMULATED' : ''}`,
    `${label}nonce ${claims.nonce}`,
    ...(claims.rim ? [`${label}RIMs: driver ${claims.rim.driver?.version ?? 'none'}, VBIOS ${claims.rim.vbios?.version ?? 'none'}, ${claims.rim.mismatches.length} mismatching measurement(s)`] : []),
  ]
}

/** Runs the command; resolves to the exit code. */
export async function runNvidiaGpu(args: string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const { values } = parseCommandLine(args, { options: NVIDIA_GPU_OPTIONS })
  const reports = values.report ?? []
  const chains = values.chain ?? []
  if (reports.length === 0) throw new UsageError('--report is required')
  if (chains.length !== reports.length) throw new UsageError(`give one --chain per --report (got ${reports.length} reports and ${chains.length} chains)`)
  const nonce = parseHexFlag(values.nonce, '--nonce', 32)
  const rims = (values.rim ?? []).map((file) => ({ id: rimIdOf(file), xml: Buffer.from(readInput(file, '--rim', 'rim')).toString('utf8') }))
  const ocsp = (values.ocsp ?? []).map((file) => readInput(file, '--ocsp', 'ocsp'))
  const inputs: NvidiaGpuInput[] = reports.map((file, i) => ({
    report: readInput(file, '--report', 'gpuReport'),
    chain: Buffer.from(readInput(chains[i]!, '--chain', 'certificates')).toString('utf8'),
    ...(values.nonce !== undefined && nonce && { nonce: values.nonce.toLowerCase() }),
    ...(rims.length > 0 && { rims }),
    ...(ocsp.length > 0 && { ocsp }),
  }))
  // One clock for the verification and for choosing collateral from the trust directory.
  const at = parseAt(values.at) ?? new Date()
  const policy = values.policy === undefined ? undefined : loadPolicy(values.policy)
  const options: NvidiaGpuVerifyOptions = { at, ...(policy && { policy }) }
  const store = rims.length === 0 || ocsp.length === 0 ? openTrustDir(values) : null
  const notes = store === null ? [] : fromTrustDir(store, () => inputs.flatMap((input, i) => completeFromTrustDir(input, store, at, inputs.length > 1 ? `gpu[${i}] ` : '')))

  const show = (title: string, result: Result<unknown>, lines: string[]): void => {
    if (values.json) {
      for (const note of notes) err(`vouch-verify nvidia-gpu: note: ${note}`)
      out(JSON.stringify(result, null, 2))
    } else out(renderResult(title, result, [...lines, ...notes.map((n) => `note: ${n}`)], { verbose: values.verbose }))
  }
  if (inputs.length === 1) {
    const result = await verifyNvidiaGpu(inputs[0]!, options)
    show('vouch-verify nvidia-gpu', result, summary(result.claims))
    return result.verdict === 'accepted' ? 0 : 1
  }
  const result = await verifyNvidiaGpus(inputs, options)
  show(`vouch-verify nvidia-gpu (${inputs.length} GPUs)`, result, result.claims.gpus.flatMap((claims, i) => summary(claims, `gpu[${i}] `)))
  return result.verdict === 'accepted' ? 0 : 1
}

/** Completes one GPU's RIMs and OCSP responses, where none were given, from the trust directory; returns notes. */
function completeFromTrustDir(input: NvidiaGpuInput, store: TrustStore, at: Date, label: string): string[] {
  let report: GpuAttestationReport
  try {
    report = parseGpuAttestationReport(input.report)
  } catch {
    return [] // verification reports why
  }
  const cached = nvidiaCollateralFromTrustDir(store, report, input.chain, at)
  if (input.rims === undefined && cached.rims.length > 0) input.rims = cached.rims
  if (input.ocsp === undefined && cached.ocsp.length > 0) input.ocsp = cached.ocsp
  return cached.notes.map((n) => `${label}${n}`)
}

/** A RIM file named as NVIDIA's RIM service names RIMs (`NV_GPU_DRIVER_GH100_550.144.03.xml`) carries its id. */
function rimIdOf(file: string): string | undefined {
  const base = file.replace(/^.*[\\/]/, '').replace(/\.(xml|swidtag)$/i, '')
  return /^NV_(GPU|SWITCH)_[A-Z0-9_.]+$/i.test(base) ? base : undefined
}
