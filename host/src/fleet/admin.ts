/**
 * The host's admin API, on its own port (`admin.port`, loopback by default), apart from the public HTTPS one: what
 * an operator or a rollout script needs to change the fleet without failing requests.
 *
 * - `GET /admin/enclaves`: every enclave, with its address, kid, state and backlog.
 * - `POST /admin/enclaves/{id}/drain`: the enclave takes no new request, finishes those under way and stops (a
 *   supervised one is started again, with new keys; elsewhere its orchestrator restarts it). The host stops routing
 *   to it at once; clients move to the others.
 * - `POST /admin/enclaves/{id}/rotate`: the enclave replaces its keyset now; clients attest again on their next
 *   request (409, which the client handles by itself).
 *
 * `{id}` is an enclave's address (URL-encoded), its kid, or its position in `GET /admin/enclaves` from 1. Plain HTTP
 * without authentication: whoever reaches the port can drain every enclave, which is why it listens on loopback
 * unless told otherwise. It never carries a request body or a key.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { EnclavePool, FleetMember } from './pool.js'

/** A running admin API. */
export interface AdminServer {
  /** `http://HOST:PORT`. */
  readonly url: string
  close(): Promise<void>
}

/** Options of {@link startAdminServer}. */
export interface AdminServerOptions {
  pool: EnclavePool
  host: string
  /** 0: any free port. */
  port: number
  log: Logger
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`)
}

/** The member `id` names: its address, its kid, or its position from 1. */
function findMember(pool: EnclavePool, id: string): FleetMember | undefined {
  const members = pool.members
  if (/^[1-9][0-9]{0,3}$/.test(id)) return members[Number(id) - 1]
  return members.find((m) => m.address === id || m.kid === id)
}

async function handle(pool: EnclavePool, req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://admin').pathname
  if (path === '/admin/enclaves') {
    if (req.method !== 'GET') return answer(res, 405, { code: 'ERR_HOST_METHOD_NOT_ALLOWED', message: 'GET only' })
    return answer(res, 200, { enclaves: pool.status() })
  }
  const action = /^\/admin\/enclaves\/([^/]+)\/(drain|rotate)$/.exec(path)
  if (action === null) return answer(res, 404, { code: 'ERR_HOST_NOT_FOUND', message: 'no such admin route: GET /admin/enclaves, POST /admin/enclaves/{id}/drain or /rotate' })
  if (req.method !== 'POST') return answer(res, 405, { code: 'ERR_HOST_METHOD_NOT_ALLOWED', message: 'POST only' })
  let id: string
  try {
    id = decodeURIComponent(action[1]!)
  } catch {
    return answer(res, 400, { code: 'ERR_HOST_BAD_REQUEST', message: 'the enclave id is not URL-encoded text' })
  }
  const member = findMember(pool, id)
  if (member === undefined) return answer(res, 404, { code: 'ERR_HOST_ENCLAVE_NOT_FOUND', message: `no enclave ${JSON.stringify(id)}: give its address, its kid or its position in GET /admin/enclaves` })
  try {
    if (action[2] === 'drain') {
      await member.link.request('drain', {})
      // At once, not at the next heartbeat: no new request is routed to it from now on.
      member.draining = true
      log.info({ enclave: member.address, kid: member.kid }, 'admin: enclave draining')
      return answer(res, 202, { address: member.address, kid: member.kid, draining: true })
    }
    const before = member.kid
    const { kid } = await member.link.request('rotate', {})
    await member.link.probe().catch(() => undefined)
    log.info({ enclave: member.address, kid, before }, 'admin: enclave keys rotated')
    return answer(res, 200, { address: member.address, kid, before })
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'ERR_HOST_INTERNAL'
    return answer(res, (error as { status?: number }).status ?? 502, { code, message: (error as Error).message })
  }
}

/** Starts the admin API on `host:port`. */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { pool, log } = options
  const server: Server = createServer((req, res) => {
    // No request of the admin API has a body; one sent is drained unread.
    req.resume()
    handle(pool, req, res, log).catch((error: unknown) => {
      log.error({ err: { code: (error as { code?: string }).code } }, 'admin request failed')
      if (!res.headersSent) answer(res, 500, { code: 'ERR_HOST_INTERNAL', message: 'the admin request failed' })
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  const url = `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${port}`
  log.info({ url }, 'admin API listening')
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
