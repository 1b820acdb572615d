/** One switch for every verification cache, so benchmarks can measure cold runs. */
import { clearCertificateCaches } from './x509/certificate.js'
import { clearCrlCaches } from './x509/crl.js'

/** Empties the certificate, signature and CRL caches. Verification results do not depend on them. */
export function clearVerifierCaches(): void {
  clearCertificateCaches()
  clearCrlCaches()
}
