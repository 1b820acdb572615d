/** Checkpoints (C2SP tlog-checkpoint): the spec's example, round trips, and strict parsing that names the line. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { formatCheckpoint, parseCheckpoint, toHex, type Hash, type ProtocolError } from '@vouch/protocol'

const code = (expected: string) => (e: ProtocolError) => e.code === expected
const SPEC = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'
const HASH = new Uint8Array(Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64'))

describe('formatCheckpoint and parseCheckpoint', () => {
  test('the spec’s example, both ways', () => {
    const checkpoint = parseCheckpoint(SPEC)
    assert.equal(checkpoint.origin, 'example.com/behind-the-sofa')
    assert.equal(checkpoint.size, 20_852_163)
    assert.equal(toHex(checkpoint.rootHash), toHex(HASH))
    assert.deepEqual(checkpoint.extensions, [])
    assert.equal(formatCheckpoint(checkpoint), SPEC)
  })

  test('round trips: size 0 and 2^53 − 1, extension lines, an origin in any script', () => {
    for (const c of [
      { origin: 'a', size: 0, rootHash: HASH, extensions: [] },
      { origin: 'log.example/x', size: 2 ** 53 - 1, rootHash: new Uint8Array(32), extensions: ['ext one', '— two'] },
      { origin: 'journal.exemple/é ünïcødé', size: 7, rootHash: HASH, extensions: [] },
    ]) {
      const text = formatCheckpoint(c)
      assert.ok(text.endsWith('\n'))
      const back = parseCheckpoint(text)
      assert.deepEqual({ ...back, rootHash: toHex(back.rootHash) }, { ...c, rootHash: toHex(c.rootHash) })
      assert.equal(formatCheckpoint(back), text)
    }
  })

  test('parsing refuses every other spelling: ERR_TLOG_MALFORMED, naming the line', () => {
    const lines = SPEC.split('\n')
    const cases: Array<[string, RegExp]> = [
      [SPEC.slice(0, -1), /newline/],
      ['example.com\n5\n', /3 lines/],
      ['\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n', /line 1/],
      [SPEC.replace('20852163', '020852163'), /line 2/],
      [SPEC.replace('20852163', '+20852163'), /line 2/],
      [SPEC.replace('20852163', '-1'), /line 2/],
      [SPEC.replace('20852163', '1.0'), /line 2/],
      [SPEC.replace('20852163', ' 20852163'), /line 2/],
      [SPEC.replace('20852163', '9007199254740992'), /line 2/],
      [SPEC.replace('20852163', '1e3'), /line 2/],
      [SPEC.replace('20852163', ''), /line 2/],
      [SPEC.replace('=', ''), /line 3/],
      [SPEC.replace('CsUY', 'CsU_'), /line 3/],
      [SPEC.replace('q2I=', 'q2J='), /line 3/], // unused bits set: not canonical
      [`${lines[0]}\n${lines[1]}\n${Buffer.alloc(31).toString('base64')}\n`, /line 3/],
      [`${lines[0]}\n${lines[1]}\n${Buffer.from(HASH).toString('hex')}\n`, /line 3/],
      [`${SPEC}\n`, /line 4/],
      [`${SPEC}ext\n\n`, /line 5/],
      [SPEC.replace('\n', '\r\n'), /line 1/],
      [SPEC.replace('example', 'exa\tmple'), /line 1/],
      [`${SPEC}ext\u0000\n`, /line 4/],
    ]
    for (const [text, line] of cases) {
      assert.throws(() => parseCheckpoint(text), (e: ProtocolError) => code('ERR_TLOG_MALFORMED')(e) && line.test(e.message), JSON.stringify(text))
    }
    assert.throws(() => parseCheckpoint(7 as unknown as string), code('ERR_TLOG_MALFORMED'))
  })

  test('formatting refuses what cannot be a checkpoint line: ERR_TLOG_MALFORMED', () => {
    const good = { origin: 'o', size: 1, rootHash: HASH }
    for (const bad of [
      { ...good, origin: '' },
      { ...good, origin: 'a\nb' },
      { ...good, origin: 'a\rb' },
      { ...good, size: -1 },
      { ...good, size: 1.5 },
      { ...good, size: 2 ** 53 },
      { ...good, rootHash: HASH.subarray(1) },
      { ...good, rootHash: 'hash' as unknown as Hash },
      { ...good, extensions: [''] },
      { ...good, extensions: ['x\ny'] },
      { ...good, extensions: [7 as unknown as string] },
      { ...good, extensions: 'ext' as unknown as string[] },
    ]) {
      assert.throws(() => formatCheckpoint(bad), code('ERR_TLOG_MALFORMED'), JSON.stringify(bad))
    }
  })
})
