// Computes the transparency-log test vectors with the protocol code: for logs whose entry i is the decimal text of
// i, the tree hash, an inclusion proof, a consistency proof, a checkpoint and its signed note under a published test
// key. Writes docs/tlog-vectors.json, and the summary between the `tlog-vectors` markers of docs/tlog-vectors.md.
// With --check, writes nothing and exits 1 if either is stale; protocol/test/tlog/vectors.test.ts runs the same
// comparison, and checks every vector against an independent RFC 9162 implementation.
// Run: node --conditions=@vouch/source --import tsx scripts/tlog-vectors.ts [--check]
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { vectorBlock } from './protocol-vectors.js'
import {
  formatCheckpoint,
  noteVerifierKey,
  proveRecord,
  proveTree,
  recordHash,
  signNote,
  storedHashesForRecordHashes,
  toHex,
  treeHash,
  type Hash,
} from '../protocol/src/index.js'

/** The fixed inputs. The key is RFC 8032 §7.1 TEST 1's seed: public, for tests only. */
export const TLOG_VECTOR_INPUTS = {
  sizes: [1, 2, 3, 7, 8, 255, 256, 257, 1000, 10000],
  origin: 'vouch.test/tlog-vectors',
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
} as const

/** Entry i of a vector log: the UTF-8 decimal text of i. */
export function vectorEntry(i: number): Uint8Array {
  return new TextEncoder().encode(String(i))
}

/** The record whose inclusion a vector proves: the middle one. */
export const inclusionIndex = (size: number): number => Math.floor(size / 2)
/** The old size a vector's consistency proof starts from: a third of the way (at least 1). */
export const consistencySize = (size: number): number => Math.max(1, Math.floor(size / 3))

export interface TreeVector {
  size: number
  rootHash: string
  inclusion: { index: number; recordHash: string; proof: string[] }
  consistency: { oldSize: number; oldRootHash: string; proof: string[] }
  checkpoint: string
  signedNote: string
}

export interface TlogVectors {
  description: string
  entries: string
  key: { name: string; seed: string; signerKey: string; verifierKey: string }
  trees: TreeVector[]
}

/** The test key's signer and verifier key texts, from the seed. */
export function vectorKeys(): { signerKey: string; verifierKey: string } {
  const seed = Buffer.from(TLOG_VECTOR_INPUTS.seed, 'hex')
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' })
  const verifierKey = noteVerifierKey(TLOG_VECTOR_INPUTS.origin, createPublicKey(privateKey))
  const keyId = verifierKey.split('+')[1]!
  return { signerKey: `PRIVATE+KEY+${TLOG_VECTOR_INPUTS.origin}+${keyId}+${Buffer.concat([Buffer.from([1]), seed]).toString('base64')}`, verifierKey }
}

export async function computeTlogVectors(): Promise<TlogVectors> {
  const largest = Math.max(...TLOG_VECTOR_INPUTS.sizes)
  const stored: Hash[] = []
  const reader = { readHashes: (indexes: readonly number[]) => indexes.map((i) => stored[i]!) }
  const leaves: Hash[] = []
  for (let i = 0; i < largest; i++) leaves.push(recordHash(vectorEntry(i)))
  stored.push(...(await storedHashesForRecordHashes(0, leaves, reader)))
  const keys = vectorKeys()
  const trees: TreeVector[] = []
  for (const size of TLOG_VECTOR_INPUTS.sizes) {
    const root = await treeHash(size, reader)
    const index = inclusionIndex(size)
    const oldSize = consistencySize(size)
    const checkpoint = formatCheckpoint({ origin: TLOG_VECTOR_INPUTS.origin, size, rootHash: root })
    trees.push({
      size,
      rootHash: toHex(root),
      inclusion: { index, recordHash: toHex(leaves[index]!), proof: (await proveRecord(size, index, reader)).map(toHex) },
      consistency: { oldSize, oldRootHash: toHex(await treeHash(oldSize, reader)), proof: (await proveTree(size, oldSize, reader)).map(toHex) },
      checkpoint,
      signedNote: signNote(checkpoint, keys.signerKey),
    })
  }
  return {
    description: 'Vouch transparency-log test vectors (RFC 9162 tree hashes and proofs, C2SP checkpoints and Ed25519 signed notes). Hashes are lower-case hex. Written by scripts/tlog-vectors.ts.',
    entries: 'entry i (0-based) is the UTF-8 decimal text of i: "0", "1", "2", ...; a log of size n holds entries 0 to n-1',
    key: { name: TLOG_VECTOR_INPUTS.origin, seed: TLOG_VECTOR_INPUTS.seed, ...keys },
    trees,
  }
}

/** The JSON file's text. */
export function renderTlogJson(v: TlogVectors): string {
  return `${JSON.stringify(v, null, 2)}\n`
}

/** The markdown between the markers: the key, a table of every tree, and one signed checkpoint in full. */
export function renderTlogSummary(v: TlogVectors): string {
  const last = v.trees.at(-1)!
  return [
    `Test key (RFC 8032 §7.1 TEST 1 seed \`${v.key.seed}\`, for tests only):`,
    '',
    '```',
    v.key.verifierKey,
    v.key.signerKey,
    '```',
    '',
    '| size | tree hash (hex) | inclusion: index, hashes | consistency: from size, hashes |',
    '|---:|---|---:|---:|',
    ...v.trees.map((t) => `| ${t.size} | \`${t.rootHash}\` | ${t.inclusion.index}, ${t.inclusion.proof.length} | ${t.consistency.oldSize}, ${t.consistency.proof.length} |`),
    '',
    `The signed checkpoint of the ${last.size}-entry log:`,
    '',
    '```',
    last.signedNote.trimEnd(),
    '```',
  ].join('\n')
}

export const JSON_PATH = fileURLToPath(new URL('../docs/tlog-vectors.json', import.meta.url))
export const DOC_PATH = fileURLToPath(new URL('../docs/tlog-vectors.md', import.meta.url))
export const BEGIN = '<!-- tlog-vectors:begin (written by scripts/tlog-vectors.ts; do not edit) -->'
export const END = '<!-- tlog-vectors:end -->'

/** The generated part of docs/tlog-vectors.md, or undefined without its markers. */
export function summaryBlock(doc: string): string | undefined {
  return vectorBlock(doc, BEGIN, END)
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const vectors = await computeTlogVectors()
  const json = renderTlogJson(vectors)
  const doc = readFileSync(DOC_PATH, 'utf8')
  const summary = renderTlogSummary(vectors)
  if (process.argv.includes('--check')) {
    const stale = [readFileSync(JSON_PATH, 'utf8') !== json && JSON_PATH, summaryBlock(doc) !== summary && DOC_PATH].filter(Boolean)
    if (stale.length > 0) {
      console.error(`stale: ${stale.join(', ')} (run scripts/tlog-vectors.ts)`)
      process.exit(1)
    }
  } else {
    if (summaryBlock(doc) === undefined) throw new Error(`${DOC_PATH}: the ${BEGIN} and ${END} markers are missing`)
    writeFileSync(JSON_PATH, json)
    writeFileSync(DOC_PATH, `${doc.slice(0, doc.indexOf(BEGIN) + BEGIN.length)}\n${summary}\n${doc.slice(doc.indexOf(END))}`)
    console.log(`wrote ${JSON_PATH} and ${DOC_PATH}`)
  }
}
