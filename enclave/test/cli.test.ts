/**
 * `vouch-enclave` as a process (issue 10, item 6): started `--supervised`, it stops when its standard input closes
 * (its supervisor has gone, however it ended) and, with `--remove-socket-dir`, leaves no socket folder behind;
 * started standalone, standard input means nothing to it. Runs from `dist/`, so build first.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'

const bin = fileURLToPath(new URL('../bin/vouch-enclave.js', import.meta.url))

/** Starts the enclave with `args` serving a socket in a fresh folder; resolves once it says it is ready. */
async function startEnclave(args: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'vouch-enclave-cli-'))
  const socket = join(dir, 'enclave.sock')
  const child = spawn(process.execPath, [bin, '--socket', socket, '--tee', 'simulated', '--gpu', 'none', ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  let output = ''
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('utf8')
      if (output.includes('"msg":"enclave ready"')) resolve()
    })
    void exited.then((code) => reject(new Error(`the enclave exited (${code}) before it was ready:\n${output}`)))
  })
  return { child, dir, socket, exited }
}

/** Whether something accepts connections on the Unix socket. */
function serves(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(socket, () => {
      c.destroy()
      resolve(true)
    })
    c.on('error', () => resolve(false))
  })
}

describe('vouch-enclave and its standard input', { timeout: 120_000 }, () => {
  test('--supervised: stops when standard input closes; --remove-socket-dir takes the folder with it', async () => {
    const enclave = await startEnclave(['--supervised', '--remove-socket-dir'])
    try {
      assert.equal(await serves(enclave.socket), true)
      enclave.child.stdin.end() // what a supervisor's exit does to the pipe
      assert.equal(await enclave.exited, 0)
      assert.equal(existsSync(enclave.dir), false)
    } finally {
      enclave.child.kill('SIGKILL')
      rmSync(enclave.dir, { recursive: true, force: true })
    }
  })

  test('--supervised --remove-socket-dir, stopped by SIGTERM (a drain): the folder stays, for the enclave its supervisor starts next', async () => {
    const enclave = await startEnclave(['--supervised', '--remove-socket-dir'])
    try {
      enclave.child.kill('SIGTERM')
      assert.equal(await enclave.exited, 0)
      assert.equal(existsSync(enclave.socket), false)
      assert.equal(existsSync(enclave.dir), true)
    } finally {
      enclave.child.kill('SIGKILL')
      rmSync(enclave.dir, { recursive: true, force: true })
    }
  })

  test('standalone: standard input closing means nothing; SIGTERM stops it and removes only the socket', async () => {
    const enclave = await startEnclave([])
    try {
      enclave.child.stdin.end()
      // A supervised enclave stops within milliseconds of this (the test above); give a standalone one the same
      // chance to do so wrongly before checking it still serves.
      await new Promise((resolve) => setTimeout(resolve, 500))
      assert.equal(enclave.child.exitCode, null)
      assert.equal(await serves(enclave.socket), true)
      enclave.child.kill('SIGTERM')
      assert.equal(await enclave.exited, 0)
      assert.equal(existsSync(enclave.socket), false)
      assert.equal(existsSync(enclave.dir), true)
    } finally {
      enclave.child.kill('SIGKILL')
      rmSync(enclave.dir, { recursive: true, force: true })
    }
  })
})
