/**
 * TEMPORARY: the few tree functions the store needs, with the names and signatures of `@vouch/protocol`'s tlog
 * (I12-A's branch), until that lands on main; then this file goes and the store imports them from there.
 */
import { createHash } from 'node:crypto'

export type Hash = Uint8Array
export interface HashReader {
  readHashes(indexes: readonly number[]): Promise<readonly Hash[]> | readonly Hash[]
}

const sha256 = (...parts: Uint8Array[]): Hash => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}
export const recordHash = (data: Uint8Array): Hash => sha256(Uint8Array.of(0), data)
export const nodeHash = (left: Hash, right: Hash): Hash => sha256(Uint8Array.of(1), left, right)
const popCount = (n: number): number => {
  let c = 0
  for (; n > 0; n = Math.floor(n / 2)) c += n % 2
  return c
}
export function storedHashIndex(level: number, n: number): number {
  const last = (n + 1) * 2 ** level - 1
  return 2 * last - popCount(last) + level
}
export const storedHashCount = (size: number): number => 2 * size - popCount(size)

export async function storedHashesForRecord(n: number, data: Uint8Array, reader: HashReader): Promise<Hash[]> {
  let h = recordHash(data)
  const hashes = [h]
  let m = 0
  while (Math.floor((n + 1) / 2 ** m) % 2 === 0) m++
  const indexes = Array.from({ length: m }, (_, i) => storedHashIndex(m - 1 - i, Math.floor(n / 2 ** (m - 1 - i)) - 1))
  const old = await reader.readHashes(indexes)
  for (let i = 0; i < m; i++) {
    h = nodeHash(old[m - 1 - i]!, h)
    hashes.push(h)
  }
  return hashes
}

export async function treeHash(n: number, reader: HashReader): Promise<Hash> {
  if (n === 0) return sha256()
  const indexes: number[] = []
  for (let lo = 0; lo < n; ) {
    let level = 0
    while (2 ** (level + 1) <= n - lo) level++
    indexes.push(storedHashIndex(level, lo / 2 ** level))
    lo += 2 ** level
  }
  const hashes = await reader.readHashes(indexes)
  let th = hashes[hashes.length - 1]!
  for (let i = hashes.length - 2; i >= 0; i--) th = nodeHash(hashes[i]!, th)
  return th
}
