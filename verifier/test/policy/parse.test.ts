import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { PolicyError } from '../../src/errors.js'
import { MAX_POLICY_ALIAS_VALUES, MAX_POLICY_BYTES, MAX_POLICY_DEPTH, PolicyInvalidError, formatPolicyIssues, lintPolicy, parsePolicy } from '../../src/policy/parse.js'
import { policySchema } from '../../src/policy/schema.js'
import type { PolicyIssue } from '../../src/policy/types.js'
import { POLICY_VALIDATOR_PATH, toPolicyValidatorSource } from '../../../scripts/policy-validator-source.js'
import { ALIAS_BOMB, deepBlock, deepFlow } from '../helpers/hostile-yaml.js'

const M1 = 'AB'.repeat(48)
const M2 = '0123456789abcdef'.repeat(6)

// Line numbers in the cases below refer to this text.
const BASE = [
  'version: 1', // 1
  'name: test', // 2
  'allowSimulated: false', // 3
  'sevSnp:', // 4
  '  allowedProducts: [Milan, Genoa, Turin]', // 5
  '  allowedSigningKeys: [VCEK, VLEK]', // 6
  '  allowDebug: false', // 7
  '  allowMigrationAgent: false', // 8
  '  requireCrl: true', // 9
  '  measurements:', // 10
  `    - ${M1}`, // 11
  `    - ${M2}`, // 12
  '  minimumTcb:', // 13
  '    Milan: { bootloader: 4, tee: 0, snp: 24, microcode: 219 }', // 14
  '    Genoa: { bootloader: 10, tee: 0, snp: 23, microcode: 84 }', // 15
  '    Turin: { fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 }', // 16
  '',
].join('\n')

const BASE_JSON = `{
  "version": 1,
  "name": "test",
  "allowSimulated": false,
  "sevSnp": {
    "allowedProducts": ["Milan"],
    "allowedSigningKeys": ["VCEK"],
    "allowDebug": false,
    "allowMigrationAgent": false,
    "requireCrl": true,
    "measurements": ["${M1}"]
  }
}
`

/** BASE with one exact piece of text replaced; fails loudly if the piece is not there, so cases cannot go stale. */
function edit(from: string, to: string, text = BASE): string {
  assert.ok(text.includes(from), `test text does not contain ${JSON.stringify(from)}`)
  return text.replace(from, to)
}

function policyFile(name: string): string {
  return readFileSync(new URL(`../../../policies/${name}`, import.meta.url), 'utf8')
}

interface InvalidCase {
  name: string
  text: string
  file?: string
  wantField: string
  wantLine: number
  wantColumn?: number
  wantMessageIncludes?: string
  /** The exact number of issues, where the case must not produce noise beside the real problem. */
  wantCount?: number
}

const invalid: InvalidCase[] = [
  {
    name: 'unknown top-level key',
    text: edit('name: test', 'name: test\nnam: typo'),
    wantField: 'nam',
    wantLine: 3,
    wantColumn: 1,
    wantMessageIncludes: 'unknown key "nam" (did you mean "name"?)',
    wantCount: 1,
  },
  {
    name: 'unknown nested key, with a suggestion',
    text: edit('  allowDebug: false', '  allowDebug: false\n  allowDbug: false'),
    wantField: 'sevSnp.allowDbug',
    wantLine: 8,
    wantColumn: 3,
    wantMessageIncludes: 'unknown key "allowDbug" (did you mean "allowDebug"?)',
    wantCount: 1,
  },
  {
    name: 'a rule written at the wrong level says where it belongs',
    text: edit('name: test', 'name: test\nallowDebug: false'),
    wantField: 'allowDebug',
    wantLine: 3,
    wantMessageIncludes: 'belongs in sevSnp',
  },
  {
    name: 'misspelt rule: unknown key and the missing required rule, each once',
    text: edit('  allowDebug: false', '  allowDbug: false'),
    wantField: 'sevSnp.allowDebug',
    wantLine: 4,
    wantMessageIncludes: 'missing required key "allowDebug"',
    wantCount: 2,
  },
  {
    name: 'wrong type: YAML 1.2 "no" is a string',
    text: edit('  allowDebug: false', '  allowDebug: no'),
    wantField: 'sevSnp.allowDebug',
    wantLine: 7,
    wantColumn: 15,
    wantMessageIncludes: 'must be a boolean, got string "no"',
    wantCount: 1,
  },
  {
    name: 'wrong type: a list where a mapping belongs',
    text: edit('sevSnp:\n  allowedProducts', 'sevSnp: []\nx:\n  allowedProducts'),
    wantField: 'sevSnp',
    wantLine: 4,
    wantMessageIncludes: 'must be a mapping, got a list',
  },
  {
    name: 'empty section',
    text: 'version: 1\nname: test\nallowSimulated: false\nsevSnp:\n',
    wantField: 'sevSnp',
    wantLine: 4,
    wantMessageIncludes: 'must be a mapping, got an empty value',
    wantCount: 1,
  },
  {
    name: 'measurement too short',
    text: edit(`    - ${M2}`, '    - abc'),
    wantField: 'sevSnp.measurements[1]',
    wantLine: 12,
    wantColumn: 7,
    wantMessageIncludes: 'must be 96 hex characters (a 48-byte MEASUREMENT), got "abc"',
    wantCount: 1,
  },
  {
    name: 'measurement with a non-hex character',
    text: edit(`    - ${M2}`, `    - ${M2.slice(0, 95)}g`),
    wantField: 'sevSnp.measurements[1]',
    wantLine: 12,
    wantMessageIncludes: 'non-hex character "g" at position 96',
    wantCount: 1,
  },
  {
    name: 'hex that YAML reads as a number',
    text: edit('  requireCrl: true', `  requireCrl: true\n  hostData: [${'0'.repeat(64)}]`),
    wantField: 'sevSnp.hostData[0]',
    wantLine: 10,
    wantMessageIncludes: 'must be 64 hex characters (a 32-byte HOST_DATA), got number 0 (put it in quotes)',
    wantCount: 1,
  },
  {
    name: 'the same measurement twice, in different case',
    text: edit(`    - ${M2}`, `    - ${M1.toLowerCase()}`),
    wantField: 'sevSnp.measurements[1]',
    wantLine: 12,
    wantMessageIncludes: 'listed twice',
    wantCount: 1,
  },
  {
    name: 'bad chip id length',
    text: edit('  requireCrl: true', '  requireCrl: true\n  chipIds: ["0123"]'),
    wantField: 'sevSnp.chipIds[0]',
    wantLine: 10,
    wantMessageIncludes: 'or 16 (the 8-byte ID of a Turin chip)',
  },
  {
    name: 'missing required rule in a section',
    text: edit('  allowDebug: false\n', ''),
    wantField: 'sevSnp.allowDebug',
    wantLine: 4,
    wantColumn: 1,
    wantMessageIncludes: 'missing required key "allowDebug"',
    wantCount: 1,
  },
  {
    name: 'missing required top-level rule',
    text: edit('allowSimulated: false\n', ''),
    wantField: 'allowSimulated',
    wantLine: 1,
    wantColumn: 1,
    wantMessageIncludes: 'missing required key "allowSimulated"',
    wantCount: 1,
  },
  {
    name: 'unsupported version',
    text: edit('version: 1', 'version: 2'),
    wantField: 'version',
    wantLine: 1,
    wantMessageIncludes: 'must be 1, got number 2',
    wantCount: 1,
  },
  {
    name: 'version of the wrong type is one problem, not two',
    text: edit('version: 1', 'version: "1"'),
    wantField: 'version',
    wantLine: 1,
    wantMessageIncludes: 'must be an integer, got string "1"',
    wantCount: 1,
  },
  {
    name: 'duplicate key',
    text: edit('  allowMigrationAgent: false', '  allowMigrationAgent: false\n  allowDebug: true'),
    wantField: 'sevSnp.allowDebug',
    wantLine: 9,
    wantColumn: 3,
    wantMessageIncludes: 'duplicate key "allowDebug" (first written at line 7)',
    wantCount: 1,
  },
  {
    name: 'YAML syntax error',
    text: edit('  allowedProducts: [Milan, Genoa, Turin]', '  allowedProducts: [Milan, Genoa, Turin'),
    wantField: '',
    wantLine: 6,
    wantMessageIncludes: 'invalid YAML',
    wantCount: 1,
  },
  {
    name: 'two YAML documents',
    text: `${BASE}---\n${BASE}`,
    wantField: '',
    wantLine: 17,
    wantMessageIncludes: 'one YAML document',
  },
  {
    name: 'empty file',
    text: '# nothing but a comment\n',
    wantField: '',
    wantLine: 1,
    wantMessageIncludes: 'the policy is empty',
    wantCount: 1,
  },
  {
    name: 'JSON syntax error gets its line',
    file: 'policy.json',
    text: edit('"name": "test",', '"name": "test"', BASE_JSON),
    wantField: '',
    wantLine: 4,
    wantMessageIncludes: 'invalid JSON',
    wantCount: 1,
  },
  {
    name: 'JSON trailing comma is an error even though YAML would accept it',
    file: 'policy.json',
    text: edit(`"measurements": ["${M1}"]`, `"measurements": ["${M1}"],`, BASE_JSON),
    wantField: '',
    wantLine: 12,
    wantMessageIncludes: 'invalid JSON',
  },
  {
    name: 'JSON policy with a schema error gets the right line',
    file: 'policy.json',
    text: edit('"allowDebug": false', '"allowDebug": "false"', BASE_JSON),
    wantField: 'sevSnp.allowDebug',
    wantLine: 8,
    wantColumn: 19,
    wantMessageIncludes: 'must be a boolean, got string "false"',
    wantCount: 1,
  },
  {
    name: 'fmc on Milan',
    text: edit('Milan: { bootloader: 4,', 'Milan: { fmc: 0, bootloader: 4,'),
    wantField: 'sevSnp.minimumTcb.Milan.fmc',
    wantLine: 14,
    wantColumn: 14,
    wantMessageIncludes: 'Milan and Genoa have no FMC component',
    wantCount: 1,
  },
  {
    name: 'missing fmc on Turin',
    text: edit('Turin: { fmc: 0, ', 'Turin: { '),
    wantField: 'sevSnp.minimumTcb.Turin.fmc',
    wantLine: 16,
    wantColumn: 5,
    wantMessageIncludes: 'missing required key "fmc"',
    wantCount: 1,
  },
  {
    name: 'TCB component out of range',
    text: edit('microcode: 219', 'microcode: 256'),
    wantField: 'sevSnp.minimumTcb.Milan.microcode',
    wantLine: 14,
    wantMessageIncludes: 'must be at most 255, got number 256',
    wantCount: 1,
  },
  {
    name: 'allowed product without a TCB floor',
    text: edit('    Turin: { fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 }\n', ''),
    wantField: 'sevSnp.minimumTcb.Turin',
    wantLine: 13,
    wantMessageIncludes: 'no floor for "Turin"',
    wantCount: 1,
  },
  {
    name: 'firmware version that is not MAJOR.MINOR.BUILD',
    text: edit(
      '  requireCrl: true',
      '  requireCrl: true\n  minimumFirmware: { Milan: "1.55.21", Genoa: "1.55", Turin: "1.0.0" }',
    ),
    wantField: 'sevSnp.minimumFirmware.Genoa',
    wantLine: 10,
    wantMessageIncludes: 'must be a firmware version "MAJOR.MINOR.BUILD"',
    wantCount: 1,
  },
  {
    name: 'empty allowedProducts',
    text: edit('[Milan, Genoa, Turin]', '[]'),
    wantField: 'sevSnp.allowedProducts',
    wantLine: 5,
    wantColumn: 20,
    wantMessageIncludes: 'must not be empty',
    wantCount: 1,
  },
  {
    name: 'unknown product name',
    text: edit('[Milan, Genoa, Turin]', '[Milan, Rome]'),
    wantField: 'sevSnp.allowedProducts[1]',
    wantLine: 5,
    wantColumn: 28,
    wantMessageIncludes: 'must be one of "Milan", "Genoa", "Turin", got string "Rome"',
    wantCount: 1,
  },
  {
    name: 'product name in the wrong case',
    text: edit('[Milan, Genoa, Turin]', '[milan, Genoa, Turin]'),
    wantField: 'sevSnp.allowedProducts[0]',
    wantLine: 5,
    wantMessageIncludes: 'did you mean "Milan"?',
    wantCount: 1,
  },
  {
    name: 'repeated signing key',
    text: edit('[VCEK, VLEK]', '[VCEK, VCEK]'),
    wantField: 'sevSnp.allowedSigningKeys[1]',
    wantLine: 6,
    wantMessageIncludes: 'listed twice',
    wantCount: 1,
  },
  {
    name: 'VMPL out of range',
    text: edit('  requireCrl: true', '  requireCrl: true\n  allowedVmpls: [0, 4]'),
    wantField: 'sevSnp.allowedVmpls[1]',
    wantLine: 10,
    wantMessageIncludes: 'must be at most 3, got number 4',
    wantCount: 1,
  },
  {
    name: 'unknown guest policy flag',
    text: edit('  requireCrl: true', '  requireCrl: true\n  requireGuestPolicy: [singleSocket, smt]'),
    wantField: 'sevSnp.requireGuestPolicy[1]',
    wantLine: 10,
    wantMessageIncludes: 'must be one of',
    wantCount: 1,
  },
  {
    name: 'fleet.minEnclaves below 1',
    text: `${BASE}fleet:\n  minEnclaves: 0\n`,
    wantField: 'fleet.minEnclaves',
    wantLine: 18,
    wantColumn: 16,
    wantMessageIncludes: 'must be at least 1, got number 0',
    wantCount: 1,
  },
  {
    name: 'fleet.minEnclaves above what one attestation document holds',
    text: `${BASE}fleet:\n  minEnclaves: 65\n`,
    wantField: 'fleet.minEnclaves',
    wantLine: 18,
    wantMessageIncludes: 'must be at most 64, got number 65',
    wantCount: 1,
  },
  {
    name: 'fleet.minEnclaves not an integer',
    text: `${BASE}fleet:\n  minEnclaves: "3"\n`,
    wantField: 'fleet.minEnclaves',
    wantLine: 18,
    wantMessageIncludes: 'must be an integer, got string "3"',
    wantCount: 1,
  },
  {
    name: 'a misspelt fleet rule',
    text: `${BASE}fleet:\n  minEnclave: 3\n`,
    wantField: 'fleet.minEnclave',
    wantLine: 18,
    wantColumn: 3,
    wantMessageIncludes: 'unknown key "minEnclave" (did you mean "minEnclaves"?)',
    wantCount: 1,
  },
  {
    name: 'unknown alias',
    text: edit('[VCEK, VLEK]', '*keys'),
    wantField: '',
    wantLine: 6,
    wantMessageIncludes: 'unknown alias "*keys"',
    wantCount: 1,
  },
]

describe('parsePolicy', () => {
  describe('rejects an invalid policy with the field, line and a plain message', () => {
    for (const c of invalid) {
      it(c.name, () => {
        const file = c.file ?? 'policies/test.yaml'
        const error = captureInvalid(() => parsePolicy(c.text, file))
        const issues = error.issues
        const hit = issues.find((i) => i.field === c.wantField && i.line === c.wantLine)
        const got = formatPolicyIssues(issues)
        assert.ok(hit, `no issue for ${c.wantField || '(file)'} at line ${c.wantLine}; got:\n${got}`)
        assert.equal(hit.file, file)
        if (c.wantColumn !== undefined) assert.equal(hit.column, c.wantColumn, formatPolicyIssues([hit]))
        if (c.wantMessageIncludes !== undefined) {
          assert.ok(hit.message.includes(c.wantMessageIncludes), `message: ${hit.message}`)
        }
        if (c.wantCount !== undefined) assert.equal(issues.length, c.wantCount, formatPolicyIssues(issues))
        assert.deepEqual(lintPolicy(c.text, file), issues)
      })
    }
  })

  it('throws a PolicyError with code ERR_POLICY_INVALID whose message lists every issue', () => {
    const text = edit('  allowDebug: false', '  allowDebug: maybe\n  allowDbug: false')
    const error = captureInvalid(() => parsePolicy(text, 'policies/x.yaml'))
    assert.ok(error instanceof PolicyError)
    assert.equal(error.code, 'ERR_POLICY_INVALID')
    assert.equal(error.name, 'PolicyInvalidError')
    assert.equal(error.issues.length, 2)
    assert.equal(error.message, formatPolicyIssues(error.issues))
    assert.deepEqual(error.message.split('\n'), [
      'policies/x.yaml:7:15: sevSnp.allowDebug: must be a boolean, got string "maybe" (write true or false)',
      'policies/x.yaml:8:3: sevSnp.allowDbug: unknown key "allowDbug" (did you mean "allowDebug"?)',
    ])
  })

  it('formats a whole-file issue without a field', () => {
    const issue: PolicyIssue = { file: 'a.yaml', line: 3, column: 1, field: '', message: 'invalid YAML: x' }
    assert.equal(formatPolicyIssues([issue]), 'a.yaml:3:1: invalid YAML: x')
  })

  it('loads a valid policy, normalising hex to lower case and filling in allowStaleCrl', () => {
    const policy = parsePolicy(BASE, 'policies/test.yaml')
    assert.equal(policy.version, 1)
    assert.equal(policy.name, 'test')
    assert.equal(policy.allowSimulated, false)
    assert.deepEqual(policy.source, { file: 'policies/test.yaml' })
    const sev = policy.sevSnp
    assert.ok(sev)
    assert.deepEqual(sev.measurements, [M1.toLowerCase(), M2])
    assert.equal(sev.allowStaleCrl, false)
    assert.equal(sev.allowSmt, undefined)
    assert.equal('allowSmt' in sev, false)
    assert.deepEqual(sev.minimumTcb?.Turin, { fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 })
    assert.deepEqual(sev.minimumTcb?.Milan, { bootloader: 4, tee: 0, snp: 24, microcode: 219 })
    assert.ok(Object.isFrozen(policy))
    assert.ok(Object.isFrozen(sev.measurements))
    assert.ok(Object.isFrozen(sev.minimumTcb?.Milan))
  })

  it('normalises every hex rule and parses firmware versions', () => {
    const text = edit(
      '  requireCrl: true',
      [
        '  requireCrl: true',
        `  hostData: ["${'CD'.repeat(32)}"]`,
        `  reportData: "${'EF'.repeat(64)}"`,
        `  idKeyDigests: ["${'0A'.repeat(48)}"]`,
        `  authorKeyDigests: ["${'0B'.repeat(48)}"]`,
        `  chipIds: ["${'0C'.repeat(64)}", "${'0D'.repeat(8)}"]`,
        '  minimumFirmware: { Milan: "1.55.21", Genoa: "1.55.0", Turin: "1.0.255" }',
        '  minimumAbi: { major: 1, minor: 51 }',
        '  allowedVmpls: [0]',
        '  minimumGuestSvn: 3',
        '  requireGuestPolicy: [singleSocket]',
        '  allowSmt: true',
        '  allowStaleCrl: true',
        '  allowProvisionalFirmware: false',
      ].join('\n'),
    )
    const sev = parsePolicy(text, 'p.yaml').sevSnp
    assert.ok(sev)
    assert.deepEqual(sev.hostData, ['cd'.repeat(32)])
    assert.equal(sev.reportData, 'ef'.repeat(64))
    assert.deepEqual(sev.idKeyDigests, ['0a'.repeat(48)])
    assert.deepEqual(sev.authorKeyDigests, ['0b'.repeat(48)])
    assert.deepEqual(sev.chipIds, ['0c'.repeat(64), '0d'.repeat(8)])
    assert.deepEqual(sev.minimumFirmware, {
      Milan: { major: 1, minor: 55, build: 21 },
      Genoa: { major: 1, minor: 55, build: 0 },
      Turin: { major: 1, minor: 0, build: 255 },
    })
    assert.deepEqual(sev.minimumAbi, { major: 1, minor: 51 })
    assert.deepEqual(sev.allowedVmpls, [0])
    assert.equal(sev.minimumGuestSvn, 3)
    assert.deepEqual(sev.requireGuestPolicy, ['singleSocket'])
    assert.equal(sev.allowSmt, true)
    assert.equal(sev.allowStaleCrl, true)
    assert.equal(sev.allowProvisionalFirmware, false)
  })

  it('locates fields, falling back to the nearest written ancestor', () => {
    const policy = parsePolicy(BASE, 'p.yaml')
    assert.deepEqual(policy.locate('sevSnp.measurements'), { line: 10, column: 3 })
    assert.deepEqual(policy.locate('sevSnp.measurements[1]'), { line: 12, column: 7 })
    assert.deepEqual(policy.locate('sevSnp.minimumTcb.Turin.fmc'), { line: 16, column: 14 })
    assert.deepEqual(policy.locate('sevSnp.allowSmt'), { line: 4, column: 1 })
    assert.equal(policy.locate('nvidiaGpu'), undefined)
  })

  it('loads a JSON policy', () => {
    const policy = parsePolicy(BASE_JSON, 'policies/test.json')
    assert.deepEqual(policy.sevSnp?.measurements, [M1.toLowerCase()])
    assert.deepEqual(policy.locate('sevSnp.allowDebug'), { line: 8, column: 5 })
  })

  it('fills in fleet.minEnclaves as 1 when the file leaves it out, and reads it when written', () => {
    assert.deepEqual(parsePolicy(BASE, 'p.yaml').fleet, { minEnclaves: 1 })
    assert.deepEqual(parsePolicy(`${BASE}fleet: {}\n`, 'p.yaml').fleet, { minEnclaves: 1 })
    const policy = parsePolicy(`${BASE}fleet:\n  minEnclaves: 3\n`, 'p.yaml')
    assert.deepEqual(policy.fleet, { minEnclaves: 3 })
    assert.deepEqual(policy.locate('fleet.minEnclaves'), { line: 18, column: 3 })
  })

  it('accepts a $schema key for editors', () => {
    const text = edit('{\n', '{\n  "$schema": "./policy.schema.json",\n', BASE_JSON)
    assert.equal(parsePolicy(text, 'p.json').name, 'test')
  })
})

// Issue 10, item 5: a hostile policy file costs no more than parsing 1 MiB. Without these bounds the alias bomb ran
// for over a minute and 3 GB, and deep nesting killed the process (a stack overflow inside V8's RegExp compiler).
describe('parsePolicy bounds what a policy may cost', { timeout: 20_000 }, () => {
  const onlyIssue = (text: string): PolicyIssue => {
    const { issues } = captureInvalid(() => parsePolicy(text, 'hostile.yaml'))
    assert.equal(issues.length, 1, formatPolicyIssues(issues))
    return issues[0]!
  }

  it('refuses the 329-byte alias bomb at the alias that expands too far', () => {
    assert.equal(Buffer.byteLength(ALIAS_BOMB), 329)
    const issue = onlyIssue(ALIAS_BOMB)
    assert.deepEqual({ line: issue.line, field: issue.field }, { line: 8, field: 'e[0]' })
    assert.match(issue.message, new RegExp(`aliases here expand the policy by more than ${MAX_POLICY_ALIAS_VALUES} values`))
  })

  it('counts every value aliases add, up to the limit', () => {
    // 101 values behind one anchor: n aliases to it add 101·n.
    const aliases = (n: number): string => `${BASE}x: &x [${Array(100).fill(1).join(',')}]\ny: [${Array(n).fill('*x').join(',')}]\n`
    const under = captureInvalid(() => parsePolicy(aliases(Math.floor(MAX_POLICY_ALIAS_VALUES / 101)), 'p.yaml')).issues
    assert.ok(under.every((i) => !i.message.includes('aliases')), formatPolicyIssues(under))
    assert.match(onlyIssue(aliases(Math.floor(MAX_POLICY_ALIAS_VALUES / 101) + 1)).message, /aliases here expand/)
  })

  it('still follows aliases a policy uses to repeat itself, locating fields at the anchor', () => {
    const text = edit('    Genoa: { bootloader: 10, tee: 0, snp: 23, microcode: 84 }', '    Genoa: &floor { bootloader: 10, tee: 0, snp: 23, microcode: 84 }').replace(
      '    Milan: { bootloader: 4, tee: 0, snp: 24, microcode: 219 }',
      '    Milan: *floor',
    )
    // The alias comes before its anchor here, so swap the two lines back into order.
    const ordered = text.replace(/( {4}Milan: \*floor\n)( {4}Genoa: [^\n]*\n)/, '$2$1')
    const policy = parsePolicy(ordered, 'p.yaml')
    assert.deepEqual(policy.sevSnp?.minimumTcb?.Milan, policy.sevSnp?.minimumTcb?.Genoa)
    assert.equal(policy.locate('sevSnp.minimumTcb.Milan.snp')?.line, 14)
  })

  for (const [name, text] of [
    ['flow lists', deepFlow(10_000)],
    ['block lists', deepBlock(10_000)],
  ] as const) {
    it(`refuses ${name} nested deeper than ${MAX_POLICY_DEPTH} levels, before composing them`, () => {
      assert.match(onlyIssue(text).message, new RegExp(`nested more than ${MAX_POLICY_DEPTH} levels deep`))
    })
  }

  it('parses nesting up to the limit as usual', () => {
    // The top-level mapping is one level; `version` holds the rest.
    const { issues } = captureInvalid(() => parsePolicy(deepFlow(MAX_POLICY_DEPTH - 1), 'p.yaml'))
    assert.ok(issues.some((i) => i.field === 'version' && /must be an integer, got a list/.test(i.message)), formatPolicyIssues(issues))
    assert.match(onlyIssue(deepFlow(MAX_POLICY_DEPTH)).message, /nested more than/)
  })

  it(`refuses text over ${MAX_POLICY_BYTES} bytes before parsing it, and takes a policy of exactly that size`, () => {
    const padded = (bytes: number): string => `${BASE}#${'x'.repeat(bytes - Buffer.byteLength(BASE) - 2)}\n`
    assert.equal(parsePolicy(padded(MAX_POLICY_BYTES), 'p.yaml').name, 'test')
    const issue = onlyIssue(padded(MAX_POLICY_BYTES + 1))
    assert.equal(issue.message, `a policy is at most ${MAX_POLICY_BYTES} bytes, and this one holds ${MAX_POLICY_BYTES + 1}`)
  })
})

describe('shipped policies', () => {
  it('production loads and is strict', () => {
    const policy = parsePolicy(policyFile('production.yaml'), 'policies/production.yaml')
    assert.equal(policy.name, 'production')
    assert.equal(policy.allowSimulated, false)
    const sev = policy.sevSnp
    assert.ok(sev)
    assert.deepEqual(sev.allowedProducts, ['Milan', 'Genoa', 'Turin'])
    assert.deepEqual(sev.allowedSigningKeys, ['VCEK', 'VLEK'])
    assert.equal(sev.allowDebug, false)
    assert.equal(sev.allowMigrationAgent, false)
    assert.equal(sev.requireCrl, true)
    assert.equal(sev.allowStaleCrl, false)
    assert.equal(sev.allowProvisionalFirmware, false)
    assert.equal(sev.allowedVmpls, undefined)
    assert.deepEqual(sev.minimumTcb, {
      Milan: { bootloader: 4, tee: 0, snp: 24, microcode: 219 },
      Genoa: { bootloader: 10, tee: 0, snp: 23, microcode: 84 },
      Turin: { fmc: 0, bootloader: 1, tee: 0, snp: 2, microcode: 71 },
    })
  })

  it('dev-simulated loads and is the one that allows the simulated TEE', () => {
    const policy = parsePolicy(policyFile('dev-simulated.yaml'), 'policies/dev-simulated.yaml')
    assert.equal(policy.name, 'dev-simulated')
    assert.equal(policy.allowSimulated, true)
    assert.equal(policy.sevSnp?.allowDebug, false)
    assert.equal(policy.sevSnp?.allowMigrationAgent, false)
    assert.equal(policy.sevSnp?.requireCrl, false)
    assert.equal(policy.sevSnp?.measurements, undefined)
  })

  it('policies/policy.schema.json is the generated schema', () => {
    const stale = policyFile('policy.schema.json') !== `${JSON.stringify(policySchema, null, 2)}\n`
    assert.ok(!stale, 'stale: node --conditions=@vouch/source --import tsx scripts/write-policy-schema.ts')
  })

  it(`${POLICY_VALIDATOR_PATH} is the generated validator of the schema`, () => {
    const onDisk = readFileSync(new URL(`../../../${POLICY_VALIDATOR_PATH}`, import.meta.url), 'utf8')
    assert.ok(onDisk === toPolicyValidatorSource(), 'stale: npm run schema:policy')
  })

  it('parses and reports with code generation from strings disallowed, as under a Content Security Policy without unsafe-eval', () => {
    // ajv compiling a validator at run time calls `new Function`, which this flag (like such a CSP) turns into an EvalError.
    const script = [
      "const { parsePolicy, PolicyInvalidError } = await import('./src/policy/parse.ts')",
      "const { readFileSync } = await import('node:fs')",
      "const out = [parsePolicy(readFileSync('../policies/production.yaml', 'utf8'), 'production.yaml').name]",
      "try { parsePolicy('version: 1\\nname: x\\nallowSimulated: 3\\n', 'x.yaml') } catch (e) { out.push(e instanceof PolicyInvalidError ? e.code + ' ' + e.message : String(e)) }",
      'console.log(JSON.stringify(out))',
    ].join('\n')
    const cwd = new URL('../../', import.meta.url)
    const printed = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '--conditions=@vouch/source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd, encoding: 'utf8' })
    assert.deepEqual(JSON.parse(printed), ['production', 'ERR_POLICY_INVALID x.yaml:3:17: allowSimulated: must be a boolean, got number 3'])
  })
})

describe('policySchema', () => {
  it('describes every property and closes every object', () => {
    const missing: string[] = []
    const walk = (schema: unknown, path: string): void => {
      if (typeof schema !== 'object' || schema === null) return
      const s = schema as Record<string, unknown>
      if (s['type'] === 'object' && s['additionalProperties'] !== false) missing.push(`${path}: additionalProperties`)
      const properties = (s['properties'] ?? {}) as Record<string, Record<string, unknown>>
      for (const [name, sub] of Object.entries(properties)) {
        if (typeof sub['description'] !== 'string' || sub['description'].length < 10) missing.push(`${path}.${name}`)
        walk(sub, `${path}.${name}`)
      }
      const defs = (s['$defs'] ?? {}) as Record<string, unknown>
      for (const [name, sub] of Object.entries(defs)) walk(sub, `$defs.${name}`)
    }
    walk(policySchema, '')
    assert.deepEqual(missing, [])
  })

  it('says for every optional rule what leaving it out means', () => {
    const sections = { '': policySchema, sevSnp: policySchema.$defs.sevSnp }
    for (const [section, schema] of Object.entries(sections)) {
      const required = new Set<string>(schema.required)
      for (const [name, sub] of Object.entries(schema.properties)) {
        const text = (sub as { description: string }).description
        const want = required.has(name) ? /^Required/ : /^Optional/
        assert.match(text, want, `${section}.${name}: ${text}`)
        if (section === 'sevSnp' && !required.has(name)) assert.match(text, /unset = /, `${section}.${name}: ${text}`)
      }
    }
  })
})

function captureInvalid(fn: () => unknown): PolicyInvalidError {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof PolicyInvalidError, `expected PolicyInvalidError, got ${String(error)}`)
    return error
  }
  assert.fail('expected parsePolicy to throw')
}
