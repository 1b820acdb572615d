/**
 * Runs the enclave process and keeps it running (DESIGN.md §9: "the host restarts a crashed enclave").
 *
 * - Starts `command ... --socket PATH --tee … --gpu … [--models DIR]` with its stdout and stderr piped: its
 *   pino JSON lines (already redacted by the enclave) are re-logged through the host's logger as
 *   `component: "enclave"`, at their own level. Other lines (a start-up failure on stderr) are logged as text,
 *   cut to 2 KiB.
 * - Ready means the link is up: the socket answers `ping`. The enclave's `enclave ready` line only makes the
 *   link try to connect at once instead of at its next backoff step.
 * - When the process exits (or does not become ready in `startTimeoutMs`, or stays unanswering for
 *   `hangTimeoutMs` after having been ready) it is restarted after a backoff that doubles from `backoffMs.min`
 *   to `backoffMs.max` and resets once a run has stayed up for a minute. Each restart is counted in metrics.
 *   Exit code 2 is the enclave's usage error: restarting cannot help, so the supervisor reports `fatal`.
 * - The enclave runs in its own process group, so a Ctrl-C meant for the host (the terminal signals the whole
 *   foreground group) does not stop it while the host drains; the host stops it last, with SIGTERM. Its standard
 *   input is a pipe the supervisor never writes to: when the host goes, however it ends (SIGKILL included), the
 *   pipe closes, and an enclave started with `--supervised` stops.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'
import type { Logger } from 'pino'
import { HostStartupError } from './errors.js'

/** What the supervisor needs of the enclave link: its state and its `up`/`down` events. */
export interface SupervisedLink {
  readonly up: boolean
  reconnectNow(): void
  on(event: 'up' | 'down', listener: () => void): unknown
  off(event: 'up' | 'down', listener: () => void): unknown
}

/** Supervisor settings. Every field says what happens when it is unset. */
export interface SupervisorOptions {
  /** The program and its first arguments, e.g. `[process.execPath, '<repo>/enclave/bin/vouch-enclave.js']`. */
  command: readonly string[]
  /** Arguments appended to `command` (the host builds `--socket`, `--tee`, `--gpu`, `--models` …). */
  args: readonly string[]
  /** The link to the enclave's socket: its `up` state is the readiness the supervisor waits for. */
  link: SupervisedLink
  log: Logger
  /** Called once per restart. Unset: none. */
  onRestart?: () => void
  /** Delay before a restart: doubles from `min` up to `max`. Unset: 250 ms and 15 s. */
  backoffMs?: { min: number; max: number }
  /** Time a started enclave has to answer ping before it is killed and restarted. Unset: 180 s. */
  startTimeoutMs?: number
  /** Time a ready enclave may stay unanswering (heartbeat failing) before it is killed and restarted. Unset: 30 s. */
  hangTimeoutMs?: number
  /** Time the enclave has to exit after SIGTERM at shutdown before SIGKILL. Unset: 10 s. */
  stopTimeoutMs?: number
  /** Environment of the enclave process. Unset: the host's. */
  env?: NodeJS.ProcessEnv
}

/** Runs after this long count as stable and reset the restart backoff. */
const STABLE_RUN_MS = 60_000
const MAX_TEXT_LINE = 2048
const PINO_LEVELS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** Exit code with which `vouch-enclave` reports a usage error. */
export const ENCLAVE_USAGE_EXIT_CODE = 2

/**
 * Starts, watches and restarts the enclave. Emits `spawn` (pid), `exit` (code, signal), `restart` (count) and
 * `fatal` (a {@link HostStartupError}) when the enclave cannot be started at all.
 */
export class EnclaveSupervisor extends EventEmitter {
  readonly #options: SupervisorOptions
  readonly #log: Logger
  #child: ChildProcess | null = null
  #stopping = false
  #restarts = 0
  #failures = 0
  #startedAt = 0
  #restartTimer: NodeJS.Timeout | undefined
  #startTimer: NodeJS.Timeout | undefined
  #hangTimer: NodeJS.Timeout | undefined
  #wasReady = false
  readonly #onUp = (): void => {
    clearTimeout(this.#startTimer)
    clearTimeout(this.#hangTimer)
    this.#wasReady = true
  }
  readonly #onDown = (): void => {
    const child = this.#child
    if (child === null || !this.#wasReady || this.#stopping) return
    clearTimeout(this.#hangTimer)
    this.#hangTimer = setTimeout(() => {
      if (this.#child === child && !this.#options.link.up) {
        this.#log.error({ component: 'enclave', enclavePid: child.pid, ms: this.#options.hangTimeoutMs ?? 30_000 }, 'enclave stopped answering; killing it')
        child.kill('SIGKILL')
      }
    }, this.#options.hangTimeoutMs ?? 30_000)
    this.#hangTimer.unref()
  }

  constructor(options: SupervisorOptions) {
    super()
    if (options.command.length === 0) throw new HostStartupError('ERR_HOST_CONFIG_INVALID', 'enclave.command: must name a program')
    this.#options = options
    this.#log = options.log
  }

  /** The running enclave's process id, if one runs. */
  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** Restarts so far. */
  get restarts(): number {
    return this.#restarts
  }

  /** Starts the enclave. */
  start(): void {
    this.#options.link.on('up', this.#onUp)
    this.#options.link.on('down', this.#onDown)
    this.#spawn()
  }

  /** Stops the enclave: SIGTERM, then SIGKILL after `stopTimeoutMs`; no restart. */
  async stop(): Promise<void> {
    this.#stopping = true
    clearTimeout(this.#restartTimer)
    clearTimeout(this.#startTimer)
    clearTimeout(this.#hangTimer)
    this.#options.link.off('up', this.#onUp)
    this.#options.link.off('down', this.#onDown)
    const child = this.#child
    if (child === null || child.exitCode !== null || child.signalCode !== null) return
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => {
        this.#log.warn({ component: 'enclave', enclavePid: child.pid }, 'enclave did not stop in time; killing it')
        child.kill('SIGKILL')
      }, this.#options.stopTimeoutMs ?? 10_000)
      child.once('exit', () => {
        clearTimeout(kill)
        resolve()
      })
      child.kill('SIGTERM')
    })
  }

  #spawn(): void {
    const [program, ...first] = this.#options.command
    const args = [...first, ...this.#options.args]
    this.#wasReady = false
    let child: ChildProcess
    try {
      child = spawn(program!, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env: this.#options.env ?? process.env })
    } catch (error) {
      this.#fatal(new HostStartupError('ERR_HOST_ENCLAVE_START', `cannot start the enclave (${program}): ${(error as Error).message}`, { cause: error }))
      return
    }
    this.#child = child
    this.#startedAt = Date.now()
    // Nothing is written to it: it is how the enclave knows the host is there.
    child.stdin?.on('error', () => undefined)
    const log = this.#log.child({ component: 'enclave' })
    child.once('spawn', () => {
      log.info({ enclavePid: child.pid, command: [program, ...args] }, 'enclave started')
      this.emit('spawn', child.pid)
    })
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Only spawn failures arrive here without an exit (ENOENT, EACCES): the program itself is wrong.
      if (child.pid === undefined) {
        if (this.#child === child) this.#child = null
        clearTimeout(this.#startTimer)
        this.#fatal(new HostStartupError('ERR_HOST_ENCLAVE_START', `cannot start the enclave (${program}): ${error.code ?? error.message}`, { cause: error }))
      } else log.warn({ err: { code: error.code, message: error.message } }, 'enclave process error')
    })
    this.#relay(child.stdout!, log, 'info')
    this.#relay(child.stderr!, log, 'warn')
    clearTimeout(this.#startTimer)
    this.#startTimer = setTimeout(() => {
      if (this.#child === child && !this.#options.link.up) {
        log.error({ enclavePid: child.pid, ms: this.#options.startTimeoutMs ?? 180_000 }, 'enclave did not become ready in time; killing it')
        child.kill('SIGKILL')
      }
    }, this.#options.startTimeoutMs ?? 180_000)
    this.#startTimer.unref()
    child.once('exit', (code, signal) => this.#exited(child, code, signal))
  }

  #exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child === child) this.#child = null
    clearTimeout(this.#startTimer)
    clearTimeout(this.#hangTimer)
    this.emit('exit', code, signal)
    if (this.#stopping) {
      this.#log.info({ component: 'enclave', enclavePid: child.pid, code, signal }, 'enclave stopped')
      return
    }
    if (code === ENCLAVE_USAGE_EXIT_CODE) {
      this.#fatal(new HostStartupError('ERR_HOST_ENCLAVE_START', 'the enclave refused its arguments (exit code 2); see its message above'))
      return
    }
    if (Date.now() - this.#startedAt >= STABLE_RUN_MS) this.#failures = 0
    const min = this.#options.backoffMs?.min ?? 250
    const delay = Math.min(min * 2 ** this.#failures, this.#options.backoffMs?.max ?? 15_000)
    this.#failures++
    // Exit code 0 is an enclave that drained and stopped on purpose (a rolling change): a new one, with new keys, is due.
    if (code === 0 && signal === null) this.#log.info({ component: 'enclave', enclavePid: child.pid, restartInMs: delay }, 'enclave drained and stopped; starting a new one')
    else this.#log.error({ component: 'enclave', enclavePid: child.pid, code, signal, restartInMs: delay }, 'enclave exited; restarting it')
    this.#restartTimer = setTimeout(() => {
      if (this.#stopping) return
      this.#restarts++
      this.#options.onRestart?.()
      this.emit('restart', this.#restarts)
      this.#spawn()
    }, delay)
    this.#restartTimer.unref()
  }

  #fatal(error: HostStartupError): void {
    this.#log.fatal({ err: { code: error.code, message: error.message } }, 'cannot supervise the enclave')
    if (this.listenerCount('fatal') > 0) this.emit('fatal', error)
  }

  /** Re-logs the enclave's lines. They are the enclave's own, already redacted; the host adds nothing from them but their fields. */
  #relay(stream: Readable, log: Logger, textLevel: 'info' | 'warn'): void {
    const lines = createInterface({ input: stream, crlfDelay: Infinity })
    lines.on('line', (line) => {
      if (line.length === 0) return
      let entry: Record<string, unknown> | null = null
      if (line.startsWith('{')) {
        try {
          const parsed = JSON.parse(line) as unknown
          if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) entry = parsed as Record<string, unknown>
        } catch {
          // not JSON: logged as text below
        }
      }
      if (entry === null) {
        log[textLevel]({ line: line.length > MAX_TEXT_LINE ? `${line.slice(0, MAX_TEXT_LINE)}…` : line }, 'enclave output')
        return
      }
      const { level, msg, time: _time, pid, hostname: _hostname, name: _name, ...fields } = entry
      const method = PINO_LEVELS[typeof level === 'number' ? level : 30] ?? 'info'
      const message = typeof msg === 'string' ? msg : 'enclave log'
      log[method]({ ...fields, enclavePid: pid }, message)
      if (message === 'enclave ready') this.#options.link.reconnectNow()
    })
  }
}
