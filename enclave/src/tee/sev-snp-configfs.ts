/**
 * SEV-SNP on real hardware through Linux configfs-tsm (Linux ≥ 6.7; kernel
 * `Documentation/ABI/testing/configfs-tsm-report`, google/go-configfs-tsm `report/report.go`): one
 * directory per request under `/sys/kernel/config/tsm/report`, REPORT_DATA into `inblob`, the signed
 * ATTESTATION_REPORT out of `outblob`, and the host's certificate table (VCEK or VLEK, ASK or ASVK, ARK)
 * out of `auxblob`. `generation` counts writes to the entry, so a second writer is detected.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  bytesEqual,
  CERT_TABLE_GUID,
  KEY_INFO_OFFSET,
  parseCertTable,
  REPORT_DATA_OFFSET,
  REPORT_DATA_SIZE,
  REPORT_SIZE,
  type CertTableEntry,
  type SigningKey,
} from '@vouch/protocol'
import { TeeError } from '../errors.js'
import type { CpuEvidence, CpuTee } from './device.types.js'

/** Where configfs-tsm report entries live. */
export const TSM_REPORT_ROOT = '/sys/kernel/config/tsm/report'
/** The `provider` of an entry served by the SEV-SNP guest driver (`tdx_guest` on Intel TDX). */
export const SEV_GUEST_PROVIDER = 'sev_guest'

/**
 * The filesystem calls the device makes, nothing else: {@link nodeTsmFileSystem} on a real guest. Tests
 * inject a fake kernel, because a plain directory cannot do what configfs does (create the attribute
 * files on `mkdir`, answer `outblob` reads from `inblob`, remove a populated entry on `rmdir`).
 */
export interface TsmFileSystem {
  mkdir(path: string): Promise<void>
  rmdir(path: string): Promise<void>
  readdir(path: string): Promise<string[]>
  readFile(path: string): Promise<Uint8Array>
  /** Writes all of `data` in one call: configfs takes a binary attribute's value when the file is closed. */
  writeFile(path: string, data: Uint8Array): Promise<void>
}

/** {@link TsmFileSystem} over node:fs/promises. */
export const nodeTsmFileSystem: TsmFileSystem = {
  mkdir: async (path) => {
    await mkdir(path)
  },
  rmdir: (path) => rmdir(path),
  readdir: (path) => readdir(path),
  readFile: async (path) => new Uint8Array(await readFile(path)),
  writeFile: (path, data) => writeFile(path, data),
}

/** Certificates from outside the auxblob, for hosts that do not provision the certificate table. */
export interface SevSnpCollateral {
  vek?: Uint8Array
  /** ASK (or ASVK for a VLEK) then ARK, DER. */
  chain?: [Uint8Array, Uint8Array]
  crls?: Uint8Array[]
}

/** Options of {@link requestTsmReport} and {@link createSevSnpConfigfsTee}. */
export interface SevSnpConfigfsOptions {
  /** The configfs-tsm report folder; {@link TSM_REPORT_ROOT} when unset. */
  root?: string
  /**
   * VMPL to ask for (the entry's `privlevel`, 0–3, at least `privlevel_floor`); not written when unset,
   * so the kernel's default applies.
   */
  privlevel?: number
  /**
   * Check that the report's REPORT_DATA is the 64 bytes written to `inblob`, as a real PSP guarantees; a
   * mismatch throws `ERR_TEE_REPORT_INVALID`. True when unset. Only a test replaying captured reports
   * (whose REPORT_DATA is fixed by their signature) sets it false.
   */
  expectReportData?: boolean
  /**
   * Supplies the certificates the auxblob lacks, or all of them when the auxblob is not a valid table
   * (a VEK from AMD KDS, the chain from a trust cache); the auxblob's certificates win. Unset: a missing
   * VEK or chain throws `ERR_TEE_CERTS_MISSING`.
   */
  collateral?: (report: Uint8Array, signingKey: SigningKey) => Promise<SevSnpCollateral>
  /** Filesystem calls; {@link nodeTsmFileSystem} when unset. */
  fs?: TsmFileSystem
}

/** What one configfs-tsm request returned, unchecked beyond the entry's own protocol. */
export interface TsmReport {
  /** The entry's `provider`, e.g. `sev_guest`. */
  provider: string
  /** `outblob`: the raw report. */
  outblob: Uint8Array
  /** `auxblob`: the certificate table; empty when the host provisioned none. */
  auxblob: Uint8Array
  /** `generation` after the request. */
  generation: number
}

const errno = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined

/** A TeeError for a failed filesystem call: a missing or forbidden tree is "unavailable", the rest a failed request. */
function fsError(error: unknown, action: string, path: string): TeeError {
  const code = errno(error)
  const where = `configfs-tsm: ${action} ${path}`
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    const hint = 'is this an SEV-SNP guest on Linux 6.7 or later with configfs mounted?'
    return new TeeError('ERR_TEE_UNAVAILABLE', `${where}: not found (${code}); ${hint}`, { cause: error })
  }
  if (code === 'EACCES' || code === 'EPERM') {
    const hint = 'the enclave needs root'
    return new TeeError('ERR_TEE_UNAVAILABLE', `${where}: permission denied (${code}); ${hint}`, { cause: error })
  }
  return new TeeError('ERR_TEE_REQUEST_FAILED', `${where} failed (${code ?? String(error)})`, { cause: error })
}

async function call<T>(action: string, path: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    throw fsError(error, action, path)
  }
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8').trim()

function requireReportData(reportData: Uint8Array): Uint8Array {
  if (!(reportData instanceof Uint8Array) || reportData.length !== REPORT_DATA_SIZE) {
    const got = reportData instanceof Uint8Array ? reportData.length : typeof reportData
    throw new RangeError(`REPORT_DATA must be ${REPORT_DATA_SIZE} bytes, got ${got}`)
  }
  return new Uint8Array(reportData)
}

function requirePrivlevel(privlevel: number | undefined): number | undefined {
  if (privlevel !== undefined && (!Number.isInteger(privlevel) || privlevel < 0 || privlevel > 3)) {
    throw new RangeError(`privlevel must be 0 to 3, got ${privlevel}`)
  }
  return privlevel
}

/**
 * Runs one configfs-tsm request (DESIGN.md §8, sev-snp-format.md §9): makes a uniquely named entry,
 * checks its provider, reads `generation` (N), writes the 64 bytes to `inblob` and the optional
 * `privlevel`, reads `outblob` and `auxblob`, reads `generation` again and throws `ERR_TEE_RACE` unless it
 * is N plus the writes made, and removes the entry whatever happened. Concurrent calls use separate
 * entries and do not disturb each other. The report is not checked here; {@link createSevSnpConfigfsTee} does.
 */
export async function requestTsmReport(reportData: Uint8Array, options: SevSnpConfigfsOptions = {}): Promise<TsmReport> {
  const inblob = requireReportData(reportData)
  const privlevel = requirePrivlevel(options.privlevel)
  const fs = options.fs ?? nodeTsmFileSystem
  const root = options.root ?? TSM_REPORT_ROOT
  // Unique per process and request: another process's entry is never reused.
  const entry = join(root, `vouch-${process.pid}-${randomBytes(8).toString('hex')}`)
  const attribute = (name: string): string => join(entry, name)
  const read = (name: string): Promise<Uint8Array> =>
    call('read', attribute(name), () => fs.readFile(attribute(name)))
  const write = (name: string, data: Uint8Array): Promise<void> =>
    call('write', attribute(name), () => fs.writeFile(attribute(name), data))
  const generation = async (): Promise<number> => {
    const value = text(await read('generation'))
    if (!/^\d+$/.test(value)) {
      const got = `configfs-tsm: ${attribute('generation')} holds ${JSON.stringify(value)}`
      throw new TeeError('ERR_TEE_REQUEST_FAILED', `${got}, not a count`)
    }
    return Number(value)
  }

  await call('mkdir', entry, () => fs.mkdir(entry))
  try {
    const provider = text(await read('provider'))
    if (provider !== SEV_GUEST_PROVIDER) {
      const got = `configfs-tsm provider is ${JSON.stringify(provider)}, expected ${JSON.stringify(SEV_GUEST_PROVIDER)}`
      throw new TeeError('ERR_TEE_UNSUPPORTED', `${got}: this guest is not SEV-SNP`)
    }
    const before = await generation()
    let writes = 0
    await write('inblob', inblob)
    writes++
    if (privlevel !== undefined) {
      await write('privlevel', new TextEncoder().encode(`${privlevel}\n`))
      writes++
    }
    const outblob = await read('outblob')
    let auxblob: Uint8Array
    try {
      auxblob = await fs.readFile(attribute('auxblob'))
    } catch (error) {
      // No auxblob attribute (a provider without one): the same as an empty table.
      if (errno(error) !== 'ENOENT') throw fsError(error, 'read', attribute('auxblob'))
      auxblob = new Uint8Array(0)
    }
    const after = await generation()
    if (after !== before + writes) {
      const moved = `configfs-tsm: generation went from ${before} to ${after} over our ${writes} writes`
      throw new TeeError('ERR_TEE_RACE', `${moved}: another writer changed ${entry}, so the report may answer its request`)
    }
    return { provider, outblob, auxblob, generation: after }
  } finally {
    // configfs removes a populated entry with rmdir. A failure leaves an entry behind but does not
    // make the report wrong, so it never replaces the request's own outcome.
    await fs.rmdir(entry).catch(() => undefined)
  }
}

/** SIGNING_KEY (bits 4:2 of the key-info word): 0 VCEK, 1 VLEK; 7 means unsigned. */
function signingKeyOf(report: Uint8Array): SigningKey {
  const keyInfo = new DataView(report.buffer, report.byteOffset, report.byteLength).getUint32(KEY_INFO_OFFSET, true)
  const value = (keyInfo >> 2) & 7
  if (value === 0) return 'VCEK'
  if (value === 1) return 'VLEK'
  const meaning = value === 7 ? 'unsigned report' : 'reserved'
  throw new TeeError('ERR_TEE_REPORT_INVALID', `outblob SIGNING_KEY is ${value} (${meaning}), expected 0 (VCEK) or 1 (VLEK)`)
}

/** The auxblob's VEK and chain for the report's signing key; what is absent stays undefined. */
function certificatesOf(entries: readonly CertTableEntry[], signingKey: SigningKey): SevSnpCollateral {
  const find = (guid: string): Uint8Array | undefined => entries.find((e) => e.guid === guid)?.data
  // A VLEK's intermediate is the ASVK, which the table files under the ASK GUID.
  const vek = find(signingKey === 'VCEK' ? CERT_TABLE_GUID.VCEK : CERT_TABLE_GUID.VLEK)
  const intermediate = find(CERT_TABLE_GUID.ASK)
  const ark = find(CERT_TABLE_GUID.ARK)
  const present = (cert: Uint8Array | undefined): cert is Uint8Array => cert !== undefined && cert.length > 0
  return {
    ...(present(vek) && { vek }),
    ...(present(intermediate) && present(ark) && { chain: [intermediate, ark] as [Uint8Array, Uint8Array] }),
  }
}

/**
 * Checks one configfs-tsm answer and assembles the evidence: a 1184-byte report, REPORT_DATA equal to
 * `reportData` (unless `expectReportData` is false), a VCEK or VLEK signature, and the VEK and chain
 * from the auxblob, then from `collateral`.
 */
export async function toSevSnpEvidence(
  answer: TsmReport,
  reportData: Uint8Array,
  options: Pick<SevSnpConfigfsOptions, 'expectReportData' | 'collateral'> = {},
): Promise<CpuEvidence> {
  const report = answer.outblob
  if (report.length !== REPORT_SIZE) {
    const got = `outblob is ${report.length} bytes, expected an ATTESTATION_REPORT of ${REPORT_SIZE}`
    throw new TeeError('ERR_TEE_REPORT_INVALID', `${got} (provider ${answer.provider})`)
  }
  const written = report.subarray(REPORT_DATA_OFFSET, REPORT_DATA_OFFSET + REPORT_DATA_SIZE)
  if ((options.expectReportData ?? true) && !bytesEqual(written, reportData)) {
    const why = 'outblob REPORT_DATA is not the 64 bytes written to inblob: the report answers another request'
    throw new TeeError('ERR_TEE_REPORT_INVALID', why)
  }
  const signingKey = signingKeyOf(report)
  let found: SevSnpCollateral = {}
  let tableError: unknown
  try {
    found = certificatesOf(parseCertTable(answer.auxblob), signingKey)
  } catch (error) {
    tableError = error
  }
  if ((found.vek === undefined || found.chain === undefined) && options.collateral !== undefined) {
    const extra = await options.collateral(new Uint8Array(report), signingKey)
    found = { ...extra, ...found }
  }
  const { vek, chain, crls } = found
  if (vek === undefined || chain === undefined) {
    const intermediate = signingKey === 'VCEK' ? 'ASK' : 'ASVK'
    const missing = [vek === undefined && signingKey, chain === undefined && `${intermediate} and ARK`]
    const why =
      tableError !== undefined
        ? 'the auxblob is not a certificate table'
        : answer.auxblob.length === 0
          ? 'the host provisioned no certificate table'
          : 'the certificate table lacks them'
    const fix = 'provision them on the host or pass a collateral source (the verifier can also take them from its trust cache)'
    const message = `missing ${missing.filter(Boolean).join(', ')}: ${why}; ${fix}`
    throw new TeeError('ERR_TEE_CERTS_MISSING', message, { cause: tableError })
  }
  return { report, vek, chain, ...(crls !== undefined && { crls }) }
}

/**
 * The SEV-SNP CPU TEE of a real guest. Checks that the configfs-tsm folder exists (`ERR_TEE_UNAVAILABLE`
 * otherwise); each `attest` is one {@link requestTsmReport} checked by {@link toSevSnpEvidence}.
 */
export async function createSevSnpConfigfsTee(options: SevSnpConfigfsOptions = {}): Promise<CpuTee> {
  const fs = options.fs ?? nodeTsmFileSystem
  const root = options.root ?? TSM_REPORT_ROOT
  requirePrivlevel(options.privlevel)
  await call('list', root, () => fs.readdir(root))
  let closed = false
  return {
    kind: 'sev-snp',
    platform: 'sev-snp',
    async attest(reportData: Uint8Array): Promise<CpuEvidence> {
      if (closed) throw new TeeError('ERR_TEE_CLOSED', 'the SEV-SNP device is closed')
      const data = requireReportData(reportData)
      return toSevSnpEvidence(await requestTsmReport(data, { ...options, fs, root }), data, options)
    },
    async close(): Promise<void> {
      closed = true
    },
  }
}
