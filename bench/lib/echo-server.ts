/**
 * The floor of a local socket hop (bench/floors.bench.ts): a child process that answers each request with
 * `responseBytes` bytes and does nothing else. Run: `node --import tsx bench/lib/echo-server.ts '<EchoServerConfig JSON>'`;
 * prints `echo-server: listening <address>` once it listens.
 *
 * - `unix`: a Unix socket, frames of a 4-byte big-endian length and the body, as the enclave link frames them; each
 *   complete frame is answered with one frame.
 * - `https`: node:https with the host's certificate and `createHttpsServer` (TLS 1.3, the host's session options); each
 *   POST body read whole is answered with the bytes, no framework.
 */
import { rmSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createHttpsServer, loadDevCertificate } from '@vouch/host'
import type { EchoServerConfig } from './servers.js'

const config = JSON.parse(process.argv[2] ?? '') as EchoServerConfig
const answer = Buffer.alloc(config.responseBytes, 7)

function frameAnswers(socket: Socket): void {
  socket.setNoDelay(true)
  const frame = Buffer.allocUnsafe(4 + answer.length)
  frame.writeUInt32BE(answer.length, 0)
  answer.copy(frame, 4)
  let pending: Buffer[] = []
  let have = 0
  socket.on('data', (chunk: Buffer) => {
    pending.push(chunk)
    have += chunk.length
    for (;;) {
      const head = pending.length === 1 ? pending[0]! : Buffer.concat(pending)
      pending = [head]
      if (have < 4) return
      const length = head.readUInt32BE(0)
      if (have < 4 + length) return
      const rest = head.subarray(4 + length)
      pending = rest.length > 0 ? [rest] : []
      have = rest.length
      socket.write(frame)
      if (have === 0) return
    }
  })
}

if (config.mode === 'unix') {
  rmSync(config.path!, { force: true })
  const server = createServer(frameAnswers)
  server.listen(config.path!, () => console.log(`echo-server: listening ${config.path!}`))
} else {
  const credentials = await loadDevCertificate(config.certDir!)
  const server = createHttpsServer(credentials, (req, res) => {
    req.on('data', () => undefined)
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': answer.length })
      res.end(answer)
    })
  })
  server.listen(0, '127.0.0.1', () => console.log(`echo-server: listening https://127.0.0.1:${(server.address() as AddressInfo).port}`))
}
