/**
 * The suites' usual service: a real simulated enclave on a socket in `dir`, a link to it, and a FakeHost relaying to
 * it over TLS with a self-signed certificate. Started before the suite's tests, reset after each, stopped after all
 * (and `dir` removed).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { after, afterEach, before } from 'node:test'
import { LinkClient } from '../../../test/helpers/link-client.js'
import { startEnclave } from './enclave.js'
import { FakeHost, linkBackend } from './fake-host.js'
import { selfSignedCertificate, type TlsIdentity } from './tls.js'

/** The running parts, readable once the suite's `before` hooks have run. */
export interface RelayedEnclave {
  readonly host: FakeHost
  readonly tls: TlsIdentity
  readonly link: LinkClient
  /** Stops the enclave and starts a new one (new keys) behind the same host. */
  restart(): Promise<void>
}

/** Registers the suite hooks that run the service; call it inside `describe`, after the suite's own `after` hooks. */
export function useRelayedEnclave(dir: string): RelayedEnclave {
  let stop: (() => Promise<void>) | undefined
  let link: LinkClient | undefined
  let tls: TlsIdentity | undefined
  let host: FakeHost | undefined
  const socket = join(dir, 'enclave.sock')
  before(async () => {
    stop = await startEnclave(socket)
    link = await LinkClient.connect(socket)
    tls = await selfSignedCertificate()
    host = await FakeHost.start(linkBackend(link), tls)
  })
  afterEach(() => host?.reset())
  after(async () => {
    await host?.close()
    link?.close()
    await stop?.()
    rmSync(dir, { recursive: true, force: true })
  })
  return {
    get host() {
      return host!
    },
    get tls() {
      return tls!
    },
    get link() {
      return link!
    },
    async restart() {
      link!.close()
      await stop!()
      stop = await startEnclave(socket)
      link = await LinkClient.connect(socket)
      host!.backend = linkBackend(link)
    },
  }
}
