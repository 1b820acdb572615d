/** One switch for every verification cache, so benchmarks can measure cold runs. */
import { platform } from '@vouch/protocol'
import { clearCertificateCaches } from './x509/certificate.js'
import { clearCrlCaches } from './x509/crl.js'
import { clearRimCaches } from './nvidia/rim.js'
import { clearOcspCheckCaches } from './x509/ocsp-check.js'
import { clearOcspResponseCache } from './x509/ocsp-decode.js'
import { clearOcspRequestCache } from './x509/ocsp-request.js'

/** Empties the certificate, key, signature, CRL, OCSP and RIM caches. Verification results do not depend on them. */
export function clearVerifierCaches(): void {
  platform.clearKeys()
  clearCertificateCaches()
  clearCrlCaches()
  clearOcspResponseCache()
  clearOcspRequestCache()
  clearOcspCheckCaches()
  clearRimCaches()
}
