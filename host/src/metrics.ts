/**
 * The host's Prometheus metrics (prom-client), on a registry of its own so two hosts in one process (tests)
 * do not share counters. Labels are bounded: routes are templates, models are names the enclave lists (or
 * `(unknown)`), statuses are numbers, so a client cannot grow the series by sending made-up paths or names.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Label for a model name that the enclave does not list. */
export const UNKNOWN_MODEL = '(unknown)'

/** Hooks the link client calls; {@link HostMetrics} implements them. */
export interface LinkMetrics {
  /** Requests waiting to be written to the enclave, and requests written and not yet answered. */
  queue(depth: number, inFlight: number): void
  /** One link request finished: its op, `ok` or the error code, and how long it took. */
  linkRequest(op: string, outcome: string, seconds: number): void
  /** The link is up (connected and answering pings) or down; for a fleet, the number of enclaves up. */
  linkUp(up: boolean | number): void
}

/**
 * Link metrics for a fleet: each member's link gets its own hooks, and the gauges report the sum over the members
 * (queued and in-flight requests, enclaves up), so `vouch_link_queue_depth` is the host's whole backlog (what the
 * autoscaler reads) and `vouch_enclave_up` the number of enclaves up. Returns a factory of one member's hooks.
 */
export function fleetLinkMetrics(metrics: LinkMetrics): () => LinkMetrics & { forget(): void } {
  const members = new Set<{ depth: number; inFlight: number; up: boolean }>()
  const report = (): void => {
    let depth = 0
    let inFlight = 0
    let up = 0
    for (const m of members) {
      depth += m.depth
      inFlight += m.inFlight
      if (m.up) up++
    }
    metrics.queue(depth, inFlight)
    metrics.linkUp(up)
  }
  return () => {
    const state = { depth: 0, inFlight: 0, up: false }
    members.add(state)
    return {
      queue: (depth, inFlight) => {
        state.depth = depth
        state.inFlight = inFlight
        report()
      },
      linkRequest: (op, outcome, seconds) => metrics.linkRequest(op, outcome, seconds),
      linkUp: (up) => {
        state.up = up !== false && up !== 0
        report()
      },
      forget: () => {
        members.delete(state)
        report()
      },
    }
  }
}

/** Every metric of the host and the registry that exposes them. */
export interface HostMetrics extends LinkMetrics {
  readonly registry: Registry
  readonly httpRequests: Counter<'method' | 'route' | 'model' | 'status'>
  readonly httpDuration: Histogram<'method' | 'route' | 'model' | 'status'>
  readonly attestations: Counter<'kind' | 'status'>
  readonly enclaveRestarts: Counter
  /** Counts one restart of the enclave process. */
  enclaveRestarted(): void
  /** Bytes of request bodies the host holds, and requests waiting with their bodies unread. */
  bodies(heldBytes: number, waiting: number): void
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Also collect Node.js process metrics (`vouch_host_process_*`, `vouch_host_nodejs_*`). Unset: true. */
  processMetrics?: boolean
}

/** Creates the host's metrics on a fresh registry. */
export function createMetrics(options: MetricsOptions = {}): HostMetrics {
  const registry = new Registry()
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'vouch_host_' })
  const registers = [registry]
  const httpRequests = new Counter({
    name: 'vouch_http_requests_total',
    help: 'HTTP requests answered, by method, route template, model and status',
    labelNames: ['method', 'route', 'model', 'status'] as const,
    registers,
  })
  const httpDuration = new Histogram({
    name: 'vouch_http_request_duration_seconds',
    help: 'Time from request to response, by method, route template, model and status',
    labelNames: ['method', 'route', 'model', 'status'] as const,
    // From a classifier round trip (about a millisecond) to a detector under load (seconds).
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  })
  const attestations = new Counter({
    name: 'vouch_attestation_requests_total',
    help: 'GET /v1/attestation requests, by kind (challenged with a nonce, or unchallenged) and status',
    labelNames: ['kind', 'status'] as const,
    registers,
  })
  const enclaveRestarts = new Counter({ name: 'vouch_enclave_restarts_total', help: 'Times the supervisor restarted the enclave after it exited or hung', registers })
  const linkUp = new Gauge({ name: 'vouch_enclave_up', help: 'Enclaves whose link is connected and answering pings', registers })
  const queueDepth = new Gauge({ name: 'vouch_link_queue_depth', help: 'Requests waiting to be written to the enclave link', registers })
  const inFlight = new Gauge({ name: 'vouch_link_in_flight', help: 'Requests written to the enclave link and not yet answered', registers })
  const bodyBytes = new Gauge({ name: 'vouch_request_body_bytes', help: 'Bytes of request bodies the host holds: being read, queued for the enclave or in flight', registers })
  const bodyWaiting = new Gauge({ name: 'vouch_request_body_waiting', help: 'Requests waiting with their bodies unread until limits.bufferedBytes has room', registers })
  const linkRequests = new Counter({
    name: 'vouch_link_requests_total',
    help: 'Enclave link requests, by op and outcome (ok or the error code)',
    labelNames: ['op', 'outcome'] as const,
    registers,
  })
  const linkDuration = new Histogram({
    name: 'vouch_link_request_duration_seconds',
    help: 'Time from queueing a link request to its answer, by op',
    labelNames: ['op'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  })
  linkUp.set(0)
  return {
    registry,
    httpRequests,
    httpDuration,
    attestations,
    enclaveRestarts,
    enclaveRestarted: () => enclaveRestarts.inc(),
    bodies: (held, waiting) => {
      bodyBytes.set(held)
      bodyWaiting.set(waiting)
    },
    queue: (depth, n) => {
      queueDepth.set(depth)
      inFlight.set(n)
    },
    linkRequest: (op, outcome, seconds) => {
      linkRequests.inc({ op, outcome })
      linkDuration.observe({ op }, seconds)
    },
    linkUp: (up) => linkUp.set(typeof up === 'number' ? up : up ? 1 : 0),
  }
}
