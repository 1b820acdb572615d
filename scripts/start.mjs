#!/usr/bin/env node
// `npm start`: the one command of the README. Installs the locked dependencies when they are missing or
// stale, builds, and starts vouch-host with the simulated enclave (simulated SEV-SNP and a simulated GPU)
// and the bundled models on https://localhost:8443, then prints what to run next. Extra arguments go to
// vouch-host (`npm start -- --port 9443`). Only Node.js built-ins here: nothing is installed yet.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { request } from 'node:https'
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

const args = process.argv.slice(2)
const flag = (name, fallback) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback
}
const port = Number(flag('--port', '8443'))
const defaults = [
  ['--port', '8443'],
  ['--tee', 'simulated'],
  ['--gpu', 'simulated'],
]
const hostArgs = [...defaults.filter(([name]) => !args.includes(name)).flat(), ...args]
// The development certificate is kept inside the checkout, where the printed command can name it.
const cacheDir = process.env.VOUCH_CACHE_DIR ?? join(root, '.vouch')
const host = spawn(process.execPath, [join(root, 'host/bin/vouch-host.js'), ...hostArgs], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, VOUCH_CACHE_DIR: cacheDir },
})
host.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => host.kill(signal))

function ready() {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v2/health/ready', rejectUnauthorized: false, timeout: 2000 }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('error', () => resolve(false))
    req.on('timeout', () => req.destroy())
    req.end()
  })
}

const started = Date.now()
while (!(await ready())) {
  if (host.exitCode !== null) process.exit(host.exitCode)
  if (Date.now() - started > 180_000) {
    console.error('vouch-host did not become ready within 3 minutes')
    host.kill('SIGTERM')
    process.exit(1)
  }
  await new Promise((r) => setTimeout(r, 500))
}
const ca = join(cacheDir, 'tls', 'localhost.crt')
const url = `https://localhost:${port}`
console.log(`
Vouch is running at ${url} on the simulated TEE (simulated SEV-SNP and a simulated GPU), with the models in
models/. Press Ctrl-C to stop it. In another terminal, send it an encrypted request:

  npx vouch infer --url ${url} --ca ${ca} --policy policies/dev-simulated.yaml --model ppocr-cls --input models/samples/ppocr-cls.json

It attests the service, verifies the evidence under the policy, seals the request, and prints the outputs,
the verified claims and the receipt. Under policies/production.yaml the same command is refused: the
simulated TEE's keys are public.
`)
