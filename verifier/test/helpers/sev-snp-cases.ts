/** The SEV-SNP fixture cases with their ground truth, loaded as verifier inputs. */
import type { SevSnpClaims, SevSnpInput } from '@vouch/verifier'
import { fixtureBytes, fixtureCases, fixtureExists, fixtureText } from './fixtures.js'

interface ExpectedTcb {
  fmc?: number
  bl: number
  tee: number
  snp: number
  ucode: number
  raw: string
}

/** `expected.json` of a SEV-SNP case. */
export interface SevSnpExpected {
  authentic: boolean | null
  product: 'milan' | 'genoa' | 'turin' | null
  reportVersion: number
  signingKey: 'VCEK' | 'VLEK'
  policy: string
  debug: boolean
  vmpl: number
  measurement: string
  reportData: string
  hostData: string
  chipId: string
  reportedTcb: ExpectedTcb
  committedTcb: ExpectedTcb
  launchTcb: ExpectedTcb
  currentTcb: ExpectedTcb
  cpuid: { fam: number; model: number; step: number } | null
  verifyAt: string | null
}

export interface SevSnpCase {
  name: string
  expected: SevSnpExpected
  input: SevSnpInput
  /** Paths relative to the fixtures folder, for CLI runs. */
  files: { report: string; vek?: string; chain?: string[] }
  at: Date | undefined
}

/** ASK (or ASVK for VLEK) then ARK of a product, as PEM file paths relative to the fixtures folder. */
export function chainFiles(product: string, signingKey: 'VCEK' | 'VLEK'): string[] {
  return [`sev-snp/roots/${product}/${signingKey === 'VLEK' ? 'asvk' : 'ask'}.pem`, `sev-snp/roots/${product}/ark.pem`]
}

/** Every case under `sev-snp/cases`. */
export function loadSevSnpCases(): SevSnpCase[] {
  return fixtureCases('sev-snp').map((name) => {
    const dir = `sev-snp/cases/${name}`
    const expected = JSON.parse(fixtureText(dir, 'expected.json')) as SevSnpExpected
    const files: SevSnpCase['files'] = { report: `${dir}/report.bin` }
    const input: SevSnpInput = { report: fixtureBytes(dir, 'report.bin') }
    if (fixtureExists(dir, 'vek.der') && expected.product !== null) {
      files.vek = `${dir}/vek.der`
      files.chain = chainFiles(expected.product, expected.signingKey)
      input.vek = fixtureBytes(dir, 'vek.der')
      input.chain = files.chain.map((f) => fixtureText(f)).join('')
    }
    return { name, expected, input, files, at: expected.verifyAt ? new Date(expected.verifyAt) : undefined }
  })
}

function tcb(e: ExpectedTcb): Record<string, unknown> {
  return { ...(e.fmc !== undefined && { fmc: e.fmc }), bootloader: e.bl, tee: e.tee, snp: e.snp, microcode: e.ucode, raw: e.raw }
}

/** The claims `expected.json` fixes, in the verifier's claim names. */
export function expectedClaims(e: SevSnpExpected): Partial<Record<keyof SevSnpClaims, unknown>> {
  return {
    product: e.product === null ? null : e.product[0]!.toUpperCase() + e.product.slice(1),
    reportVersion: e.reportVersion,
    signingKey: e.signingKey,
    measurement: e.measurement,
    reportData: e.reportData,
    hostData: e.hostData,
    chipId: e.chipId,
    vmpl: e.vmpl,
    reportedTcb: tcb(e.reportedTcb),
    committedTcb: tcb(e.committedTcb),
    launchTcb: tcb(e.launchTcb),
    currentTcb: tcb(e.currentTcb),
    cpuid: e.cpuid === null ? null : { family: e.cpuid.fam, model: e.cpuid.model, stepping: e.cpuid.step },
  }
}

/** Asserts every claim `expected.json` gives; returns a list of mismatches (empty when all agree). */
export function claimMismatches(claims: SevSnpClaims | null, e: SevSnpExpected): string[] {
  if (claims === null) return ['no claims']
  const out: string[] = []
  for (const [key, want] of Object.entries(expectedClaims(e))) {
    const got = (claims as unknown as Record<string, unknown>)[key]
    if (JSON.stringify(got) !== JSON.stringify(want)) out.push(`${key}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`)
  }
  if (claims.policy.raw !== e.policy) out.push(`policy.raw: expected ${e.policy}, got ${claims.policy.raw}`)
  if (claims.policy.debug !== e.debug) out.push(`policy.debug: expected ${e.debug}, got ${claims.policy.debug}`)
  return out
}
