/**
 * Shared set-up of the collateral fetch tests (AMD KDS and NVIDIA): a clock that moves only when told
 * to, so request spacing and retries are checked without waiting, and a listing of what reached a store.
 */
import { existsSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

/** A fake clock: `now` reads it, `sleep` records the wait and moves it, `advance` moves it without recording. */
export interface FakeClock {
  now: () => Date
  sleep: (ms: number) => Promise<void>
  /** Every wait `sleep` was asked for, in order. */
  sleeps: number[]
  advance: (ms: number) => void
}

/** A clock that only moves when told to, starting at `start` (an ISO date). */
export function fakeClock(start: string): FakeClock {
  let t = new Date(start).getTime()
  const sleeps: number[] = []
  return {
    now: () => new Date(t),
    sleep: async (ms) => {
      sleeps.push(ms)
      t += ms
    },
    sleeps,
    advance: (ms) => {
      t += ms
    },
  }
}

/** Every file under `dir`, relative to it, sorted; none when `dir` does not exist. */
export function files(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort()
}
