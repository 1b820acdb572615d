/**
 * The enclave's allocator settings (issue 14, the detector's gap): what a large buffer costs in fresh pages.
 * The supervised enclave runs with a fixed glibc mmap threshold (`MALLOC_MMAP_THRESHOLD_=131072`, DESIGN.md §10
 * memory), so every block over 128 KiB it allocates (the detector's 4.9 MB link frame, its plaintext, its tensors,
 * its sealed answer) is mapped afresh and faulted in page by page; `glibc.malloc.hugetlb=1` asks for transparent
 * huge pages for those blocks. Two parts, one run:
 * - *opening the detector's request* in a child process under each setting: fresh 4 KiB pages (the threshold alone),
 *   huge pages (the threshold and the tunable, as shipped in {@link ENCLAVE_ALLOCATOR_ENV}), and glibc's default
 *   (its threshold rises to the largest block freed, so every open reuses heap pages: the floor);
 * - *the detector's round trip and the enclave's peak RSS* through two real `vouch-host` processes, each with its
 *   supervised enclave, one without the tunable (`GLIBC_TUNABLES` empty) and one as shipped, round trips
 *   interleaved; the classifier's beside it, to show small requests do not pay for it.
 * Run alone: node --conditions=@vouch/source --import tsx bench/allocator.bench.ts (after `npm run build`).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { createClient, loadPolicy } from '@vouch/client'
import { ENCLAVE_ALLOCATOR_ENV } from '@vouch/host'
import { readSample } from '../enclave/test/inference/helpers/models.js'
import { requestPlaintext } from './floors.bench.js'
import { measureInterleaved, ms, summarise, type Timing } from './lib/measure.js'
import { memoryOf, resetPeak, startVouchHost, type HostProcess } from './lib/servers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const OPEN_RUNS = 30
const DETECTOR = { runs: 24, warmup: 4 }
const CLASSIFIER = { runs: 200, warmup: 50 }

/** The settings compared, each the environment a process starts with (a variable set to undefined is removed). */
const FRESH = { name: 'fresh pages: `MALLOC_MMAP_THRESHOLD_=131072` alone', env: { MALLOC_MMAP_THRESHOLD_: '131072', GLIBC_TUNABLES: undefined } }
const SHIPPED = { name: `huge pages, as shipped: ${Object.entries(ENCLAVE_ALLOCATOR_ENV).map(([k, v]) => `\`${k}=${v}\``).join(', ')}`, env: ENCLAVE_ALLOCATOR_ENV }
const REUSED = { name: "reused heap pages: glibc's default (neither variable; the floor)", env: { MALLOC_MMAP_THRESHOLD_: undefined, GLIBC_TUNABLES: undefined } }

/**
 * The hosts compared, by what they add to their environment: the host gives its enclave the shipped settings under
 * its own environment, so an empty `GLIBC_TUNABLES` leaves the enclave the threshold alone. The hosts themselves run
 * with glibc's default either way.
 */
const HOSTS = [
  { name: FRESH.name, env: { GLIBC_TUNABLES: '' } },
  { name: SHIPPED.name, env: {} },
]

/** `process.env` with `changes` applied: a variable set to undefined is removed (an empty one would be a setting). */
function environment(changes: Readonly<Record<string, string | undefined>>): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete env[name]
    else env[name] = value
  }
  return env
}

/**
 * Times `openRequest` of a sealed request of `bytes` plaintext bytes, `OPEN_RUNS` times after 5 unmeasured, in a
 * fresh child process started with `env` (glibc reads its settings at start).
 */
function openInChild(bytes: number, env: Readonly<Record<string, string | undefined>>, inPlace: boolean): Timing {
  const code = `
    import { generateKeyPairSync, randomBytes } from 'node:crypto'
    import { openRequest, sealRequest } from '@vouch/protocol'
    const [bytes, runs, inPlace] = process.argv.slice(1).map(Number)
    const { publicKey, privateKey } = generateKeyPairSync('x25519')
    const kid = randomBytes(16).toString('base64url')
    const limit = { maxPlaintextBytes: bytes }
    const { body } = await sealRequest(publicKey, kid, new Uint8Array(bytes).fill(7), limit)
    const times = []
    for (let i = 0; i < runs + 5; i++) {
      // In place, each open takes its own copy of the body (untimed), as the enclave takes each request's frame.
      const own = inPlace ? Uint8Array.from(body) : body
      const start = performance.now()
      await openRequest(privateKey, kid, own, { ...limit, inPlace: inPlace === 1 })
      if (i >= 5) times.push(performance.now() - start)
    }
    console.log(JSON.stringify(times))`
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', code, String(bytes), String(OPEN_RUNS), inPlace ? '1' : '0'], { cwd: REPO, env: environment(env), encoding: 'utf8' })
  if (child.status !== 0) throw new Error(`the open benchmark's child failed: ${child.stderr}`)
  return summarise(JSON.parse(child.stdout) as number[])
}

export async function benchAllocator(log: (line: string) => void): Promise<string> {
  const loadBefore = loadavg()[0]!
  const detectorBytes = requestPlaintext('ppocr-det').length
  const opens = [
    ...[FRESH, SHIPPED, REUSED].map((s) => ({ name: `${s.name}, plaintext allocated`, timing: openInChild(detectorBytes, s.env, false) })),
    { name: `${SHIPPED.name}, opened in place (as the enclave opens)`, timing: openInChild(detectorBytes, SHIPPED.env, true) },
  ]
  for (const o of opens) log(`allocator: open ${(detectorBytes / 1e6).toFixed(1)} MB, ${o.name}: ${ms(o.timing.median)} ms (p99 ${ms(o.timing.p99)})`)

  const arms = HOSTS
  const dirs = arms.map(() => mkdtempSync(join(tmpdir(), 'vouch-bench-allocator-')))
  const hosts: HostProcess[] = []
  try {
    // The host passes its environment on to the enclave it supervises, over the shipped settings.
    for (const [k, arm] of arms.entries()) hosts.push(await startVouchHost(dirs[k]!, { env: arm.env }))
    const policy = loadPolicy(join(REPO, 'policies/dev-simulated.yaml'))
    const clients = hosts.map((h) => createClient({ url: h.url, policy, ca: h.ca }))
    for (const c of clients) await c.attest()
    const detector = readSample('ppocr-det')
    const classifier = readSample('ppocr-cls')
    for (const h of hosts) resetPeak(h.enclavePid!)
    const det = await measureInterleaved(clients.map((c) => () => c.infer('ppocr-det', detector)), DETECTOR)
    const peaks = hosts.map((h) => memoryOf(h.enclavePid!).peak)
    const cls = await measureInterleaved(clients.map((c) => () => c.infer('ppocr-cls', classifier)), CLASSIFIER)
    for (const c of clients) c.close()
    const rows = arms.map((arm, k) => `| ${arm.name} | ${ms(det[k]!.median)} / ${ms(det[k]!.p99)} | ${ms(cls[k]!.median)} / ${ms(cls[k]!.p99)} | ${peaks[k]!.toFixed(1)} |`)
    for (const [k, arm] of arms.entries()) log(`allocator: ${arm.name}: detector ${ms(det[k]!.median)} ms, classifier ${ms(cls[k]!.median)} ms, enclave peak ${peaks[k]!.toFixed(1)} MB`)
    const saved = 1 - det[1]!.median / det[0]!.median
    return `## Enclave allocator: large buffers in fresh, huge or reused pages (\`bench/allocator.bench.ts\`)

What a large buffer costs the enclave in pages it has to fault in (issue 14: the detector's gap). The supervised enclave
runs with glibc's mmap threshold fixed at 128 KiB (DESIGN.md §10 memory), so each block over it is mapped afresh for
every request and faulted in page by page, and this virtual machine pays dearly for a fault. **Opening the detector's
request** (\`openRequest\`, ${(detectorBytes / 1e6).toFixed(1)} MB of plaintext, ${OPEN_RUNS} runs in a child process started with
each setting; wall ms, median / p99), its plaintext allocated, or written over the body (\`inPlace\`, what the
enclave does with a frame it has just read, so no buffer of that size is allocated):

| setting | open |
|---|---:|
${opens.map((o) => `| ${o.name} | ${ms(o.timing.median)} / ${ms(o.timing.p99)} |`).join('\n')}

**Round trips** (\`@vouch/client\` \`infer\`) through two \`vouch-host\` processes, each with its supervised enclave,
the same build and settings but the enclave's allocator, interleaved (rounds alternate their order; ${DETECTOR.runs} for the
detector, ${CLASSIFIER.runs} for the classifier; wall ms, median / p99), and the enclave's peak RSS over the detector's runs:

| enclave allocator | detector | classifier | enclave peak RSS, MB |
|---|---:|---:|---:|
${rows.join('\n')}

Huge pages take ${(100 * saved).toFixed(0)} % off the detector's round trip here. The 1-minute load average was ${loadBefore.toFixed(2)} when the scenario started.
`
  } finally {
    await Promise.all(hosts.map((h) => h.stop()))
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(await benchAllocator((line) => console.log(line)))
