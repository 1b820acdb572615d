/**
 * The simulated NVIDIA CAs, memoised per process, and the SPKI pins of the two simulated roots that
 * `dev-simulated` trusts and `production` refuses.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto'
import { deriveEcPrivateKey, SIMULATED_SEED } from './derive-keys.js'
import { nvidiaKeyLabel, type GpuArch } from './nvidia-ca.js'
import { issueNvidiaDeviceRoot, issueNvidiaIdentityCa, issueNvidiaProvisionerCa } from './nvidia-device-chain.js'
import { issueNvidiaRimCa, issueNvidiaRimL3, issueNvidiaRimRoot, issueNvidiaRimSigner } from './nvidia-rim-chain.js'
import type { IssuedCertificate } from './x509.js'

/** The simulated CAs of one architecture, with their keys. */
export interface SimulatedNvidiaRoots {
  /** `NVIDIA Device Identity CA`, shared by every architecture. */
  deviceRoot: IssuedCertificate
  /** `NVIDIA <chip> Identity`. */
  identity: IssuedCertificate
  /** `NVIDIA <chip> Provisioner ICA …`: issues the per-device BROM certificates. */
  provisioner: IssuedCertificate
  /** `NVIDIA CoRIM signing Root CA`, shared by every architecture. */
  rimRoot: IssuedCertificate
  /** `NVIDIA Reference Value <chip> CA`. */
  rimCa: IssuedCertificate
  /** `NVIDIA Reference Value L3 …`. */
  rimL3: IssuedCertificate
  /** The L4 signer whose key signs the RIMs. */
  rimSigner: IssuedCertificate
}

const deviceRootCache = new Map<string, IssuedCertificate>()
const rimRootCache = new Map<string, IssuedCertificate>()
const rootsCache = new Map<string, SimulatedNvidiaRoots>()

/**
 * The simulated NVIDIA CAs of an architecture, with their keys, issued with every default and memoised
 * per process: one device root and one RIM root per seed, shared by both architectures as NVIDIA's are.
 * The simulated GPU issues its BROM and leaf under `provisioner` and signs its RIMs with `rimSigner`;
 * tests use the keys to issue their own certificates under them.
 */
export function simulatedNvidiaRoots(arch: GpuArch, seed = SIMULATED_SEED): SimulatedNvidiaRoots {
  const cacheKey = JSON.stringify([arch, seed])
  const cached = rootsCache.get(cacheKey)
  if (cached !== undefined) return cached
  let deviceRoot = deviceRootCache.get(seed)
  if (deviceRoot === undefined) {
    deviceRoot = issueNvidiaDeviceRoot({ seed })
    deviceRootCache.set(seed, deviceRoot)
  }
  let rimRoot = rimRootCache.get(seed)
  if (rimRoot === undefined) {
    rimRoot = issueNvidiaRimRoot({ seed })
    rimRootCache.set(seed, rimRoot)
  }
  const identity = issueNvidiaIdentityCa({ arch, seed, issuer: deviceRoot })
  const provisioner = issueNvidiaProvisionerCa({ arch, seed, issuer: identity })
  const rimCa = issueNvidiaRimCa({ arch, seed, issuer: rimRoot })
  const rimL3 = issueNvidiaRimL3({ arch, seed, issuer: rimCa })
  const rimSigner = issueNvidiaRimSigner({ arch, seed, issuer: rimL3 })
  const roots = { deviceRoot, identity, provisioner, rimRoot, rimCa, rimL3, rimSigner }
  rootsCache.set(cacheKey, roots)
  return roots
}

function spkiSha256(key: KeyObject): string {
  return createHash('sha256').update(createPublicKey(key).export({ type: 'spki', format: 'der' })).digest('hex')
}

/**
 * Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of the simulated `NVIDIA Device Identity CA`
 * (the same for every architecture): the constant a verifier pins to recognise, and a production
 * policy to refuse, simulated GPU evidence.
 */
export function simulatedNvidiaDeviceRootSpkiSha256(seed = SIMULATED_SEED): string {
  return spkiSha256(deriveEcPrivateKey(seed, nvidiaKeyLabel('device-root', 'HOPPER')))
}

/**
 * Lower-case hex SHA-256 of the DER SubjectPublicKeyInfo of the simulated `NVIDIA CoRIM signing Root CA`
 * (the same for every architecture): the pin of simulated RIMs.
 */
export function simulatedNvidiaRimRootSpkiSha256(seed = SIMULATED_SEED): string {
  return spkiSha256(deriveEcPrivateKey(seed, nvidiaKeyLabel('rim-root', 'HOPPER')))
}
