import assert from 'node:assert/strict'
import { ClientError, type ClientErrorCode } from '../../src/index.js'

/** Resolves to the ClientError `promise` rejects with, after checking its code; fails if it resolves. */
export async function rejectsWith(promise: Promise<unknown>, code: ClientErrorCode): Promise<ClientError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof ClientError, `expected a ClientError, got ${String(error)}`)
    assert.equal(error.code, code, error.message)
    return error
  }
  assert.fail(`expected ${code}, but it resolved`)
}
