/**
 * `vouch-host` as a process (issue 10, item 6). Killed with SIGKILL, nothing of it can run, yet the enclave it
 * supervised must not outlive it (with its keys and its memory) nor leave its socket folder behind. Told to stop
 * twice (Ctrl-C reaches it from the terminal and from npm start), it still lets the request in flight finish.
 * Runs the host and the enclave from their `dist/`, so build first.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import request from 'supertest'
import { eventually, FakeEnclave } from './helpers/testkit.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cache = mkdtempSync(join(tmpdir(), 'vouch-host-kill-'))
after(() => rmSync(cache, { recursive: true, force: true }))

/** Whether a process has ended (gone, or a zombie nobody reaped yet). */
function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** Starts the host bin with `args`; its output is collected as it comes, JSON log lines parsed. */
function startHostProcess(args: string[]) {
  const child = spawn(process.execPath, [join(root, 'host/bin/vouch-host.js'), '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, VOUCH_CACHE_DIR: cache } })
  const lines: Array<Record<string, unknown>> = []
  let text = ''
  let rest = ''
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString('utf8')
    const parts = (rest + d.toString('utf8')).split('\n')
    rest = parts.pop()!
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>)
  })
  const logged = (msg: string): Record<string, unknown> | undefined => lines.find((l) => l['msg'] === msg)
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>
  return { child, lines, logged, exited, text: () => text }
}

test('a second SIGINT while draining is logged and ignored: the request in flight finishes, the host exits 0', { timeout: 60_000 }, async () => {
  const enclave = await FakeEnclave.start()
  const held: Array<() => void> = []
  enclave.onRequest = (r) => {
    if (r.request.op !== 'attest') return false
    held.push(() => r.answer({ bundle: new Uint8Array([0xa0]) }))
    return true
  }
  // Without fetching collateral, whose first step is the host's own attest (which the fake would hold too).
  const host = startHostProcess(['--enclave-socket', enclave.path, '--no-collateral-fetch'])
  try {
    await eventually(() => host.logged('enclave link up') !== undefined, 30_000, 'the link to be up')
    const url = /serving (https:\/\/\S+)/.exec(host.text())![1]!
    const answer = request(url).get('/v1/attestation').ca(readFileSync(join(cache, 'tls', 'localhost.crt'))).then((res) => res.status)
    await eventually(() => held.length === 1, 10_000, 'the attestation to reach the enclave')

    host.child.kill('SIGINT')
    await eventually(() => host.logged('shutting down: no new connections; finishing requests in flight') !== undefined, 10_000, 'the host to drain')
    host.child.kill('SIGINT')
    await eventually(() => host.logged('draining: the signal is ignored; stopping once the requests in flight finish') !== undefined, 10_000, 'the second SIGINT to be logged')
    assert.equal(host.child.exitCode, null, 'still draining')

    held[0]!()
    assert.equal(await answer, 200)
    assert.deepEqual(await host.exited, [0, null])
  } finally {
    if (host.child.exitCode === null) host.child.kill('SIGKILL')
    await enclave.close()
  }
})

test('a host killed with SIGKILL: its enclave exits soon after, and the socket folder is gone', { timeout: 120_000 }, async () => {
  const host = startHostProcess([])
  let enclavePid: number | undefined
  try {
    await eventually(
      () => {
        if (host.child.exitCode !== null) throw new Error(`vouch-host exited (${host.child.exitCode}) before its enclave was ready`)
        return host.logged('enclave ready') !== undefined
      },
      90_000,
      'the enclave to be ready',
    )
    const started = host.logged('enclave started')!
    enclavePid = started['enclavePid'] as number
    const command = started['command'] as string[]
    const socketDir = dirname(command[command.indexOf('--socket') + 1]!)
    assert.ok(existsSync(socketDir))

    host.child.kill('SIGKILL')
    await host.exited
    await eventually(() => ended(enclavePid!), 15_000, 'the enclave to exit after its host was killed')
    await eventually(() => !existsSync(socketDir), 5_000, 'the socket folder to be removed')
  } finally {
    if (host.child.exitCode === null && host.child.signalCode === null) host.child.kill('SIGKILL')
    // Only when the test failed: the enclave it started would otherwise run on.
    if (enclavePid !== undefined && !ended(enclavePid)) process.kill(enclavePid, 'SIGKILL')
  }
})
