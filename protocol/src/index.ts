/**
 * `@vouch/protocol`: Vouch's wire formats. Parsing and composing only; no I/O, no trust decisions.
 * Hop tracing (./hop-trace.ts) is Node-only (it appends to a file, under an AsyncLocalStorage), so it is not
 * exported here but from its own subpath, `@vouch/protocol/hop-trace`: what the browser bundle reaches through
 * this entry stays free of Node built-ins (docs/browser.md).
 */
export { CodedError, ProtocolError, PROTOCOL_ERROR_CODES, type ProtocolErrorCode } from './errors.js'
export {
  toHex,
  fromHex,
  isAllZero,
  bytesEqual,
  reversed,
  toBase64Url,
  toBase64,
  fromBase64,
  concatBytes,
  utf8Text,
  utf8Length,
  latin1Text,
} from './bytes.js'
export { platform } from './platform.js'
export type { PlatformSeam, DigestName, SignatureHash, SignatureScheme } from './platform.types.js'
export * from './der-writer.js'
export { pemToDer, derToPem } from './pem.js'
export { isRecord } from './issues.js'
export * from './text-position.js'
export * from './sev-snp/report.js'
export * from './sev-snp/kds.js'
export * from './sev-snp/cert-table.js'
export * from './nvidia/spdm.js'
export {
  encodeCbor,
  decodeCbor,
  isCborNativeAccelerationEnabled,
  DEFAULT_CBOR_MAX_BYTES,
  DEFAULT_CBOR_MAX_DEPTH,
  type CborDecodeOptions,
} from './cbor.js'
export { canonicalJson, sha256Digest, sha256, sha512, type JsonValue } from './jcs.js'
export {
  OIP_DATATYPES,
  OIP_ELEMENT_SIZE,
  MAX_TENSOR_RANK,
  BYTES_LENGTH_PREFIX_SIZE,
  elementCount,
  tensorByteLength,
  encodeBytesElements,
  decodeBytesElements,
  assertTensorData,
  toFloat16Bits,
  fromFloat16Bits,
  oipJsonToTensor,
  tensorToOipJson,
  type OipDatatype,
  type TensorParameters,
  type TensorData,
  type OipJsonTensor,
} from './oip.js'
export {
  EVIDENCE_MEDIA_TYPE,
  BUNDLE_VERSION,
  BUNDLE_VERSIONS,
  MAX_BUNDLE_NONCES,
  MAX_MANIFEST_BYTES,
  NONCE_SIZE,
  GPU_CHAIN_LENGTH,
  DEFAULT_BUNDLE_MAX_BYTES,
  KID_PATTERN,
  PLATFORMS,
  GPU_ARCHITECTURES,
  assertBundle,
  encodeBundle,
  decodeBundle,
  bundleToJson,
  bundleFromJson,
  bundleNonces,
  type Platform,
  type GpuArchitecture,
  type X25519PublicJwk,
  type Ed25519PublicJwk,
  type Keyset,
  type ModelRef,
  type Attribution,
  type ModelManifestData,
  type KnownAnswer,
  type BundleModel,
  type SevSnpEvidence,
  type GpuEvidence,
  type EvidenceBundle,
  type EvidenceBundleV1,
  type EvidenceBundleV2,
  type EvidenceBundleJson,
  type DecodeBundleOptions,
} from './bundle.js'
export {
  ARCHIVE_MEDIA_TYPE,
  ARCHIVE_LIMITS,
  RIM_ID_PATTERN,
  encodeArchive,
  decodeArchive,
  type ArchivedRim,
  type EvidenceArchive,
  type DecodeArchiveOptions,
} from './archive.js'
export { FLEET_MEDIA_TYPE, FLEET_LIMITS, encodeFleet, decodeFleet, type FleetAttestation, type FleetMember } from './fleet.js'
export * from './binding.js'
export {
  SEALED_MEDIA_TYPE,
  KEY_ID_HEADER,
  REQUEST_INFO_LABEL,
  RESPONSE_EXPORT_LABEL,
  RECEIPT_OPENING_EXPORT_LABEL,
  ENC_SIZE,
  TAG_SIZE,
  RESPONSE_NONCE_SIZE,
  DEFAULT_MAX_SEALED_BYTES,
  PLAINTEXT_VERSION,
  requestInfo,
  sealRequest,
  openRequest,
  sealResponse,
  sealResponsePlaintext,
  openResponse,
  exportReceiptOpening,
  assertResponsePlaintext,
  encodeRequestPlaintext,
  decodeRequestPlaintext,
  encodeResponsePlaintext,
  decodeResponsePlaintext,
  type X25519PrivateJwk,
  type EnvelopeOptions,
  type OpenRequestOptions,
  type EnvelopeContext,
  type SealedRequest,
  type OpenedRequest,
  type RequestParameters,
  type RequestPlaintext,
  type ResponsePlaintext,
  type DecodePlaintextOptions,
} from './envelope.js'
export * from './receipt.js'
export * from './log-entry.js'
export * from './ledger.js'
export * from './link.js'
export * from './link-operations.js'
export * from './semaphore.js'
export * from './buffer-pool.js'
export * from './log-fields.js'
export {
  closestName,
  flagNames,
  parseCommandLine,
  programUsage,
  runProgram,
  unreadableFile,
  UsageError,
  type Command,
  type OptionTable,
  type Output,
  type Program,
} from './command-line.js'
export * from './tlog/index.js'
