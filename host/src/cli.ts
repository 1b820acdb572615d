/**
 * `vouch-host`: reads its configuration (flags > `VOUCH_HOST_*` > `--config FILE` > defaults), starts the
 * HTTPS server and the enclave, prints the URL and the certificate to trust, and shuts down gracefully on
 * SIGTERM or SIGINT (repeats of either, while it drains, are logged and ignored). Started with an IPC channel
 * (as `npm start` starts it), it tells its parent when it listens and when the enclave is ready.
 * Exit codes: 0 after a clean shutdown, 1 when it cannot run, 2 for a configuration error.
 */
import { once } from 'node:events'
import type { Logger } from 'pino'
import { loadConfig, usage } from './config.js'
import type { HostConfig } from './settings.js'
import { HostStartupError } from './errors.js'
import { createLogger } from './logger.js'
import { startHost, type RunningHost } from './server.js'
import { HOST_VERSION } from './version.js'

/** Where the CLI writes: its lines for people (stdout), errors (stderr). Tests pass their own. */
export interface CliIo {
  out(line: string): void
  err(line: string): void
  env?: NodeJS.ProcessEnv
  /** The logger. Unset: JSON lines on stdout at the configured level. */
  log?: Logger
  /** Resolves when the host should stop. Unset: on SIGTERM or SIGINT. */
  stopSignal?: Promise<unknown>
  /** Called once the host serves. */
  onStarted?: (host: RunningHost) => void
  /** Told how start-up goes ({@link ParentMessage}). Unset: the parent process, if it started this one with an IPC channel. */
  parent?: { send(message: ParentMessage): unknown }
}

/**
 * What the host tells the process that started it: `listening` once it serves (its URL, and the certificate
 * clients trust), then `ready` once the enclave answers. A parent learns readiness from its own child this way,
 * never from whatever else may answer on the port.
 */
export type ParentMessage = { vouchHost: 'listening'; url: string; certificate: string; fingerprint: string } | { vouchHost: 'ready' }

/** The parent process, when it gave this one an IPC channel; the channel never keeps the host alive. */
function ipcParent(): CliIo['parent'] {
  if (process.send === undefined) return undefined
  process.channel?.unref()
  return { send: (message) => process.send?.(message) }
}

/**
 * Resolves on the first SIGTERM or SIGINT; repeats are logged and ignored from then on. Ctrl-C in a terminal
 * signals every process in its group, so a host under `npm start` gets it twice (once from the terminal, once
 * passed on), and a second one must not cut short the requests the first one lets finish. The handlers stay
 * until the process exits (they do not keep it alive), so a late repeat cannot kill a host that has drained.
 */
function signalled(onRepeat: (signal: string) => void): Promise<string> {
  return new Promise((resolve) => {
    let seen = false
    const handler = (signal: string): void => {
      if (seen) onRepeat(signal)
      seen = true
      resolve(signal)
    }
    process.on('SIGTERM', handler)
    process.on('SIGINT', handler)
  })
}

/** What the host starts with: the enclaves it supervises, or those it relays to. */
function startLine(config: HostConfig): string {
  const e = config.enclave
  if (e.supervise) {
    const which = e.count === 1 ? 'the enclave' : `${e.count} enclaves, each with its own keys,`
    return `vouch-host: starting ${which} (${e.tee}, GPU ${e.gpu}); /v2/health/ready answers 200 once one is up`
  }
  const addresses = e.socket === null ? e.addresses : [e.socket]
  return `vouch-host: relaying to the ${addresses.length === 1 ? 'enclave' : 'enclaves'} at ${addresses.join(', ')}${addresses.some((a) => a.startsWith('dns://')) ? ' (names resolved again every --enclave-resolve-ms)' : ''}`
}

/** Resolves once every supervised enclave is up, or, for enclaves elsewhere, once one is. */
async function whenReady(host: RunningHost): Promise<void> {
  if (host.supervisors.length > 0) {
    await Promise.all(host.pool.members.map((m) => (m.link.up ? undefined : once(m.link, 'up'))))
    return
  }
  while (!host.pool.up) await new Promise((resolve) => setTimeout(resolve, 100))
}

/** Runs the host until it is told to stop; resolves to the exit code. */
export async function main(argv: string[], io: CliIo = { out: (l) => console.log(l), err: (l) => console.error(l) }): Promise<number> {
  let parsed: ReturnType<typeof loadConfig>
  try {
    parsed = loadConfig(argv, io.env === undefined ? {} : { env: io.env })
  } catch (error) {
    io.err(`vouch-host: ${(error as Error).message}\n\nrun vouch-host --help for the options`)
    return 2
  }
  if (parsed.help) {
    io.out(parsed.version ? `vouch-host ${HOST_VERSION}` : usage())
    return 0
  }
  const { config } = parsed
  const log = io.log ?? createLogger(config.log.level)
  let host: RunningHost
  try {
    host = await startHost(config, { log, ...(io.env === undefined ? {} : { env: io.env }) })
  } catch (error) {
    const code = error instanceof HostStartupError ? error.code : (error as { code?: string }).code
    io.err(`vouch-host: cannot start: ${code ? `${code}: ` : ''}${(error as Error).message}`)
    return code === 'ERR_HOST_CONFIG_INVALID' ? 2 : 1
  }
  const tls = host.tls
  io.out(`vouch-host: serving ${host.url} (TLS 1.3)`)
  io.out(
    tls.origin === 'development'
      ? `vouch-host: self-signed development certificate; clients trust ${tls.trustFile} (vouch --ca FILE, curl --cacert FILE)\nvouch-host: certificate SHA-256 fingerprint ${tls.fingerprint256} (or pin it)`
      : `vouch-host: certificate SHA-256 fingerprint ${tls.fingerprint256}`,
  )
  io.out(
    host.receiptLog === null || host.logKey === null
      ? 'vouch-host: receipt log OFF (--no-receipt-log, weaker): answers are relayed unlogged, with no inclusion proof'
      : `vouch-host: receipt log ${config.receiptLog.name} (${host.receiptLog.store.backend}); checkpoints signed by ${host.receiptLog.verifierKey}` +
          (host.logKey.origin === 'development' ? ` (development key ${host.logKey.file}; pin it: vouch --log-key)` : ''),
  )
  io.out(startLine(config))
  io.onStarted?.(host)
  const parent = io.parent ?? ipcParent()
  if (parent !== undefined) {
    parent.send({ vouchHost: 'listening', url: host.url, certificate: tls.trustFile, fingerprint: tls.fingerprint256 })
    void whenReady(host).then(() => parent.send({ vouchHost: 'ready' }))
  }
  const stop = io.stopSignal ?? signalled((signal) => log.warn({ signal, active: host.lifecycle.active }, 'draining: the signal is ignored; stopping once the requests in flight finish'))
  const outcome = await Promise.race([stop.then(() => null), host.fatal])
  await host.close()
  if (outcome instanceof HostStartupError) {
    io.err(`vouch-host: ${outcome.code}: ${outcome.message}`)
    return 1
  }
  return 0
}
