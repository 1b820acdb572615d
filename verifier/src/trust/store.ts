/**
 * The on-disk trust cache that `vouch-verify trust fetch` fills and `vouch-verify sev-snp` and
 * `vouch-verify nvidia-gpu` read: AMD chains, CRLs and VCEKs in a directory laid out like KDS's URL
 * space, and NVIDIA RIMs (by RIM id) and OCSP responses (by certificate). The store only moves
 * bytes; it validates nothing. Whatever it returns is verified again by `verifySevSnp` (or
 * `verifyNvidiaGpu`), and `fetchAmdCollateral` (`fetchNvidiaCollateral`) validates before it writes.
 *
 * ```
 * <dir>/amd/.last-request                                  start of the last KDS request (rate limit)
 * <dir>/amd/<Product>/<vcek|vlek>/cert_chain.pem           ASK (or ASVK) then ARK
 * <dir>/amd/<Product>/<vcek|vlek>/crl.der                  the CRL the ARK signs for that family
 * <dir>/amd/<Product>/vcek/<hwid hex>/<tcb key>.der        a VCEK, e.g. fmc0-bl1-tee0-snp2-ucode71.der
 * <dir>/nvidia/rims/<RIM id>.xml                           a RIM as NVIDIA's RIM service serves it, e.g. NV_GPU_DRIVER_GH100_550.144.03.xml
 * <dir>/nvidia/ocsp/<SHA-256 of the certificate DER>.der   the latest OCSP response about that certificate
 * ```
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import {
  decodeTcb,
  derToPem,
  isAllZero,
  kdsHwId,
  RIM_ID_PATTERN,
  usesTurinTcbLayout,
  type AttestationReport,
  type KeyFamily,
  type Product,
  type Tcb,
} from '@vouch/protocol'
import { readInputFile, type InputFileKind } from '../input-file.js'

/** What the cache holds for one report, in the forms `SevSnpInput` takes. */
export interface CachedCollateral {
  /** The product whose files these are; unset when nothing was found. */
  product?: Product
  /** The VCEK (DER). Never set for a VLEK report: KDS does not publish VLEKs. */
  vek?: Uint8Array
  /** ASK (or ASVK) then ARK, PEM. */
  chain?: string
  /** The family's CRL (DER), as a one-element list. */
  crls?: Uint8Array[]
  /** Where each item came from, for messages. */
  paths: { vek?: string; chain?: string; crl?: string }
}

/**
 * The default trust directory: `$VOUCH_TRUST_DIR`, else `$XDG_CACHE_HOME/vouch/trust`, else
 * `~/.cache/vouch/trust`. A relative `XDG_CACHE_HOME` is ignored, as the XDG spec says.
 */
export function defaultTrustDir(env: NodeJS.ProcessEnv = process.env, home: string = homedir()): string {
  const explicit = env['VOUCH_TRUST_DIR']
  if (explicit !== undefined && explicit !== '') return resolve(explicit)
  const xdg = env['XDG_CACHE_HOME']
  if (xdg !== undefined && isAbsolute(xdg)) return join(xdg, 'vouch', 'trust')
  return join(home, '.cache', 'vouch', 'trust')
}

/** The file name stem of a VCEK: its TCB, FMC first on Turin, e.g. `fmc0-bl1-tee0-snp2-ucode71`. */
export function tcbKey(tcb: Tcb, product: Product): string {
  const fmc = usesTurinTcbLayout(product) ? `fmc${tcb.fmc ?? 0}-` : ''
  return `${fmc}bl${tcb.bootloader}-tee${tcb.tee}-snp${tcb.snp}-ucode${tcb.microcode}`
}

/** PEM text of DER certificates, 64 columns, LF line ends. */
export function certificatesToPem(ders: readonly Uint8Array[]): string {
  return ders.map((der) => derToPem('CERTIFICATE', der)).join('')
}

/** A cached file, or null when there is none; throws `ERR_INPUT_INVALID` for one over the limit of its kind. */
function readOptional(path: string, kind: InputFileKind): Buffer | null {
  try {
    return Buffer.from(readInputFile(path, kind))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}

/**
 * Writes through a temporary file in the same directory and renames it over the target, so a reader
 * (or a crash) never sees half a certificate. The data is flushed before the rename.
 */
function writeAtomic(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`
  try {
    const fd = openSync(tmp, 'wx', 0o644)
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
      let offset = 0
      while (offset < bytes.length) offset += writeSync(fd, bytes, offset, bytes.length - offset)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (error) {
    rmSync(tmp, { force: true })
    throw error
  }
}

const PRODUCTS_OF_V2: readonly Product[] = ['Milan', 'Genoa']

/** A trust directory. Synchronous I/O: the files are small and the callers are CLI commands. */
export class TrustStore {
  /** Absolute path of the directory (it need not exist yet; writes create it). */
  readonly dir: string

  constructor(dir: string = defaultTrustDir()) {
    this.dir = resolve(dir)
  }

  /** `<dir>/amd/<Product>/<family>`. */
  familyDir(product: Product, family: KeyFamily): string {
    return join(this.dir, 'amd', product, family)
  }

  /** Where the ASK (or ASVK) then ARK chain of a product and family lives. */
  chainPath(product: Product, family: KeyFamily): string {
    return join(this.familyDir(product, family), 'cert_chain.pem')
  }

  /** Where the CRL of a product and family lives. */
  crlPath(product: Product, family: KeyFamily): string {
    return join(this.familyDir(product, family), 'crl.der')
  }

  /** Where the VCEK of a chip (`hwId` as KDS names it, see `kdsHwId`) at a TCB lives. */
  vcekPath(product: Product, hwId: string, tcb: Tcb): string {
    // hwId becomes a path component: only hex may get there.
    if (!/^[0-9a-f]+$/.test(hwId)) throw new TypeError(`hwId must be lower-case hex, got "${hwId}"`)
    return join(this.familyDir(product, 'vcek'), hwId, `${tcbKey(tcb, product)}.der`)
  }

  /** The file holding the start time of the last KDS request, shared by every process using this store. */
  get lastRequestPath(): string {
    return join(this.dir, 'amd', '.last-request')
  }

  /** The cached chain as PEM text, or null. */
  readChain(product: Product, family: KeyFamily): string | null {
    return readOptional(this.chainPath(product, family), 'certificates')?.toString('utf8') ?? null
  }

  /** Caches a chain (ASK or ASVK, then ARK) given as DER; stored as PEM. */
  writeChain(product: Product, family: KeyFamily, ders: readonly Uint8Array[]): string {
    const path = this.chainPath(product, family)
    writeAtomic(path, certificatesToPem(ders))
    return path
  }

  /** The cached CRL (DER), or null. */
  readCrl(product: Product, family: KeyFamily): Uint8Array | null {
    const data = readOptional(this.crlPath(product, family), 'crl')
    return data === null ? null : new Uint8Array(data)
  }

  /** Caches a CRL (DER). */
  writeCrl(product: Product, family: KeyFamily, der: Uint8Array): string {
    const path = this.crlPath(product, family)
    writeAtomic(path, der)
    return path
  }

  /** The cached VCEK (DER), or null. */
  readVcek(product: Product, hwId: string, tcb: Tcb): Uint8Array | null {
    const data = readOptional(this.vcekPath(product, hwId, tcb), 'certificate')
    return data === null ? null : new Uint8Array(data)
  }

  /** Caches a VCEK (DER). */
  writeVcek(product: Product, hwId: string, tcb: Tcb, der: Uint8Array): string {
    const path = this.vcekPath(product, hwId, tcb)
    writeAtomic(path, der)
    return path
  }

  /** Where the RIM with NVIDIA RIM service id `id` lives. */
  rimPath(id: string): string {
    // The id becomes a file name: only the characters NVIDIA's ids use may get there.
    if (!RIM_ID_PATTERN.test(id)) throw new TypeError(`a RIM id must be letters, digits, '.', '_' or '-', not starting with '.', got "${id}"`)
    return join(this.dir, 'nvidia', 'rims', `${id}.xml`)
  }

  /** The cached RIM as XML text, or null. */
  readRim(id: string): string | null {
    return readOptional(this.rimPath(id), 'rim')?.toString('utf8') ?? null
  }

  /** Caches a RIM (the XML bytes exactly as served). */
  writeRim(id: string, xml: Uint8Array | string): string {
    const path = this.rimPath(id)
    writeAtomic(path, xml)
    return path
  }

  /** Where the OCSP response about the certificate whose DER has SHA-256 `certificateSha256` (lower-case hex) lives. */
  ocspPath(certificateSha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(certificateSha256)) throw new TypeError(`a certificate SHA-256 must be 64 lower-case hex digits, got "${certificateSha256}"`)
    return join(this.dir, 'nvidia', 'ocsp', `${certificateSha256}.der`)
  }

  /** The cached OCSP response (DER), or null. */
  readOcsp(certificateSha256: string): Uint8Array | null {
    const data = readOptional(this.ocspPath(certificateSha256), 'ocsp')
    return data === null ? null : new Uint8Array(data)
  }

  /** Caches an OCSP response (DER), replacing the previous one about the same certificate. */
  writeOcsp(certificateSha256: string, der: Uint8Array): string {
    const path = this.ocspPath(certificateSha256)
    writeAtomic(path, der)
    return path
  }

  /** When the last KDS request started, or null if none was recorded (or the file is unreadable). */
  readLastRequest(): Date | null {
    const text = readOptional(this.lastRequestPath, 'timestamp')?.toString('utf8').trim()
    if (text === undefined) return null
    const at = new Date(text)
    return Number.isNaN(at.getTime()) ? null : at
  }

  /** Records the start of a KDS request. */
  writeLastRequest(at: Date): void {
    writeAtomic(this.lastRequestPath, `${at.toISOString()}\n`)
  }

  /**
   * What the cache holds for a report: its product's chain and CRL for the family SIGNING_KEY names,
   * and for a VCEK report with a CHIP_ID the VCEK at its REPORTED_TCB. A version 2 report does not
   * name its product, so Milan then Genoa are tried (the first with a VCEK wins, else the first with
   * a chain); `product` overrides that, e.g. when the caller knows the VEK's product. Nothing is
   * validated here.
   */
  collateralFor(report: AttestationReport, options: { product?: Product } = {}): CachedCollateral {
    const family: KeyFamily = report.signingKey === 'VLEK' ? 'vlek' : 'vcek'
    const candidates = options.product !== undefined ? [options.product] : report.product !== null ? [report.product] : PRODUCTS_OF_V2
    const found = candidates.map((product) => this.#lookup(report, product, family))
    return found.find((c) => c.vek !== undefined) ?? found.find((c) => c.chain !== undefined) ?? found.find((c) => c.crls !== undefined) ?? { paths: {} }
  }

  #lookup(report: AttestationReport, product: Product, family: KeyFamily): CachedCollateral {
    const out: CachedCollateral = { product, paths: {} }
    const chain = this.readChain(product, family)
    if (chain !== null) {
      out.chain = chain
      out.paths.chain = this.chainPath(product, family)
    }
    const crl = this.readCrl(product, family)
    if (crl !== null) {
      out.crls = [crl]
      out.paths.crl = this.crlPath(product, family)
    }
    // A masked CHIP_ID names no chip, so no VCEK can be looked up for it.
    if (family === 'vcek' && !isAllZero(report.chipId)) {
      const hwId = kdsHwId(report.chipId, product)
      const tcb = decodeTcb(report.reportedTcb, product)
      const vek = this.readVcek(product, hwId, tcb)
      if (vek !== null) {
        out.vek = vek
        out.paths.vek = this.vcekPath(product, hwId, tcb)
      }
    }
    return out
  }
}
