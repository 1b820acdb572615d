/**
 * The receipt log as the host runs it (issue 12, docs/protocol.md "Receipt log"): what the infer route appends for
 * every answer (the receipt the enclave returned beside it, and once the evidence bundle that receipt names), and the
 * C2SP checkpoints signed over the store. An answer is relayed only once its entries are durable. Checkpoints are
 * signed when somebody asks for one ({@link ReceiptLog.current}: the checkpoint, proof, evidence and ledger routes;
 * tile readers start from the checkpoint route), over everything durable then, so an inclusion proof is available as
 * soon as the answer is, without every answer paying a signature.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import {
  formatCheckpoint,
  generateNoteKey,
  noteVerifierKey,
  receiptEvidence,
  sha256Digest,
  signNote,
  toEvidenceEntries,
  treeHash,
} from '@vouch/protocol'
import { HostError, HostStartupError } from '../errors.js'
import { devCertificateDir } from '../tls.js'
import type { LogStore, StoredCheckpoint } from './store.js'

/** Where the host gets the bytes of the evidence bundle a receipt names (its unchallenged bundle, from the enclave). */
export type EvidenceSource = (digest: string) => Promise<Uint8Array>

/** What {@link ReceiptLog} needs. */
export interface ReceiptLogOptions {
  store: LogStore
  /** The log's note signer key (`PRIVATE+KEY+<name>+<id>+<base64>`). */
  signerKey: string
  /** The checkpoints' origin line: the log's name. */
  origin: string
}

/** `ERR_HOST_LOG_UNAVAILABLE` for any failure of the log, the original as its cause. */
function unavailable(error: unknown): HostError {
  return error instanceof HostError && error.code === 'ERR_HOST_LOG_UNAVAILABLE' ? error : new HostError('ERR_HOST_LOG_UNAVAILABLE', { cause: error })
}

/** The host's receipt log: appends answers, signs and keeps checkpoints, serves what the read routes need. */
export class ReceiptLog {
  readonly store: LogStore
  readonly origin: string
  /** The note verifier key of the log's checkpoints (what relying parties pin). */
  readonly verifierKey: string
  readonly #signerKey: string
  #latest: StoredCheckpoint | null = null
  #signing: Promise<StoredCheckpoint> | null = null
  /** Evidence digests known to be in the log, so each is looked up once. */
  readonly #evidence = new Set<string>()

  private constructor(options: ReceiptLogOptions) {
    this.store = options.store
    this.origin = options.origin
    this.#signerKey = options.signerKey
    this.verifierKey = noteVerifierKey(options.signerKey)
  }

  /** The log over `options.store`, with a signed checkpoint of its current size (signed now unless one is kept). */
  static async open(options: ReceiptLogOptions): Promise<ReceiptLog> {
    const log = new ReceiptLog(options)
    log.#latest = (await options.store.checkpoints()).filter((c) => c.note.startsWith(`${options.origin}\n`)).at(-1) ?? null
    await log.checkpoint(await options.store.size())
    return log
  }

  /**
   * Logs the answer whose receipt is `receipt`: the evidence bundle it names (from `evidence`, unless logged
   * already, split into parts when large), then the receipt; resolves with the receipt's index once both are durable
   * (any checkpoint signed from then on covers them). Rejects with `ERR_HOST_LOG_UNAVAILABLE` whatever failed: the
   * answer must then not be relayed.
   */
  async logAnswer(receipt: string, evidence: EvidenceSource): Promise<number> {
    try {
      // The evidence first (once per keyset, so only the keyset's first answer waits for it): a receipt never
      // precedes the bundle it names, and a receipt whose bundle cannot be logged is not logged either. Only the
      // digest it names is read (every answer pays for this): the log holds the receipt as the enclave signed it,
      // and whoever relies on it verifies it in full.
      await this.#logEvidence(receiptEvidence(receipt), evidence)
      return (await this.store.append({ kind: 'receipt', receipt })).index
    } catch (error) {
      throw unavailable(error)
    }
  }

  /** Appends the bundle of digest `digest` unless the log holds it. */
  async #logEvidence(digest: string, evidence: EvidenceSource): Promise<void> {
    if (this.#evidence.has(digest)) return
    if ((await this.evidenceIndexes(digest)) !== null) {
      this.#evidence.add(digest)
      return
    }
    const bundle = await evidence(digest)
    if (sha256Digest(bundle) !== digest) throw new Error(`the receipt names evidence ${digest}, the enclave's bundle is another (it restarted with new keys?)`)
    await Promise.all(toEvidenceEntries(bundle).map((entry) => this.store.append(entry)))
    this.#evidence.add(digest)
  }

  /** The indexes of the entries that log the bundle of `digest` (one, or its parts in order), or null. */
  async evidenceIndexes(digest: string): Promise<number[] | null> {
    const whole = await this.store.indexOf(`evidence:${digest}`)
    if (whole !== null) return [whole]
    const first = await this.store.indexOf(`evidence:${digest}#0`)
    if (first === null) return null
    const indexes = [first]
    for (let part = 1; ; part++) {
      const index = await this.store.indexOf(`evidence:${digest}#${part}`)
      if (index === null) return indexes
      indexes.push(index)
    }
  }

  /** The latest checkpoint signed (after {@link open}, one always is); answers logged since may be past it. */
  latest(): StoredCheckpoint {
    return this.#latest!
  }

  /**
   * A signed checkpoint of everything the store holds now: the latest when it covers all, else one signed now (once
   * for all who ask meanwhile). Answers are logged without one (by this host, or by the others of a shared log), so
   * this is what the routes that serve the log ask for. Rejects with `ERR_HOST_LOG_UNAVAILABLE`.
   */
  async current(): Promise<StoredCheckpoint> {
    try {
      return await this.checkpoint(await this.store.size())
    } catch (error) {
      throw unavailable(error)
    }
  }

  /**
   * A signed, stored checkpoint of at least `size` entries: the latest when it covers them, else one signed over the
   * store's current size. One signing at a time; callers that arrive meanwhile share the next.
   */
  async checkpoint(size: number): Promise<StoredCheckpoint> {
    for (;;) {
      if (this.#latest !== null && this.#latest.size >= size) return this.#latest
      if (this.#signing !== null) {
        await this.#signing.catch(() => undefined)
        continue
      }
      const signing = this.#sign()
      this.#signing = signing
      try {
        return await signing
      } finally {
        this.#signing = null
      }
    }
  }

  async #sign(): Promise<StoredCheckpoint> {
    const size = await this.store.size()
    const rootHash = await treeHash(size, this.store)
    const stored = await this.store.addCheckpoint(signNote(formatCheckpoint({ origin: this.origin, size, rootHash }), this.#signerKey))
    if (this.#latest === null || stored.size >= this.#latest.size) this.#latest = stored
    return stored
  }

  /** Integrates what is queued and closes the store. */
  close(): Promise<void> {
    return this.store.close()
  }
}

/** The development log key's file: `log-signer.key` in the development certificate's folder. */
export function devLogKeyFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(devCertificateDir(env), 'log-signer.key')
}

/**
 * The log's signer key: read from `file` when configured (`receiptLog.key`), else the development key beside the
 * development certificate, created (named `origin`, mode 0600) when absent. `ERR_HOST_CONFIG_INVALID` for a file
 * that cannot be read or holds no signer key.
 */
export function loadLogSignerKey(file: string | null, origin: string, env: NodeJS.ProcessEnv = process.env): { signerKey: string; file: string; origin: 'configured' | 'development' } {
  const path = file ?? devLogKeyFile(env)
  try {
    if (file === null && !existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
      writeFileSync(path, `${generateNoteKey(origin).signerKey}\n`, { mode: 0o600, flag: 'wx' })
      chmodSync(path, 0o600)
    }
    const signerKey = readFileSync(path, 'utf8').trim()
    noteVerifierKey(signerKey)
    return { signerKey, file: path, origin: file === null ? 'development' : 'configured' }
  } catch (error) {
    // The code only: a message about a key's text could quote it.
    const what = (error as { code?: string }).code ?? 'unreadable'
    throw new HostStartupError('ERR_HOST_CONFIG_INVALID', `receipt log key ${path}: not a note signer key (PRIVATE+KEY+…) or cannot be read: ${what}`, { cause: error })
  }
}
