/**
 * `vouch-host`: reads its configuration (flags > `VOUCH_HOST_*` > `--config FILE` > defaults), starts the
 * enclave and the HTTPS server, prints the URL and the certificate fingerprint, and shuts down gracefully on
 * SIGTERM or SIGINT. Exit codes: 0 after a clean shutdown, 1 when it cannot run, 2 for a configuration error.
 */
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { loadConfig, usage } from './config.js'
import { HostStartupError } from './errors.js'
import { createLogger } from './logger.js'
import { startHost, type RunningHost } from './server.js'

/** The version of this package, for `vouch-host --version`. */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

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
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    const done = (signal: string): void => {
      process.off('SIGTERM', done)
      process.off('SIGINT', done)
      resolve(signal)
    }
    process.once('SIGTERM', done)
    process.once('SIGINT', done)
  })
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
    io.out(parsed.version ? `vouch-host ${VERSION}` : usage())
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
      ? `vouch-host: self-signed development certificate ${tls.files[0]}\nvouch-host: certificate SHA-256 fingerprint ${tls.fingerprint256} (pin it, or trust the file, for localhost)`
      : `vouch-host: certificate SHA-256 fingerprint ${tls.fingerprint256}`,
  )
  io.out(host.supervisor === null ? `vouch-host: relaying to the enclave at ${config.enclave.socket}` : `vouch-host: starting the enclave (${config.enclave.tee}, GPU ${config.enclave.gpu}); /v2/health/ready answers 200 once it is up`)
  io.onStarted?.(host)
  const outcome = await Promise.race([(io.stopSignal ?? signalled()).then(() => null), host.fatal])
  await host.close()
  if (outcome instanceof HostStartupError) {
    io.err(`vouch-host: ${outcome.code}: ${outcome.message}`)
    return 1
  }
  return 0
}
