/** A minimal host-side link client for tests: frames requests over the enclave's socket (Unix or TCP). */
import { connect, type Socket } from 'node:net'
import { decodeLinkResponse, encodeFrame, FrameDecoder, parseLinkAddress, type LinkResponse } from '@vouch/protocol'

export class LinkClient {
  #next = 1
  readonly #pending = new Map<number, (r: LinkResponse) => void>()
  readonly #orphans: LinkResponse[] = []
  readonly #decoder = new FrameDecoder()

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.#decoder.push(chunk)) {
        const response = decodeLinkResponse(frame)
        const resolve = response.id === null ? undefined : this.#pending.get(response.id)
        if (resolve === undefined) this.#orphans.push(response)
        else {
          this.#pending.delete(response.id!)
          resolve(response)
        }
      }
    })
  }

  /** Connects to a socket path or `tcp://HOST:PORT`. */
  static connect(address: string): Promise<LinkClient> {
    const where = parseLinkAddress(address)
    return new Promise((resolve, reject) => {
      const socket = connect('path' in where ? where : { host: where.host, port: where.port }, () => resolve(new LinkClient(socket)))
      socket.once('error', reject)
    })
  }

  /** Sends one request (an id is added) and waits for its answer. */
  request(message: Record<string, unknown>): Promise<LinkResponse> {
    const id = this.#next++
    return new Promise((resolve) => {
      this.#pending.set(id, resolve)
      this.socket.write(encodeFrame({ id, ...message }))
    })
  }

  /** Writes raw bytes (for malformed frames) and waits for the next answer without a known id. */
  async raw(bytes: Uint8Array, waitMs = 2000): Promise<LinkResponse | undefined> {
    this.socket.write(bytes)
    const until = Date.now() + waitMs
    while (this.#orphans.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    return this.#orphans.shift()
  }

  close(): void {
    this.socket.destroy()
  }
}
