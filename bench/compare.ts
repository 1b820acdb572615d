/**
 * `npm run bench:compare -- <ref>`: this checkout against another commit, side by side and interleaved, so a change's
 * effect on the confidential round trip can be told from this machine's drift (its speed moves plain binary's own
 * detector time by a third between two runs of `npm run bench`; two runs cannot compare commits, one interleaved run can).
 *
 * The commit is checked out in a git worktree under the system's temporary folder, linked to this checkout's
 * node_modules (its own workspaces for `@vouch/*`) and built. Then each side runs as real `vouch-host` and
 * `vouch-enclave` processes (`--tee simulated --gpu simulated`) with its own `@vouch/client`, and requests alternate
 * between them, each round in the order opposite to the one before. Printed per model: both medians and the median
 * of the paired differences (base minus this checkout: positive is faster now). Nothing is written to docs/.
 *
 * Options: `--det N` and `--cls N` rounds (default 40 and 400); `--throughput N`: also the classifier's throughput at
 * concurrency 8, N rounds of 1.5 s windows alternating between the two (the loss figures of issues 12 and 14 are of
 * this kind; printed: each side's requests per second and the median of the rounds' ratios); `--keep` to keep the
 * worktree (the next run reuses it).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import * as client from '@vouch/client'
import { readSample } from '../enclave/test/inference/helpers/models.js'
import { ms, roundOrder, throughputInterleaved } from './lib/measure.js'
import { startVouchHost, type HostProcess } from './lib/servers.js'

const REPO = fileURLToPath(new URL('..', import.meta.url))

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    det: { type: 'string', default: '40' },
    cls: { type: 'string', default: '400' },
    throughput: { type: 'string', default: '0' },
    keep: { type: 'boolean', default: false },
  },
})
if (positionals.length !== 1) {
  console.error('usage: npm run bench:compare -- <git ref> [--det N] [--cls N] [--throughput N] [--keep]')
  process.exit(2)
}
const git = (...args: string[]): string => execFileSync('git', args, { cwd: REPO, encoding: 'utf8' }).trim()
const sha = git('rev-parse', '--verify', `${positionals[0]!}^{commit}`)

/**
 * The worktree of `sha`, built: node_modules of this checkout linked entry by entry, except `@vouch/*`, which point
 * at the worktree's own workspaces (so its code imports its own protocol, not this checkout's).
 */
function worktree(): string {
  const dir = join(tmpdir(), `vouch-compare-${sha.slice(0, 12)}`)
  if (!existsSync(dir)) {
    git('worktree', 'add', '--detach', dir, sha)
    const modules = join(dir, 'node_modules')
    mkdirSync(join(modules, '@vouch'), { recursive: true })
    for (const entry of readdirSync(join(REPO, 'node_modules'))) {
      if (entry !== '@vouch') symlinkSync(join(REPO, 'node_modules', entry), join(modules, entry))
    }
    for (const entry of readdirSync(join(REPO, 'node_modules', '@vouch'))) {
      symlinkSync(readlinkSync(join(REPO, 'node_modules', '@vouch', entry)), join(modules, '@vouch', entry))
    }
    // Workspaces with dependencies of their own (not hoisted).
    for (const workspace of readdirSync(REPO)) {
      const own = join(REPO, workspace, 'node_modules')
      if (workspace !== 'node_modules' && existsSync(own) && existsSync(join(dir, workspace)) && !existsSync(join(dir, workspace, 'node_modules'))) {
        symlinkSync(own, join(dir, workspace, 'node_modules'))
      }
    }
  }
  execFileSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-b'], { cwd: dir, stdio: 'inherit' })
  return dir
}

const median = (samples: readonly number[]): number => [...samples].sort((a, b) => a - b)[samples.length >> 1]!

const baseDir = worktree()
const baseClient = (await import(join(baseDir, 'client', 'src', 'index.ts'))) as typeof client
const baseServers = (await import(join(baseDir, 'bench', 'lib', 'servers.ts'))) as { startVouchHost: typeof startVouchHost }
const hosts: HostProcess[] = []
try {
  hosts.push(await baseServers.startVouchHost(mkdtempSync(join(tmpdir(), 'compare-base-')), {}))
  hosts.push(await startVouchHost(mkdtempSync(join(tmpdir(), 'compare-now-')), {}))
  const clients = [
    baseClient.createClient({ url: hosts[0]!.url, policy: baseClient.loadPolicy(join(baseDir, 'policies', 'dev-simulated.yaml')), ca: hosts[0]!.ca }),
    client.createClient({ url: hosts[1]!.url, policy: client.loadPolicy(join(REPO, 'policies', 'dev-simulated.yaml')), ca: hosts[1]!.ca }),
  ]
  for (const c of clients) await c.attest()
  console.log(`base ${sha.slice(0, 12)} (${positionals[0]}) against this checkout (${git('rev-parse', '--short=12', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') === '' ? '' : ', with uncommitted changes'})`)
  for (const [model, rounds] of [['ppocr-det', Number(values.det)], ['ppocr-cls', Number(values.cls)]] as const) {
    const inputs = readSample(model)
    for (let i = 0; i < 3; i++) for (const c of clients) await c.infer(model, inputs)
    const samples: number[][] = [[], []]
    for (let round = 0; round < rounds; round++) {
      for (const k of roundOrder(2, round)) {
        const started = performance.now()
        await clients[k]!.infer(model, inputs)
        samples[k]!.push(performance.now() - started)
      }
    }
    const paired = samples[0]!.map((base, i) => base - samples[1]![i]!)
    console.log(`${model}: base ${ms(median(samples[0]!))} ms, now ${ms(median(samples[1]!))} ms; base minus now, median of ${rounds} paired rounds: ${ms(median(paired))} ms`)
  }
  const throughputRounds = Number(values.throughput)
  if (throughputRounds > 0) {
    const inputs = readSample('ppocr-cls')
    const [base, now] = await throughputInterleaved(
      clients.map((c) => () => c.infer('ppocr-cls', inputs)),
      { rounds: throughputRounds, windowMs: 1_500, concurrency: 8 },
    )
    const ratios = now!.windows.map((w, i) => w / base!.windows[i]!)
    console.log(`ppocr-cls throughput at concurrency 8: base ${base!.rps.toFixed(1)}/s, now ${now!.rps.toFixed(1)}/s; now over base, median of ${throughputRounds} rounds: ${median(ratios).toFixed(3)}`)
  }
  for (const c of clients) c.close()
} finally {
  await Promise.all(hosts.map((h) => h.stop()))
  if (!values.keep) {
    git('worktree', 'remove', '--force', baseDir)
    rmSync(baseDir, { recursive: true, force: true })
  }
}
