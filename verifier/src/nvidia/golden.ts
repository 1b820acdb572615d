/**
 * Golden-value comparison of a GPU report's measurements against its driver and VBIOS RIMs, as
 * NVIDIA's verifiers do it (spec nvidia-gpu-format.md §4.4; NVAT `generate_set_measurement_claims`).
 */
import { toHex } from '@vouch/protocol'
import type { RimDocument, RimMeasurement } from './rim.js'

/** The RIM index of the NVDEC0 measurement, skipped when the report says NVDEC0 is disabled (NVDEC0_STATUS 0x55). */
export const NVDEC0_RIM_INDEX = 35
/** Every golden measurement is a SHA-384 digest: a runtime value of another length never matches. */
export const GOLDEN_MEASUREMENT_SIZE = 48

/** Which RIM a golden value came from. */
export type GoldenSource = 'driver' | 'vbios'

/** One golden index whose runtime value is none of the RIM's alternatives. */
export interface GoldenMismatch {
  /** The RIM index (0-based); the runtime value is SPDM block `index + 1`. */
  index: number
  source: GoldenSource
  /** The RIM's alternatives, lower-case hex. */
  expected: string[]
  /** The runtime value, lower-case hex, or null when the report has no such block. */
  got: string | null
}

/** The outcome of {@link compareGoldenMeasurements}. All index lists are ascending RIM indices. */
export interface GoldenComparison {
  /** The indices compared: active in exactly one RIM, less the NVDEC0 index when it is skipped. */
  compared: number[]
  mismatches: GoldenMismatch[]
  /** Indices active in both RIMs: NVIDIA fails these (`x-nvidia-gpu-vbios-index-no-conflict`) and they are not compared. */
  conflicts: number[]
}

/**
 * Compares runtime measurements with the golden values of the RIMs. Golden values are the active
 * entries of the driver RIM and of the VBIOS RIM; an index active in both is a conflict. RIM index
 * `i` is SPDM block `i + 1`; a runtime value matches if it is 48 bytes, the entry's size is 48, and
 * it equals any of the entry's alternatives. A missing runtime block is a mismatch, inactive entries
 * are ignored, and index 35 is skipped when `nvdec0Disabled`. The RIMs must already be verified
 * (`checkRim`): this only compares.
 *
 * @param runtime SPDM measurement block index (1-based) → measurement value.
 */
export function compareGoldenMeasurements(
  runtime: ReadonlyMap<number, Uint8Array>,
  rims: { driver?: RimDocument | undefined; vbios?: RimDocument | undefined },
  options: { nvdec0Disabled: boolean },
): GoldenComparison {
  const golden = new Map<number, { entry: RimMeasurement; source: GoldenSource }>()
  const conflicts = new Set<number>()
  for (const source of ['driver', 'vbios'] as const) {
    for (const entry of rims[source]?.measurements ?? []) {
      if (!entry.active) continue
      if (golden.has(entry.index)) conflicts.add(entry.index)
      else golden.set(entry.index, { entry, source })
    }
  }
  const compared: number[] = []
  const mismatches: GoldenMismatch[] = []
  for (const index of [...golden.keys()].sort((a, b) => a - b)) {
    if (conflicts.has(index) || (options.nvdec0Disabled && index === NVDEC0_RIM_INDEX)) continue
    const { entry, source } = golden.get(index)!
    compared.push(index)
    const value = runtime.get(index + 1)
    const got = value === undefined ? null : toHex(value)
    const sized = value !== undefined && value.length === GOLDEN_MEASUREMENT_SIZE && entry.size === GOLDEN_MEASUREMENT_SIZE
    const matches = sized && entry.alternatives.includes(got!)
    if (!matches) mismatches.push({ index, source, expected: [...entry.alternatives], got })
  }
  return { compared, mismatches, conflicts: [...conflicts].sort((a, b) => a - b) }
}
