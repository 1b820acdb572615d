/** A deterministic generator of integers in [0, n) from `seed` (a 64-bit LCG), so a failing sample reproduces. */
export function random(seed: number): (n: number) => number {
  let state = BigInt(seed)
  return (n) => {
    state = (state * 6364136223846793005n + 1442695040888963407n) % 2n ** 64n
    return Number((state >> 11n) % BigInt(n))
  }
}
