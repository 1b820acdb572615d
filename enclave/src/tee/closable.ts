/** What every TEE device does once closed. */
import { TeeError } from '../errors.js'

/** Remembers `close` so every device refuses work afterwards the same way. */
export function closable(name: string): { check(): void; close(): Promise<void> } {
  let closed = false
  return {
    check() {
      if (closed) throw new TeeError('ERR_TEE_CLOSED', `the ${name} device is closed`)
    },
    async close() {
      closed = true
    },
  }
}
