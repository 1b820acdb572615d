/**
 * Wires the host together from a {@link HostConfig}: the receipt log, the enclave link, the supervisor (unless the
 * enclave runs elsewhere), the metrics, the app and the HTTPS server; and takes it apart again gracefully: stop accepting,
 * let in-flight requests finish (up to `timeouts.shutdownMs`), close the link, then stop the enclave.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { createApp, type AppConfig } from './app.js'
import { CollateralStapler } from './collateral.js'
import { HostLifecycle } from './lifecycle.js'
import type { HostConfig } from './config.js'
import { HostStartupError } from './errors.js'
import { openLogStore } from './log/open.js'
import { loadLogSignerKey, ReceiptLog } from './log/receipt-log.js'
import { startAdminServer, type AdminServer } from './fleet/admin.js'
import { DnsMembers } from './fleet/dns.js'
import { EnclavePool, type FleetMember } from './fleet/pool.js'
import { EnclaveLinkClient } from './link-client.js'
import { createMetrics, fleetLinkMetrics, type HostMetrics, type LinkMetrics } from './metrics.js'
import { EnclaveSupervisor } from './supervisor.js'
import { createHttpsServer, loadTlsCredentials, type TlsCredentials } from './tls.js'

/** A running host. */
export interface RunningHost {
  /** `https://HOST:PORT` it serves. */
  readonly url: string
  readonly port: number
  readonly tls: TlsCredentials
  readonly server: Server
  /** The enclaves the host routes to (one link each). */
  readonly pool: EnclavePool
  /** The first supervised enclave's supervisor; null when the enclaves run elsewhere (`enclave.supervise: false`). */
  readonly supervisor: EnclaveSupervisor | null
  /** Every supervisor, one per supervised enclave (`enclave.count`); empty when the enclaves run elsewhere. */
  readonly supervisors: readonly EnclaveSupervisor[]
  /** The admin API (`admin.port`): its URL, or null without one. */
  readonly adminUrl: string | null
  readonly metrics: HostMetrics
  readonly lifecycle: HostLifecycle
  /** Staples cached AMD and NVIDIA collateral to the evidence served (`collateral.*` settings). */
  readonly stapler: CollateralStapler
  /** The receipt log every answer is appended to before it is relayed; null with `receiptLog.enabled` false (weaker). */
  readonly receiptLog: ReceiptLog | null
  /** The log's signer key file, and whether it is the development key made beside the development certificate; null without a log. */
  readonly logKey: { file: string; origin: 'configured' | 'development' } | null
  /** Resolves when the supervisor gives up on the enclave (it refused its arguments or cannot be started). */
  readonly fatal: Promise<HostStartupError>
  /** Graceful shutdown; safe to call more than once. */
  close(): Promise<void>
}

/** Extra inputs of {@link startHost}. */
export interface StartHostOptions {
  log: Logger
  /** Environment for the TLS cache folder and the enclave process. Unset: `process.env`. */
  env?: NodeJS.ProcessEnv
  /** Metrics. Unset: fresh ones. */
  metrics?: HostMetrics
}

/**
 * The arguments the host gives a supervised enclave: `--supervised` (it stops when the host goes) and, when the
 * host made the socket's folder for it (`socketDirOwned`), `--remove-socket-dir`, so nothing is left behind even
 * when the host cannot clean up.
 */
export function enclaveArgs(config: HostConfig, socket: string, socketDirOwned = false): string[] {
  const e = config.enclave
  return [
    '--socket',
    socket,
    '--supervised',
    ...(socketDirOwned ? ['--remove-socket-dir'] : []),
    '--tee',
    e.tee,
    '--gpu',
    e.gpu,
    ...(e.gpuCount === null ? [] : ['--gpu-count', String(e.gpuCount)]),
    ...(e.models === null ? [] : ['--models', e.models]),
    '--max-frame-bytes',
    String(config.limits.frameBytes),
    '--log-level',
    config.log.level,
    ...e.args,
  ]
}

/**
 * Allocator settings the supervised enclave starts with, unless its environment sets them. glibc raises its mmap
 * threshold to the largest block freed so far, so after the first 5 MB tensor every later one comes from the heap
 * and stays resident once freed, as do onnxruntime's per-run scratch blocks; fixed at 128 KiB, such blocks are
 * mapped and unmapped, and the enclave's resident memory follows what it holds (DESIGN.md §10: about 30 MB less
 * with the detector). Each such block is then faulted in afresh, page by page, and a virtual machine pays dearly for
 * that (here about 30 µs a 4 KiB page: opening the detector's 4.9 MB request took 33 ms in fresh pages, 2.2 ms in
 * reused ones); `glibc.malloc.hugetlb=1` has glibc ask for transparent huge pages for those blocks (`madvise`), up to
 * 512 times fewer faults (23 ms), for the large blocks the enclave still allocates per request (its frames and the
 * request's plaintext are reused buffers: link/server.ts); docs/benchmarks.md, "Enclave allocator", has the round trip.
 * Other C libraries ignore both; with transparent huge pages off the second does nothing.
 */
export const ENCLAVE_ALLOCATOR_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '131072', GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' }

/** Why the server cannot listen, in words that say what to do; a port in use is the common case. */
function listenFailure(config: HostConfig, error: NodeJS.ErrnoException): string {
  const where = `${config.host}:${config.port}`
  if (error.code === 'EADDRINUSE') return `cannot listen on ${where}: port ${config.port} is in use by another program (EADDRINUSE); stop it, or choose another port (--port)`
  return `cannot listen on ${where}: ${error.code ?? error.message}`
}

/** The link client of `config`, to the enclave at `address`. */
function createLink(config: HostConfig, address: string, log: Logger, metrics: LinkMetrics): EnclaveLinkClient {
  return new EnclaveLinkClient({
    address,
    log: log.child({ component: 'link', enclave: address }),
    metrics,
    maxFrameSize: config.limits.frameBytes,
    maxInFlight: config.limits.inFlight,
    maxInFlightBytes: config.limits.inFlightBytes,
    maxQueue: config.limits.queueDepth,
    timeoutsMs: { ping: config.timeouts.pingMs, models: config.timeouts.pingMs, attest: config.timeouts.requestMs, infer: config.timeouts.requestMs },
    heartbeatMs: config.timeouts.heartbeatMs,
  })
}

/** The app's HTTP settings in `config`. */
function toAppConfig(config: HostConfig): AppConfig {
  return {
    bodyBytes: config.limits.bodyBytes,
    bufferedBytes: config.limits.bufferedBytes,
    clientBodies: config.limits.clientBodies,
    minBodyRate: config.limits.minBodyRate,
    bodyRateWindowMs: config.timeouts.bodyRateWindowMs,
    bodyTimeoutMs: config.timeouts.bodyMs,
    attestBurst: config.limits.attestBurst,
    attestPerMinute: config.limits.attestPerMinute,
    trustProxy: config.trustProxy,
    requestTimeoutMs: config.timeouts.requestMs,
    modelsCacheMs: config.timeouts.modelsCacheMs,
  }
}

/** The stapler of `config`'s `collateral` settings. */
function createStapler(config: HostConfig, log: Logger, env: NodeJS.ProcessEnv): CollateralStapler {
  const c = config.collateral
  return new CollateralStapler({
    fetch: c.fetch,
    refreshMs: c.refreshMs,
    env,
    log,
    ...(c.dir !== null && { dir: c.dir }),
    ...(c.kdsUrl !== null && { kdsUrl: c.kdsUrl }),
    ...(c.rimUrl !== null && { rimUrl: c.rimUrl }),
    ...(c.ocspUrl !== null && { ocspUrl: c.ocspUrl }),
  })
}

/**
 * Each time an enclave names a new keyset (it came up, restarted or rotated its keys), fetches its unchallenged bundle
 * and archives it once, so the stapler fetches its collateral before the first client asks (a restarted enclave may
 * run on other hardware); the member keeps the bundle for the receipt log. Only worth it when fetching.
 */
function primeStapler(member: FleetMember, stapler: CollateralStapler, log: Logger): void {
  let kid: string | null = null
  member.link.on('ping', (ping: { kid: string }) => {
    if (ping.kid === kid) return
    kid = ping.kid
    member.link.request('attest', { nonce: null }).then(
      ({ bundle }) => {
        member.remember(bundle)
        // Outside any request: a rejection here must be handled, or it would end the process.
        stapler.archive(bundle, { unchallenged: true }).catch((error: unknown) => log.warn({ err: error, enclave: member.address }, 'collateral: the unchallenged bundle cannot be archived'))
      },
      (error: unknown) => log.debug({ err: error, enclave: member.address }, 'collateral: the unchallenged bundle is not available yet'),
    )
  })
  member.link.on('down', () => (kid = null))
}

/** The enclaves of a host's configuration, before any of them is started. */
interface Fleet {
  pool: EnclavePool
  /** Sockets of the supervised enclaves, in order (none when the enclaves run elsewhere). */
  supervisedSockets: string[]
  /** Folders made for those sockets, in the same order (none when `enclave.socket` names the one socket). */
  socketDirs: string[]
  /** The `dns://` addresses, each resolved again and again once started. */
  dnsGroups: DnsMembers[]
  removeSocketDirs(): void
}

/**
 * The pool of `config`'s enclaves, one link each: supervised, `enclave.count` of them on fresh sockets (or the one
 * `enclave.socket` names); elsewhere, the addresses given, `dns://` ones resolved again and again (an enclave that is
 * no longer listed is drained out of the pool: the requests it holds finish). Link metrics are summed over the pool.
 */
function assembleFleet(config: HostConfig, log: Logger, metrics: HostMetrics, stapler: CollateralStapler | null): Fleet {
  const pool = new EnclavePool()
  const memberMetrics = fleetLinkMetrics(metrics)
  if (stapler !== null) pool.on('member', (member: FleetMember) => primeStapler(member, stapler, log))
  const forgetMetrics = new Map<string, () => void>()
  const addMember = (address: string): FleetMember => {
    const hooks = memberMetrics()
    forgetMetrics.set(address, hooks.forget)
    return pool.add(address, createLink(config, address, log, hooks))
  }
  pool.on('removed', (member: FleetMember) => forgetMetrics.get(member.address)?.())
  const fleet: Fleet = {
    pool,
    supervisedSockets: [],
    socketDirs: [],
    dnsGroups: [],
    removeSocketDirs: () => {
      for (const dir of fleet.socketDirs) rmSync(dir, { recursive: true, force: true })
    },
  }
  if (config.enclave.supervise) {
    for (let i = 0; i < config.enclave.count; i++) {
      if (config.enclave.socket !== null) fleet.supervisedSockets.push(config.enclave.socket)
      else {
        const dir = mkdtempSync(join(tmpdir(), 'vouch-host-'))
        fleet.socketDirs.push(dir)
        fleet.supervisedSockets.push(join(dir, 'enclave.sock'))
      }
    }
    for (const socket of fleet.supervisedSockets) addMember(socket)
    return fleet
  }
  for (const address of config.enclave.socket === null ? config.enclave.addresses : [config.enclave.socket]) {
    if (!address.startsWith('dns://')) addMember(address)
    else {
      const group = new DnsMembers({
        address,
        intervalMs: config.enclave.resolveMs,
        log: log.child({ component: 'fleet' }),
        add: (found) => addMember(found).link.start(),
        remove: (gone) => void pool.remove(gone, config.timeouts.requestMs),
      })
      fleet.dnsGroups.push(group)
    }
  }
  return fleet
}

/** Listens on `config`'s address; a port in use rejects with `ERR_HOST_CONFIG_INVALID` saying what to do. */
async function listen(server: Server, config: HostConfig): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.port, config.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    throw new HostStartupError('ERR_HOST_CONFIG_INVALID', listenFailure(config, error as NodeJS.ErrnoException), { cause: error })
  }
}

/** The URL `server` serves at: `localhost` for a wildcard address, an IPv6 address in brackets. */
function urlOf(server: Server, host: string): string {
  const port = (server.address() as AddressInfo).port
  const shown = host.includes(':') ? `[${host}]` : host
  return `https://${shown === '0.0.0.0' || shown === '[::]' ? 'localhost' : shown}:${port}`
}

/** Opens the receipt log `settings` name, signing its checkpoints with `signerKey`; `ERR_HOST_LOG_OPEN_FAILED` when it cannot. */
async function openReceiptLog(settings: HostConfig['receiptLog'], signerKey: string, env: NodeJS.ProcessEnv): Promise<ReceiptLog> {
  const store = await openLogStore(settings, env)
  try {
    return await ReceiptLog.open({ store, signerKey, origin: settings.name })
  } catch (error) {
    await store.close()
    throw new HostStartupError('ERR_HOST_LOG_OPEN_FAILED', `receipt log: cannot sign its checkpoint: ${(error as { code?: string }).code ?? (error as Error).message}`, { cause: error })
  }
}

/**
 * Starts the host: TLS material first (so a bad certificate fails before anything runs), then the HTTPS listener
 * (so a port in use fails before the enclave starts), then the enclave and the link to it.
 */
export async function startHost(config: HostConfig, options: StartHostOptions): Promise<RunningHost> {
  const { log } = options
  const env = options.env ?? process.env
  const tls = await loadTlsCredentials(config.tls, env)
  const logKey = config.receiptLog.enabled ? loadLogSignerKey(config.receiptLog.key, config.receiptLog.name, env) : null
  const receiptLog = logKey === null ? null : await openReceiptLog(config.receiptLog, logKey.signerKey, env)
  const metrics = options.metrics ?? createMetrics()
  const lifecycle = new HostLifecycle()

  const stapler = createStapler(config, log, env)
  const fleet = assembleFleet(config, log, metrics, config.collateral.fetch ? stapler : null)
  const { pool } = fleet
  const server = createHttpsServer(tls, createApp({ link: pool, log, metrics, lifecycle, stapler, receiptLog, config: toAppConfig(config) }))
  // Slow clients may not hold a request open longer than a request may take (Node answers 408 and closes).
  server.requestTimeout = config.timeouts.requestMs
  server.headersTimeout = Math.min(60_000, config.timeouts.requestMs)
  server.keepAliveTimeout = 5_000
  // Bound before the enclave starts: a port another server holds fails here, with no enclave started for nothing.
  let admin: AdminServer | null = null
  try {
    await listen(server, config)
    if (config.admin.port !== null) admin = await startAdminServer({ pool, host: config.admin.host, port: config.admin.port, log })
  } catch (error) {
    stapler.close()
    server.close()
    await pool.close()
    await receiptLog?.close()
    fleet.removeSocketDirs()
    throw error
  }

  let reportFatal: (error: HostStartupError) => void = () => undefined
  const fatal = new Promise<HostStartupError>((resolve) => (reportFatal = resolve))
  const supervisors = fleet.supervisedSockets.map((socket, i) => {
    const supervisor = new EnclaveSupervisor({
      command: config.enclave.command,
      args: enclaveArgs(config, socket, fleet.socketDirs[i] !== undefined),
      link: pool.member(socket)!.link,
      log: config.enclave.count > 1 ? log.child({ enclave: i + 1 }) : log,
      onRestart: () => metrics.enclaveRestarted(),
      startTimeoutMs: config.timeouts.enclaveStartMs,
      env: { ...ENCLAVE_ALLOCATOR_ENV, ...env },
    })
    supervisor.on('fatal', reportFatal)
    supervisor.start()
    return supervisor
  })
  for (const member of pool.members) member.link.start()
  await Promise.all(fleet.dnsGroups.map((group) => group.start()))
  const close = closer({ server, admin, fleet, supervisors, stapler, receiptLog, lifecycle, shutdownMs: config.timeouts.shutdownMs, log })
  const keyInfo = logKey === null ? null : { file: logKey.file, origin: logKey.origin }
  return {
    url: urlOf(server, config.host),
    port: (server.address() as AddressInfo).port,
    tls,
    server,
    pool,
    supervisor: supervisors[0] ?? null,
    supervisors,
    adminUrl: admin?.url ?? null,
    metrics,
    lifecycle,
    stapler,
    receiptLog,
    logKey: keyInfo,
    fatal,
    close,
  }
}

/**
 * Graceful shutdown, once however often it is called: no new connections, requests in flight finish (up to
 * `shutdownMs`), then the link closes and the enclave stops.
 */
function closer(parts: {
  server: Server
  admin: AdminServer | null
  fleet: Fleet
  supervisors: readonly EnclaveSupervisor[]
  stapler: CollateralStapler
  receiptLog: ReceiptLog | null
  lifecycle: HostLifecycle
  shutdownMs: number
  log: Logger
}): () => Promise<void> {
  const { server, admin, fleet, supervisors, stapler, receiptLog, lifecycle, shutdownMs, log } = parts
  let closing: Promise<void> | null = null
  return () =>
    (closing ??= (async () => {
      log.info({ active: lifecycle.active }, 'shutting down: no new connections; finishing requests in flight')
      lifecycle.draining = true
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), shutdownMs).unref())
      if ((await Promise.race([lifecycle.idle(), deadline])) === 'timeout') log.warn({ active: lifecycle.active }, 'shutdown: requests still in flight after the timeout; closing them')
      server.closeAllConnections()
      await closed
      // After the requests in flight: their appends are queued or done; closing integrates what is queued.
      await receiptLog?.close().catch((error: unknown) => log.error({ err: error }, 'shutdown: the receipt log did not close cleanly'))
      stapler.close()
      await admin?.close()
      for (const group of fleet.dnsGroups) group.close()
      await fleet.pool.close()
      await Promise.all(supervisors.map((s) => s.stop()))
      fleet.removeSocketDirs()
      log.info('host stopped')
    })())
}
