/**
 * Configuration: defaults, precedence flags > environment > file > defaults, and errors that name their
 * source (flag, variable, or file with line and column) and field.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { ALIAS_BOMB } from '../../verifier/test/helpers/hostile-yaml.js'
import { CONFIG_FIELDS, DEFAULT_ENCLAVE_COMMAND, envName, loadConfig, MAX_CONFIG_FILE_BYTES, usage, type HostConfig, type SettingKey } from '../src/config.js'
import { main } from '../src/cli.js'

const files: Record<string, string> = {}
const read = (path: string): string => {
  const text = files[path]
  if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' })
  return text
}
const load = (argv: string[], env: Record<string, string> = {}): HostConfig => {
  const parsed = loadConfig(argv, { env, cwd: '/work', readFile: read })
  assert.ok(!parsed.help)
  return parsed.config
}
const problems = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    load(argv, env)
  } catch (error) {
    assert.equal((error as { code?: string }).code, 'ERR_HOST_CONFIG_INVALID')
    return (error as Error).message
  }
  assert.fail('expected a configuration error')
}

describe('configuration', () => {
  test('defaults', () => {
    const c = load([])
    assert.equal(c.port, 8443)
    assert.equal(c.host, '127.0.0.1')
    assert.deepEqual(c.tls, { cert: null, key: null })
    assert.deepEqual(c.enclave, {
      tee: 'simulated',
      gpu: 'none',
      gpuCount: null,
      models: null,
      addresses: [],
      count: 1,
      resolveMs: 5_000,
      socket: null,
      supervise: true,
      command: [...DEFAULT_ENCLAVE_COMMAND],
      args: [],
    })
    // No admin API unless a port is given; on loopback when it is.
    assert.deepEqual(c.admin, { port: null, host: '127.0.0.1' })
    assert.equal(c.limits.bodyBytes, 16 * 1024 * 1024)
    assert.ok(c.limits.bodyBytes > 3 * 640 * 640 * 4 + 1024, 'room for a sealed 1×3×640×640 FP32 request')
    assert.equal(c.log.level, 'info')
    assert.match(DEFAULT_ENCLAVE_COMMAND[1]!, /enclave\/bin\/vouch-enclave\.js$/)
    // The per-client limits and the slow-body rules (issue 10), strict by default; no proxy is trusted.
    assert.deepEqual([c.limits.clientBodies, c.limits.minBodyRate, c.limits.attestBurst, c.limits.attestPerMinute], [16, 16 * 1024, 5, 60])
    assert.deepEqual([c.timeouts.bodyMs, c.timeouts.bodyRateWindowMs], [30_000, 5_000])
    assert.deepEqual(c.trustProxy, [])
  })

  test('trustProxy: addresses, CIDR blocks and the named ranges, separated by commas; anything else is a problem', () => {
    assert.deepEqual(load(['--trust-proxy', 'loopback, 10.0.0.0/8,2001:db8::/32 ,192.0.2.7']).trustProxy, ['loopback', '10.0.0.0/8', '2001:db8::/32', '192.0.2.7'])
    assert.deepEqual(load([], { VOUCH_HOST_TRUST_PROXY: 'uniquelocal' }).trustProxy, ['uniquelocal'])
    for (const bad of ['10.0.0.0/33', 'proxy.example', '10.0.0.1/8/1', 'loopback,', '::1/129']) {
      assert.match(problems(['--trust-proxy', bad]), /--trust-proxy \(trustProxy\): must list addresses, CIDR blocks or loopback, linklocal, uniquelocal/, bad)
    }
  })

  test('environment variables are VOUCH_HOST_ and the key in upper snake case', () => {
    assert.equal(envName('limits.bodyBytes'), 'VOUCH_HOST_LIMITS_BODY_BYTES')
    assert.equal(envName('enclave.gpuCount'), 'VOUCH_HOST_ENCLAVE_GPU_COUNT')
    assert.equal(envName('port'), 'VOUCH_HOST_PORT')
    assert.equal(new Set(CONFIG_FIELDS.map((f) => envName(f.key))).size, CONFIG_FIELDS.length)
    assert.equal(new Set(CONFIG_FIELDS.map((f) => f.flag)).size, CONFIG_FIELDS.length)
  })

  test('precedence: flags > environment > file > defaults', () => {
    files['/etc/vouch/host.yaml'] = 'port: 1111\nhost: 0.0.0.0\nlog:\n  level: debug\nlimits:\n  bodyBytes: 8MiB\n'
    const fileOnly = load(['--config', '/etc/vouch/host.yaml'])
    assert.equal(fileOnly.port, 1111)
    assert.equal(fileOnly.host, '0.0.0.0')
    assert.equal(fileOnly.log.level, 'debug')
    assert.equal(fileOnly.limits.bodyBytes, 8 * 1024 * 1024)
    const env = load(['--config', '/etc/vouch/host.yaml'], { VOUCH_HOST_PORT: '2222', VOUCH_HOST_LOG_LEVEL: 'warn' })
    assert.equal(env.port, 2222)
    assert.equal(env.log.level, 'warn')
    assert.equal(env.host, '0.0.0.0')
    const flags = load(['--config', '/etc/vouch/host.yaml', '--port', '3333'], { VOUCH_HOST_PORT: '2222' })
    assert.equal(flags.port, 3333)
    assert.equal(flags.log.level, 'debug')
    // The file may also be named by VOUCH_HOST_CONFIG.
    assert.equal(load([], { VOUCH_HOST_CONFIG: '/etc/vouch/host.yaml' }).port, 1111)
  })

  test('JSON files; relative paths are relative to the file (flags and variables: to the working folder)', () => {
    files['/etc/vouch/host.json'] = JSON.stringify({ tls: { cert: 'tls/host.crt', key: '/abs/host.key' }, enclave: { models: '../models', gpu: 'simulated', gpuCount: 2, command: ['node', 'e.js'], args: ['--key-lifetime', '600'] } })
    const c = load(['--config', '/etc/vouch/host.json'])
    assert.deepEqual(c.tls, { cert: '/etc/vouch/tls/host.crt', key: '/abs/host.key' })
    assert.equal(c.enclave.models, '/etc/models')
    assert.equal(c.enclave.gpuCount, 2)
    assert.deepEqual(c.enclave.command, ['node', 'e.js'])
    assert.deepEqual(c.enclave.args, ['--key-lifetime', '600'])
    assert.equal(load(['--models', 'models']).enclave.models, '/work/models')
    assert.equal(load([], { VOUCH_HOST_ENCLAVE_MODELS: 'm' }).enclave.models, '/work/m')
  })

  test('the enclave command and arguments from flags and variables', () => {
    const c = load(['--enclave-command', 'ssh cvm vouch-enclave', '--enclave-arg=--key-lifetime', '--enclave-arg', '600'])
    assert.deepEqual(c.enclave.command, ['ssh', 'cvm', 'vouch-enclave'])
    assert.deepEqual(c.enclave.args, ['--key-lifetime', '600'])
    assert.deepEqual(load([], { VOUCH_HOST_ENCLAVE_ARGS: '--replay-window 30' }).enclave.args, ['--replay-window', '30'])
  })

  test('--enclave-socket means an enclave that runs elsewhere, without supervision, unless supervision is asked for', () => {
    const external = load(['--enclave-socket', '/run/vouch/enclave.sock'])
    assert.deepEqual([external.enclave.socket, external.enclave.supervise], ['/run/vouch/enclave.sock', false])
    const tcp = load(['--enclave-socket', 'tcp://10.1.2.3:7000'])
    assert.equal(tcp.enclave.supervise, false)
    const supervisedAt = load(['--enclave-socket', '/run/vouch/enclave.sock', '--supervise'])
    assert.equal(supervisedAt.enclave.supervise, true)
    assert.match(problems(['--no-supervise']), /--no-supervise \(enclave\.supervise\): without supervision the host needs enclave\.addresses \(--enclave\) or enclave\.socket/)
    assert.match(problems(['--supervise', '--enclave-socket', 'tcp://h:1']), /a supervised enclave serves a Unix socket path/)
  })

  test('fleet (issue 13): --enclave lists enclaves that run elsewhere (tcp, unix, dns), --enclaves N supervises N; the rest are problems', () => {
    const fleet = load(['--enclave', 'tcp://10.0.0.5:7000', '--enclave', 'unix:/run/a.sock', '--enclave', 'dns://vouch-enclave.vouch.svc:7000'])
    assert.deepEqual(fleet.enclave.addresses, ['tcp://10.0.0.5:7000', 'unix:/run/a.sock', 'dns://vouch-enclave.vouch.svc:7000'])
    assert.equal(fleet.enclave.supervise, false)
    assert.deepEqual(load([], { VOUCH_HOST_ENCLAVE_ADDRESSES: 'tcp://a:1 tcp://b:2' }).enclave.addresses, ['tcp://a:1', 'tcp://b:2'])
    const local = load(['--enclaves', '3'])
    assert.deepEqual([local.enclave.count, local.enclave.supervise], [3, true])
    assert.match(problems(['--enclave', 'vsock://3:7000']), /Node\.js has no vsock sockets; bridge the port to a Unix socket/)
    assert.match(problems(['--enclave', 'dns://name']), /dns:\/\/name: expected dns:\/\/NAME:PORT/)
    assert.match(problems(['--enclave', 'tcp://h:0']), /port must be 1 to 65535/)
    assert.match(problems(['--enclave', 'http://h:1']), /expected tcp:\/\/HOST:PORT, unix:PATH or a socket path/)
    assert.match(problems(['--enclave', 'tcp://h:1', '--supervise']), /--enclave \(enclave\.addresses\): enclaves that run elsewhere are not supervised/)
    assert.match(problems(['--enclave', 'tcp://h:1', '--enclave-socket', '/s']), /give the enclaves with enclave\.addresses \(--enclave\) alone/)
    assert.match(problems(['--enclaves', '2', '--enclave', 'tcp://h:1']), /--enclaves \(enclave\.count\): several enclaves are supervised with fresh sockets/)
    assert.match(problems(['--enclaves', '0']), /--enclaves \(enclave\.count\): must be an integer from 1/)
    assert.deepEqual(load(['--admin-port', '9444']).admin, { port: 9444, host: '127.0.0.1' })
  })

  test('collateral (issue 12): fetched by default into the verifier’s trust directory, hourly; every on/off setting has its --no- flag', () => {
    const c = load([])
    assert.deepEqual(c.collateral, { dir: null, fetch: true, refreshMs: 3_600_000, kdsUrl: null, rimUrl: null, ocspUrl: null })
    assert.equal(load(['--no-collateral-fetch']).collateral.fetch, false)
    assert.equal(load([], { VOUCH_HOST_COLLATERAL_FETCH: 'false' }).collateral.fetch, false)
    assert.equal(load(['--collateral-fetch'], { VOUCH_HOST_COLLATERAL_FETCH: 'false' }).collateral.fetch, true)
    files['/etc/vouch/collateral.yaml'] = 'collateral:\n  dir: trust\n  fetch: false\n  refreshMs: 60000\n  kdsUrl: https://kds.mirror.example\n'
    const fromFile = load(['--config', '/etc/vouch/collateral.yaml'])
    assert.deepEqual([fromFile.collateral.dir, fromFile.collateral.fetch, fromFile.collateral.refreshMs, fromFile.collateral.kdsUrl], ['/etc/vouch/trust', false, 60_000, 'https://kds.mirror.example'])
    assert.match(problems(['--collateral-fetch', '--no-collateral-fetch']), /--collateral-fetch and --no-collateral-fetch: give one of them/)
    assert.match(problems(['--supervise', '--no-supervise', '--enclave-socket', '/s']), /--supervise and --no-supervise: give one of them/)
    assert.match(problems(['--collateral-refresh-ms', '10']), /--collateral-refresh-ms \(collateral\.refreshMs\): must be an integer from 1000/)
    for (const f of CONFIG_FIELDS.filter((f) => f.kind.type === 'boolean')) assert.match(usage(), new RegExp(`--${f.flag}, --no-${f.flag}\\n`))
  })

  test('byte sizes take KiB, MiB and GiB', () => {
    assert.equal(load(['--max-body-bytes', '512KiB']).limits.bodyBytes, 512 * 1024)
    assert.equal(load(['--max-body-bytes', '4 MiB']).limits.bodyBytes, 4 * 1024 * 1024)
    assert.equal(load([], { VOUCH_HOST_LIMITS_BODY_BYTES: '2048' }).limits.bodyBytes, 2048)
  })

  test('errors name the flag, the variable, or the file with line and column, and the field; all at once', () => {
    files['/etc/vouch/bad.yaml'] = 'port: 70000\nenclave:\n  tee: tdx\n  colour: blue\nlimits:\n  bodyBytes: lots\nfrobnicate: true\n'
    const message = problems(['--config', '/etc/vouch/bad.yaml', '--gpu', 'amd'], { VOUCH_HOST_TIMEOUTS_REQUEST_MS: 'soon', VOUCH_HOST_PROT: '1' })
    const lines = message.split('\n').map((l) => l.trim())
    assert.ok(lines.includes('/etc/vouch/bad.yaml:1:7: port: must be an integer from 0 to 65535, got 70000'), message)
    assert.ok(lines.includes('/etc/vouch/bad.yaml:3:8: enclave.tee: must be one of simulated, sev-snp, got "tdx"'), message)
    assert.ok(lines.includes('/etc/vouch/bad.yaml:4:11: enclave.colour: unknown setting'), message)
    assert.ok(lines.some((l) => l.startsWith('/etc/vouch/bad.yaml:6:14: limits.bodyBytes: must be an integer from 1024')), message)
    assert.ok(lines.includes('/etc/vouch/bad.yaml:7:13: frobnicate: unknown setting'), message)
    assert.ok(lines.includes('--gpu (enclave.gpu): must be one of none, simulated, nvidia, got "amd"'), message)
    assert.ok(lines.includes('VOUCH_HOST_TIMEOUTS_REQUEST_MS (timeouts.requestMs): must be an integer from 100 to 3600000, got "soon"'), message)
    assert.ok(lines.some((l) => l.startsWith('VOUCH_HOST_PROT: unknown setting')), message)
  })

  test('unreadable or malformed files, unknown flags, and rules across fields', () => {
    assert.match(problems(['--config', '/nope.yaml']), /\/nope\.yaml: cannot read the configuration file \(ENOENT\)/)
    files['/etc/vouch/broken.yaml'] = 'port: [1,\n'
    assert.match(problems(['--config', '/etc/vouch/broken.yaml']), /\/etc\/vouch\/broken\.yaml:\d+:\d+: /)
    files['/etc/vouch/list.yaml'] = '- 1\n'
    assert.match(problems(['--config', '/etc/vouch/list.yaml']), /must be a map of settings/)
    assert.match(problems(['--prot', '1']), /unknown flag --prot: did you mean --port\?/)
    assert.match(problems(['--tls-cert', 'a.crt']), /--tls-cert \(tls\.cert\): tls\.cert and tls\.key go together/)
    assert.match(problems(['--max-body-bytes', '32MiB']), /--max-body-bytes \(limits\.bodyBytes\): must be at least 1024 bytes below limits\.frameBytes/)
    assert.match(problems(['--max-body-bytes', '30MiB']), /limits\.bufferedBytes \(default\): must be at least limits\.bodyBytes \(31457280\)/)
    assert.equal(load(['--max-body-bytes', '30MiB', '--max-buffered-bytes', '30MiB']).limits.bufferedBytes, 30 * 1024 * 1024)
  })

  test('the receipt log: SQLite by default, PostgreSQL by URL, batches; a URL that is not PostgreSQL is named without its password', () => {
    assert.deepEqual(load([]).receiptLog, { enabled: true, path: null, url: null, batchEntries: 256, batchMs: 0, name: 'localhost/vouch-log', key: null })
    assert.deepEqual(load(['--log-path', 'var/log.sqlite', '--log-batch-entries', '64', '--log-batch-ms', '0']).receiptLog, { enabled: true, path: '/work/var/log.sqlite', url: null, batchEntries: 64, batchMs: 0, name: 'localhost/vouch-log', key: null })
    // Off only when asked, by name (weaker: answers relayed unlogged).
    assert.equal(load(['--no-receipt-log']).receiptLog.enabled, false)
    assert.equal(load([], { VOUCH_HOST_RECEIPT_LOG_ENABLED: 'false' }).receiptLog.enabled, false)
    assert.equal(load([], { VOUCH_HOST_RECEIPT_LOG_URL: 'postgresql://vouch@db/log' }).receiptLog.url, 'postgresql://vouch@db/log')
    assert.match(problems(['--log-path', 'a.sqlite', '--log-url', 'postgres://db/log']), /--log-url \(receiptLog\.url\): receiptLog\.url and receiptLog\.path name two logs/)
    const wrong = problems(['--log-url', 'mysql://root:hunter2@db/log'])
    assert.match(wrong, /--log-url \(receiptLog\.url\): must be a postgres:\/\/ or postgresql:\/\/ URL, got one starting "mysql"/)
    assert.ok(!wrong.includes('hunter2'))
    assert.match(problems(['--log-batch-entries', '0']), /--log-batch-entries \(receiptLog\.batchEntries\): must be an integer from 1 to 65536/)
  })

  // Issue 10, item 5: the file is bounded before it is read whole, and aliases (the bomb's means) are refused.
  test('aliases, and files over the limit (read by the default reader), are configuration errors', { timeout: 20_000 }, () => {
    files['/etc/vouch/bomb.yaml'] = ALIAS_BOMB
    assert.match(problems(['--config', '/etc/vouch/bomb.yaml']), /\/etc\/vouch\/bomb\.yaml:5:8: aliases \(\*a\) are not allowed in a configuration file/)
    files['/etc/vouch/anchor.yaml'] = 'limits: &l\n  queueDepth: 4\nother: *l\n'
    assert.match(problems(['--config', '/etc/vouch/anchor.yaml']), /anchor\.yaml:3:8: aliases \(\*l\)/)
    const dir = mkdtempSync(join(tmpdir(), 'vouch-host-config-'))
    try {
      const huge = join(dir, 'huge.yaml')
      writeFileSync(huge, '')
      truncateSync(huge, 100 * 1024 * 1024)
      const unread = (path: string): string => {
        try {
          loadConfig(['--config', path], { env: {} })
        } catch (error) {
          assert.equal((error as { code?: string }).code, 'ERR_HOST_CONFIG_INVALID')
          return (error as Error).message
        }
        assert.fail('expected a configuration error')
      }
      const over = `cannot read the configuration file (over ${MAX_CONFIG_FILE_BYTES} bytes, more than a configuration needs)`
      assert.ok(unread(huge).includes(`${huge}: ${over}`))
      assert.ok(unread('/dev/zero').includes(`/dev/zero: ${over}`))
      writeFileSync(huge, `port: 9443\n#${'x'.repeat(MAX_CONFIG_FILE_BYTES - 13)}\n`)
      const fits = loadConfig(['--config', huge], { env: {} })
      assert.ok(!fits.help && fits.config.port === 9443)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('settings are declared once: every key is in the configuration with its default, and a mistyped key does not compile', () => {
    const config = load([])
    const at = (key: string): unknown => key.split('.').reduce<unknown>((node, name) => (node as Record<string, unknown>)[name], config)
    for (const f of CONFIG_FIELDS) {
      // enclave.supervise is decided from enclave.socket when unset; every other default is the declared one.
      const expected = f.key === 'enclave.supervise' ? true : f.fallback
      assert.deepEqual(at(f.key), expected, f.key)
    }
    // Never called: the compiler checks it (`npm run lint` type-checks the tests).
    const typed = (c: HostConfig): void => {
      c.limits.bodyBytes satisfies number
      c.enclave.supervise satisfies boolean
      // @ts-expect-error: no such setting
      void c.limits.bodyByte
      // @ts-expect-error: no such key
      void ('limits.bodyByte' satisfies SettingKey)
    }
    assert.equal(typeof typed, 'function')
  })

  test('--help', () => {
    assert.deepEqual(loadConfig(['--help'], { env: {} }), { help: true })
    const text = usage()
    for (const f of CONFIG_FIELDS) {
      assert.ok(text.includes(`--${f.flag}`), f.flag)
      assert.ok(text.includes(envName(f.key)), f.key)
    }
  })
})

describe('vouch-host command line', () => {
  test('--help prints the usage and exits 0; a bad option exits 2 naming it', async () => {
    const out: string[] = []
    const err: string[] = []
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env: {} }
    assert.equal(await main(['--help'], io), 0)
    assert.match(out.join('\n'), /^usage: vouch-host/)
    assert.equal(await main(['--port', 'x'], io), 2)
    assert.match(err.join('\n'), /--port \(port\): must be an integer/)
  })
})
