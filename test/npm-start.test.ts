/**
 * `npm start` (scripts/start.mjs) as a user meets it (issue 10, items 6, 7 and 9): run in its own process group,
 * as a terminal runs it, it prints a command that works from any folder and names the certificate (never the
 * key); Ctrl-C, which signals the whole group, lets 8 sealed inferences in flight finish and every process exit;
 * on a port another server holds it fails, naming the port, before any enclave starts. start.mjs builds first,
 * and runs the host and the enclave from their `dist/`.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createClient, loadInferenceRequest, loadPolicy } from '@vouch/client'
import { createDevCertificate } from '../host/src/tls.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const start = join(root, 'scripts/start.mjs')

async function freePort(): Promise<number> {
  const probe = createNetServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

/** start.mjs in a process group of its own, as a terminal's foreground job is; its output collected. */
function startInOwnGroup(args: string[], cache: string): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [start, ...args], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, VOUCH_CACHE_DIR: cache },
  })
  let text = ''
  child.stdout!.on('data', (d: Buffer) => (text += d.toString('utf8')))
  child.stderr!.on('data', (d: Buffer) => (text += d.toString('utf8')))
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  return { child, output: () => text, exited }
}

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Whether a process has ended (gone, or a zombie nobody reaped yet). */
function ended(pid: number): boolean {
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return true
  }
}

/** The host's JSON log lines in start.mjs's output. */
function logLines(output: string): Array<Record<string, unknown>> {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
}

/** Runs a shell command line in `cwd`; resolves to its exit code and output. */
async function shell(command: string, cwd: string): Promise<{ code: number | null; out: string }> {
  const child = spawn('sh', ['-c', command], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env['PATH'] ?? ''}` } })
  let out = ''
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')))
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')))
  const [code] = (await once(child, 'exit')) as [number | null]
  return { code, out }
}

describe('npm start', { timeout: 300_000 }, () => {
  const cache = mkdtempSync(join(tmpdir(), 'vouch-npm-start-'))
  const elsewhere = mkdtempSync(join(tmpdir(), 'vouch-npm-start-cwd-'))
  const started: ChildProcess[] = []
  after(() => {
    // Only if a test failed half-way: its own process group, started here.
    for (const child of started) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL')
    rmSync(cache, { recursive: true, force: true })
    rmSync(elsewhere, { recursive: true, force: true })
  })

  test('prints a command that works from any folder and trusts the certificate file; Ctrl-C lets 8 sealed inferences in flight finish, and every process exits', async () => {
    const port = await freePort()
    const run = startInOwnGroup(['--port', String(port)], cache)
    started.push(run.child)
    const printed = await until('the banner', 240_000, () => {
      if (run.child.exitCode !== null) throw new Error(`start.mjs exited ${run.child.exitCode}:\n${run.output()}`)
      return /^ {2}(node .*vouch\.js infer .*)$/m.exec(run.output())?.[1]
    })

    // Item 9: the certificate to trust is the .crt (no private key), named absolutely, and the command runs anywhere.
    const ca = /--ca (\S+)/.exec(printed)![1]!
    assert.ok(ca.startsWith('/') && ca.endsWith('/tls/localhost.crt'), printed)
    assert.doesNotMatch(readFileSync(ca, 'utf8'), /PRIVATE KEY/)
    assert.match(run.output(), new RegExp(`clients trust ${ca.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`))
    const fromElsewhere = await shell(printed, elsewhere)
    assert.equal(fromElsewhere.code, 0, fromElsewhere.out)
    assert.match(fromElsewhere.out, /^vouch infer: ACCEPTED {2}ppocr-cls/)

    // Item 6: 8 real sealed inferences through @vouch/client, in flight when the terminal's Ctrl-C arrives.
    const url = /--url (\S+)/.exec(printed)![1]!
    const client = createClient({ url, ca: readFileSync(ca), policy: loadPolicy(join(root, 'policies/dev-simulated.yaml')), timeoutMs: 120_000 })
    await client.attest()
    const request = loadInferenceRequest(join(root, 'models/samples/ppocr-det.json.gz'))
    const metric = (text: string, name: string): number => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? 0)
    const inferred = (text: string): number => metric(text, 'vouch_link_requests_total\\{op="infer",outcome="ok"\\}')
    const before = inferred(await getText(`${url}/metrics`, ca))
    const results = Array.from({ length: 8 }, () => client.infer('ppocr-det', request.inputs))
    const settled = Promise.allSettled(results)
    // Every one of the 8 has reached the enclave link (queued, in flight or answered), and some are still unanswered.
    await until('all 8 requests to reach the host', 60_000, async () => {
      const text = await getText(`${url}/metrics`, ca)
      const [done, queued, flying] = [inferred(text) - before, metric(text, 'vouch_link_queue_depth'), metric(text, 'vouch_link_in_flight')]
      if (done === 8) throw new Error('the 8 requests finished before Ctrl-C could be sent: nothing was in flight')
      return done + queued + flying === 8 ? true : undefined
    })
    const logs = logLines(run.output())
    const hostPid = logs.find((l) => l['name'] === 'vouch-host')!['pid'] as number
    const enclave = logs.find((l) => l['msg'] === 'enclave started')!
    const enclavePid = enclave['enclavePid'] as number
    const command = enclave['command'] as string[]
    const socket = command[command.indexOf('--socket') + 1]!
    process.kill(-run.child.pid!, 'SIGINT') // what Ctrl-C does: the whole foreground group

    const outcomes = await settled
    client.close()
    const failures = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`request ${i}: ${String((o.reason as Error).message)}`] : []))
    assert.deepEqual(failures, [], run.output().slice(-4000))
    for (const o of outcomes) if (o.status === 'fulfilled') assert.equal(o.value.outputs.length > 0, true)
    assert.equal(await run.exited, 0, run.output().slice(-4000))
    await until('the host and the enclave to exit', 10_000, () => (ended(hostPid) && ended(enclavePid) ? true : undefined))
    assert.equal(existsSync(dirname(socket)), false, 'the socket folder is removed')
    // The host says it drains. The second SIGINT (passed on by start.mjs) is logged as ignored unless it arrived
    // together with the terminal's, when the kernel delivers the two as one; host/test/host-process.test.ts
    // sends two apart.
    assert.ok(logLines(run.output()).some((l) => l['msg'] === 'shutting down: no new connections; finishing requests in flight'), 'the host says it drains')
  })

  test('on a port another server holds: exits non-zero naming the port, never prints the banner, starts no enclave', async () => {
    const { cert, key } = await createDevCertificate()
    const requests: string[] = []
    // An HTTPS server that answers 200 to everything: the readiness probe of old took it for the host.
    const other = createHttpsServer({ cert, key }, (req, res) => {
      requests.push(req.url ?? '')
      res.end('ok')
    })
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve))
    const port = (other.address() as AddressInfo).port
    try {
      const run = startInOwnGroup(['--port', String(port)], cache)
      started.push(run.child)
      const code = await run.exited
      const output = run.output()
      assert.notEqual(code, 0, output)
      assert.match(output, new RegExp(`port ${port} is in use by another program \\(EADDRINUSE\\)`))
      assert.match(output, new RegExp(`npm start: vouch-host exited with code 2 before it could serve on port ${port}`))
      assert.doesNotMatch(output, /Vouch is running/)
      assert.ok(!logLines(output).some((l) => l['msg'] === 'enclave started'), output)
      assert.deepEqual(requests, [], 'nothing asked the other server whether it is ready')
    } finally {
      await new Promise((resolve) => other.close(resolve))
    }
  })
})

/** The body of a GET over HTTPS, trusting the certificate in the file `ca`. */
function getText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: readFileSync(ca) }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString('utf8')))
      res.on('end', () => resolve(body))
    })
    req.on('error', reject)
    req.end()
  })
}
