/**
 * The vendor collateral of a simulated bundle, as AMD and NVIDIA would publish it for real hardware: a CRL signed by
 * the simulated ARK, the simulated GPUs' driver and VBIOS RIMs, and OCSP responses signed by each simulated issuer
 * (the simulated keys derive from a public seed, so a test can sign as AMD's and NVIDIA's stand-ins). With them a
 * simulated receipt meets every rule of `production.yaml` but `allowSimulated`: what stapling must carry.
 */
import { createHash } from 'node:crypto'
import 'reflect-metadata'
import { AsnConvert } from '@peculiar/asn1-schema'
import { Certificate as AsnCertificate } from '@peculiar/asn1-x509'
import { createSimulatedGpu, issueCrl, simulatedAmdRoots, simulatedNvidiaRoots, type IssuedCertificate } from '@vouch/enclave/simulated'
import { parseAttestationReport, parseGpuAttestationReport, type EvidenceBundle, type KeyFamily, type Product } from '@vouch/protocol'
import { gpuRimIds, parseRim } from '@vouch/verifier'
import type { TrustStore } from '@vouch/verifier/trust'
import { buildTestOcspResponse, testCertId, type TestIdentity } from '../../verifier/test/helpers/ocsp-testkit.js'

/** A simulated bundle's collateral, in the trust directory's terms. */
export interface SimulatedCollateral {
  crl: { product: Product; family: KeyFamily; der: Uint8Array }
  rims: Array<{ id: string; xml: string }>
  /** Each OCSP response with the certificate it is about. */
  ocsp: Array<{ certificate: Uint8Array; der: Uint8Array }>
}

const HOUR = 3_600_000

/** Signs as `issued` (a simulated CA with its key) in the OCSP testkit's terms. */
function signer(issued: IssuedCertificate): TestIdentity {
  return { name: '', der: issued.der, pem: '', keyType: 'ec-p384', privateKey: issued.key, asn: AsnConvert.parse(issued.der, AsnCertificate) } as unknown as TestIdentity
}

const hex = (der: Uint8Array): string => Buffer.from(der).toString('hex')

/**
 * The collateral of `bundle` (from the simulated TEE) current at `at`: its product's CRL (thisUpdate an hour before,
 * nextUpdate 30 days after), its GPUs' RIMs, and a "good" OCSP response (valid a day) for device chain certificates
 * 1 to 3 and for each RIM chain's certificates but the root.
 */
export function simulatedCollateral(bundle: EvidenceBundle, at: Date): SimulatedCollateral {
  const report = parseAttestationReport(bundle.cpu.report)
  const product = report.product ?? 'Genoa'
  const signingKey = report.signingKey === 'VLEK' ? 'VLEK' : 'VCEK'
  const crl = { product, family: signingKey === 'VLEK' ? ('vlek' as const) : ('vcek' as const), der: issueCrl({ issuer: simulatedAmdRoots(product, signingKey).ark, thisUpdate: new Date(at.getTime() - HOUR) }) }
  const rims = new Map<string, string>()
  const pairs: Array<[Uint8Array, Uint8Array]> = []
  const keys = new Map<string, IssuedCertificate>()
  for (const gpu of bundle.gpus) {
    const roots = simulatedNvidiaRoots(gpu.arch)
    for (const ca of Object.values(roots)) keys.set(hex(ca.der), ca)
    const ids = gpuRimIds(parseGpuAttestationReport(gpu.report), gpu.arch)
    const simulated = createSimulatedGpu({ arch: gpu.arch }).rims()
    for (const rim of [simulated.driver, simulated.vbios]) {
      if (rim.id !== ids.driver && rim.id !== ids.vbios) throw new Error(`the simulated GPU's RIM ${rim.id} is not one its report names (${ids.driver}, ${ids.vbios})`)
      rims.set(rim.id, rim.xml)
      const chain = parseRim(rim.xml).certificates
      for (let i = 0; i < chain.length - 1; i++) pairs.push([chain[i]!, chain[i + 1]!])
    }
    for (let i = 1; i < gpu.chain.length - 1; i++) pairs.push([gpu.chain[i]!, gpu.chain[i + 1]!])
  }
  const ocsp = new Map<string, { certificate: Uint8Array; der: Uint8Array }>()
  for (const [certificate, issuer] of pairs) {
    const ca = keys.get(hex(issuer))
    if (ca === undefined) throw new Error('a certificate of the bundle is not issued by a simulated NVIDIA CA')
    const thisUpdate = new Date(at.getTime() - HOUR)
    const der = buildTestOcspResponse({ signer: signer(ca), answers: [{ certId: testCertId(certificate, issuer, 'sha384'), status: 'good', thisUpdate, nextUpdate: new Date(at.getTime() + 24 * HOUR) }] })
    ocsp.set(hex(certificate), { certificate, der })
  }
  return { crl, rims: [...rims].map(([id, xml]) => ({ id, xml })), ocsp: [...ocsp.values()] }
}

/** Writes `collateral` into `store` where `vouch-verify trust fetch` would have. */
export function writeSimulatedCollateral(store: TrustStore, collateral: SimulatedCollateral): void {
  store.writeCrl(collateral.crl.product, collateral.crl.family, collateral.crl.der)
  for (const rim of collateral.rims) store.writeRim(rim.id, rim.xml)
  for (const o of collateral.ocsp) store.writeOcsp(createHash('sha256').update(o.certificate).digest('hex'), o.der)
}
