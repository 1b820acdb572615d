/**
 * NVIDIA confidential-GPU attestation reports: the SPDM 1.1 GET_MEASUREMENTS request followed by the
 * signed MEASUREMENTS response, as `nvmlDeviceGetConfComputeGpuAttestationReport` returns them
 * (NVIDIA nvtrust `spdm_msrt_*_msg.py`, attestation-sdk `spdm_resp.cpp`). All integers little-endian.
 * Parsing and composing only; the signature is checked by `@vouch/verifier`.
 */
import { ProtocolError } from '../errors.js'
import { latin1Text, toHex } from '../bytes.js'

/** SPDM version byte of every report: 0x11 (SPDM 1.1). */
export const SPDM_VERSION_1_1 = 0x11
/** GET_MEASUREMENTS request code. */
export const SPDM_GET_MEASUREMENTS = 0xe0
/** MEASUREMENTS response code. */
export const SPDM_MEASUREMENTS = 0x60
/** Size of the GET_MEASUREMENTS request that precedes the response. */
export const SPDM_REQUEST_SIZE = 37
/** Size of the request nonce and of the responder nonce. */
export const SPDM_NONCE_SIZE = 32
/** ECDSA P-384 signature `r‖s`, big-endian, 48 bytes each (Hopper and Blackwell). */
export const GPU_SIGNATURE_SIZE = 96
/** The DMTF measurement specification, the only one NVIDIA uses. */
export const DMTF_MEASUREMENT_SPECIFICATION = 0x01
/** A SHA-384 measurement value. */
export const GPU_MEASUREMENT_SIZE = 48

/** Opaque-data field types (NVIDIA `gpu_opaque_data_parser.hpp`). Types 26–31 are reserved. */
export const OPAQUE_FIELD = {
  CERT_ISSUER_NAME: 1,
  CERT_AUTHORITY_KEY_IDENTIFIER: 2,
  DRIVER_VERSION: 3,
  GPU_INFO: 4,
  SKU: 5,
  VBIOS_VERSION: 6,
  MANUFACTURER_ID: 7,
  TAMPER_DETECTION: 8,
  SMC: 9,
  VPR: 10,
  NVDEC0_STATUS: 11,
  MSRSCNT: 12,
  CPRINFO: 13,
  BOARD_ID: 14,
  CHIP_SKU: 15,
  CHIP_SKU_MOD: 16,
  PROJECT: 17,
  PROJECT_SKU: 18,
  PROJECT_SKU_MOD: 19,
  FWID: 20,
  PROTECTED_PCIE_STATUS: 21,
  SWITCH_PDI: 22,
  FLOORSWEPT_PORTS: 23,
  POSITION_ID: 24,
  LOCK_SWITCH_STATUS: 25,
  GPU_LINK_CONN: 32,
  SYS_ENABLE_STATUS: 33,
  OPAQUE_DATA_VERSION: 34,
  CHIP_INFO: 35,
  FEATURE_FLAG: 36,
} as const

/** Name of an opaque field type. */
export type OpaqueFieldName = keyof typeof OPAQUE_FIELD
const OPAQUE_NAMES = new Map<number, OpaqueFieldName>(Object.entries(OPAQUE_FIELD).map(([name, type]) => [type, name as OpaqueFieldName]))
/** The largest type NVIDIA defines; anything above it (255 is INVALID) is rejected, as NVIDIA's verifier does. */
const MAX_OPAQUE_TYPE = 36

/** NVDEC0_STATUS and PROTECTED_PCIE_STATUS values. */
export const STATUS_ENABLED = 0xaa
export const STATUS_DISABLED = 0x55

/** One SPDM measurement block. */
export interface MeasurementBlock {
  /** 1-based index (RIM index + 1). */
  index: number
  specification: number
  /** DMTFSpecMeasurementValueType (bit 7 clear: a digest). */
  valueType: number
  value: Uint8Array
}

/** One opaque-data TLV, raw. */
export interface OpaqueField {
  type: number
  name: OpaqueFieldName | `RESERVED_${number}`
  value: Uint8Array
}

/** The opaque fields decoded; each is absent when the report does not carry it. */
export interface GpuOpaqueData {
  driverVersion?: string
  vbiosVersion?: string
  /** SHA-384 of the firmware that owns the signing key; absent on old drivers. */
  fwid?: Uint8Array
  nvdec0Status?: number
  protectedPcieStatus?: number
  gpuInfo?: Uint8Array
  boardId?: Uint8Array
  chipSku?: string
  chipSkuMod?: string
  project?: string
  projectSku?: string
  projectSkuMod?: string
  cprInfo?: Uint8Array
  /** Per-index measurement counts. */
  msrsCount?: number[]
  /** NVSwitch PDIs seen by this GPU (protected PCIe), each as NVIDIA prints it: reversed, upper-case hex. */
  switchPdis?: string[]
  sysEnableStatus?: Uint8Array
  opaqueDataVersion?: number
  chipInfo?: string
  /** 0 SPT (single-GPU passthrough), 1 MPT (multi-GPU), 2 PPCIE. Read only from opaque data version 1. */
  featureFlag?: number
}

/** A parsed GPU attestation report. Byte fields are views into `raw`. */
export interface GpuAttestationReport {
  raw: Uint8Array
  request: { version: number; code: number; param1: number; param2: number; nonce: Uint8Array; slotId: number }
  response: { version: number; code: number; param1: number; param2: number; numberOfBlocks: number; recordLength: number; responderNonce: Uint8Array }
  blocks: MeasurementBlock[]
  opaque: OpaqueField[]
  opaqueData: GpuOpaqueData
  /** What the signature covers: request and response up to the end of the opaque data. */
  signed: Uint8Array
  /** `r‖s`, 96 bytes. */
  signature: Uint8Array
  /** Bytes after the signature: not covered by it, never trusted (some real reports carry one 0x00). */
  trailing: Uint8Array
}

function malformed(message: string): ProtocolError {
  return new ProtocolError('ERR_SPDM_MALFORMED', message)
}

/** Text of a NUL-terminated or NUL-padded ASCII field. */
function asciiField(value: Uint8Array): string {
  const end = value.indexOf(0)
  return latin1Text(end === -1 ? value : value.subarray(0, end))
}

/** VBIOS_VERSION bytes as NVIDIA prints them: bytes 0–3 as a little-endian u32 in 8 hex digits, then byte 4. */
export function formatVbiosVersion(value: Uint8Array): string {
  if (value.length < 5) throw malformed(`VBIOS_VERSION must be at least 5 bytes, got ${value.length}`)
  const word = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true).toString(16).padStart(8, '0')
  const hex = `${word}${value[4]!.toString(16).padStart(2, '0')}`.toUpperCase()
  return hex.match(/../g)!.join('.')
}

/** The inverse of {@link formatVbiosVersion}: 8 bytes for "96.00.9F.00.04". */
export function encodeVbiosVersion(version: string): Uint8Array {
  if (!/^([0-9A-Fa-f]{2}\.){4}[0-9A-Fa-f]{2}$/.test(version)) throw malformed(`VBIOS version must look like 96.00.9F.00.04, got "${version}"`)
  const bytes = Buffer.from(version.replaceAll('.', ''), 'hex')
  const out = new Uint8Array(8)
  new DataView(out.buffer).setUint32(0, bytes.readUInt32BE(0), true)
  out[4] = bytes[4]!
  return out
}

/** Reads a 1-byte opaque field. */
function single(f: OpaqueField): number {
  if (f.value.length !== 1) throw malformed(`${f.name} must be 1 byte, got ${f.value.length}`)
  return f.value[0]!
}

/** Reads a 2-byte little-endian opaque field. */
function u16(f: OpaqueField): number {
  if (f.value.length !== 2) throw malformed(`${f.name} must be 2 bytes, got ${f.value.length}`)
  return f.value[0]! | (f.value[1]! << 8)
}

/** Little-endian u32 counts, one per measurement index. */
function msrsCount(f: OpaqueField): number[] {
  if (f.value.length % 4 !== 0) throw malformed(`MSRSCNT must be a multiple of 4 bytes, got ${f.value.length}`)
  const view = new DataView(f.value.buffer, f.value.byteOffset, f.value.byteLength)
  return Array.from({ length: f.value.length / 4 }, (_, i) => view.getUint32(i * 4, true))
}

/** The distinct 8-byte PDIs, each as NVIDIA prints it: reversed, upper-case hex. */
function switchPdis(f: OpaqueField): string[] {
  if (f.value.length % 8 !== 0) throw malformed(`SWITCH_PDI must be a multiple of 8 bytes, got ${f.value.length}`)
  const pdis = new Set<string>()
  for (let i = 0; i < f.value.length; i += 8) pdis.add(toHex(Uint8Array.from(f.value.subarray(i, i + 8)).reverse()).toUpperCase())
  return [...pdis]
}

/** FWID: one SHA-384 digest. */
function fwid(f: OpaqueField): Uint8Array {
  if (f.value.length !== GPU_MEASUREMENT_SIZE) throw malformed(`FWID must be ${GPU_MEASUREMENT_SIZE} bytes, got ${f.value.length}`)
  return f.value
}

const text = (f: OpaqueField): string => asciiField(f.value)
const bytes = (f: OpaqueField): Uint8Array => f.value
const vbiosVersion = (f: OpaqueField): string => formatVbiosVersion(f.value)

/** A {@link GpuOpaqueData} field and how an opaque field's value becomes it. */
type OpaqueDecoder = { [K in keyof GpuOpaqueData]-?: readonly [K, (f: OpaqueField) => NonNullable<GpuOpaqueData[K]>] }[keyof GpuOpaqueData]

/**
 * The opaque fields a GPU verifier reads, by type. The others (issuer names, switch topology) have no meaning for
 * it and stay raw in `opaque`.
 */
const OPAQUE_DECODERS: ReadonlyMap<number, OpaqueDecoder> = new Map<number, OpaqueDecoder>([
  [OPAQUE_FIELD.DRIVER_VERSION, ['driverVersion', text]],
  [OPAQUE_FIELD.VBIOS_VERSION, ['vbiosVersion', vbiosVersion]],
  [OPAQUE_FIELD.FWID, ['fwid', fwid]],
  [OPAQUE_FIELD.NVDEC0_STATUS, ['nvdec0Status', single]],
  [OPAQUE_FIELD.PROTECTED_PCIE_STATUS, ['protectedPcieStatus', single]],
  [OPAQUE_FIELD.GPU_INFO, ['gpuInfo', bytes]],
  [OPAQUE_FIELD.BOARD_ID, ['boardId', bytes]],
  [OPAQUE_FIELD.CHIP_SKU, ['chipSku', text]],
  [OPAQUE_FIELD.CHIP_SKU_MOD, ['chipSkuMod', text]],
  [OPAQUE_FIELD.PROJECT, ['project', text]],
  [OPAQUE_FIELD.PROJECT_SKU, ['projectSku', text]],
  [OPAQUE_FIELD.PROJECT_SKU_MOD, ['projectSkuMod', text]],
  [OPAQUE_FIELD.CPRINFO, ['cprInfo', bytes]],
  [OPAQUE_FIELD.MSRSCNT, ['msrsCount', msrsCount]],
  [OPAQUE_FIELD.SWITCH_PDI, ['switchPdis', switchPdis]],
  [OPAQUE_FIELD.SYS_ENABLE_STATUS, ['sysEnableStatus', bytes]],
  [OPAQUE_FIELD.OPAQUE_DATA_VERSION, ['opaqueDataVersion', u16]],
  [OPAQUE_FIELD.CHIP_INFO, ['chipInfo', text]],
  [OPAQUE_FIELD.FEATURE_FLAG, ['featureFlag', u16]],
])

function decodeOpaque(fields: readonly OpaqueField[]): GpuOpaqueData {
  const data: GpuOpaqueData = {}
  for (const f of fields) {
    const decoder = OPAQUE_DECODERS.get(f.type)
    if (decoder !== undefined) (data as Record<string, unknown>)[decoder[0]] = decoder[1](f)
  }
  // FEATURE_FLAG is defined from opaque data version 1 on (attestation-sdk parses it only then).
  if (data.featureFlag !== undefined && (data.opaqueDataVersion ?? 0) < 1) delete data.featureFlag
  return data
}

/** The DMTF measurement blocks of the record `raw[start, end)`: each inside the record, sizes agreeing, indices unique. */
function parseMeasurementRecord(raw: Uint8Array, view: DataView, start: number, end: number): MeasurementBlock[] {
  const blocks: MeasurementBlock[] = []
  const seen = new Set<number>()
  let at = start
  while (at < end) {
    if (at + 7 > end) throw malformed(`measurement block at ${at} runs past the record`)
    const index = raw[at]!
    const specification = raw[at + 1]!
    const size = view.getUint16(at + 2, true)
    if (at + 4 + size > end) throw malformed(`measurement block ${index} runs past the record`)
    if (specification !== DMTF_MEASUREMENT_SPECIFICATION) throw malformed(`measurement block ${index}: specification must be DMTF (1), got ${specification}`)
    const valueType = raw[at + 4]!
    const valueSize = view.getUint16(at + 5, true)
    if (valueSize + 3 !== size) throw malformed(`measurement block ${index}: value size ${valueSize} disagrees with block size ${size}`)
    if (seen.has(index)) throw malformed(`measurement block ${index} appears twice`)
    seen.add(index)
    blocks.push({ index, specification, valueType, value: raw.subarray(at + 7, at + 7 + valueSize) })
    at += 4 + size
  }
  return blocks
}

/** The opaque TLVs of `raw[start, end)`: each inside the opaque data, of a type NVIDIA defines, none twice. */
function parseOpaqueFields(raw: Uint8Array, view: DataView, start: number, end: number): OpaqueField[] {
  const opaque: OpaqueField[] = []
  const types = new Set<number>()
  for (let o = start; o < end; ) {
    if (o + 4 > end) throw malformed(`opaque field header at ${o} runs past the opaque data`)
    const type = view.getUint16(o, true)
    const length = view.getUint16(o + 2, true)
    if (o + 4 + length > end) throw malformed(`opaque field ${type} runs past the opaque data`)
    if (type === 0 || type > MAX_OPAQUE_TYPE) throw malformed(`opaque field type ${type} is not one NVIDIA defines`)
    if (types.has(type)) throw malformed(`opaque field type ${type} appears twice`)
    types.add(type)
    opaque.push({ type, name: OPAQUE_NAMES.get(type) ?? `RESERVED_${type}`, value: raw.subarray(o + 4, o + 4 + length) })
    o += 4 + length
  }
  return opaque
}

/**
 * Parses a GPU attestation report. Rejects, with a {@link ProtocolError} `ERR_SPDM_MALFORMED`, a
 * truncated report, an SPDM version other than 1.1, wrong request/response codes, a measurement
 * record whose length disagrees with its blocks, a non-DMTF block, and opaque data whose TLVs
 * overrun, repeat or use an unknown type. Bytes after the signature are returned in `trailing`.
 */
export function parseGpuAttestationReport(input: Uint8Array): GpuAttestationReport {
  const raw = input
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  const need = (end: number, what: string): void => {
    if (end > raw.length) throw malformed(`report truncated: ${what} needs ${end} bytes, got ${raw.length}`)
  }
  need(SPDM_REQUEST_SIZE + 8, 'the request and response header')
  const request = {
    version: raw[0]!,
    code: raw[1]!,
    param1: raw[2]!,
    param2: raw[3]!,
    nonce: raw.subarray(4, 4 + SPDM_NONCE_SIZE),
    slotId: raw[36]!,
  }
  if (request.version !== SPDM_VERSION_1_1) throw malformed(`request SPDMVersion must be 0x11, got 0x${request.version.toString(16)}`)
  if (request.code !== SPDM_GET_MEASUREMENTS) throw malformed(`request code must be GET_MEASUREMENTS (0xe0), got 0x${request.code.toString(16)}`)

  const r = SPDM_REQUEST_SIZE
  const version = raw[r]!
  const code = raw[r + 1]!
  if (version !== SPDM_VERSION_1_1) throw malformed(`response SPDMVersion must be 0x11, got 0x${version.toString(16)}`)
  if (code !== SPDM_MEASUREMENTS) throw malformed(`response code must be MEASUREMENTS (0x60), got 0x${code.toString(16)}`)
  const numberOfBlocks = raw[r + 4]!
  const recordLength = raw[r + 5]! | (raw[r + 6]! << 8) | (raw[r + 7]! << 16)
  const recordStart = r + 8
  const recordEnd = recordStart + recordLength
  need(recordEnd + SPDM_NONCE_SIZE + 2, 'the measurement record')

  const blocks = parseMeasurementRecord(raw, view, recordStart, recordEnd)
  if (blocks.length !== numberOfBlocks) throw malformed(`NumberOfBlocks says ${numberOfBlocks}, the record holds ${blocks.length}`)

  const responderNonce = raw.subarray(recordEnd, recordEnd + SPDM_NONCE_SIZE)
  const opaqueLength = view.getUint16(recordEnd + SPDM_NONCE_SIZE, true)
  const opaqueStart = recordEnd + SPDM_NONCE_SIZE + 2
  const opaqueEnd = opaqueStart + opaqueLength
  need(opaqueEnd + GPU_SIGNATURE_SIZE, 'the opaque data and signature')

  const opaque = parseOpaqueFields(raw, view, opaqueStart, opaqueEnd)

  return {
    raw,
    request,
    response: { version, code, param1: raw[r + 2]!, param2: raw[r + 3]!, numberOfBlocks, recordLength, responderNonce },
    blocks,
    opaque,
    opaqueData: decodeOpaque(opaque),
    signed: raw.subarray(0, opaqueEnd),
    signature: raw.subarray(opaqueEnd, opaqueEnd + GPU_SIGNATURE_SIZE),
    trailing: raw.subarray(opaqueEnd + GPU_SIGNATURE_SIZE),
  }
}

/** What a producer (the simulated GPU) chooses when composing a report. */
export interface GpuReportFields {
  /** The requester's nonce, 32 bytes. */
  nonce: Uint8Array
  /** The responder's nonce, 32 bytes. */
  responderNonce: Uint8Array
  /** Measurement values by 1-based index, in order; SHA-384 digests. */
  measurements: readonly Uint8Array[]
  /** Opaque TLVs in the order they are written. */
  opaque: ReadonlyArray<{ type: number; value: Uint8Array }>
}

/** NUL-terminated ASCII, as DRIVER_VERSION carries it. */
export function encodeAsciiField(text: string, size?: number): Uint8Array {
  const bytes = Buffer.from(text, 'latin1')
  const out = new Uint8Array(size ?? bytes.length + 1)
  if (bytes.length >= out.length) throw malformed(`"${text}" does not fit in ${out.length} bytes with its NUL`)
  out.set(bytes)
  return out
}

/**
 * Composes the signed part of a GPU attestation report (request ‖ response up to the opaque data).
 * Append the 96-byte `r‖s` signature over it to finish the report.
 */
export function composeGpuAttestationReport(f: GpuReportFields): Uint8Array {
  if (f.nonce.length !== SPDM_NONCE_SIZE || f.responderNonce.length !== SPDM_NONCE_SIZE) throw malformed('nonces must be 32 bytes')
  if (f.measurements.length > 255) throw malformed('at most 255 measurement blocks')
  const blockSizes = f.measurements.map((m) => 7 + m.length)
  const recordLength = blockSizes.reduce((a, b) => a + b, 0)
  const opaqueLength = f.opaque.reduce((a, o) => a + 4 + o.value.length, 0)
  if (opaqueLength > 0xffff) throw malformed('opaque data exceeds 65535 bytes')
  const out = new Uint8Array(SPDM_REQUEST_SIZE + 8 + recordLength + SPDM_NONCE_SIZE + 2 + opaqueLength)
  const view = new DataView(out.buffer)
  out.set([SPDM_VERSION_1_1, SPDM_GET_MEASUREMENTS, 0x01, 0xff])
  out.set(f.nonce, 4)
  out[36] = 0
  let at = SPDM_REQUEST_SIZE
  out.set([SPDM_VERSION_1_1, SPDM_MEASUREMENTS, 0, 0, f.measurements.length, recordLength & 0xff, (recordLength >> 8) & 0xff, recordLength >> 16], at)
  at += 8
  for (const [i, value] of f.measurements.entries()) {
    out[at] = i + 1
    out[at + 1] = DMTF_MEASUREMENT_SPECIFICATION
    view.setUint16(at + 2, value.length + 3, true)
    out[at + 4] = 0x01
    view.setUint16(at + 5, value.length, true)
    out.set(value, at + 7)
    at += 7 + value.length
  }
  out.set(f.responderNonce, at)
  at += SPDM_NONCE_SIZE
  view.setUint16(at, opaqueLength, true)
  at += 2
  for (const o of f.opaque) {
    view.setUint16(at, o.type, true)
    view.setUint16(at + 2, o.value.length, true)
    out.set(o.value, at + 4)
    at += 4 + o.value.length
  }
  return out
}
