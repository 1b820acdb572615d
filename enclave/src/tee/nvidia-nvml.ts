/**
 * NVIDIA confidential-computing GPUs on real hardware, through NVML (`libnvidia-ml.so.1`) called with the
 * koffi FFI (DESIGN.md §8; nvidia-gpu-format.md §1). Structs are raw buffers at the header's offsets
 * (sizes 9224 and 12332, checked with koffi and by the fake library's static asserts), which keeps the
 * binding independent of how a koffi version maps C arrays. koffi is loaded only when this device is
 * created, so the simulated and SEV-SNP paths never load a native module.
 */
import { SPDM_NONCE_SIZE, SPDM_REQUEST_SIZE, bytesEqual, pemToDer } from '@vouch/protocol'
import { TeeError, type TeeErrorCode } from '../errors.js'
import type { GpuArch, GpuEvidence, GpuTee } from './device.types.js'

/** The NVML library the driver installs. */
export const NVML_LIBRARY = 'libnvidia-ml.so.1'

/** `nvmlDeviceArchitecture_t` values of the architectures with confidential computing. */
export const NVML_ARCHITECTURE: Readonly<Record<number, GpuArch>> = { 9: 'HOPPER', 10: 'BLACKWELL' }

/** Names of the `nvmlReturn_t` values (nvml.h), for messages. */
const NVML_RETURN_NAMES: Readonly<Record<number, string>> = {
  1: 'NVML_ERROR_UNINITIALIZED',
  2: 'NVML_ERROR_INVALID_ARGUMENT',
  3: 'NVML_ERROR_NOT_SUPPORTED',
  4: 'NVML_ERROR_NO_PERMISSION',
  5: 'NVML_ERROR_ALREADY_INITIALIZED',
  6: 'NVML_ERROR_NOT_FOUND',
  7: 'NVML_ERROR_INSUFFICIENT_SIZE',
  8: 'NVML_ERROR_INSUFFICIENT_POWER',
  9: 'NVML_ERROR_DRIVER_NOT_LOADED',
  10: 'NVML_ERROR_TIMEOUT',
  11: 'NVML_ERROR_IRQ_ISSUE',
  12: 'NVML_ERROR_LIBRARY_NOT_FOUND',
  13: 'NVML_ERROR_FUNCTION_NOT_FOUND',
  14: 'NVML_ERROR_CORRUPTED_INFOROM',
  15: 'NVML_ERROR_GPU_IS_LOST',
  16: 'NVML_ERROR_RESET_REQUIRED',
  17: 'NVML_ERROR_OPERATING_SYSTEM',
  18: 'NVML_ERROR_LIB_RM_VERSION_MISMATCH',
  19: 'NVML_ERROR_IN_USE',
  20: 'NVML_ERROR_MEMORY',
  21: 'NVML_ERROR_NO_DATA',
  22: 'NVML_ERROR_VGPU_ECC_NOT_SUPPORTED',
  23: 'NVML_ERROR_INSUFFICIENT_RESOURCES',
  24: 'NVML_ERROR_FREQ_NOT_SUPPORTED',
  25: 'NVML_ERROR_ARGUMENT_VERSION_MISMATCH',
  26: 'NVML_ERROR_DEPRECATED',
  27: 'NVML_ERROR_NOT_READY',
  28: 'NVML_ERROR_GPU_NOT_FOUND',
  29: 'NVML_ERROR_INVALID_STATE',
  999: 'NVML_ERROR_UNKNOWN',
}

/** `nvmlConfComputeSystemState_t`: 0 environment, 4 ccFeature, 8 devToolsMode (u32 each). */
const SYSTEM_STATE_SIZE = 12
/** `nvmlConfComputeGpuCertificate_t`: 4 attestationCertChainSize, 4104 attestationCertChain[0x1400]. */
const CERTIFICATE = { size: 9224, chainSize: 4, chain: 4104, chainCapacity: 0x1400 } as const
/** `nvmlConfComputeGpuAttestationReport_t`: 4 attestationReportSize, 12 nonce[32] (input), 44 attestationReport[0x2000]. */
const ATTESTATION_REPORT = { size: 12332, reportSize: 4, nonce: 12, report: 44, reportCapacity: 0x2000 } as const
/** nvmlConfComputeSystemState_t.environment values. */
const ENVIRONMENTS: Readonly<Record<number, ConfComputeState['environment']>> = { 0: 'unavailable', 1: 'simulated', 2: 'production' }
/** Offset of the requester's nonce in the SPDM GET_MEASUREMENTS request that opens a report. */
const REQUEST_NONCE_OFFSET = 4

/** What `nvmlSystemGetConfComputeState` says about the machine. */
export interface ConfComputeState {
  /** nvmlConfComputeSystemState_t.environment: 0 `unavailable`, 1 `simulated`, 2 `production`. */
  environment: 'unavailable' | 'simulated' | 'production' | 'unknown'
  /** The CC feature is on (ccFeature 1). The device refuses to start otherwise. */
  ccFeature: boolean
  /** DevTools mode (not for production: the GPU lets debuggers in). Reported here, judged by policy. */
  devToolsMode: boolean
}

/** Options of {@link createNvidiaNvmlTee}. */
export interface NvidiaNvmlOptions {
  /** Path or name of the NVML library; {@link NVML_LIBRARY} when unset. */
  library?: string
  /**
   * Check that each report's SPDM request carries the nonce asked for, as the driver guarantees; a
   * mismatch throws `ERR_TEE_REPORT_INVALID`. True when unset. Only a test replaying captured reports
   * (whose nonce is fixed by their signature) sets it false.
   */
  expectNonce?: boolean
}

/** The NVIDIA GPUs of a confidential VM. */
export interface NvidiaGpuTee extends GpuTee {
  readonly kind: 'nvidia'
  /** The confidential-computing state read at creation. */
  readonly state: Readonly<ConfComputeState>
  /** Architecture of each GPU, by NVML index. */
  readonly architectures: readonly GpuArch[]
}

// The slice of koffi this module uses, typed here so the rest stays free of `any`.
interface NativeFunction {
  (...args: unknown[]): unknown
  async(...args: unknown[]): void
}
interface NativeLibrary {
  func(name: string, result: string, parameters: unknown[]): NativeFunction
  unload(): void
}
interface Koffi {
  load(path: string): NativeLibrary
  opaque(): unknown
  pointer(type: unknown): unknown
  out(type: unknown): unknown
}

type NvmlFunction = 'init' | 'shutdown' | 'state' | 'count' | 'handle' | 'arch' | 'certificate' | 'report' | 'ready'

const returnName = (rc: number): string => NVML_RETURN_NAMES[rc] ?? 'unknown nvmlReturn_t'

async function loadKoffi(): Promise<Koffi> {
  try {
    const module = (await import('koffi')) as unknown as { default: Koffi }
    return module.default
  } catch (error) {
    throw new TeeError('ERR_TEE_UNAVAILABLE', 'NVML: the koffi FFI module does not load on this platform', { cause: error })
  }
}

type Nvml = Record<NvmlFunction, NativeFunction>

/** Throws for a non-zero nvmlReturn_t, naming the function and the code. */
function check(name: string, rc: unknown, code: TeeErrorCode = 'ERR_TEE_REQUEST_FAILED'): void {
  if (rc !== 0) throw new TeeError(code, `NVML: ${name} returned ${String(rc)} (${returnName(Number(rc))})`)
}

/** Calls `fn` on one of koffi's worker threads, off the event loop (for the slow calls: the GPU signs a report). */
function callAsync(fn: NativeFunction, ...args: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    fn.async(...args, (error: unknown, rc: unknown) => (error ? reject(error) : resolve(rc)))
  })
}

/** The NVML functions the device calls, bound from `lib`; a library without them is unloaded and `ERR_TEE_UNAVAILABLE`. */
function bindNvml(koffi: Koffi, lib: NativeLibrary, path: string): Nvml {
  // nvmlDevice_t: an opaque pointer. Unnamed, since koffi type names are process-wide and a device
  // may be opened more than once.
  const device = koffi.pointer(koffi.opaque())
  try {
    return {
      init: lib.func('nvmlInit_v2', 'int', []),
      shutdown: lib.func('nvmlShutdown', 'int', []),
      state: lib.func('nvmlSystemGetConfComputeState', 'int', ['void *']),
      count: lib.func('nvmlDeviceGetCount_v2', 'int', ['void *']),
      handle: lib.func('nvmlDeviceGetHandleByIndex_v2', 'int', ['uint', koffi.out(koffi.pointer(device))]),
      arch: lib.func('nvmlDeviceGetArchitecture', 'int', [device, 'void *']),
      certificate: lib.func('nvmlDeviceGetConfComputeGpuCertificate', 'int', [device, 'void *']),
      report: lib.func('nvmlDeviceGetConfComputeGpuAttestationReport', 'int', [device, 'void *']),
      ready: lib.func('nvmlSystemGetConfComputeGpusReadyState', 'int', ['void *']),
    }
  } catch (error) {
    lib.unload()
    const why = `NVML: ${path} lacks the confidential-computing API (driver 535 or later)`
    throw new TeeError('ERR_TEE_UNAVAILABLE', why, { cause: error })
  }
}

/** The GPUs an initialised NVML sees: the confidential-computing state (CC must be on), each GPU's handle and architecture. */
function readGpus(fns: Nvml): { state: ConfComputeState; handles: unknown[]; architectures: GpuArch[] } {
  const raw = Buffer.alloc(SYSTEM_STATE_SIZE)
  check('nvmlSystemGetConfComputeState', fns.state(raw))
  const state: ConfComputeState = {
    environment: ENVIRONMENTS[raw.readUInt32LE(0)] ?? 'unknown',
    ccFeature: raw.readUInt32LE(4) !== 0,
    devToolsMode: raw.readUInt32LE(8) !== 0,
  }
  if (!state.ccFeature) {
    const why = 'NVML: confidential computing is off (nvmlSystemGetConfComputeState ccFeature 0)'
    throw new TeeError('ERR_TEE_UNSUPPORTED', `${why}: the GPUs cannot attest`)
  }
  const count = Buffer.alloc(4)
  check('nvmlDeviceGetCount_v2', fns.count(count))
  const n = count.readUInt32LE(0)
  if (n === 0) throw new TeeError('ERR_TEE_UNAVAILABLE', 'NVML: nvmlDeviceGetCount_v2 found no GPU')
  const handles: unknown[] = []
  const architectures: GpuArch[] = []
  for (let index = 0; index < n; index++) {
    const out: unknown[] = [null]
    check(`nvmlDeviceGetHandleByIndex_v2(${index})`, fns.handle(index, out))
    const raw = Buffer.alloc(4)
    check(`nvmlDeviceGetArchitecture(${index})`, fns.arch(out[0], raw))
    const value = raw.readUInt32LE(0)
    const arch = NVML_ARCHITECTURE[value]
    if (arch === undefined) {
      throw new TeeError('ERR_TEE_UNSUPPORTED', `NVML: GPU ${index} has architecture ${value}, expected 9 (Hopper) or 10 (Blackwell)`)
    }
    handles.push(out[0])
    architectures.push(arch)
  }
  return { state, handles, architectures }
}

/** One GPU's evidence: its report answering `nonce` (checked when `expectNonce`), and its certificate chain. */
async function attestGpu(fns: Nvml, index: number, handle: unknown, arch: GpuArch, nonce: Uint8Array, expectNonce: boolean): Promise<GpuEvidence> {
  const report = Buffer.alloc(ATTESTATION_REPORT.size)
  report.set(nonce, ATTESTATION_REPORT.nonce)
  check(`nvmlDeviceGetConfComputeGpuAttestationReport(${index})`, await callAsync(fns.report, handle, report))
  const size = report.readUInt32LE(ATTESTATION_REPORT.reportSize)
  if (size <= SPDM_REQUEST_SIZE || size > ATTESTATION_REPORT.reportCapacity) {
    const range = `${SPDM_REQUEST_SIZE + 1} to ${ATTESTATION_REPORT.reportCapacity}`
    throw new TeeError('ERR_TEE_REPORT_INVALID', `NVML: GPU ${index} attestationReportSize is ${size}, expected ${range}`)
  }
  const bytes = new Uint8Array(report.subarray(ATTESTATION_REPORT.report, ATTESTATION_REPORT.report + size))
  if (expectNonce && !bytesEqual(bytes.subarray(REQUEST_NONCE_OFFSET, REQUEST_NONCE_OFFSET + SPDM_NONCE_SIZE), nonce)) {
    throw new TeeError('ERR_TEE_REPORT_INVALID', `NVML: GPU ${index} report answers another nonce than the one asked for`)
  }

  const certificate = Buffer.alloc(CERTIFICATE.size)
  check(`nvmlDeviceGetConfComputeGpuCertificate(${index})`, await callAsync(fns.certificate, handle, certificate))
  const chainSize = certificate.readUInt32LE(CERTIFICATE.chainSize)
  if (chainSize > CERTIFICATE.chainCapacity) {
    const got = `NVML: GPU ${index} attestationCertChainSize is ${chainSize}`
    throw new TeeError('ERR_TEE_REPORT_INVALID', `${got}, more than the ${CERTIFICATE.chainCapacity}-byte buffer`)
  }
  const chain = pemToDer(certificate.subarray(CERTIFICATE.chain, CERTIFICATE.chain + chainSize).toString('latin1'), 'CERTIFICATE')
  if (chain.length === 0) {
    const got = `NVML: GPU ${index} attestationCertChain holds no PEM certificate`
    throw new TeeError('ERR_TEE_CERTS_MISSING', `${got} (${chainSize} bytes)`)
  }
  return { arch, report: bytes, chain }
}

/**
 * Opens the GPUs through NVML: loads the library, `nvmlInit_v2`, requires confidential computing on
 * (`nvmlSystemGetConfComputeState`), counts the GPUs and reads each one's architecture (Hopper or
 * Blackwell). A library that does not load or initialise, or no GPU, is `ERR_TEE_UNAVAILABLE`; CC off or
 * another architecture is `ERR_TEE_UNSUPPORTED`; any other non-zero `nvmlReturn_t` is
 * `ERR_TEE_REQUEST_FAILED` naming the function and the code. NVML is shut down again on failure.
 */
export async function createNvidiaNvmlTee(options: NvidiaNvmlOptions = {}): Promise<NvidiaGpuTee> {
  const koffi = await loadKoffi()
  const path = options.library ?? NVML_LIBRARY
  const expectNonce = options.expectNonce ?? true
  let lib: NativeLibrary
  try {
    lib = koffi.load(path)
  } catch (error) {
    throw new TeeError('ERR_TEE_UNAVAILABLE', `NVML: cannot load ${path}; is the NVIDIA driver installed?`, { cause: error })
  }
  const fns = bindNvml(koffi, lib, path)
  try {
    check('nvmlInit_v2', fns.init(), 'ERR_TEE_UNAVAILABLE')
  } catch (error) {
    lib.unload()
    throw error
  }
  let gpus: ReturnType<typeof readGpus>
  try {
    gpus = readGpus(fns)
  } catch (error) {
    fns.shutdown()
    lib.unload()
    throw error
  }
  const { state, handles, architectures } = gpus

  let closed = false
  // Calls in flight, one at a time: close waits for them, since unloading the library under a worker
  // thread would crash the process.
  let pending: Promise<unknown> = Promise.resolve()
  const serialised = <T>(run: () => Promise<T>): Promise<T> => {
    if (closed) return Promise.reject(new TeeError('ERR_TEE_CLOSED', 'the NVIDIA GPU device is closed'))
    const result = pending.then(run)
    pending = result.catch(() => undefined)
    return result
  }

  return {
    kind: 'nvidia',
    count: handles.length,
    state: Object.freeze({ ...state }),
    architectures: Object.freeze([...architectures]),
    attest(nonce: Uint8Array): Promise<GpuEvidence[]> {
      if (!(nonce instanceof Uint8Array) || nonce.length !== SPDM_NONCE_SIZE) {
        const got = nonce instanceof Uint8Array ? nonce.length : typeof nonce
        return Promise.reject(new RangeError(`the SPDM nonce must be ${SPDM_NONCE_SIZE} bytes, got ${got}`))
      }
      const asked = new Uint8Array(nonce)
      // One GPU after another, as NVIDIA's own tools do; each answers the same nonce.
      return serialised(async () => {
        const evidence: GpuEvidence[] = []
        for (let index = 0; index < handles.length; index++) evidence.push(await attestGpu(fns, index, handles[index], architectures[index]!, asked, expectNonce))
        return evidence
      })
    },
    ready(): Promise<boolean> {
      return serialised(async () => {
        const out = Buffer.alloc(4)
        check('nvmlSystemGetConfComputeGpusReadyState', fns.ready(out))
        return out.readUInt32LE(0) !== 0
      })
    },
    async close(): Promise<void> {
      if (closed) return
      closed = true
      await pending
      const rc = fns.shutdown()
      lib.unload()
      check('nvmlShutdown', rc)
    },
  }
}
