/**
 * `vouch-host` as a process, killed with SIGKILL (issue 10, item 6): nothing of it can run, yet the enclave it
 * supervised must not outlive it (with its keys and its memory) nor leave its socket folder behind. Runs the host
 * and the enclave from their `dist/`, so build first.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { eventually } from './helpers/testkit.js'

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

test('a host killed with SIGKILL: its enclave exits soon after, and the socket folder is gone', { timeout: 120_000 }, async () => {
  const host = spawn(process.execPath, [join(root, 'host/bin/vouch-host.js'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, VOUCH_CACHE_DIR: cache } })
  const lines: Array<Record<string, unknown>> = []
  let rest = ''
  host.stdout.on('data', (d: Buffer) => {
    const text = rest + d.toString('utf8')
    const parts = text.split('\n')
    rest = parts.pop()!
    for (const line of parts) if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>)
  })
  const exited = once(host, 'exit')
  let enclavePid: number | undefined
  try {
    await eventually(
      () => {
        if (host.exitCode !== null) throw new Error(`vouch-host exited (${host.exitCode}) before its enclave was ready`)
        return lines.some((l) => l['msg'] === 'enclave ready')
      },
      90_000,
      'the enclave to be ready',
    )
    const started = lines.find((l) => l['msg'] === 'enclave started')!
    enclavePid = started['enclavePid'] as number
    const command = started['command'] as string[]
    const socketDir = dirname(command[command.indexOf('--socket') + 1]!)
    assert.ok(existsSync(socketDir))

    host.kill('SIGKILL')
    await exited
    await eventually(() => ended(enclavePid!), 15_000, 'the enclave to exit after its host was killed')
    await eventually(() => !existsSync(socketDir), 5_000, 'the socket folder to be removed')
  } finally {
    if (host.exitCode === null && host.signalCode === null) host.kill('SIGKILL')
    // Only when the test failed: the enclave it started would otherwise run on.
    if (enclavePid !== undefined && !ended(enclavePid)) process.kill(enclavePid, 'SIGKILL')
  }
})
