#!/usr/bin/env node
// `npm start`: the one command of the README. Installs the locked dependencies when they are missing or
// stale, builds, and starts vouch-host with the simulated enclave (simulated SEV-SNP and a simulated GPU)
// and the bundled models on https://localhost:8443, then prints what to run next. Extra arguments go to
// vouch-host (`npm start -- --port 9443`). Only Node.js built-ins here: nothing is installed yet.
// Exit code: vouch-host's (non-zero, with the reason, when it cannot start: a port in use, say).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < 20 || (major === 20 && minor < 19)) {
  console.error(`Vouch needs Node.js 20.19 or later; this is ${process.version}.`)
  process.exit(1)
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) process.exit(result.status ?? 1)
}

// npm ci when node_modules is missing or older than the lockfile.
const installed = join(root, 'node_modules/.package-lock.json')
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(join(root, 'package-lock.json')).mtimeMs) {
  console.log('Installing the locked dependencies (npm ci)…')
  run(npm, ['ci', '--no-audit', '--no-fund'])
}
console.log('Building…')
run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'])
// The trust-center page the host serves at / (docs/trust-center.md).
run(process.execPath, [join(root, 'scripts/build-page.mjs')])

const args = process.argv.slice(2)
const defaults = [
  ['--port', '8443'],
  ['--tee', 'simulated'],
  ['--gpu', 'simulated'],
]
const given = (name) => args.some((a) => a === name || a.startsWith(`${name}=`))
const hostArgs = [...defaults.filter(([name]) => !given(name)).flat(), ...args]
// The port asked for (the last --port wins, as in vouch-host), for messages.
const port = hostArgs.reduce((found, a, i) => (a === '--port' ? hostArgs[i + 1] : a.startsWith('--port=') ? a.slice(7) : found), '8443')
// The development certificate is kept inside the checkout, where it is easy to find.
const cacheDir = process.env.VOUCH_CACHE_DIR ?? join(root, '.vouch')
// With an IPC channel the host tells us when it listens and when its enclave is ready: readiness comes from our
// own host, never from whatever else may answer on the port.
// The host's V8 options (host/src/node-flags.ts), read from the build just made.
const { HOST_NODE_FLAGS } = await import(new URL('../host/dist/node-flags.js', import.meta.url).href)
const host = spawn(process.execPath, [...HOST_NODE_FLAGS, join(root, 'host/bin/vouch-host.js'), ...hostArgs], {
  cwd: root,
  stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  env: { ...process.env, VOUCH_CACHE_DIR: cacheDir },
})
// Ctrl-C signals every process of the terminal's group, the host included; passing it on covers a signal sent to
// this process alone. The host lets requests in flight finish and ignores the repeat.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => host.kill(signal))

let listening = null
let ready = false
const timeout = setTimeout(() => {
  console.error('npm start: vouch-host did not become ready within 3 minutes; stopping it')
  host.kill('SIGTERM')
}, 180_000)
host.on('message', (message) => {
  if (message?.vouchHost === 'listening') listening = message
  if (message?.vouchHost !== 'ready' || listening === null || ready) return
  ready = true
  clearTimeout(timeout)
  console.log(banner(listening))
})
host.on('exit', (code, signal) => {
  clearTimeout(timeout)
  if (!ready) {
    const why = signal !== null ? `was stopped (${signal})` : `exited with code ${code}`
    const hint = listening === null ? ` before it could serve on port ${port} (see its message above; \`npm start -- --port N\` picks another port)` : ' before its enclave was ready (see the messages above)'
    console.error(`npm start: vouch-host ${why}${hint}`)
  }
  process.exit(code ?? 1)
})

/** A command-line word as the shell reads it back: quoted when it holds anything but safe characters. */
function shellWord(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`
}

/** What to run next: absolute paths and the CLI by its path, so it works from any folder. */
function banner({ url, certificate }) {
  const command = [
    'node',
    join(root, 'client/bin/vouch.js'),
    'infer',
    '--url', url,
    '--ca', certificate,
    '--policy', join(root, 'policies/dev-simulated.yaml'),
    '--model', 'ppocr-cls',
    '--input', join(root, 'models/samples/ppocr-cls.json'),
  ].map(shellWord)
  return `
Vouch is running at ${url} on the simulated TEE (simulated SEV-SNP and a simulated GPU), with the models in
models/. Press Ctrl-C to stop it (requests in flight finish first). In another terminal, from any folder, send
it an encrypted request:

  ${command.join(' ')}

It attests the service, verifies the evidence under the policy, seals the request, and prints the outputs,
the verified claims and the receipt. Clients trust the certificate above (it holds no key). Under
policies/production.yaml the same command is refused: the simulated TEE's keys are public.

Or open ${url}/ in a browser: the trust center verifies the service there, under the policy you choose
(the browser will warn about the development certificate).
`
}
