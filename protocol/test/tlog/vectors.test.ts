/**
 * docs/tlog-vectors.json and docs/tlog-vectors.md hold exactly what the code computes (run scripts/tlog-vectors.ts
 * to refresh them), and every vector checks out against the independent RFC 9162 transcription and plain
 * node:crypto Ed25519, so the published numbers are right, not only stable.
 */
import assert from 'node:assert/strict'
import { createPublicKey, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { openNote, parseCheckpoint, toHex } from '@vouch/protocol'
import {
  computeTlogVectors,
  consistencySize,
  DOC_PATH,
  inclusionIndex,
  JSON_PATH,
  renderTlogJson,
  renderTlogSummary,
  summaryBlock,
  TLOG_VECTOR_INPUTS,
  vectorEntry,
  type TlogVectors,
} from '../../../scripts/tlog-vectors.js'
import { Rfc9162Tree, rfcLeafHash, rfcVerifyConsistency, rfcVerifyInclusion } from './helpers/rfc9162.js'

const vectors = await computeTlogVectors()
const published = JSON.parse(readFileSync(JSON_PATH, 'utf8')) as TlogVectors
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, 'hex'))

test('docs/tlog-vectors.json and the summary in docs/tlog-vectors.md are what the code computes', () => {
  assert.equal(readFileSync(JSON_PATH, 'utf8'), renderTlogJson(vectors))
  assert.equal(summaryBlock(readFileSync(DOC_PATH, 'utf8')), renderTlogSummary(vectors))
  assert.deepEqual(published.trees.map((t) => t.size), [...TLOG_VECTOR_INPUTS.sizes])
})

test('every published tree hash and proof is RFC 9162’s, by the literal transcription', () => {
  const rfc = new Rfc9162Tree(Math.max(...TLOG_VECTOR_INPUTS.sizes), vectorEntry)
  for (const t of published.trees) {
    const root = rfc.mth(0, t.size)
    assert.equal(t.rootHash, toHex(root))
    assert.equal(t.inclusion.index, inclusionIndex(t.size))
    assert.equal(t.inclusion.recordHash, toHex(rfcLeafHash(vectorEntry(t.inclusion.index))))
    assert.deepEqual(t.inclusion.proof, rfc.path(t.inclusion.index, 0, t.size).map(toHex))
    assert.ok(rfcVerifyInclusion(t.inclusion.index, t.size, t.inclusion.proof.map(bytes), root, bytes(t.inclusion.recordHash)))
    assert.equal(t.consistency.oldSize, consistencySize(t.size))
    assert.equal(t.consistency.oldRootHash, toHex(rfc.mth(0, t.consistency.oldSize)))
    if (t.consistency.oldSize < t.size) {
      assert.deepEqual(t.consistency.proof, rfc.proof(t.consistency.oldSize, t.size).map(toHex))
      assert.ok(rfcVerifyConsistency(t.consistency.oldSize, t.size, bytes(t.consistency.oldRootHash), root, t.consistency.proof.map(bytes)))
    } else {
      assert.deepEqual(t.consistency.proof, [])
    }
  }
})

test('every published checkpoint states its tree, and its signed note verifies with node:crypto under the published key', async () => {
  const [, keyId, key] = /^vouch\.test\/tlog-vectors\+([0-9a-f]{8})\+(.+)$/.exec(published.key.verifierKey)!
  const raw = Buffer.from(key!, 'base64')
  assert.equal(raw[0], 0x01)
  // RFC 8032 §7.1 TEST 1's public key, from its seed.
  assert.equal(raw.subarray(1).toString('hex'), 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a')
  const publicKey = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw.subarray(1)]), format: 'der', type: 'spki' })
  for (const t of published.trees) {
    assert.equal(t.checkpoint, `vouch.test/tlog-vectors\n${t.size}\n${Buffer.from(t.rootHash, 'hex').toString('base64')}\n`)
    assert.equal(toHex(parseCheckpoint(t.checkpoint).rootHash), t.rootHash)
    const [text, signatureLine] = t.signedNote.split('\n\n') as [string, string]
    assert.equal(`${text}\n`, t.checkpoint)
    const signature = Buffer.from(signatureLine.replace(/^— vouch\.test\/tlog-vectors /, '').trimEnd(), 'base64')
    assert.equal(signature.subarray(0, 4).toString('hex'), keyId)
    assert.ok(verify(null, Buffer.from(t.checkpoint), publicKey, signature.subarray(4)))
    assert.equal((await openNote(t.signedNote, [published.key.verifierKey])).text, t.checkpoint)
  }
})
