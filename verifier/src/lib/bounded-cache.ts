/**
 * A Map that forgets its oldest entry once full. Caches here are keyed by content hashes, so a hit
 * always describes the same bytes; the bound only keeps a long-running process from growing.
 */
export class BoundedCache<V> {
  readonly #entries = new Map<string, V>()

  constructor(readonly limit = 1024) {}

  get(key: string): V | undefined {
    return this.#entries.get(key)
  }

  set(key: string, value: V): V {
    if (!this.#entries.has(key) && this.#entries.size >= this.limit) {
      this.#entries.delete(this.#entries.keys().next().value as string)
    }
    this.#entries.set(key, value)
    return value
  }

  clear(): void {
    this.#entries.clear()
  }
}
