/**
 * Who a client is, for the host's per-client bounds (request bodies being read, challenged attestations): its
 * address, as the TCP connection shows it or, behind a reverse proxy the host is told to trust (`trustProxy`), as
 * that proxy reports it in `X-Forwarded-For` (Express's `req.ip`). IPv6 clients are grouped by their /64 prefix, the
 * block one subscriber gets, so one machine cannot pass for millions of clients.
 */
import { isIPv4, isIPv6 } from 'node:net'

/** The key of a client address: an IPv4 address (IPv4-mapped IPv6 unwrapped), an IPv6 /64 prefix, or the text as given. */
export function toClientKey(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown'
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  if (isIPv4(address) || !isIPv6(address)) return address
  const [head = '', tail = ''] = address.split('%', 1)[0]!.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = address.includes('::') ? (tail === '' ? [] : tail.split(':')) : []
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`
}

/** A budget of events per client: a token bucket per key, `burst` deep, refilled at `perSecond`. */
export interface RateBudget {
  burst: number
  perSecond: number
}

/**
 * Token buckets per client key. A key whose bucket has refilled is forgotten, so the map holds only the clients seen
 * within the last `burst / perSecond` seconds.
 */
export class ClientRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>()
  #sweptAt = 0

  constructor(
    readonly budget: RateBudget,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(budget.burst >= 1) || !(budget.perSecond > 0)) throw new RangeError(`a client budget needs burst ≥ 1 and perSecond > 0, got ${JSON.stringify(budget)}`)
  }

  /** Takes one token of `key`: null if there was one, else the seconds until there is (for `Retry-After`). */
  take(key: string): number | null {
    const now = this.now()
    this.#sweep(now)
    const bucket = this.#buckets.get(key) ?? { tokens: this.budget.burst, at: now }
    bucket.tokens = Math.min(this.budget.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.budget.perSecond)
    bucket.at = now
    this.#buckets.set(key, bucket)
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      return null
    }
    return (1 - bucket.tokens) / this.budget.perSecond
  }

  /** Clients with a bucket now. */
  get size(): number {
    return this.#buckets.size
  }

  /** Forgets buckets full again, at most once a second. */
  #sweep(now: number): void {
    if (now - this.#sweptAt < 1000) return
    this.#sweptAt = now
    const full = (this.budget.burst / this.budget.perSecond) * 1000
    for (const [key, bucket] of this.#buckets) if (now - bucket.at >= full) this.#buckets.delete(key)
  }
}
