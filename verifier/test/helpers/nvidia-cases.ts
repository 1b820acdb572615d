/** The NVIDIA GPU fixture cases with their ground truth, loaded as verifier inputs. */
import type { NvidiaGpuClaims, NvidiaGpuInput } from '@vouch/verifier'
import { fixtureBytes, fixtureCases, fixtureText } from './fixtures.js'

/** `expected.json` of a GPU case. */
export interface GpuExpected {
  authentic: boolean
  arch: 'HOPPER' | 'BLACKWELL'
  nonce: string
  driverVersion: string
  vbiosVersion: string
  fwid: string | null
  ueid: string
  hwmodel: string
  measurements: Record<string, string>
  trailingBytes: number
  rimVerifyAt?: string
}

export interface GpuCase {
  name: string
  expected: GpuExpected
  input: NvidiaGpuInput & { chain: string }
  files: { report: string; chain: string }
}

export function loadGpuCases(): GpuCase[] {
  return fixtureCases('nvidia-gpu').map((name) => {
    const dir = `nvidia-gpu/cases/${name}`
    const expected = JSON.parse(fixtureText(dir, 'expected.json')) as GpuExpected
    return {
      name,
      expected,
      input: { report: fixtureBytes(dir, 'report.bin'), chain: fixtureText(dir, 'chain.pem') },
      files: { report: `${dir}/report.bin`, chain: `${dir}/chain.pem` },
    }
  })
}

/** Claims that differ from `expected.json`, as messages (empty when all agree). */
export function gpuClaimMismatches(claims: NvidiaGpuClaims | null, e: GpuExpected): string[] {
  if (claims === null) return ['no claims']
  const want: Record<string, unknown> = {
    arch: e.arch,
    nonce: e.nonce,
    driverVersion: e.driverVersion,
    vbiosVersion: e.vbiosVersion,
    fwid: e.fwid,
    ueid: e.ueid,
    hwmodel: e.hwmodel,
    measurements: e.measurements,
    trailingBytes: e.trailingBytes,
  }
  return Object.entries(want)
    .filter(([k, v]) => JSON.stringify((claims as unknown as Record<string, unknown>)[k]) !== JSON.stringify(v))
    .map(([k, v]) => `${k}: expected ${JSON.stringify(v)}, got ${JSON.stringify((claims as unknown as Record<string, unknown>)[k])}`)
}
