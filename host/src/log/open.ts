/**
 * Opens the receipt log the configuration names: PostgreSQL when `receiptLog.url` is set, else the SQLite file at
 * `receiptLog.path`, or by default `log.sqlite` beside the development certificate's folder.
 */
import { dirname, join } from 'node:path'
import type { HostConfig } from '../settings.js'
import { devCertificateDir } from '../tls.js'
import { openPostgresLog } from './postgres.js'
import { openSqliteLog } from './sqlite.js'
import { createLogStore, type LogStore } from './store.js'

/** The default SQLite file of the receipt log: `log.sqlite` in the folder that holds the development certificate's. */
export function defaultLogPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(dirname(devCertificateDir(env)), 'log.sqlite')
}

/** Opens the receipt log of `settings`; throws `ERR_HOST_LOG_OPEN_FAILED` naming the file or database. */
export async function openLogStore(settings: HostConfig['receiptLog'], env: NodeJS.ProcessEnv = process.env): Promise<LogStore> {
  const backend = settings.url !== null ? await openPostgresLog(settings.url) : openSqliteLog(settings.path ?? defaultLogPath(env))
  return createLogStore(backend, { entries: settings.batchEntries, ms: settings.batchMs })
}
