/**
 * The enclave's production path never loads the simulator: a fresh Node process imports the built `@vouch/enclave`
 * and opens a SEV-SNP device, with a module-resolution hook recording every module it loads. Neither the simulated
 * devices and certificate authorities nor the dependencies only they need (@peculiar/asn1-*, xml-crypto) may be
 * among them. Asking for the simulated TEE then loads them: proof the hook sees what it should.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { test } from 'node:test'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** Runs in the child: records resolved URLs through a port, then loads the enclave as production does. */
const PROGRAM = `
import { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'
const { port1, port2 } = new MessageChannel()
const loaded = []
port1.on('message', (url) => loaded.push(url))
port1.unref()
const hooks = 'data:text/javascript,' + encodeURIComponent(\`
  let port
  export function initialize(data) { port = data.port }
  export async function resolve(specifier, context, next) {
    const result = await next(specifier, context)
    port.postMessage(result.url)
    return result
  }\`)
register(hooks, { data: { port: port2 }, transferList: [port2] })
const settle = () => new Promise((r) => setTimeout(r, 100))
const enclave = await import('@vouch/enclave')
await enclave.createCpuTee('sev-snp', { root: '/nonexistent/tsm/report' }).catch(() => undefined)
await enclave.createGpuTee('none')
await settle()
const production = loaded.splice(0)
await enclave.createCpuTee('simulated')
await settle()
process.stdout.write(JSON.stringify({ production, simulated: loaded }))
`

const SIMULATOR = /\/tee\/simulated\/|\/node_modules\/(@peculiar\/asn1-|xml-crypto\/|@xmldom\/)/

test('importing @vouch/enclave and opening a SEV-SNP device loads neither the simulator nor its dependencies', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', PROGRAM], { cwd: root, timeout: 30_000 })
  const { production, simulated } = JSON.parse(stdout) as { production: string[]; simulated: string[] }
  assert.ok(production.some((url) => url.endsWith('/enclave/dist/index.js')), 'the hook saw the enclave load')
  assert.deepEqual(production.filter((url) => SIMULATOR.test(url)), [])
  // The simulated TEE, asked for, comes through the device factory's dynamic import with what it needs.
  assert.ok(simulated.some((url) => url.includes('/tee/simulated/devices.js')), simulated.join('\n'))
  assert.ok(simulated.some((url) => url.includes('/node_modules/@peculiar/asn1-')), simulated.join('\n'))
})
