/** Input files are read with a size bound per kind, and refused over it without being read whole (issue 10, item 5). */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { INPUT_FILE_LIMITS, InputFileTooLargeError, loadPolicyFile, readInputFile, type InputFileKind } from '../src/input-file.js'
import { PolicyInvalidError } from '../src/policy/parse.js'
import { ALIAS_BOMB } from './helpers/hostile-yaml.js'

const dir = mkdtempSync(join(tmpdir(), 'vouch-input-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** A sparse file of `bytes` zero bytes: no disk space, and reading it whole would still cost `bytes` of memory. */
function sparse(name: string, bytes: number): string {
  const path = join(dir, name)
  writeFileSync(path, '')
  truncateSync(path, bytes)
  return path
}

function refusal(fn: () => unknown): InputFileTooLargeError {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof InputFileTooLargeError, `expected InputFileTooLargeError, got ${String(error)}`)
    return error
  }
  assert.fail('expected a refusal')
}

describe('readInputFile', () => {
  for (const kind of Object.keys(INPUT_FILE_LIMITS) as InputFileKind[]) {
    const { maxBytes, what } = INPUT_FILE_LIMITS[kind]
    it(`reads ${what} of up to ${maxBytes} bytes and refuses a larger one by its size (${kind})`, () => {
      assert.equal(readInputFile(sparse(`${kind}.ok`, maxBytes), kind).length, maxBytes)
      const path = sparse(`${kind}.big`, 100 * 1024 * 1024)
      const error = refusal(() => readInputFile(path, kind))
      assert.equal(error.code, 'ERR_INPUT_INVALID')
      assert.equal(error.message, `${path}: ${what} is at most ${maxBytes} bytes, and this file holds ${100 * 1024 * 1024}`)
    })
  }

  it('stops one chunk past the limit on a file without a size (an endless device)', () => {
    const error = refusal(() => readInputFile('/dev/zero', 'sevSnpReport'))
    assert.match(error.message, /^\/dev\/zero: an SEV-SNP report is at most 65536 bytes, and this file holds more$/)
  })

  it("takes a caller's own limit", () => {
    const path = sparse('own', 11)
    assert.equal(refusal(() => readInputFile(path, { maxBytes: 10, what: 'a thing' })).detail, 'a thing is at most 10 bytes, and this file holds 11')
  })

  it("lets the file system's errors through", () => {
    assert.throws(() => readInputFile(join(dir, 'missing'), 'policy'), { code: 'ENOENT' })
    assert.throws(() => readInputFile(dir, 'policy'), { code: 'EISDIR' })
  })
})

describe('loadPolicyFile', { timeout: 20_000 }, () => {
  const invalid = (path: string): PolicyInvalidError => {
    try {
      loadPolicyFile(path)
    } catch (error) {
      assert.ok(error instanceof PolicyInvalidError, `expected PolicyInvalidError, got ${String(error)}`)
      return error
    }
    assert.fail('expected loadPolicyFile to throw')
  }

  it('refuses a policy file over the limit as an invalid policy naming the file, without reading it', () => {
    const path = sparse('huge.yaml', 100 * 1024 * 1024)
    const error = invalid(path)
    assert.equal(error.code, 'ERR_POLICY_INVALID')
    assert.ok(error.cause instanceof InputFileTooLargeError)
    assert.deepEqual(error.issues, [{ file: path, line: 1, column: 1, field: '', message: `a policy is at most ${INPUT_FILE_LIMITS.policy.maxBytes} bytes, and this file holds ${100 * 1024 * 1024}` }])
  })

  it('refuses the 329-byte alias bomb', () => {
    const path = join(dir, 'bomb.yaml')
    writeFileSync(path, ALIAS_BOMB)
    const error = invalid(path)
    assert.equal(error.code, 'ERR_POLICY_INVALID')
    assert.match(error.message, /bomb\.yaml:8:\d+: e\[0\]: aliases here expand the policy/)
  })
})
