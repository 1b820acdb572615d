/**
 * The ids NVIDIA's RIM service gives the driver and VBIOS RIMs of a GPU report (spec §4.1), built from
 * the report's signed opaque fields as NVIDIA's verifiers build them.
 */
import type { GpuAttestationReport } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import type { GpuArchitecture } from '../policy/types.js'

/** The RIM ids of one GPU report, with the versions the RIMs must name. */
export interface GpuRimIds {
  arch: GpuArchitecture
  /** `NV_GPU_DRIVER_GH100_<driver>` (Hopper) or `NV_GPU_CC_DRIVER_<CHIP_INFO or GB100>_<driver>` (Blackwell). */
  driver: string
  /** `NV_GPU_VBIOS_<PROJECT>_<PROJECT_SKU>_<CHIP_SKU>_<VBIOS without dots, upper-case>`. */
  vbios: string
  driverVersion: string
  vbiosVersion: string
}

/** Builds the RIM ids of a report. Throws `ERR_INPUT_INVALID` when a field they need is absent. */
export function gpuRimIds(report: GpuAttestationReport, arch: GpuArchitecture): GpuRimIds {
  const o = report.opaqueData
  const need = (value: string | undefined, field: string): string => {
    if (value === undefined || value === '') throw new VerificationError('ERR_INPUT_INVALID', `the report has no ${field} opaque field, so its RIM ids are unknown`)
    return value
  }
  const driverVersion = need(o.driverVersion, 'DRIVER_VERSION')
  const vbiosVersion = need(o.vbiosVersion, 'VBIOS_VERSION')
  const driver = arch === 'HOPPER' ? `NV_GPU_DRIVER_GH100_${driverVersion}` : `NV_GPU_CC_DRIVER_${o.chipInfo || 'GB100'}_${driverVersion}`
  const vbios = `NV_GPU_VBIOS_${need(o.project, 'PROJECT')}_${need(o.projectSku, 'PROJECT_SKU')}_${need(o.chipSku, 'CHIP_SKU')}_${vbiosVersion.replaceAll('.', '').toUpperCase()}`
  return { arch, driver, vbios, driverVersion, vbiosVersion }
}
