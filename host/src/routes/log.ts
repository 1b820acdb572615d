/**
 * The receipt log's read routes (docs/protocol.md, "Receipt log"): the latest signed checkpoint, the log's verifier
 * key, hash tiles and entry bundles as C2SP tlog-tiles lays them out, a receipt's inclusion proof, consistency proofs
 * and the evidence a receipt names. Everything served is signed or hashed: a reader checks it against a checkpoint
 * signed by the key it pinned, so the host needs no one's trust to serve it.
 */
import type { Request, Response } from 'express'
import {
  assembleEvidence,
  decodeLogEntry,
  encodeEntryBundle,
  parseTilePath,
  proveRecord,
  proveTree,
  readTileData,
  TILE_WIDTH,
  toBase64,
  type LogEntry,
} from '@vouch/protocol'
import { HostError } from '../errors.js'
import type { ReceiptLog } from '../log/receipt-log.js'
import { asBuffer, type RouteDeps, type RouteRegistrar } from '../http/router.js'

const DIGEST = /^sha256:[0-9a-f]{64}$/
/** A full tile or bundle never changes; a partial one is replaced as the log grows. */
const IMMUTABLE = 'public, max-age=31536000, immutable'

/** The log, or `ERR_HOST_NOT_FOUND` for a host that keeps none. */
export function logOf(receiptLog: ReceiptLog | null): ReceiptLog {
  if (receiptLog === null) throw new HostError('ERR_HOST_NOT_FOUND')
  return receiptLog
}

/** A query parameter as a tree size or index: a decimal safe integer, or `fallback` when absent (`ERR_HOST_LOG_RANGE_INVALID`). */
export function sizeParam(req: Request, name: string, fallback?: number): number {
  const raw = req.query[name]
  if (raw === undefined && fallback !== undefined) return fallback
  if (typeof raw !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new HostError('ERR_HOST_LOG_RANGE_INVALID')
  }
  return Number(raw)
}

function sendText(res: Response, text: string): void {
  res.status(200).set('Content-Type', 'text/plain; charset=utf-8').set('Cache-Control', 'no-cache').send(text)
}

/** Serves a tile or an entry bundle below the latest checkpoint's size. */
async function serveTile(log: ReceiptLog, path: string, res: Response): Promise<void> {
  let tile: ReturnType<typeof parseTilePath>
  try {
    tile = parseTilePath(path)
  } catch {
    throw new HostError('ERR_HOST_NOT_FOUND')
  }
  const { size } = log.latest()
  const first = tile.n * TILE_WIDTH
  if (tile.level === 'entries') {
    if (first + tile.width > size) throw new HostError('ERR_HOST_NOT_FOUND')
    const entries = await log.store.readEntries(first, first + tile.width)
    res.set('Cache-Control', tile.width === TILE_WIDTH ? IMMUTABLE : 'no-cache')
    res.status(200).set('Content-Type', 'application/octet-stream').send(asBuffer(encodeEntryBundle(entries)))
    return
  }
  // The last record a hash tile of this level and width covers must be in the checkpoint's tree.
  if ((first + tile.width) * TILE_WIDTH ** tile.level > size) throw new HostError('ERR_HOST_NOT_FOUND')
  const data = await readTileData(tile, log.store)
  res.set('Cache-Control', tile.width === TILE_WIDTH ? IMMUTABLE : 'no-cache')
  res.status(200).set('Content-Type', 'application/octet-stream').send(asBuffer(data))
}

/** The evidence bundle of `digest` as logged: one entry, or its parts joined and checked. */
async function evidenceOf(log: ReceiptLog, digest: string): Promise<Uint8Array> {
  const indexes = await log.evidenceIndexes(digest)
  if (indexes === null || indexes.length === 0) throw new HostError('ERR_HOST_LOG_ENTRY_NOT_FOUND')
  // Logged since the latest checkpoint (answers are logged without one): sign one over it, as the proof route does.
  const last = Math.max(...indexes)
  if (last >= log.latest().size && last >= (await log.current()).size) throw new HostError('ERR_HOST_LOG_ENTRY_NOT_FOUND')
  const entries: LogEntry[] = []
  for (const index of indexes) entries.push(decodeLogEntry((await log.store.readEntries(index, index + 1))[0]!))
  return assembleEvidence(entries)
}

export function registerLogRoutes(route: RouteRegistrar, { receiptLog }: Pick<RouteDeps, 'receiptLog'>): void {
  route('/v1/log/checkpoint', { get: async (_req, res) => sendText(res, (await logOf(receiptLog).current()).note) })
  route('/v1/log/key', { get: (_req, res) => sendText(res, `${logOf(receiptLog).verifierKey}\n`) })
  route('/v1/log/proof', {
    get: async (req, res) => {
      const log = logOf(receiptLog)
      const digest = req.query['receipt']
      if (typeof digest !== 'string' || !DIGEST.test(digest)) throw new HostError('ERR_HOST_BAD_REQUEST')
      const index = await log.store.indexOf(`receipt:${digest}`)
      if (index === null) throw new HostError('ERR_HOST_LOG_ENTRY_NOT_FOUND')
      // Answers are logged without a checkpoint, and another host of a shared log may have appended this one: past the
      // latest checkpoint, sign one over it.
      const checkpoint = index < log.latest().size ? log.latest() : await log.current()
      if (index >= checkpoint.size) throw new HostError('ERR_HOST_LOG_ENTRY_NOT_FOUND')
      const proof = await proveRecord(checkpoint.size, index, log.store)
      res.json({ index, size: checkpoint.size, rootHash: toBase64(checkpoint.rootHash), proof: proof.map(toBase64), checkpoint: checkpoint.note })
    },
  })
  route('/v1/log/consistency', {
    get: async (req, res) => {
      const log = logOf(receiptLog)
      const latest = log.latest().size
      const to = sizeParam(req, 'to', latest)
      const from = sizeParam(req, 'from')
      if (from > to || to > latest) throw new HostError('ERR_HOST_LOG_RANGE_INVALID')
      res.json({ from, to, proof: (await proveTree(to, from, log.store)).map(toBase64) })
    },
  })
  route('/v1/log/evidence/:digest', {
    get: async (req, res) => {
      const digest = (req.params as { digest: string }).digest
      if (!DIGEST.test(digest)) throw new HostError('ERR_HOST_BAD_REQUEST')
      const bundle = await evidenceOf(logOf(receiptLog), digest)
      res.status(200).set('Content-Type', 'application/cbor').set('Cache-Control', IMMUTABLE).send(asBuffer(bundle))
    },
  })
  // Express 5 path syntax: `*path` takes the rest of the path, slashes included (`0/x001/234`, `entries/007.p/3`).
  route('/v1/log/tile/*path', {
    get: async (req, res) => {
      const rest = (req.params as { path: string | string[] }).path
      await serveTile(logOf(receiptLog), `tile/${Array.isArray(rest) ? rest.join('/') : rest}`, res)
    },
  })
}
