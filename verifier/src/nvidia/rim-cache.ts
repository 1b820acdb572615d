/**
 * The RIM caches: a RIM is verified once per GPU report that names it, so its parse and its signature outcome are
 * kept, keyed by the SHA-256 of its text (and of the signing certificate). Bounded; emptied by `clearRimCaches`.
 */
import type { VerificationErrorCode } from '../errors.js'
import { BoundedCache } from '../lib/bounded-cache.js'
import type { RimDocument } from './rim.types.js'

/** Parsed RIMs by SHA-256 of their text. */
export const documentCache = new BoundedCache<RimDocument>(64)
/** XML signature outcomes by `<SHA-256 of the text>:<SHA-256 of the signing certificate>`. */
export const signatureCache = new BoundedCache<{ code: VerificationErrorCode; message: string } | true>(64)

/** Empties the RIM caches; benchmarks use it to measure cold verification. */
export function clearRimCaches(): void {
  documentCache.clear()
  signatureCache.clear()
}
