/**
 * What the trust directory that `vouch-verify trust fetch --gpu-report` (or the host) fills holds for one GPU: the
 * report's driver and VBIOS RIMs, and OCSP responses about the device chain and the RIM signing chains. `vouch-verify
 * nvidia-gpu` completes its input from it, and the host staples it to the evidence it serves. What is picked up this
 * way must not turn a verification nobody asked to be about revocation into a rejection, so a cached OCSP response
 * is used only where it speaks for the verification time (as `amd-cache.ts` does with CRLs); one that says "revoked"
 * is always used, since revocation is permanent. Nothing here is verified: the verifier checks whatever it is given.
 */
import { relative } from 'node:path'
import type { GpuAttestationReport } from '@vouch/protocol'
import { architectureOf } from '../nvidia/device.js'
import { parseRim } from '../nvidia/rim.js'
import type { RimInput } from '../nvidia/verify.js'
import { gpuRimIds } from '../nvidia/rim-ids.js'
import type { TrustStore } from './store.js'
import { commonName, parseCertificate, type Certificate } from '../x509/certificate.js'
import { OCSP_CLOCK_SKEW_MS } from '../x509/ocsp-check.js'
import { parseOcspResponse } from '../x509/ocsp-decode.js'
import { toDerList, type DerInput } from '../x509/pem.js'

/** What the trust directory holds for one GPU, in the forms the NVIDIA verifier takes. */
export interface CachedNvidiaCollateral {
  /** The driver and VBIOS RIMs found, with their RIM service ids. */
  rims: RimInput[]
  /** OCSP responses (DER) about certificates of the device chain and of the RIMs' signing chains. */
  ocsp: Uint8Array[]
  /** Files used, relative to the trust directory. */
  used: string[]
  /** What was found, left out or missing, and why. */
  notes: string[]
}

/**
 * Why a cached OCSP response does not speak for `at`, or null when it does: thisUpdate at most
 * `skewMs` after `at`, and `at` before nextUpdate (without nextUpdate, within `skewMs` of thisUpdate).
 */
function ocspGap(thisUpdate: Date, nextUpdate: Date | null, at: Date, skewMs: number): string | null {
  const t = at.getTime()
  if (t < thisUpdate.getTime() - skewMs) return `it was produced ${thisUpdate.toISOString()}, after the verification time ${at.toISOString()}`
  if (nextUpdate === null ? t > thisUpdate.getTime() + skewMs : t >= nextUpdate.getTime()) {
    const next = nextUpdate === null ? 'it has no nextUpdate' : `its nextUpdate ${nextUpdate.toISOString()} has passed`
    return `it is stale at ${at.toISOString()} (${next}); \`vouch-verify trust fetch --gpu-report\` gets a newer one`
  }
  return null
}

/**
 * The cached RIMs and OCSP responses that apply to one GPU's report and device chain at `at`:
 * - RIMs under the ids the report's signed opaque fields name (spec §4.1);
 * - OCSP responses about device chain certificates 1..3 and about every certificate but the root of
 *   each cached RIM's KeyInfo chain, when they cover `at` (or say "revoked").
 * A cached file that does not parse is used anyway, so that verification names the problem.
 *
 * @example
 * ```ts
 * const cached = nvidiaCollateralFromTrustDir(new TrustStore(dir), parseGpuAttestationReport(bytes), chainPem, at)
 * for (const note of cached.notes) console.error(`note: ${note}`)
 * ```
 */
export function nvidiaCollateralFromTrustDir(
  store: TrustStore,
  report: GpuAttestationReport,
  chain: DerInput,
  at: Date,
  options: { clockSkewMs?: number } = {},
): CachedNvidiaCollateral {
  const out: CachedNvidiaCollateral = { rims: [], ocsp: [], used: [], notes: [] }
  const name = (path: string): string => relative(store.dir, path)
  const skew = options.clockSkewMs ?? OCSP_CLOCK_SKEW_MS
  let certs: Certificate[]
  try {
    certs = toDerList(chain, 'device chain').map((der) => parseCertificate(der))
  } catch {
    return out // verification reports the malformed chain
  }
  const arch = certs[0] === undefined ? null : architectureOf(commonName(certs[0].subject))

  // Certificates whose OCSP responses apply: device chain 1..n-2, then each RIM chain 0..n-2.
  const targets: Certificate[] = certs.slice(1, -1)
  if (arch === null) out.notes.push('the device chain names no GPU architecture, so its RIM ids are unknown')
  else {
    let ids: { id: string; kind: string }[] = []
    try {
      const rimIds = gpuRimIds(report, arch)
      ids = [
        { id: rimIds.driver, kind: 'driver' },
        { id: rimIds.vbios, kind: 'VBIOS' },
      ]
    } catch (error) {
      out.notes.push((error as Error).message)
    }
    for (const { id, kind } of ids) {
      const xml = store.readRim(id)
      if (xml === null) {
        out.notes.push(`trust directory ${store.dir} holds no ${kind} RIM ${id}`)
        continue
      }
      out.rims.push({ id, xml })
      out.used.push(name(store.rimPath(id)))
      try {
        const ders = parseRim(xml).certificates
        targets.push(...ders.slice(0, -1).map((der) => parseCertificate(der)))
      } catch {
        // The verifier reports a RIM that does not parse; its chain has no OCSP responses to look up.
      }
    }
  }

  const seen = new Set<string>()
  for (const cert of targets) {
    if (seen.has(cert.sha256)) continue
    seen.add(cert.sha256)
    const der = store.readOcsp(cert.sha256)
    const path = name(store.ocspPath(cert.sha256))
    const who = `"${commonName(cert.subject) || cert.subject}"`
    if (der === null) {
      out.notes.push(`no cached OCSP response about ${who} (${path})`)
      continue
    }
    let gap: string | null = null
    let revoked = false
    try {
      const single = parseOcspResponse(der, `cached OCSP response ${path}`).responses.find((r) => r.certId.serialNumber === cert.serialNumber)
      if (single !== undefined) {
        gap = ocspGap(single.thisUpdate, single.nextUpdate, at, skew)
        revoked = single.status === 'revoked'
      }
    } catch {
      // A damaged cache file is used, so that verification names the problem.
    }
    if (gap === null || revoked) {
      out.ocsp.push(der)
      out.used.push(path)
      if (gap !== null) out.notes.push(`cached OCSP response ${path} is used although ${gap}: it says ${who} is revoked`)
    } else out.notes.push(`cached OCSP response ${path} about ${who} not used, so its revocation is not checked: ${gap}`)
  }
  if (out.used.length > 0) out.notes.unshift(`from trust directory ${store.dir}: ${out.used.join(', ')}`)
  return out
}

