/**
 * A process that appends to a receipt log, for the crash and two-host tests: it opens the log at `location` (a SQLite
 * file, or a PostgreSQL URL), appends a receipt for each label with `window` appends in flight, and prints
 * `ack <key> <index>` for each acknowledged one, `checkpoint <size>` for each checkpoint it keeps (one every
 * `checkpointEvery` acknowledgements, as a host keeps each it serves), then `done`. Stdout to a pipe is synchronous
 * on Linux, so a line printed is a line the parent can read, whenever this process is killed. With `waitForGo`, it
 * prints `ready` once the log is open and starts at the first byte on stdin, so two of them start together. With
 * `holdAtEnd`, it prints `appended` after its last acknowledgement and waits for stdin before it closes the log.
 *
 * Run: node --conditions=@vouch/source --import tsx append-child.ts '<json of ChildOptions>'
 */
import { once } from 'node:events'
import { openPostgresLog } from '../../src/log/postgres.js'
import { openSqliteLog } from '../../src/log/sqlite.js'
import { createLogStore } from '../../src/log/store.js'
import { receiptFor, signedCheckpoint, type ChildOptions } from '../helpers/log.js'

const options = JSON.parse(process.argv[2]!) as ChildOptions
const backend = options.location.startsWith('postgres://') ? await openPostgresLog(options.location) : openSqliteLog(options.location)
const store = createLogStore(backend, options.batch)
const say = (line: string): void => void process.stdout.write(`${line}\n`)
if (options.waitForGo === true) {
  say('ready')
  await once(process.stdin, 'data')
}

let next = 0
let acked = 0
async function appender(): Promise<void> {
  while (next < options.labels.length) {
    const { key, index } = await store.append({ kind: 'receipt', receipt: receiptFor(options.labels[next++]!) })
    say(`ack ${key} ${index}`)
    if (++acked % options.checkpointEvery === 0) say(`checkpoint ${(await store.addCheckpoint(await signedCheckpoint(store, options.signerKey))).size}`)
  }
}
await Promise.all(Array.from({ length: options.window }, appender))
if (options.holdAtEnd === true) {
  // The parent reads behind by up to a pipe's worth of lines: it means to kill this process before it closes the log.
  say('appended')
  await once(process.stdin, 'data')
}
await store.close()
say('done')
