/** One switch for every verification cache, so benchmarks can measure cold runs. */
import { clearCertificateCaches } from './x509/certificate.js'
import { clearCrlCaches } from './x509/crl.js'
import { clearRimCaches } from './nvidia/rim.js'
import { clearOcspCaches } from './x509/ocsp.js'

/** Empties the certificate, signature, CRL, OCSP and RIM caches. Verification results do not depend on them. */
export function clearVerifierCaches(): void {
  clearCertificateCaches()
  clearCrlCaches()
  clearOcspCaches()
  clearRimCaches()
}
