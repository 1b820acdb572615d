/**
 * The transparency log's core (protocol/src/tlog), in memory so only the computation is measured: what a host pays
 * per record to integrate a batch (record hash, stored hashes), per proof, and per checkpoint (sign, open), on a log
 * of 1,000,000 records. Storage (SQLite, PostgreSQL) adds its own cost on top: bench/receipt-log.bench.ts measures that.
 */
import {
  checkRecord,
  checkTree,
  formatCheckpoint,
  generateNoteKey,
  openNote,
  proveRecord,
  proveTree,
  recordHash,
  signNote,
  storedHashesForRecordHashes,
  treeHash,
  type Hash,
} from '@vouch/protocol'
import { measure, ms, type Timing } from './lib/measure.js'

const SIZE = 1_000_000
const RECORD = new Uint8Array(1200).fill(0x5a) // about one receipt (JWS) and its framing

/** A log in memory: its stored hashes, appended batch by batch. */
async function buildLog(size: number): Promise<{ hashes: Hash[]; readHashes: (indexes: readonly number[]) => Hash[] }> {
  const hashes: Hash[] = []
  const log = { hashes, readHashes: (indexes: readonly number[]) => indexes.map((i) => hashes[i]!) }
  for (let n = 0; n < size; n += 4096) {
    const batch = Array.from({ length: Math.min(4096, size - n) }, (_, i) => recordHash(new TextEncoder().encode(String(n + i))))
    hashes.push(...(await storedHashesForRecordHashes(n, batch, log)))
  }
  return log
}

const us = (t: Timing, per = 1): string => ((t.median * 1000) / per).toFixed(1)

/** Runs the scenario; returns the markdown section for docs/benchmarks.md. */
export async function benchTlog(log: (line: string) => void): Promise<string> {
  const store = await buildLog(SIZE)
  const rows: string[] = []
  const row = (what: string, t: Timing, per = 1): void => {
    log(`tlog ${what}: ${us(t, per)} µs`)
    rows.push(`| ${what} | ${us(t, per)} | ${ms(t.p99 / per)} |`)
  }
  for (const batch of [1, 16, 256]) {
    const records = Array.from({ length: batch }, () => RECORD)
    // Integrating the batch that follows the log, as the host does: the read is of the log as it stands.
    const t = await measure(async () => storedHashesForRecordHashes(SIZE, records.map(recordHash), store), { runs: Math.max(200, 20_000 / batch) })
    row(`integrate a batch of ${batch}, per record (record hash and stored hashes)`, t, batch)
  }
  const th = await treeHash(SIZE, store)
  row('tree hash', await measure(() => treeHash(SIZE, store), { runs: 5000 }))
  const n = 777_777
  const proof = await proveRecord(SIZE, n, store)
  const leaf = recordHash(new TextEncoder().encode(String(n)))
  row('inclusion proof: prove', await measure(() => proveRecord(SIZE, n, store), { runs: 5000 }))
  row('inclusion proof: check', await measure(() => checkRecord(proof, SIZE, th, n, leaf), { runs: 5000 }))
  const m = 333_333
  const oh = await treeHash(m, store)
  const consistency = await proveTree(SIZE, m, store)
  row('consistency proof: prove', await measure(() => proveTree(SIZE, m, store), { runs: 5000 }))
  row('consistency proof: check', await measure(() => checkTree(consistency, SIZE, th, m, oh), { runs: 5000 }))
  const keys = generateNoteKey('bench.example/log')
  const checkpoint = formatCheckpoint({ origin: 'bench.example/log', size: SIZE, rootHash: th })
  const note = signNote(checkpoint, keys.signerKey)
  row('checkpoint: format and sign', await measure(() => signNote(formatCheckpoint({ origin: 'bench.example/log', size: SIZE, rootHash: th }), keys.signerKey), { runs: 2000 }))
  row('checkpoint: open (verify)', await measure(() => openNote(note, [keys.verifierKey]), { runs: 2000 }))
  return `## Transparency log core (\`bench/tlog.bench.ts\`)

The pure code a host runs per answer and per checkpoint, on a log of ${SIZE.toLocaleString('en')} records kept in
memory (so storage is not in these figures), records of ${RECORD.length} bytes. Integration is the record hash and
the stored hashes a batch appends, per record; proofs are of record ${n.toLocaleString('en')} and from size
${m.toLocaleString('en')}. Microseconds.

| operation | median µs | p99 ms |
|---|---:|---:|
${rows.join('\n')}
`
}
