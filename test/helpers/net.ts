/** Loopback helpers for tests that need a port of their own. */
import { createServer } from 'node:net'

/** A loopback TCP port free at the moment of asking (nothing listens on it when this resolves). */
export async function freePort(): Promise<number> {
  const probe = createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as { port: number }
  await new Promise((resolve) => probe.close(resolve))
  return port
}
