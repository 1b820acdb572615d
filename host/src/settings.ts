/**
 * Every setting of the host, declared once: its place in the configuration (the key is its path in {@link SETTINGS}),
 * its flag, its kind (which says how a flag, variable or file value is read and checked), its default and its
 * `--help` text. The environment variable and the file key follow from the key. {@link HostConfig}, the parser
 * (`config.ts`) and `--help` are derived from this declaration, so a setting that is used under a mistyped key does
 * not compile.
 */
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** How a setting's raw value (a flag or variable string, or a file value) is read and checked. */
export type Kind =
  | { type: 'integer'; min: number; max: number }
  | { type: 'bytes'; min: number; max: number }
  | { type: 'string' }
  | { type: 'path' }
  | { type: 'enum'; values: readonly string[] }
  | { type: 'boolean' }
  | { type: 'argv' }
  /** Comma-separated proxy addresses, CIDR blocks or the names `loopback`, `linklocal`, `uniquelocal`. */
  | { type: 'proxies' }

/** One setting, whose value has type `T`. */
export interface Setting<T> {
  /** Long flag without dashes. */
  readonly flag: string
  readonly kind: Kind
  /** The default; `null` means unset (the doc says what that means). */
  readonly fallback: T
  /** What the setting does and what happens when it is unset (the `--help` text). */
  readonly doc: string
  /** The flag may be given more than once, each time adding a value. */
  readonly repeatable?: true
}

const integer = <F extends number | null>(flag: string, min: number, max: number, fallback: F, doc: string): Setting<number | F> => ({ flag, kind: { type: 'integer', min, max }, fallback, doc })
const bytes = (flag: string, min: number, max: number, fallback: number, doc: string): Setting<number> => ({ flag, kind: { type: 'bytes', min, max }, fallback, doc })
const text = <F extends string | null>(flag: string, fallback: F, doc: string): Setting<string | F> => ({ flag, kind: { type: 'string' }, fallback, doc })
const path = (flag: string, doc: string): Setting<string | null> => ({ flag, kind: { type: 'path' }, fallback: null, doc })
const oneOf = <V extends string>(flag: string, values: readonly V[], fallback: V, doc: string): Setting<V> => ({ flag, kind: { type: 'enum', values }, fallback, doc })
const onOff = <F extends boolean | null = null>(flag: string, doc: string, fallback: F = null as F): Setting<boolean | F> => ({ flag, kind: { type: 'boolean' }, fallback, doc })
const argv = (flag: string, fallback: readonly string[], doc: string, repeatable?: true): Setting<string[]> => ({ flag, kind: { type: 'argv' }, fallback: [...fallback], doc, ...(repeatable && { repeatable }) })
const proxies = (flag: string, doc: string): Setting<string[]> => ({ flag, kind: { type: 'proxies' }, fallback: [], doc })

const MiB = 1024 * 1024
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** `node <repo>/enclave/bin/vouch-enclave.js`: the enclave next to this host. */
export const DEFAULT_ENCLAVE_COMMAND: readonly string[] = [process.execPath, resolve(REPO_ROOT, 'enclave/bin/vouch-enclave.js')]

/** Every setting, nested as in {@link HostConfig}. The order is the order of `--help`. */
export const SETTINGS = {
  /** TCP port of the HTTPS server (0: any free port). */
  port: integer('port', 0, 65535, 8443, 'HTTPS port (0: any free port)'),
  /** Address the HTTPS server listens on. */
  host: text('host', '127.0.0.1', 'address to listen on'),
  /**
   * Proxies whose `X-Forwarded-For` names the client (addresses, CIDR blocks, or `loopback`, `linklocal`,
   * `uniquelocal`), for the per-client limits; empty: the TCP peer is the client.
   */
  trustProxy: proxies(
    'trust-proxy',
    'comma-separated addresses or CIDR blocks (or loopback, linklocal, uniquelocal) of reverse proxies whose X-Forwarded-For names the client, for the per-client limits; weaker if clients can reach the host without the proxy (they could name any address); unset: the TCP peer is the client, so behind a proxy all clients share one budget',
  ),
  tls: {
    /** PEM certificate chain file; null with `key` null: the cached development certificate. */
    cert: path('tls-cert', 'PEM certificate (chain) file; unset: a cached self-signed development certificate'),
    /** PEM private key file. */
    key: path('tls-key', 'PEM private key file (with --tls-cert)'),
  },
  enclave: {
    tee: oneOf('tee', ['simulated', 'sev-snp'], 'simulated', 'CPU TEE of the supervised enclave'),
    gpu: oneOf('gpu', ['none', 'simulated', 'nvidia'], 'none', 'GPUs of the supervised enclave'),
    /** Simulated GPUs; null: the enclave's default (1). */
    gpuCount: integer('gpu-count', 1, 64, null, "simulated GPUs; unset: the enclave's default (1)"),
    /** Folder of model manifests; null: the enclave's default (the repository's `models/`). */
    models: path('models', "folder of model manifests; unset: the enclave's default (models/)"),
    /**
     * Enclaves that run elsewhere, each reached over the link at its address: `tcp://HOST:PORT`, `unix:PATH` (or a
     * bare socket path), or `dns://NAME:PORT`, every address the name resolves to, re-resolved every `resolveMs` (a
     * Kubernetes headless Service). Set: nothing is supervised.
     */
    addresses: argv(
      'enclave',
      [],
      'an enclave running elsewhere to route to (repeatable): tcp://HOST:PORT, unix:PATH (or a socket path), or dns://NAME:PORT for every address NAME resolves to, re-resolved every --enclave-resolve-ms (a Kubernetes headless Service); set: nothing is supervised',
      true,
    ),
    /** Supervised enclaves, each its own process with its own keys (a local fleet). */
    count: integer('enclaves', 1, 64, 1, 'supervised enclaves to run, each a process with its own keys, requests routed by the key they are sealed to (a local fleet)'),
    /** Time between resolutions of the `dns://` addresses. */
    resolveMs: integer('enclave-resolve-ms', 100, 3_600_000, 5_000, 'time between resolutions of dns:// enclave addresses (enclaves that appear are added, those gone removed)'),
    /** The enclave's socket (a path or `tcp://HOST:PORT`); null: a fresh path in a temporary folder. */
    socket: text('enclave-socket', null, 'enclave socket path or tcp://HOST:PORT; set: connect to an enclave running there, without supervision (one address; --enclave takes several)'),
    /** Start, watch and restart the enclave; false: connect to one that runs elsewhere at `socket`. Unset: true unless `socket` is set. */
    supervise: onOff('supervise', 'start and restart the enclave (--no-supervise: do not); unset: true unless --enclave-socket or --enclave is set'),
    /** Program and first arguments that start the enclave. */
    command: argv('enclave-command', DEFAULT_ENCLAVE_COMMAND, 'program and first arguments that start the enclave (space-separated)'),
    /** More arguments for the enclave, after those the host builds. */
    args: argv('enclave-arg', [], 'one more argument for the enclave (repeatable; write --enclave-arg=--flag for one that starts with a dash)', true),
  },
  limits: {
    /** Largest request body. */
    bodyBytes: bytes('max-body-bytes', 1024, 1024 * MiB, 16 * MiB, 'largest request body (413 beyond); accepts KiB/MiB suffixes'),
    /** Bytes of request bodies held at once (read, queued or in flight); requests beyond wait, bodies unread. */
    bufferedBytes: bytes(
      'max-buffered-bytes',
      1024,
      16 * 1024 * MiB,
      24 * MiB,
      'bytes of request bodies the host holds at once (read, queued or in flight); requests beyond wait with their bodies unread; at least limits.bodyBytes',
    ),
    /** Requests waiting for the enclave link before new ones are refused with 503. */
    queueDepth: integer('max-queue', 1, 100_000, 256, 'requests waiting for the enclave before 503'),
    /** Requests in flight on the enclave link. */
    inFlight: integer('max-in-flight', 1, 64, 32, 'requests in flight on the enclave link'),
    /** Bytes of request bodies in flight on the enclave link (one request is always let through). */
    inFlightBytes: bytes(
      'max-in-flight-bytes',
      64 * 1024,
      1024 * MiB,
      16 * MiB,
      "bytes of request bodies in flight on the enclave link (the rest wait in the host's queue, where they already are); one request always goes",
    ),
    /** Largest link frame (the supervised enclave gets the same limit). */
    frameBytes: bytes('max-frame-bytes', 64 * 1024, 1024 * MiB, 32 * MiB, 'largest enclave link frame'),
    /** Request bodies one client address has being read at once; its others wait unread. */
    clientBodies: integer('max-client-bodies', 1, 10_000, 16, 'request bodies one client address has being read at once; its others wait unread (they hold no body bytes)'),
    /** Slowest arrival of a request body, in bytes per second, over each `timeouts.bodyRateWindowMs` of reading (0: none). */
    minBodyRate: bytes(
      'min-body-rate',
      0,
      1024 * MiB,
      16 * 1024,
      'slowest rate, in bytes per second, at which a request body may arrive, measured over each timeouts.bodyRateWindowMs of reading (408 ERR_HOST_BODY_TOO_SLOW below it); 0: no floor; accepts KiB/MiB suffixes',
    ),
    /** Challenged attestations one client may ask for back to back. */
    attestBurst: integer('attest-burst', 1, 100_000, 5, 'challenged attestations one client may ask for back to back (429 ERR_HOST_ATTEST_RATE_LIMITED beyond)'),
    /** Challenged attestations per minute a client's budget refills with. */
    attestPerMinute: integer('attest-per-minute', 1, 6_000_000, 60, "challenged attestations per minute that refill a client's burst"),
  },
  timeouts: {
    /** Time to serve one HTTP request before 504. */
    requestMs: integer('request-timeout-ms', 100, 3_600_000, 65_000, 'time to serve a request before 504'),
    /** Time a request body may take from the start of reading, waits for the body budget included, before 408 (in effect only when shorter than `requestMs`). */
    bodyMs: integer(
      'body-timeout-ms',
      100,
      3_600_000,
      30_000,
      "time a request body may take to arrive from the start of reading, waits for the host's body budget included, so none holds its bytes longer (408 ERR_HOST_BODY_TIMEOUT); in effect only when shorter than timeouts.requestMs (504 covers the rest)",
    ),
    /** Reading time over which `limits.minBodyRate` is measured, window after window. */
    bodyRateWindowMs: integer(
      'body-rate-window-ms',
      100,
      3_600_000,
      5_000,
      'reading time over which limits.minBodyRate is measured, window after window (a body that stalls is cut off within two windows)',
    ),
    /** Time the enclave has to answer a ping. */
    pingMs: integer('ping-timeout-ms', 10, 600_000, 5_000, 'time the enclave has to answer a ping'),
    /** Time between heartbeat pings. */
    heartbeatMs: integer('heartbeat-ms', 10, 600_000, 2_000, 'time between heartbeat pings to the enclave'),
    /** Time a supervised enclave has to become ready before it is restarted. */
    enclaveStartMs: integer('enclave-start-timeout-ms', 100, 3_600_000, 180_000, 'time a started enclave has to become ready'),
    /** Time in-flight requests have to finish at shutdown. */
    shutdownMs: integer('shutdown-timeout-ms', 0, 3_600_000, 30_000, 'time in-flight requests have to finish at shutdown'),
    /** Time the enclave's model list is cached. */
    modelsCacheMs: integer('models-cache-ms', 0, 3_600_000, 5_000, "time the enclave's model list is cached"),
  },
  collateral: {
    /** Trust directory the served evidence's AMD and NVIDIA collateral is cached in; null: the verifier's default. */
    dir: path(
      'collateral-dir',
      'trust directory where the AMD and NVIDIA collateral stapled to the served evidence is cached, laid out as vouch-verify trust fetch writes it; unset: $VOUCH_TRUST_DIR, else $XDG_CACHE_HOME/vouch/trust, else ~/.cache/vouch/trust',
    ),
    /** Fetch the served evidence's collateral from AMD and NVIDIA; false: staple only what `dir` holds. */
    fetch: onOff(
      'collateral-fetch',
      "fetch the served evidence's collateral (AMD CRL, NVIDIA RIMs and OCSP responses) into collateral.dir when the enclave comes up and every collateral.refreshMs (--no-collateral-fetch: never; staple only what the directory holds, filled by vouch-verify trust fetch); evidence of the simulated TEE is never fetched for",
      true,
    ),
    /** Time between fetches of the served evidence's collateral. */
    refreshMs: integer(
      'collateral-refresh-ms',
      1000,
      7 * 24 * 3_600_000,
      3_600_000,
      "time between fetches of the served evidence's collateral; what is cached and current (a CRL or OCSP response before its nextUpdate, a RIM) costs no request",
    ),
    /** AMD KDS base URL; null: AMD's. */
    kdsUrl: text('kds-url', null, "AMD KDS base URL for collateral.fetch (a mirror); unset: AMD's, https://kdsintf.amd.com"),
    /** NVIDIA RIM service base URL; null: NVIDIA's. */
    rimUrl: text('rim-url', null, "NVIDIA RIM service base URL for collateral.fetch (a mirror); unset: NVIDIA's, https://rim.attestation.nvidia.com"),
    /** NVIDIA OCSP responder URL; null: NVIDIA's. */
    ocspUrl: text('ocsp-url', null, "NVIDIA OCSP responder URL for collateral.fetch; unset: NVIDIA's, https://ocsp.ndis.nvidia.com"),
  },
  admin: {
    /** Port of the plain-HTTP admin API (drain an enclave, rotate its keys, list the fleet); null: no admin API. */
    port: integer(
      'admin-port',
      0,
      65535,
      null,
      'port of the admin API (GET /admin/enclaves, POST /admin/enclaves/{id}/drain and /rotate), plain HTTP without authentication, on --admin-host; unset: no admin API',
    ),
    /** Address of the admin API. */
    host: text('admin-host', '127.0.0.1', 'address of the admin API; anything but a loopback address is weaker: whoever reaches it can drain every enclave'),
  },
  log: {
    level: oneOf('log-level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info', 'log level'),
  },
  receiptLog: {
    /**
     * Log every answer before it is relayed; false (weaker): answers are relayed unlogged, nobody can later prove
     * what the host answered or hold it to one history, and the log's routes answer 404.
     */
    enabled: onOff(
      'receipt-log',
      'append every answer to the receipt log before it is relayed (on by default; --no-receipt-log is weaker: answers are relayed unlogged, no inclusion proof exists for them, clients that require one refuse them, and /v1/log/ answers 404)',
      true,
    ),
    /** The receipt log's SQLite file; null: `log.sqlite` beside the development certificate's folder. */
    path: path('log-path', "SQLite file of the receipt log (created when absent); unset: log.sqlite beside the development certificate's folder (in $VOUCH_CACHE_DIR/, $XDG_CACHE_HOME/vouch/ or ~/.cache/vouch/); not with --log-url"),
    /** PostgreSQL URL of a receipt log several hosts share; null: SQLite at `path`. */
    url: text('log-url', null, 'postgres:// (or postgresql://) URL of a receipt log several hosts share (the tables are created when absent); unset: the SQLite file of --log-path'),
    /** Most entries integrated in one transaction; a batch starts as soon as this many wait. */
    batchEntries: integer('log-batch-entries', 1, 65_536, 256, 'most receipt log entries integrated in one transaction; a batch starts as soon as this many wait'),
    /**
     * Longest an entry waits for its batch to start, in milliseconds. 0 (the default): group commit, the next batch
     * starts as soon as the one before it is committed, with everything queued meanwhile; a timer only adds latency
     * to the answers, which wait for their entries.
     */
    batchMs: integer('log-batch-ms', 0, 60_000, 0, 'longest a receipt log entry waits before its batch starts; 0: group commit, as soon as the batch before it is committed, with all that queued meanwhile'),
    /** The log's name, the origin line of its checkpoints. */
    name: text('log-name', 'localhost/vouch-log', "the receipt log's name: the origin line of its signed checkpoints (by convention a schema-less URL, e.g. vouch.example/log)"),
    /** File holding the log's note signer key; null: the development key beside the development certificate. */
    key: path('log-key', "file holding the receipt log's note signer key (PRIVATE+KEY+…, as Go's sumdb/note writes it); unset: a development key, log-signer.key, created beside the development certificate"),
  },
} as const

type Settings = typeof SETTINGS

/** The values of a tree of settings, nested as the tree. */
export type SettingValues<S> = { -readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : SettingValues<S[K]> }

/** The dotted key of every setting of a tree (`limits.bodyBytes`). */
export type SettingKey<S = Settings, P extends string = ''> = {
  [K in keyof S & string]: S[K] extends Setting<unknown> ? `${P}${K}` : SettingKey<S[K], `${P}${K}.`>
}[keyof S & string]

/** The value type of the setting at dotted key `K`. */
export type SettingValue<K extends string, S = Settings> = K extends `${infer Group}.${infer Rest}`
  ? Group extends keyof S
    ? SettingValue<Rest, S[Group]>
    : never
  : K extends keyof S
    ? S[K] extends Setting<infer T>
      ? T
      : never
    : never

/**
 * The validated configuration, as {@link SETTINGS} declares it (see each setting's doc); `enclave.supervise` is
 * always decided (unset, it is true unless `enclave.socket` is set). Paths are absolute.
 */
export type HostConfig = SettingValues<Settings> & { enclave: { supervise: boolean } }

/** A setting with its dotted key: a row of `--help`. */
export interface Field extends Setting<unknown> {
  /** Dotted key in the file and in {@link HostConfig}. */
  readonly key: SettingKey
}

function isSetting(node: object): node is Setting<unknown> {
  return 'flag' in node && typeof node.flag === 'string'
}

/** The settings of `tree` with their keys, in declaration order. */
function flatten(tree: object, prefix: string): Field[] {
  return Object.entries(tree).flatMap(([name, node]: [string, object]) =>
    isSetting(node) ? [{ ...node, key: `${prefix}${name}` as SettingKey }] : flatten(node, `${prefix}${name}.`),
  )
}

/** Every setting with its key. The order is the order of `--help`. */
export const CONFIG_FIELDS: readonly Field[] = flatten(SETTINGS, '')

/** The values of every setting, nested as {@link SETTINGS}, each from `valueOf` (arrays copied). */
export function toSettingValues(valueOf: (key: SettingKey) => unknown): SettingValues<Settings> {
  const build = (tree: object, prefix: string): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(tree).map(([name, node]: [string, object]) => {
        if (!isSetting(node)) return [name, build(node, `${prefix}${name}.`)]
        const value = valueOf(`${prefix}${name}` as SettingKey)
        return [name, Array.isArray(value) ? [...(value as unknown[])] : value]
      }),
    )
  return build(SETTINGS, '') as SettingValues<Settings>
}
