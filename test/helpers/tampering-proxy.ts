/**
 * An HTTPS man in the middle on loopback, playing the untrusted network and host: forwards each request to a running
 * host, then lets a hook rewrite the answer (or the request body) before passing it on. Used by the end-to-end tests
 * of the client (test/e2e-https.test.ts) and of the trust-center page (test/trust-center.test.ts).
 */
import { createServer, request as httpsRequest, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { RunningHost } from '@vouch/host'

/** An exchange as the proxy saw it, with the answer it is about to return (which a hook may change). */
export interface Exchange {
  method: string
  path: string
  status: number
  headers: Record<string, string>
  body: Buffer
}

/** An HTTPS man in the middle: forwards to the host, then lets `hook` rewrite the answer. */
export class TamperingProxy {
  /** Rewrites the answer before the client gets it. */
  hook: ((exchange: Exchange) => void) | null = null
  /** Rewrites a request body before the host gets it. */
  requestHook: ((method: string, path: string, body: Buffer) => Buffer) | null = null
  /** Exchanges since the last reset. */
  readonly seen: Exchange[] = []
  /** Every exchange. */
  readonly all: Exchange[] = []

  server!: Server
  url = ''

  static async start(target: RunningHost): Promise<TamperingProxy> {
    const proxy = new TamperingProxy()
    const server = createServer({ cert: target.tls.cert, key: target.tls.key, minVersion: 'TLSv1.3' }, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const headers = { ...req.headers, host: new URL(target.url).host }
        const upstream = httpsRequest(`${target.url}${req.url}`, { method: req.method, headers, ca: target.tls.cert }, (answer) => {
          const parts: Buffer[] = []
          answer.on('data', (c: Buffer) => parts.push(c))
          answer.on('end', () => {
            const exchange: Exchange = { method: req.method!, path: req.url!, status: answer.statusCode!, headers: {}, body: Buffer.concat(parts) }
            for (const [name, value] of Object.entries(answer.headers)) if (typeof value === 'string') exchange.headers[name] = value
            delete exchange.headers['content-length']
            delete exchange.headers['etag']
            proxy.hook?.(exchange)
            proxy.seen.push(exchange)
            proxy.all.push(exchange)
            res.writeHead(exchange.status, { ...exchange.headers, 'content-length': String(exchange.body.length) }).end(exchange.body)
          })
        })
        upstream.on('error', (error) => res.writeHead(502).end(String(error)))
        const body = Buffer.concat(chunks)
        upstream.end(proxy.requestHook?.(req.method!, req.url!, body) ?? body)
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    proxy.server = server
    proxy.url = `https://localhost:${(server.address() as AddressInfo).port}`
    return proxy
  }

  reset(): void {
    this.hook = null
    this.requestHook = null
    this.seen.length = 0
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
