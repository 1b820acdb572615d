/**
 * Builds and drives the fake `libnvidia-ml.so` (../fake-nvml/fake_nvml.c): compiled with gcc into a temp
 * folder, configured through `FAKE_NVML_*` environment variables (read at `nvmlInit_v2`), and fed report
 * and chain files per GPU index.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The C source of the fake. */
export const FAKE_NVML_SOURCE = fileURLToPath(new URL('../fake-nvml/fake_nvml.c', import.meta.url))

/** A skip reason when gcc is absent, or false. */
export function gccMissing(): string | false {
  const probe = spawnSync('gcc', ['--version'], { encoding: 'utf8' })
  return probe.error === undefined && probe.status === 0 ? false : 'gcc is not installed: the fake libnvidia-ml.so is compiled from C in the test'
}

/** A compiled fake: the library path, the folder its report and chain files go in, and cleanup. */
export interface FakeNvml {
  library: string
  dir: string
  /** Sets the fake's configuration for the next `nvmlInit_v2` (unset keys go back to their defaults). */
  configure(config?: FakeNvmlConfig): void
  /** Writes GPU `index`'s report and its chain (PEM text, or DER certificates to encode). */
  writeGpu(index: number, report: Uint8Array, chain: string | readonly Uint8Array[]): void
  dispose(): void
}

/** The fake's `FAKE_NVML_*` settings. */
export interface FakeNvmlConfig {
  count?: number
  arch?: number
  cc?: 0 | 1
  devtools?: 0 | 1
  ready?: 0 | 1
  /** `<function>:<nvmlReturn_t>`. */
  fail?: string
  reportSize?: number
}

/** PEM text of DER certificates, in order. */
export function toPem(ders: readonly Uint8Array[]): string {
  return ders
    .map((der) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`)
    .join('')
}

/** Compiles the fake with warnings as errors (the struct-size static asserts must hold). */
export function buildFakeNvml(): FakeNvml {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-nvml-'))
  const library = join(dir, 'libnvidia-ml.so.1')
  const gcc = spawnSync('gcc', ['-shared', '-fPIC', '-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', library, FAKE_NVML_SOURCE], { encoding: 'utf8' })
  if (gcc.status !== 0) throw new Error(`gcc failed to build the fake NVML:\n${gcc.stderr}`)
  const keys: Record<keyof FakeNvmlConfig, string> = {
    count: 'FAKE_NVML_COUNT',
    arch: 'FAKE_NVML_ARCH',
    cc: 'FAKE_NVML_CC',
    devtools: 'FAKE_NVML_DEVTOOLS',
    ready: 'FAKE_NVML_READY',
    fail: 'FAKE_NVML_FAIL',
    reportSize: 'FAKE_NVML_REPORT_SIZE',
  }
  return {
    library,
    dir,
    configure(config = {}) {
      // The library reads its configuration with getenv, which sees what process.env sets.
      process.env['FAKE_NVML_DIR'] = dir
      for (const [key, name] of Object.entries(keys) as Array<[keyof FakeNvmlConfig, string]>) {
        const value = config[key]
        if (value === undefined) delete process.env[name]
        else process.env[name] = String(value)
      }
    },
    writeGpu(index, report, chain) {
      writeFileSync(join(dir, `report-${index}.bin`), report)
      writeFileSync(join(dir, `chain-${index}.pem`), typeof chain === 'string' ? chain : toPem(chain))
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
