/**
 * The enclaves a host routes to (issue 13): one {@link EnclaveLinkClient} per enclave, each enclave known by its link
 * address, its current kid and whether it drains. A sealed request goes to the enclave holding its `Vouch-Key-Id`, and
 * only there (nobody else can open it); everything else (models, the unchallenged bundle) to any enclave that takes
 * requests, in turn. Members come and go: a `dns://` name is re-resolved (a Kubernetes headless Service), supervised
 * children restart with new keys. The pool is the app's {@link EnclaveLink}: with one member it behaves as that link.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { LinkOp, LinkRequestFields, LinkResult } from '@vouch/protocol'
import { HostError, toEnclaveRefusal } from '../errors.js'
import type { EnclaveLink, EnclaveLinkClient, LinkCallOptions } from '../link-client.js'

/** Unchallenged bundles remembered per enclave: the current keyset's, and those before it whose answers may still be logged. */
const REMEMBERED_BUNDLES = 4

/** An enclave a request is routed to: its link, and the evidence its receipts name. */
export interface RoutedEnclave {
  readonly address: string
  readonly link: EnclaveLink
  draining: boolean
  /** Its unchallenged bundle of digest `digest` (for the receipt log). */
  evidence(digest: string, options?: LinkCallOptions): Promise<Uint8Array>
  /** Keeps `bundle`, an unchallenged bundle it served. */
  remember(bundle: Uint8Array): void
}

/** What the routes need of the enclaves: one link for everything, and the enclave holding a kid for sealed requests. */
export interface EnclaveFleet extends EnclaveLink {
  /** The enclave a request sealed to `kid` goes to, or the coded reason there is none. */
  route(kid: string): Promise<RoutedEnclave>
  /** The enclaves taking requests, in a fair rotation (at most `max`). */
  serving(max?: number): RoutedEnclave[]
}

/**
 * `link` as a fleet of one: every request goes to it, and the enclave itself refuses a kid it does not hold (an app
 * given a single link, as tests give it, behaves as before the fleet).
 */
export function asFleet(link: EnclaveLink | EnclaveFleet): EnclaveFleet {
  if ('route' in link) return link
  const only: RoutedEnclave = {
    address: 'enclave',
    link,
    draining: false,
    evidence: async (_digest, options) => (await link.request('attest', { nonce: null }, options)).bundle,
    remember: () => undefined,
  }
  return {
    get up() {
      return link.up
    },
    request: (op, fields, options) => link.request(op, fields, options),
    route: async () => only,
    serving: () => (link.up ? [only] : []),
  }
}

/** One enclave of the fleet. */
export class FleetMember implements RoutedEnclave {
  /** The kid its last ping named; null before the first. */
  kid: string | null = null
  /** True once its ping says it drains, or it refused a request as draining: it gets no new request. */
  draining = false
  /** Unchallenged bundles it served, by `sha256:` digest, newest last. */
  readonly #bundles = new Map<string, Uint8Array>()

  constructor(
    /** Its link address: `tcp://10.0.0.5:7000`, a socket path. */
    readonly address: string,
    readonly link: EnclaveLinkClient,
  ) {
    // While the link is down the kid stays: requests sealed to it are "unavailable" (503), not "unknown" (409), until
    // a ping says otherwise. Bundles of earlier keysets stay too (the newest few): answers opened under a keyset that
    // has just been rotated out are logged with its evidence.
    link.on('ping', (ping: LinkResult<'ping'>) => {
      this.kid = ping.kid
      this.draining = ping.draining
    })
  }

  /** Connected, answering, and taking new requests. */
  get serving(): boolean {
    return this.link.up && !this.draining && this.kid !== null
  }

  /** Its unchallenged bundle of digest `digest`: remembered, or fetched now (it must still be the current one). */
  async evidence(digest: string, options: LinkCallOptions = {}): Promise<Uint8Array> {
    const remembered = this.#bundles.get(digest)
    if (remembered !== undefined) return remembered
    const { bundle } = await this.link.request('attest', { nonce: null }, options)
    this.remember(bundle)
    return bundle
  }

  /** Keeps `bundle` (an unchallenged bundle it served) for the receipt log, under its digest. */
  remember(bundle: Uint8Array): void {
    const digest = `sha256:${createHash('sha256').update(bundle).digest('hex')}`
    this.#bundles.delete(digest)
    this.#bundles.set(digest, bundle)
    while (this.#bundles.size > REMEMBERED_BUNDLES) this.#bundles.delete(this.#bundles.keys().next().value!)
  }
}

/** What the pool says of one member: `GET /admin/enclaves`, logs. */
export interface MemberStatus {
  address: string
  up: boolean
  draining: boolean
  kid: string | null
  queued: number
  inFlight: number
}

/**
 * The fleet. Emits `member` (a {@link FleetMember} added) and `removed` (one gone). {@link close} closes every link.
 */
export class EnclavePool extends EventEmitter implements EnclaveFleet {
  readonly #members = new Map<string, FleetMember>()
  #next = 0
  /** One refresh of every member's kid at a time, shared by the requests that missed. */
  #refreshing: Promise<void> | null = null

  /** Every member, in the order they were added. */
  get members(): FleetMember[] {
    return [...this.#members.values()]
  }

  /** True while some member takes requests. */
  get up(): boolean {
    for (const m of this.#members.values()) if (m.serving) return true
    return false
  }

  /** The member at `address`, if any. */
  member(address: string): FleetMember | undefined {
    return this.#members.get(address)
  }

  /** Adds the enclave `link` reaches at `address` (the caller starts the link). */
  add(address: string, link: EnclaveLinkClient): FleetMember {
    const existing = this.#members.get(address)
    if (existing !== undefined) return existing
    const member = new FleetMember(address, link)
    this.#members.set(address, member)
    this.emit('member', member)
    return member
  }

  /**
   * Removes the member at `address`: it gets no new request at once (503 `ERR_ENCLAVE_DRAINING` for its kid), those it
   * holds or has queued are let finish (up to `graceMs`), then its link closes. A name that stops resolving to a pod
   * is most often a pod draining (Kubernetes drops a terminating pod from a headless Service at once).
   */
  async remove(address: string, graceMs = 0): Promise<void> {
    const member = this.#members.get(address)
    if (member === undefined) return
    member.draining = true
    const until = performance.now() + graceMs
    while (member.link.up && (member.link.inFlight > 0 || member.link.queueDepth > 0) && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 100))
    if (this.#members.get(address) !== member) return
    this.#members.delete(address)
    this.emit('removed', member)
    await member.link.close()
  }

  /** The members taking requests, in a fair rotation starting after the last one picked (at most `max`). */
  serving(max = Infinity): FleetMember[] {
    const all = this.members.filter((m) => m.serving)
    if (all.length === 0) return all
    const start = this.#next++ % all.length
    return [...all.slice(start), ...all.slice(0, start)].slice(0, max)
  }

  /** Sends `op` to the next member taking requests; `ERR_HOST_ENCLAVE_UNAVAILABLE` when there is none. */
  request<O extends LinkOp>(op: O, fields: LinkRequestFields<O>, options?: LinkCallOptions): Promise<LinkResult<O>> {
    const member = this.serving()[0]
    if (member === undefined) return Promise.reject(new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE'))
    return member.link.request(op, fields, options)
  }

  /**
   * The member holding `kid`, to send a request sealed to it: 409 `ERR_ENCLAVE_UNKNOWN_KID` when none does (after
   * asking every member once: one may have just renewed its keys), 503 `ERR_ENCLAVE_DRAINING` when it drains, 503
   * `ERR_HOST_ENCLAVE_UNAVAILABLE` while its link is down.
   */
  async route(kid: string): Promise<FleetMember> {
    let member = this.#holder(kid)
    if (member === undefined) {
      await this.#refresh()
      member = this.#holder(kid)
    }
    if (member === undefined) throw toEnclaveRefusal({ code: 'ERR_ENCLAVE_UNKNOWN_KID', message: 'the request is sealed to a key no enclave behind this host holds: attest again', status: 409 })
    if (member.draining) throw toEnclaveRefusal({ code: 'ERR_ENCLAVE_DRAINING', message: 'the enclave is draining and takes no new request: attest again and send it to another enclave', status: 503 })
    if (!member.link.up) throw new HostError('ERR_HOST_ENCLAVE_UNAVAILABLE')
    return member
  }

  #holder(kid: string): FleetMember | undefined {
    for (const m of this.#members.values()) if (m.kid === kid) return m
    return undefined
  }

  /** Pings every connected member now, so kids renewed since the last heartbeat are known. */
  #refresh(): Promise<void> {
    this.#refreshing ??= Promise.allSettled(this.members.map((m) => m.link.probe())).then(() => {
      this.#refreshing = null
    })
    return this.#refreshing
  }

  /** Each member's state. */
  status(): MemberStatus[] {
    return this.members.map((m) => ({ address: m.address, up: m.link.up, draining: m.draining, kid: m.kid, queued: m.link.queueDepth, inFlight: m.link.inFlight }))
  }

  /** Closes every member's link. */
  async close(): Promise<void> {
    const members = this.members
    this.#members.clear()
    await Promise.all(members.map((m) => m.link.close()))
  }
}
