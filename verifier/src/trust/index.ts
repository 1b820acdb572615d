/**
 * `@vouch/verifier/trust`: the collateral the verifier needs from the network, fetched and cached on disk. AMD's KDS
 * (VCEK/VLEK certificates, chains, CRLs) and NVIDIA's RIM service and OCSP responder, each through an injectable
 * `fetch` and with every answer verified before it is cached; the cache (`TrustStore`) is what `vouch-verify
 * --trust-dir` reads offline.
 */
export { TrustStore, defaultTrustDir, tcbKey, type CachedCollateral } from './store.js'
export {
  fetchAmdCollateral,
  AMD_KDS_MIN_INTERVAL_MS,
  AMD_KDS_RETRIES,
  type FetchAmdCollateralOptions,
  type CollateralItem,
  type CollateralKind,
  type CollateralStatus,
  type CollateralSummary,
} from './kds.js'
export {
  fetchNvidiaCollateral,
  NVIDIA_RIM_SERVICE_URL,
  NVIDIA_OCSP_URL,
  NVIDIA_MIN_INTERVAL_MS,
  NVIDIA_RETRIES,
  type FetchNvidiaCollateralOptions,
  type NvidiaGpuCollateralInput,
  type NvidiaCollateralItem,
  type NvidiaCollateralKind,
  type NvidiaCollateralSummary,
} from './nvidia.js'
export type { HttpHooks } from './http.js'
