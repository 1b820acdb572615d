/**
 * `@vouch/verifier/trust`: the collateral the verifier needs from the network, fetched and cached on disk. AMD's KDS
 * (VCEK/VLEK certificates, chains, CRLs) and NVIDIA's RIM service and OCSP responder, each through an injectable
 * `fetch` and with every answer verified before it is cached; the cache (`TrustStore`) is what `vouch-verify
 * --trust-dir` reads offline, and what the host staples to the evidence it serves (`cachedBundleCollateral`).
 */
export { TrustStore, defaultTrustDir, tcbKey, type CachedCollateral } from './store.js'
export {
  fetchAmdCollateral,
  type FetchAmdCollateralOptions,
  type CollateralItem,
  type CollateralKind,
  type CollateralStatus,
  type CollateralSummary,
} from './kds.js'
export {
  fetchNvidiaCollateral,
  type FetchNvidiaCollateralOptions,
  type NvidiaGpuCollateralInput,
  type NvidiaCollateralItem,
  type NvidiaCollateralKind,
  type NvidiaCollateralSummary,
} from './nvidia.js'
export {
  cachedBundleCollateral,
  fetchBundleCollateral,
  type BundleCollateral,
  type BundleCollateralSummary,
  type FetchBundleCollateralOptions,
} from './staple.js'
export type { HttpHooks } from './http.js'
