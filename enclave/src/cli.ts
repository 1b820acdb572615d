/**
 * `vouch-enclave`: the enclave process. Generates its keys, loads and verifies its models, attests
 * through the chosen TEE devices and serves the host over a Unix socket (DESIGN.md §9).
 */
import { readFileSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseCommandLine, parseLinkAddress, UsageError, type LinkAddress } from '@vouch/protocol'
import type { Logger } from 'pino'
import { startLinkServer, type LinkServer } from './link/server.js'
import { createLogger } from './logger.js'
import { EnclaveService } from './service/enclave.js'
import { createCpuTee, createGpuTee } from './tee/device.js'

export const USAGE = `usage: vouch-enclave --socket ADDRESS [--tee simulated|sev-snp] [--gpu none|simulated|nvidia] [--models DIR] [options]
       vouch-enclave --help | --version

  --socket ADDRESS       where to serve the host: a Unix socket path (replaced if it exists; unix:PATH too)
                         or tcp://HOST:PORT (port 0: any free one; the "enclave ready" line says which);
                         over TCP, only hosts may reach it (a NetworkPolicy): the link carries sealed
                         requests only, but whoever reaches it can ask it to drain or rotate its keys
  --tee KIND             CPU TEE: simulated (default) or sev-snp (Linux configfs-tsm)
  --gpu KIND             GPUs: none (default), simulated, or nvidia (NVML)
  --gpu-count N          simulated GPUs (default 1)
  --models DIR           folder of model manifests (default: the repository's models/)
  --key-lifetime S       keyset lifetime in seconds (default 86400)
  --replay-window S      request timestamp window and id memory in seconds (default 60)
  --max-frame-bytes N    largest link frame (default 33554432)
  --configfs-root PATH   configfs-tsm report folder (default /sys/kernel/config/tsm/report)
  --nvml-library PATH    NVML library (default libnvidia-ml.so.1)
  --drain-timeout S      on SIGTERM or SIGINT (or the host's drain), refuse new requests (ERR_ENCLAVE_DRAINING)
                         and let those under way finish for up to S seconds before stopping (default 60)
  --log-level LEVEL      pino level (default info)
  --supervised           started by a supervisor (vouch-host) that holds the other end of standard input:
                         stop when it closes, that is when the supervisor has gone, however it ended
                         (default: run until SIGTERM or SIGINT, whatever standard input does)
  --remove-socket-dir    when the supervisor has gone, remove the socket's folder too: it made it for this
                         enclave alone (default, and after a drain or signal, when the supervisor starts the
                         next enclave in it: remove only the socket)
  -h, --help             this text
  --version              the version`

/** The flags of `vouch-enclave`, each listed in {@link USAGE}. */
export const OPTIONS = {
  socket: { type: 'string' },
  tee: { type: 'string', default: 'simulated' },
  gpu: { type: 'string', default: 'none' },
  'gpu-count': { type: 'string' },
  models: { type: 'string' },
  'key-lifetime': { type: 'string' },
  'replay-window': { type: 'string' },
  'max-frame-bytes': { type: 'string' },
  'drain-timeout': { type: 'string' },
  'configfs-root': { type: 'string' },
  'nvml-library': { type: 'string' },
  'log-level': { type: 'string', default: 'info' },
  supervised: { type: 'boolean', default: false },
  'remove-socket-dir': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  version: { type: 'boolean', default: false },
} as const

/** The version of this package, for `vouch-enclave --version`. */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

const DEFAULT_MODELS_DIR = fileURLToPath(new URL('../../models', import.meta.url))

function integer(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${flag} must be an integer ≥ ${min}, got "${value}"`)
  return n
}

/** A running enclave. */
export interface RunningEnclave {
  /** Where it serves the link: the socket path, or `tcp://HOST:PORT` with the port bound. */
  readonly address: string
  readonly service: EnclaveService
  /** Resolves when the host asks it to drain (the link's `drain`). */
  readonly drainRequested: Promise<void>
  /** Refuses new requests, waits for those under way (up to `--drain-timeout`), then {@link stop}s. */
  drainAndStop(): Promise<void>
  /**
   * Stops at once: the link closes, the models end. `supervisorGone`: the supervisor that made the socket's folder is
   * gone, so with `--remove-socket-dir` the folder goes too (otherwise it stays for the enclave started next in it).
   */
  stop(supervisorGone?: boolean): Promise<void>
}

/** How often a draining enclave checks whether it may stop. */
const DRAIN_POLL_MS = 25

/** Starts the enclave from command-line arguments. */
export async function startEnclave(argv: string[], log?: Logger): Promise<RunningEnclave> {
  const { values } = parseCommandLine(argv, { options: OPTIONS })
  if (values.socket === undefined) throw new UsageError('--socket is required')
  let listened: LinkAddress
  try {
    listened = parseLinkAddress(values.socket, { anyPort: true })
  } catch (error) {
    throw new UsageError(`--socket: ${(error as Error).message}`)
  }
  if (values.tee !== 'simulated' && values.tee !== 'sev-snp') throw new UsageError(`--tee must be simulated or sev-snp, got "${values.tee}"`)
  if (values.gpu !== 'none' && values.gpu !== 'simulated' && values.gpu !== 'nvidia') throw new UsageError(`--gpu must be none, simulated or nvidia, got "${values.gpu}"`)
  const logger = log ?? createLogger(values['log-level'])
  const gpuCount = integer(values['gpu-count'], '--gpu-count', 1)
  const keysetLifetimeS = integer(values['key-lifetime'], '--key-lifetime', 60)
  const replayWindowS = integer(values['replay-window'], '--replay-window', 1)
  const maxFrameSize = integer(values['max-frame-bytes'], '--max-frame-bytes', 1024)
  const drainTimeoutS = integer(values['drain-timeout'], '--drain-timeout', 0) ?? 60

  const cpu = values.tee === 'simulated' ? await createCpuTee('simulated') : await createCpuTee('sev-snp', values['configfs-root'] ? { root: values['configfs-root'] } : {})
  const gpu =
    values.gpu === 'none'
      ? null
      : values.gpu === 'simulated'
        ? await createGpuTee('simulated', gpuCount ? { count: gpuCount } : {})
        : await createGpuTee('nvidia', values['nvml-library'] ? { library: values['nvml-library'] } : {})
  let requestDrain: () => void = () => undefined
  const drainRequested = new Promise<void>((resolve) => (requestDrain = resolve))
  const service = await EnclaveService.create({
    cpu,
    gpu,
    modelsDir: values.models ?? DEFAULT_MODELS_DIR,
    log: logger,
    onDrain: () => requestDrain(),
    ...(keysetLifetimeS && { keysetLifetimeS }),
    ...(replayWindowS && { replayWindowMs: replayWindowS * 1000 }),
  })
  // The first unchallenged bundle is built now, so the first client does not wait for the hardware.
  await service.attest({ nonce: null })
  const server: LinkServer = await startLinkServer(values.socket, service, logger, maxFrameSize ? { maxFrameSize } : {})
  logger.info({ socket: server.address, tee: values.tee, gpu: values.gpu, models: service.modelRefs.map((m) => m.name), refused: service.refused.map((r) => r.name) }, 'enclave ready')
  const socketDir = values['remove-socket-dir'] && 'path' in listened ? dirname(listened.path) : null
  let stopping: Promise<void> | null = null
  const stop = (supervisorGone = false): Promise<void> =>
    (stopping ??= (async () => {
      await server.close()
      await service.close()
      await gpu?.close()
      await cpu.close()
      if (supervisorGone && socketDir !== null) rmSync(socketDir, { recursive: true, force: true })
    })())
  const drainAndStop = async (): Promise<void> => {
    await service.drain()
    // Until every host has been told (its next heartbeat answers draining, or it was refused a request as draining)
    // and every request it sent is answered: a request still on its way would otherwise be cut off with the link.
    const deadline = performance.now() + drainTimeoutS * 1000
    while (!(service.active === 0 && server.settled()) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS))
    if (service.active > 0 || !server.settled()) logger.warn({ seconds: drainTimeoutS, active: service.active }, 'drain: requests still under way after --drain-timeout; stopping anyway')
    else logger.info('drained: every host knows, and every request it sent was answered')
    await stop()
  }
  return { address: server.address, service, drainRequested, drainAndStop, stop }
}

/** Starts the enclave from command-line arguments; resolves to a function that stops it. */
export async function runEnclave(argv: string[], log?: Logger): Promise<() => Promise<void>> {
  return (await startEnclave(argv, log)).stop
}

/**
 * Resolves when standard input closes. A supervisor that passes `--supervised` holds the pipe's other end and
 * never writes to it; the pipe closes when the supervisor exits, even on SIGKILL, which no signal would tell us.
 */
function supervisorGone(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.on('data', () => undefined) // nothing is sent; reading is what notices the end
    process.stdin.once('end', resolve)
    process.stdin.once('close', resolve)
    process.stdin.once('error', () => resolve())
  })
}

/** The process entry: runs until SIGTERM or SIGINT (or, `--supervised`, until its supervisor goes), then stops cleanly. */
export async function main(argv: string[]): Promise<number> {
  const supervised = argv.includes('--supervised')
  // Watched from the start: a supervisor may go while the models are still loading.
  const gone = supervised ? supervisorGone() : new Promise<never>(() => undefined)
  try {
    let enclave: RunningEnclave
    try {
      const { values } = parseCommandLine(argv, { options: OPTIONS })
      if (values.help || values.version) {
        console.log(values.help ? USAGE : `vouch-enclave ${VERSION}`)
        return 0
      }
      enclave = await startEnclave(argv)
    } catch (error) {
      if (error instanceof UsageError) {
        console.error(`vouch-enclave: ${(error as Error).message}\n\n${USAGE}`)
        return 2
      }
      console.error(`vouch-enclave: cannot start: ${(error as { code?: string }).code ?? ''} ${(error as Error).message}`)
      return 1
    }
    const signalled = new Promise<void>((resolve) => {
      const done = (): void => resolve()
      process.once('SIGTERM', done)
      process.once('SIGINT', done)
    })
    // A signal or the host's drain: a rolling change, so requests under way finish. The supervisor gone: nobody is
    // left to answer to, so it stops at once.
    const why = await Promise.race([signalled.then(() => 'drain' as const), enclave.drainRequested.then(() => 'drain' as const), gone.then(() => 'gone' as const)])
    if (why === 'drain') await Promise.race([enclave.drainAndStop(), gone.then(() => enclave.stop(true))])
    else await enclave.stop(true)
    return 0
  } finally {
    // Standard input, read to notice the supervisor going, would otherwise keep the process alive.
    if (supervised) process.stdin.destroy()
  }
}
