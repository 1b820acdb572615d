/**
 * A throwaway PostgreSQL server for tests, from the Debian package (`apt-get install postgresql`; `.ci/run` installs
 * it when missing): `initdb` in a fresh temporary folder, `pg_ctl` starting it on a free loopback port, and a stop
 * that removes the folder. PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user the
 * package creates. {@link postgresSkipReason} says why the tests that need it are skipped where it cannot run.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { freePort } from '../../../test/helpers/net.js'

/** The folder of `initdb` and `pg_ctl`: the newest under /usr/lib/postgresql, else wherever PATH has them. */
function findBinDir(): string | null {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  for (const v of versions) if (existsSync(join(root, v, 'bin', 'pg_ctl'))) return join(root, v, 'bin')
  const found = spawnSync('sh', ['-c', 'command -v pg_ctl'], { encoding: 'utf8' }).stdout.trim()
  return found === '' ? null : found.slice(0, found.lastIndexOf('/'))
}

/** The uid and gid to run the server as: this process's own, or the `postgres` user's when this process is root. */
function serverUser(): { uid: number; gid: number } | null {
  const uid = process.getuid?.() ?? 0
  if (uid !== 0) return { uid, gid: process.getgid?.() ?? 0 }
  const id = (flag: string): number | null => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' })
    return r.status === 0 ? Number(r.stdout.trim()) : null
  }
  const [pgUid, pgGid] = [id('-u'), id('-g')]
  return pgUid === null || pgGid === null ? null : { uid: pgUid, gid: pgGid }
}

const BIN_DIR = findBinDir()
const USER = serverUser()

/** Why PostgreSQL tests cannot run here, or false when they can. */
export const postgresSkipReason: string | false =
  BIN_DIR === null
    ? 'PostgreSQL is not installed (initdb and pg_ctl not found): apt-get install postgresql, as .ci/run does'
    : USER === null
      ? 'running as root and there is no postgres user to run PostgreSQL as (the Debian package creates it)'
      : false

/** A running throwaway server. */
export interface TestPostgres {
  /** A URL of a new, empty database on the server. */
  createDatabase(): Promise<string>
  /** Stops the server and removes its folder. */
  stop(): void
}

/** Starts a server (see the file's doc). Call only when {@link postgresSkipReason} is false. */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = BIN_DIR!
  const user = USER!
  const dir = mkdtempSync(join(tmpdir(), 'vouch-pg-'))
  chownSync(dir, user.uid, user.gid)
  const data = join(dir, 'data')
  const run = (program: string, args: string[]): void => {
    execFileSync(join(bin, program), args, { uid: user.uid, gid: user.gid, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } })
  }
  run('initdb', ['-D', data, '-U', 'vouch', '--auth=trust', '--encoding=UTF8', '--no-sync', '--no-instructions'])
  const port = await freePort()
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c max_connections=50`
  run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-o', options, '-w', '-t', '60', 'start'])
  const base = `postgres://vouch@127.0.0.1:${port}`
  let databases = 0
  return {
    async createDatabase() {
      const name = `log${++databases}`
      const admin = new pg.Client({ connectionString: `${base}/postgres` })
      await admin.connect()
      try {
        await admin.query(`CREATE DATABASE ${name}`)
      } finally {
        await admin.end()
      }
      return `${base}/${name}`
    },
    stop() {
      try {
        run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
