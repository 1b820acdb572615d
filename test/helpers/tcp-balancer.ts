/**
 * A loopback TCP balancer standing in for a Kubernetes Service in front of several hosts: each connection goes to the
 * next backend in turn, and to the one after it when that one refuses (a host restarting is, for a Service, an
 * endpoint that is not ready). Bytes are relayed as they are; TLS is end to end between client and host.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

/** A running balancer. */
export interface TcpBalancer {
  readonly port: number
  /** Connections accepted, per backend port. */
  readonly connections: Map<number, number>
  close(): Promise<void>
}

/** Balances connections on a loopback port over `backends` (loopback ports), in turn. */
export async function startTcpBalancer(backends: readonly number[]): Promise<TcpBalancer> {
  let next = 0
  const sockets = new Set<Socket>()
  const connections = new Map<number, number>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
  }
  const server: Server = createServer((client) => {
    track(client)
    client.pause()
    const attempt = (tries: number): void => {
      const port = backends[next++ % backends.length]!
      const upstream = connect({ port, host: '127.0.0.1' })
      track(upstream)
      upstream.once('error', () => {
        if (tries + 1 < backends.length * 2 && !client.destroyed) setTimeout(() => attempt(tries + 1), 20)
        else client.destroy()
      })
      upstream.once('connect', () => {
        connections.set(port, (connections.get(port) ?? 0) + 1)
        upstream.removeAllListeners('error')
        upstream.on('error', () => client.destroy())
        client.on('error', () => upstream.destroy())
        upstream.once('close', () => client.destroy())
        client.once('close', () => upstream.destroy())
        client.pipe(upstream)
        upstream.pipe(client)
        client.resume()
      })
    }
    attempt(0)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
