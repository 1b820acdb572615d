/**
 * `@vouch/host`: the untrusted relay (DESIGN.md §9). HTTPS with the Open Inference Protocol v2 routes, sealed
 * bodies and evidence relayed to the enclave over its link, supervision of the enclave process, metrics.
 * It never sees plaintext and imports nothing of the enclave, the verifier or the client.
 */
export { createApp, HostLifecycle, HOST_VERSION, EXTENSIONS, UNCHALLENGED_CACHE_CONTROL, type AppConfig, type AppOptions, type ModelEntry } from './app.js'
export { CONFIG_FIELDS, CONFIG_FILE_ENV, DEFAULT_ENCLAVE_COMMAND, envName, loadConfig, usage, type HostConfig, type LoadConfigOptions, type ParsedCommandLine } from './config.js'
export {
  EnclaveRefusal,
  HOST_ERRORS,
  HOST_ERROR_CODES,
  HOST_STARTUP_ERROR_CODES,
  HostError,
  HostStartupError,
  PROBLEM_MEDIA_TYPE,
  toEnclaveRefusal,
  toProblem,
  type HostErrorCode,
  type HostStartupErrorCode,
  type Problem,
} from './errors.js'
export { EnclaveLinkClient, parseLinkAddress, toLinkResult, type EnclaveLink, type LinkAddress, type LinkCallOptions, type LinkClientOptions } from './link-client.js'
export { createLogger, REDACT_PATHS } from './logger.js'
export { createMetrics, UNKNOWN_MODEL, type HostMetrics, type LinkMetrics, type MetricsOptions } from './metrics.js'
export { openApiDocument } from './openapi.js'
export { ENCLAVE_ALLOCATOR_ENV, enclaveArgs, startHost, type RunningHost, type StartHostOptions } from './server.js'
export { ENCLAVE_USAGE_EXIT_CODE, EnclaveSupervisor, type SupervisorOptions } from './supervisor.js'
export {
  DEV_CERT_LIFETIME_DAYS,
  DEV_CERT_NAMES,
  DEV_CERT_PUBLIC_FILE,
  TLS_MIN_VERSION,
  createDevCertificate,
  createHttpsServer,
  devCertificateDir,
  loadConfiguredCertificate,
  loadDevCertificate,
  loadTlsCredentials,
  type TlsCredentials,
} from './tls.js'
export { main } from './cli.js'
