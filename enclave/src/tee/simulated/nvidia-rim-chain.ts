/**
 * The RIM signing chain of the simulated NVIDIA GPU, issued as NVIDIA issues it: `NVIDIA CoRIM signing Root CA` →
 * `NVIDIA Reference Value <chip> CA` → `… L3 …` → the L4 signer of the driver and VBIOS RIMs (nvidia-ca.ts
 * describes both chains).
 */
import type { Name } from '@peculiar/asn1-x509'
import {
  CRL_BASE,
  derivedSerial,
  issue,
  issueIntermediateCa,
  name,
  nvidiaKeyLabel,
  ORG,
  type GpuArch,
  type IssueNvidiaCertificateOptions,
  type NvidiaCertificateOptions,
} from './nvidia-ca.js'
import { aki, basicConstraints, BC_CA, BC_CA_PATHLEN_0, BC_END_ENTITY, keyUsage, KU_CERT_AND_CRL_SIGN, KU_DIGITAL_SIGNATURE, ocsp, ski } from './nvidia-extensions.js'
import type { IssuedCertificate } from './x509.js'

/** The names of each architecture's RIM CAs below the shared root. */
const RIM_NAMES: Readonly<Record<GpuArch, { rimCa: string; rimL3: string; rimSigner: string }>> = {
  HOPPER: { rimCa: 'NVIDIA Reference Value GH100 CA', rimL3: 'NVIDIA Reference Value L3 GH100 001', rimSigner: 'HCC RIM L4 Signer' },
  BLACKWELL: { rimCa: 'NVIDIA Reference Value GB1XX CA 001', rimL3: 'NVIDIA Reference Value L3 GB100-CC 001', rimSigner: 'RIM L4 Signer' },
}

// The RIM root is NVIDIA's (30 years); the others outlive NVIDIA's (10 years, about 3.5, 2) so that
// simulated RIMs verify today and for years. Tests forge expiry with `notAfter`.
const RIM_VALIDITY: Readonly<Record<'root' | 'ca' | 'l3' | 'signer', { notBefore: Date; notAfter: Date }>> = {
  root: { notBefore: new Date('2023-03-16T15:37:34Z'), notAfter: new Date('2053-03-08T15:37:34Z') },
  ca: { notBefore: new Date('2023-05-11T00:00:00Z'), notAfter: new Date('2048-05-11T23:59:59Z') },
  l3: { notBefore: new Date('2024-11-01T00:00:00Z'), notAfter: new Date('2046-04-30T23:59:59Z') },
  signer: { notBefore: new Date('2025-01-01T00:00:00Z'), notAfter: new Date('2045-01-01T00:00:00Z') },
}

/**
 * Issues the self-signed `C=US, O=NVIDIA, CN=NVIDIA CoRIM signing Root CA` like NVIDIA's: key
 * identifiers first, then basicConstraints CA and keyUsage keyCertSign + cRLSign (critical), 30 years
 * from 2023-03-16. Its key (`nvidia/corim-signing-root-ca`) is shared by every architecture.
 */
export function issueNvidiaRimRoot(options: NvidiaCertificateOptions = {}): IssuedCertificate {
  const label = nvidiaKeyLabel('rim-root', 'HOPPER')
  return issue({
    options,
    label,
    subject: (cn) => name([['C', 'US'], ['O', 'NVIDIA'], ['CN', cn]]),
    commonName: 'NVIDIA CoRIM signing Root CA',
    serial: (seed) => derivedSerial(seed, label, 16, true),
    ...RIM_VALIDITY.root,
    extensions: (keyId) => [ski(keyId), aki(keyId), basicConstraints(BC_CA), keyUsage(KU_CERT_AND_CRL_SIGN)],
  })
}

/**
 * Issues the reference-value CA (`NVIDIA Reference Value GH100 CA`, `… GB1XX CA 001`) under the RIM root:
 * CA, keyCertSign + cRLSign, the `crl-corim/l1-corim` distribution point, OCSP, key identifiers, with
 * both dates as GeneralizedTime as NVIDIA writes them.
 */
export function issueNvidiaRimCa(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  const ca = { commonName: RIM_NAMES[options.arch].rimCa, ...RIM_VALIDITY.ca, basicConstraints: BC_CA, crl: `${CRL_BASE}/crl-corim/l1-corim` }
  return issueReferenceValueCa(options, 'rim-ca', ca)
}

/**
 * Issues the L3 CA (`NVIDIA Reference Value L3 GH100 001`, `… L3 GB100-CC 001`) under the reference-value
 * CA: CA with path length 0, keyCertSign + cRLSign, OCSP, key identifiers, GeneralizedTime dates.
 */
export function issueNvidiaRimL3(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  const ca = { commonName: RIM_NAMES[options.arch].rimL3, ...RIM_VALIDITY.l3, basicConstraints: BC_CA_PATHLEN_0, crl: null }
  return issueReferenceValueCa(options, 'rim-l3', ca)
}

/** A reference-value CA as NVIDIA writes both: O and C after the CN, derived serials as they come, GeneralizedTime dates. */
function issueReferenceValueCa(
  options: IssueNvidiaCertificateOptions,
  role: 'rim-ca' | 'rim-l3',
  ca: { commonName: string; notBefore: Date; notAfter: Date; basicConstraints: Uint8Array; crl: string | null },
): IssuedCertificate {
  const subject = (cn: string): Name => name([['CN', cn], ['O', ORG], ['C', 'US']])
  return issueIntermediateCa(options, { role, subject, ...ca, positiveSerial: false, generalizedTime: true })
}

/**
 * Issues the L4 RIM signer (`HCC RIM L4 Signer`, Blackwell `RIM L4 Signer`; subject C, ST, L, O, CN) under
 * the L3 CA: key identifiers, basicConstraints end entity and keyUsage digitalSignature (critical), OCSP,
 * a 20-byte serial, UTCTime dates.
 */
export function issueNvidiaRimSigner(options: IssueNvidiaCertificateOptions): IssuedCertificate {
  const label = nvidiaKeyLabel('rim-signer', options.arch)
  return issue({
    options,
    label,
    issuer: options.issuer,
    subject: (cn) =>
      name([['C', 'US'], ['ST', 'CA'], ['L', 'Santa Clara'], ['O', ORG], ['CN', cn]]),
    commonName: RIM_NAMES[options.arch].rimSigner,
    serial: (seed) => derivedSerial(seed, label, 20, true),
    ...RIM_VALIDITY.signer,
    extensions: (keyId, issuer) => [
      ski(keyId),
      aki(issuer.keyId),
      basicConstraints(BC_END_ENTITY),
      keyUsage(KU_DIGITAL_SIGNATURE),
      ocsp(),
    ],
  })
}
