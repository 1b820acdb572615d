/**
 * Tiles (C2SP tlog-tiles): the log's Merkle tree published as static files of consecutive hashes, so a client
 * fetches the few tiles it needs and computes any tree hash or proof itself. A tile at level L holds up to 256
 * hashes of subtrees of 256^L records each: level 0 holds record hashes, level 1 the hashes of full level-0 tiles,
 * and so on. The rightmost tiles of a tree are partial (fewer than 256 hashes) and say their width in their path.
 * Entry bundles hold the records themselves, laid out as the level-0 tiles.
 *
 * Paths: `tile/<L>/<N>[.p/<W>]` and `tile/entries/<N>[.p/<W>]`, N written in 3-digit groups, all but the last
 * prefixed `x` (1234067 is `x001/x234/067`). A tile is the stored-hash tree seen 8 levels at a time, so the
 * reading follows Go's sumdb/tlog (TileForIndex, HashFromTile, ReadTileData, TileHashReader) at height 8.
 */
import { bytesEqual } from '../bytes.js'
import {
  assertCount,
  assertHash,
  HASH_SIZE,
  malformed,
  nodeHash,
  proofInvalid,
  readHashesExactly,
  type Hash,
  type HashReader,
} from './hash.js'
import { splitStoredHashIndex, storedHashCount, storedHashIndex, subtreeIndexes } from './stored.js'

/** Levels of the Merkle tree one tile spans (C2SP tlog-tiles fixes it at 8). */
export const TILE_HEIGHT = 8
/** Hashes in a full tile, and entries in a full entry bundle. */
export const TILE_WIDTH = 2 ** TILE_HEIGHT
/** The highest tile level a path may name (C2SP tlog-tiles: 0 to 63). */
const MAX_TILE_LEVEL = 63

/** A tile of hashes: the `n`-th tile of its level, `width` hashes wide (256 when full). */
export interface HashTile {
  readonly level: number
  readonly n: number
  readonly width: number
}

/** An entry bundle: the records of the `n`-th level-0 tile, `width` of them (256 when full). */
export interface EntryBundleTile {
  readonly level: 'entries'
  readonly n: number
  readonly width: number
}

/** Anything a tile path names. */
export type Tile = HashTile | EntryBundleTile

function assertTile(tile: Tile): void {
  if (typeof tile !== 'object' || tile === null) throw malformed('expected a tile')
  if (tile.level !== 'entries') {
    assertCount(tile.level, 'tile level')
    if (tile.level > MAX_TILE_LEVEL) throw malformed(`tile level: at most ${MAX_TILE_LEVEL}, got ${tile.level}`)
  }
  assertCount(tile.n, 'tile number')
  assertCount(tile.width, 'tile width')
  if (tile.width < 1 || tile.width > TILE_WIDTH) throw malformed(`tile width: 1 to ${TILE_WIDTH}, got ${tile.width}`)
}

function assertHashTile(tile: HashTile): void {
  assertTile(tile)
  if ((tile as Tile).level === 'entries') throw malformed('an entry bundle holds records, not hashes')
}

/**
 * The tile of least width that holds stored-hash index `index`, with where in it: hashes [start, end) of the
 * tile's own hashes combine (as a complete subtree) into the hash at `index`.
 */
function locate(index: number): { tile: HashTile; start: number; end: number } {
  const { level, n } = splitStoredHashIndex(index)
  const tileLevel = Math.floor(level / TILE_HEIGHT)
  const inTile = level - tileLevel * TILE_HEIGHT // the node's height above the tile's own hashes
  const span = 2 ** inTile
  const first = n * span // the first tile-level hash under the node
  const tileN = Math.floor(first / TILE_WIDTH)
  const start = first - tileN * TILE_WIDTH
  return { tile: { level: tileLevel, n: tileN, width: start + span }, start, end: start + span }
}

/** The tile of least width that holds stored-hash index `index` (Go's TileForIndex at height 8). */
export function tileForIndex(index: number): HashTile {
  return locate(index).tile
}

/** The C2SP path of a tile or entry bundle: `tile/0/x001/234.p/5`, `tile/entries/000`. */
export function tilePath(tile: Tile): string {
  assertTile(tile)
  let n = tile.n
  let digits = String(n % 1000).padStart(3, '0')
  while (n >= 1000) {
    n = Math.floor(n / 1000)
    digits = `x${String(n % 1000).padStart(3, '0')}/${digits}`
  }
  return `tile/${tile.level}/${digits}${tile.width === TILE_WIDTH ? '' : `.p/${tile.width}`}`
}

const TILE_PATH = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/){0,5}[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/

/**
 * The tile a C2SP path names (the inverse of {@link tilePath}). Strict: only the canonical spelling (no leading
 * zero groups, no leading zeros in L or W, W from 1 to 255 after `.p/`, L at most 63), else `ERR_TLOG_MALFORMED`.
 */
export function parseTilePath(path: string): Tile {
  const match = typeof path === 'string' ? TILE_PATH.exec(path) : null
  if (match === null) throw malformed(`not a tlog-tiles path: ${JSON.stringify(path)}`)
  const [, levelText, digits, widthText] = match as unknown as [string, string, string, string | undefined]
  const n = digits.split('/').reduce((acc, group) => acc * 1000 + Number(group.replace('x', '')), 0)
  const width = widthText === undefined ? TILE_WIDTH : Number(widthText)
  if (widthText !== undefined && width >= TILE_WIDTH) throw malformed(`tile path ${path}: a partial tile is 1 to ${TILE_WIDTH - 1} wide`)
  const tile: Tile = levelText === 'entries' ? { level: 'entries', n, width } : { level: Number(levelText), n, width }
  if (tile.level !== 'entries' && tile.level > MAX_TILE_LEVEL) throw malformed(`tile path ${path}: level at most ${MAX_TILE_LEVEL}`)
  if (!Number.isSafeInteger(n) || tilePath(tile) !== path) throw malformed(`tile path ${path} is not in canonical form`)
  return tile
}

/** The stored-hash indexes of a hash tile's own hashes, left to right. */
function tileIndexes(tile: HashTile): number[] {
  const indexes: number[] = []
  for (let i = 0; i < tile.width; i++) indexes.push(storedHashIndex(tile.level * TILE_HEIGHT, tile.n * TILE_WIDTH + i))
  return indexes
}

/** A hash tile's bytes (its hashes laid end to end), read from stored hashes through `reader` in one call. */
export async function readTileData(tile: HashTile, reader: HashReader): Promise<Uint8Array> {
  assertHashTile(tile)
  const hashes = await readHashesExactly(reader, tileIndexes(tile))
  const data = new Uint8Array(hashes.length * HASH_SIZE)
  for (let i = 0; i < hashes.length; i++) data.set(hashes[i]!, i * HASH_SIZE)
  return data
}

/** The root of the complete subtree over tile hashes [start, end) of `data` (end − start a power of two). */
function tileSubtreeHash(data: Uint8Array, start: number, end: number): Hash {
  let row: Hash[] = []
  for (let i = start; i < end; i++) row.push(data.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE))
  while (row.length > 1) {
    const next: Hash[] = []
    for (let i = 0; i < row.length; i += 2) next.push(nodeHash(row[i]!, row[i + 1]!))
    row = next
  }
  return row[0]!.slice()
}

/**
 * The hash at stored-hash index `index`, from the bytes `data` of `tile` (the tile {@link tileForIndex} names
 * for the index, or a wider one of the same level and number). `ERR_TLOG_MALFORMED` when the tile does not hold
 * the index or the data is shorter than the tile.
 */
export function hashFromTile(tile: HashTile, data: Uint8Array, index: number): Hash {
  assertHashTile(tile)
  if (!(data instanceof Uint8Array) || data.length < tile.width * HASH_SIZE) {
    throw malformed(`tile ${tilePath(tile)}: expected ${tile.width * HASH_SIZE} bytes of hashes, got ${data instanceof Uint8Array ? data.length : typeof data}`)
  }
  const { tile: needed, start, end } = locate(index)
  if (needed.level !== tile.level || needed.n !== tile.n || needed.width > tile.width) {
    throw malformed(`stored hash ${index} is in tile ${tilePath(needed)}, not ${tilePath(tile)}`)
  }
  return tileSubtreeHash(data, start, end)
}

/**
 * The hash tiles that change when a log grows from `oldSize` to `newSize` records, level by level: the full tiles
 * it completes and the partial tile at `newSize` (C2SP: a log serves the partial tiles of every size it signed a
 * checkpoint for). Entry bundles follow the level-0 tiles (same number and width).
 */
export function newTiles(oldSize: number, newSize: number): HashTile[] {
  assertCount(oldSize, 'old size')
  assertCount(newSize, 'new size')
  if (oldSize > newSize) throw malformed(`a log does not shrink from ${oldSize} to ${newSize} records`)
  const tiles: HashTile[] = []
  for (let level = 0, span = 1; Math.floor(newSize / span) > 0; level++, span *= TILE_WIDTH) {
    const before = Math.floor(oldSize / span) // hashes of this level in the old tree
    const after = Math.floor(newSize / span)
    for (let n = Math.floor(before / TILE_WIDTH); n < Math.floor(after / TILE_WIDTH); n++) tiles.push({ level, n, width: TILE_WIDTH })
    const width = after % TILE_WIDTH
    if (width > 0 && after > before) tiles.push({ level, n: Math.floor(after / TILE_WIDTH), width })
  }
  return tiles
}

/** The tree a {@link tileHashReader} reads: its size and its tree hash, from a checkpoint the reader trusts. */
export interface TreeHead {
  readonly size: number
  readonly hash: Hash
}

/** Where tiles come from: a cache, a disk, an HTTP client of a tlog-tiles log. */
export interface TileReader {
  /** The bytes of each tile, in order; each exactly `width × 32` bytes. */
  readTiles(tiles: readonly HashTile[]): Promise<readonly Uint8Array[]> | readonly Uint8Array[]
  /** Called with tiles once they are proven to belong to the tree, so they may be kept (a cache keeps only these). */
  saveTiles?(tiles: readonly HashTile[], data: readonly Uint8Array[]): void | Promise<void>
}

/**
 * Tile `tile`'s ancestor `k` levels up, as wide as the tree of `size` records has it; null when that tree has no
 * hash there.
 */
function tileParent(tile: HashTile, k: number, size: number): HashTile | null {
  const level = tile.level + k
  const n = Math.floor(tile.n / TILE_WIDTH ** k)
  const hashes = Math.floor(size / TILE_WIDTH ** level) // hashes of that level in the tree
  const first = n * TILE_WIDTH
  if (first >= hashes) return null
  return { level, n, width: Math.min(TILE_WIDTH, hashes - first) }
}

/**
 * A {@link HashReader} over the tiles of the tree `tree`, read through `tiles`. It fetches, with the tiles holding
 * the hashes asked for, the tiles that hash up to `tree.hash`, and answers only once every tile it used is proven
 * to belong to that tree: the hashes it returns are the tree's own, whoever served the tiles. A tile that does not
 * fit is `ERR_TLOG_PROOF_INVALID`; an index past the tree, or a tile of the wrong length, `ERR_TLOG_MALFORMED`.
 */
export function tileHashReader(tree: TreeHead, tiles: TileReader): { readHashes(indexes: readonly number[]): Promise<Hash[]> } {
  assertCount(tree.size, 'tree size')
  assertHash(tree.hash, 'tree hash')
  return { readHashes: (indexes) => readFromTiles(tree, tiles, indexes) }
}

/** Plans the tiles (parents before children), fetches them in one call, proves them in that order, answers. */
async function readFromTiles(tree: TreeHead, reader: TileReader, indexes: readonly number[]): Promise<Hash[]> {
  if (indexes.length === 0) return []
  const stored = storedHashCount(tree.size)
  const plan: HashTile[] = []
  const order = new Map<string, number>() // tile path → position in plan
  const add = (tile: HashTile): number => {
    plan.push(tile)
    order.set(tilePath(tile), plan.length - 1)
    return plan.length - 1
  }
  // First the tiles holding the roots whose hashes make up the tree hash: checking them against it proves them.
  const roots = subtreeIndexes(0, tree.size, [])
  const rootTile = roots.map((x) => {
    const tile = tileParent(tileForIndex(x), 0, tree.size)!
    return order.get(tilePath(tile)) ?? add(tile)
  })
  // Then, for each index, its tile, reached from the nearest ancestor already planned, parents first.
  const indexTile = indexes.map((x) => {
    assertCount(x, 'stored-hash index')
    if (x >= stored) throw malformed(`stored hash ${x} is not in the tree of ${tree.size} records (${stored} hashes)`)
    const tile = tileForIndex(x)
    let k = 0
    while (!order.has(tilePath(tileParent(tile, k, tree.size)!))) k++
    for (k--; k >= 0; k--) {
      const child = tileParent(tile, k, tree.size)!
      if (child.width !== TILE_WIDTH) throw new Error(`tlog: tile ${tilePath(child)} has a parent but is not full`)
      add(child)
    }
    return order.get(tilePath(tileParent(tile, 0, tree.size)!))!
  })

  const data = await reader.readTiles(plan)
  if (!Array.isArray(data) || data.length !== plan.length) throw malformed(`the tile reader answered ${Array.isArray(data) ? data.length : 'no list of'} tiles for ${plan.length}`)
  plan.forEach((tile, i) => {
    const bytes = data[i]
    if (!(bytes instanceof Uint8Array) || bytes.length !== tile.width * HASH_SIZE) {
      throw malformed(`tile ${tilePath(tile)}: expected ${tile.width * HASH_SIZE} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`)
    }
  })

  let th = hashFromTile(plan[rootTile.at(-1)!]!, data[rootTile.at(-1)!]!, roots.at(-1)!)
  for (let i = roots.length - 2; i >= 0; i--) th = nodeHash(hashFromTile(plan[rootTile[i]!]!, data[rootTile[i]!]!, roots[i]!), th)
  if (!bytesEqual(th, tree.hash)) throw proofInvalid(`the tiles do not hash to the tree hash of the ${tree.size}-record tree`)
  // Every other tile is full and has a parent planned before it: its hash must be the one its parent holds.
  for (let i = 0; i < plan.length; i++) {
    if (rootTile.includes(i)) continue
    const tile = plan[i]!
    const parent = tileParent(tile, 1, tree.size)!
    const p = order.get(tilePath(parent))!
    const expected = hashFromTile(plan[p]!, data[p]!, storedHashIndex(parent.level * TILE_HEIGHT, tile.n))
    if (!bytesEqual(tileSubtreeHash(data[i]!, 0, TILE_WIDTH), expected)) throw proofInvalid(`tile ${tilePath(tile)} does not hash to its entry in tile ${tilePath(parent)}`)
  }
  await reader.saveTiles?.(plan, data)
  return indexes.map((x, i) => hashFromTile(plan[indexTile[i]!]!, data[indexTile[i]!]!, x))
}
