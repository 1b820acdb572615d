/**
 * `dns://NAME:PORT` enclave addresses: every address NAME resolves to is an enclave at PORT, re-resolved on a timer,
 * as a Kubernetes headless Service lists its ready pods. Enclaves that appear are added to the fleet, those gone
 * removed; a failed resolution keeps the fleet as it was (a DNS hiccup must not empty it).
 */
import { lookup } from 'node:dns/promises'
import { formatTcpAddress } from '@vouch/protocol'
import type { Logger } from 'pino'

/** The name and port of `dns://NAME:PORT`, or null when it is not one. */
export function parseDnsAddress(address: string): { name: string; port: number } | null {
  const match = /^dns:\/\/([A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(address)
  if (match === null) return null
  const port = Number(match[2])
  return port >= 1 && port <= 65535 ? { name: match[1]!, port } : null
}

/** Resolves a name to its addresses (IPv4 and IPv6). */
export type Resolve = (name: string) => Promise<string[]>

const resolveAll: Resolve = async (name) => (await lookup(name, { all: true })).map((a) => a.address)

/** Options of {@link DnsMembers}. */
export interface DnsMembersOptions {
  /** `dns://NAME:PORT`. */
  address: string
  intervalMs: number
  log: Logger
  /** Called with `tcp://IP:PORT` for each enclave that appears. */
  add(address: string): void
  /** Called with `tcp://IP:PORT` for each enclave gone from the name. */
  remove(address: string): void
  /** Unset: the system resolver (`dns.lookup`, as every other program on the node resolves names). */
  resolve?: Resolve
}

/** Keeps the fleet's members of one `dns://` address in step with what the name resolves to. */
export class DnsMembers {
  readonly #name: string
  readonly #port: number
  #current = new Set<string>()
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor(readonly options: DnsMembersOptions) {
    const parsed = parseDnsAddress(options.address)
    if (parsed === null) throw new RangeError(`${options.address}: expected dns://NAME:PORT`)
    this.#name = parsed.name
    this.#port = parsed.port
  }

  /** Resolves now, then every `intervalMs`. */
  start(): Promise<void> {
    return this.#resolve()
  }

  async #resolve(): Promise<void> {
    if (this.#closed) return
    try {
      const found = new Set((await (this.options.resolve ?? resolveAll)(this.#name)).map((ip) => formatTcpAddress(ip, this.#port)))
      if (this.#closed) return
      for (const address of found) if (!this.#current.has(address)) this.options.add(address)
      for (const address of this.#current) if (!found.has(address)) this.options.remove(address)
      if (found.size !== this.#current.size || [...found].some((a) => !this.#current.has(a))) this.options.log.info({ name: this.#name, enclaves: [...found] }, 'enclave addresses resolved')
      this.#current = found
    } catch (error) {
      this.options.log.warn({ name: this.#name, err: { code: (error as NodeJS.ErrnoException).code } }, 'cannot resolve the enclaves; keeping those known')
    } finally {
      if (!this.#closed) {
        this.#timer = setTimeout(() => void this.#resolve(), this.options.intervalMs)
        this.#timer.unref()
      }
    }
  }

  /** Stops resolving (the members stay until the pool closes). */
  close(): void {
    this.#closed = true
    clearTimeout(this.#timer)
  }
}
