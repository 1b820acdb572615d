/**
 * `@vouch/host`: the untrusted relay (DESIGN.md §9). HTTPS with the Open Inference Protocol v2 routes, sealed
 * bodies and evidence relayed to the enclave over its link, supervision of the enclave process, metrics.
 * It never sees plaintext and imports nothing of the enclave or the client, and of the verifier only the collateral
 * fetchers and cache (`@vouch/verifier/trust`), to staple AMD and NVIDIA collateral to the evidence it serves.
 */
export { type AppConfig, type AppOptions, type ModelEntry } from './app.js'
export { loadConfig, usage, type HostConfig, type LoadConfigOptions, type ParsedCommandLine } from './config.js'
export {
  HOST_ERROR_CODES,
  HostError,
  HostStartupError,
  type HostErrorCode,
  type HostStartupErrorCode,
  type Problem,
} from './errors.js'
export { type EnclaveLink, type LinkAddress, type LinkCallOptions, type LinkClientOptions } from './link-client.js'
export { traceResponse } from './http/context.js'
export { createLogger } from './logger.js'
export { type HostMetrics, type LinkMetrics, type MetricsOptions } from './metrics.js'
export { HOST_NODE_FLAGS } from './node-flags.js'
export { ENCLAVE_ALLOCATOR_ENV, startHost, type RunningHost, type StartHostOptions } from './server.js'
export { type SupervisorOptions } from './supervisor.js'
export {
  createHttpsServer,
  loadDevCertificate,
  type TlsCredentials,
} from './tls.js'
export { main } from './cli.js'
