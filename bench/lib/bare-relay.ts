/**
 * The bare relay of the split floor (bench/floors.bench.ts): the least an untrusted host can do between a client and
 * a model in another process. node:https with the host's certificate and `createHttpsServer` (TLS 1.3, the host's
 * session options), no framework, no limits, no log: each POST body is read into one buffer of its declared length,
 * sent as one frame over a Unix socket (large bodies in reused buffers, as the host's) to bench/lib/plain-server.ts in `link` mode (bench/lib/frames.ts), and the
 * frame that comes back is the answer, with the request's content type. Run:
 * `node --import tsx bench/lib/bare-relay.ts '<BareRelayConfig JSON>'`; prints `bare-relay: serving https://127.0.0.1:PORT`
 * once it is connected and listens.
 */
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import type { ServerResponse } from 'node:http'
import { createHttpsServer, loadDevCertificate } from '@vouch/host'
import { BufferPool } from '@vouch/protocol'
import { readFrames, writeFrame } from './frames.js'
import type { BareRelayConfig } from './servers.js'

const config = JSON.parse(process.argv[2] ?? '') as BareRelayConfig
const link = connect(config.path)
await new Promise<void>((resolve, reject) => link.once('connect', resolve).once('error', reject))
link.setNoDelay(true)
const waiting = new Map<number, { res: ServerResponse; type: string }>()
let nextId = 0
// Large bodies and answers reuse buffers, as the host's do: each goes back once its bytes are written on.
const pool = new BufferPool(false, 64 * 2 ** 20)
const giveBack = (buffer: Uint8Array) => () => pool.give(buffer)
readFrames(link, pool, (id, body) => {
  const pending = waiting.get(id)
  if (pending === undefined) return
  waiting.delete(id)
  pending.res.writeHead(200, { 'content-type': pending.type, 'content-length': body.length })
  pending.res.end(body, giveBack(body))
})

const server = createHttpsServer(await loadDevCertificate(config.tlsDir), (req, res) => {
  const taken = pool.take(Number(req.headers['content-length'] ?? 0))
  const body = Buffer.from(taken.buffer, taken.byteOffset, taken.byteLength)
  let filled = 0
  req.on('data', (chunk: Buffer) => {
    filled += chunk.copy(body, filled)
  })
  req.on('end', () => {
    const id = nextId++ >>> 0
    waiting.set(id, { res, type: req.headers['content-type'] ?? 'application/octet-stream' })
    writeFrame(link, id, body.subarray(0, filled), giveBack(taken))
  })
})
server.keepAliveTimeout = 5_000
server.listen(0, '127.0.0.1', () => console.log(`bare-relay: serving https://127.0.0.1:${(server.address() as AddressInfo).port}`))
process.once('SIGTERM', () => {
  server.close()
  server.closeAllConnections()
  process.exit(0)
})
