/**
 * Lines and columns of text files: the same numbers as the `yaml` package's LineCounter (which the policy, manifest
 * and configuration readers used before) on every offset of texts that stress it, and file issues formatted as
 * `file:line:column: field: message`.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { LineCounter, Parser } from 'yaml'
import { createFileIssueList, formatFileIssues, textPositions } from '@vouch/protocol'

const TEXTS: Array<{ name: string; text: string }> = [
  { name: 'LF', text: 'a: 1\nb: 2\n' },
  { name: 'CRLF', text: 'a: 1\r\nb: 2\r\n' },
  { name: 'a lone CR, which ends no line', text: 'a: "x\ry"\rb: 2' },
  { name: 'a literal block scalar', text: 'k: |\n  line1\n  line2\nz: 3\n' },
  { name: 'a folded scalar and a multi-line quoted one', text: "k: >-\n  a\n\n  b\nq: 'x\n  y'\n" },
  { name: 'comments, flow collections and several documents', text: '# c\n---\na: [1,\n 2]\n...\n---\nb: 1\n' },
  { name: 'characters beyond the BMP', text: 'é: "😀\n"\nx: 1' },
  { name: 'empty', text: '' },
  { name: 'only newlines', text: '\n\n\n' },
  { name: 'no newline', text: 'no newline' },
]

describe('textPositions', () => {
  for (const { name, text } of TEXTS) {
    test(`counts as the yaml LineCounter does: ${name}`, () => {
      const counter = new LineCounter()
      for (const _ of new Parser(counter.addNewLine).parse(text));
      const position = textPositions(text)
      for (let offset = 0; offset <= text.length + 2; offset++) {
        const { line, col } = counter.linePos(offset)
        assert.deepEqual(position(offset), { line, column: col }, `offset ${offset}`)
      }
    })
  }

  test('a negative offset is at 1:1', () => {
    assert.deepEqual(textPositions('a\nb')(-5), { line: 1, column: 1 })
  })
})

describe('file issues', () => {
  test('are located from offsets, in the order added, and formatted one a line', () => {
    const list = createFileIssueList('p.yaml', 'version: 1\nname: x\n')
    list.add(11, 'name', 'must be longer')
    list.add(0, '', 'invalid YAML: oops')
    assert.deepEqual(list.issues, [
      { file: 'p.yaml', line: 2, column: 1, field: 'name', message: 'must be longer' },
      { file: 'p.yaml', line: 1, column: 1, field: '', message: 'invalid YAML: oops' },
    ])
    assert.deepEqual(list.position(14), { line: 2, column: 4 })
    assert.equal(formatFileIssues(list.issues), 'p.yaml:2:1: name: must be longer\np.yaml:1:1: invalid YAML: oops')
  })
})
