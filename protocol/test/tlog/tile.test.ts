/**
 * Tiles (C2SP tlog-tiles): the paths of the spec's examples and their strict parsing, which tiles a tree has
 * (the spec's 70,000-entry example, partial tiles), tile data and hashes read back from tiles agreeing with the
 * stored hashes, and the tile hash reader: right answers from honest tiles, refusal of any changed tile.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  hashFromTile,
  newTiles,
  parseTilePath,
  proveRecord,
  proveTree,
  readTileData,
  splitStoredHashIndex,
  storedHashCount,
  tileForIndex,
  tileHashReader,
  tilePath,
  TILE_WIDTH,
  toHex,
  treeHash,
  type Hash,
  type HashReader,
  type HashTile,
  type ProtocolError,
  type Tile,
  type TileReader,
} from '@vouch/protocol'
import { logOf, uniformLog } from './helpers/memory-log.js'
import { random } from './helpers/random.js'

const code = (expected: string) => (e: ProtocolError) => e.code === expected
const log = await logOf(70_000, 4096)

/** Every hash tile a tree of `size` entries has, by the spec's definition: per level, full tiles then the partial one. */
function tilesOfTree(size: number): HashTile[] {
  const tiles: HashTile[] = []
  for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) {
    const hashes = Math.floor(size / TILE_WIDTH ** level)
    for (let n = 0; n < Math.floor(hashes / TILE_WIDTH); n++) tiles.push({ level, n, width: TILE_WIDTH })
    if (hashes % TILE_WIDTH > 0) tiles.push({ level, n: Math.floor(hashes / TILE_WIDTH), width: hashes % TILE_WIDTH })
  }
  return tiles
}

/** Serves a log's tiles from its stored hashes, as a tlog-tiles server would, counting calls. */
function serveTiles(source: HashReader, change?: (tile: HashTile, data: Uint8Array) => Uint8Array): TileReader & { calls: HashTile[][]; saved: HashTile[][] } {
  const calls: HashTile[][] = []
  const saved: HashTile[][] = []
  return {
    calls,
    saved,
    async readTiles(tiles) {
      calls.push([...tiles])
      return Promise.all(tiles.map(async (t) => (change ?? ((_t: HashTile, d: Uint8Array) => d))(t, await readTileData(t, source))))
    },
    saveTiles(tiles) {
      saved.push([...tiles])
    },
  }
}

describe('tile paths', () => {
  test('the spec’s examples: N in 3-digit groups, all but the last prefixed x; .p/W for partial tiles; entries', () => {
    const cases: Array<[Tile, string]> = [
      [{ level: 0, n: 1_234_067, width: 256 }, 'tile/0/x001/x234/067'],
      [{ level: 0, n: 1_234_067, width: 8 }, 'tile/0/x001/x234/067.p/8'],
      [{ level: 4, n: 1_234_067, width: 1 }, 'tile/4/x001/x234/067.p/1'],
      [{ level: 0, n: 0, width: 256 }, 'tile/0/000'],
      [{ level: 1, n: 999, width: 255 }, 'tile/1/999.p/255'],
      [{ level: 2, n: 1000, width: 256 }, 'tile/2/x001/000'],
      [{ level: 63, n: 5, width: 17 }, 'tile/63/005.p/17'],
      [{ level: 'entries', n: 1_234_067, width: 256 }, 'tile/entries/x001/x234/067'],
      [{ level: 'entries', n: 0, width: 112 }, 'tile/entries/000.p/112'],
      [{ level: 0, n: 2 ** 53 - 1, width: 256 }, 'tile/0/x009/x007/x199/x254/x740/991'],
    ]
    for (const [tile, path] of cases) {
      assert.equal(tilePath(tile), path)
      assert.deepEqual(parseTilePath(path), tile)
    }
  })

  test('only the canonical spelling parses: ERR_TLOG_MALFORMED for every other', () => {
    for (const path of [
      'tile/0/x000/001', // a leading zero group
      'tile/0/1', // N not 3 digits
      'tile/0/0001',
      'tile/0/x1234/000',
      'tile/0/001/002', // a group without x before the last
      'tile/00/001', // L with a leading zero
      'tile/64/001', // L past 63
      'tile/-1/001',
      'tile/data/001', // Go's sumdb spelling, not C2SP's
      'tile/8/0/001', // sumdb's height element
      'tile/0/001.p/0', // W from 1 to 255
      'tile/0/001.p/256',
      'tile/0/001.p/012',
      'tile/0/001.p/',
      'tile/0/001.p',
      'tile/0/001/',
      '/tile/0/001',
      'tiles/0/001',
      'tile/entries',
      'tile/entries/',
      'tile/0/x001/x002/x003/x004/x005/x006/007', // past 2^53
      'tile/0/x010/x000/x000/x000/x000/000',
      'tile/0/001\n',
      '',
      42 as unknown as string,
    ]) {
      assert.throws(() => parseTilePath(path), code('ERR_TLOG_MALFORMED'), JSON.stringify(path))
    }
  })

  test('tilePath refuses what is not a tile: ERR_TLOG_MALFORMED', () => {
    for (const tile of [
      { level: 0, n: 0, width: 0 },
      { level: 0, n: 0, width: 257 },
      { level: 64, n: 0, width: 1 },
      { level: -1, n: 0, width: 1 },
      { level: 0, n: -1, width: 1 },
      { level: 0, n: 1.5, width: 1 },
      { level: 'data', n: 0, width: 1 },
    ] as Tile[]) {
      assert.throws(() => tilePath(tile), code('ERR_TLOG_MALFORMED'), JSON.stringify(tile))
    }
  })
})

describe('the tiles of a tree', () => {
  test('the spec’s examples: 70,000 entries, and 256', () => {
    const tiles = newTiles(0, 70_000)
    const count = (level: number, width: number): number => tiles.filter((t) => t.level === level && t.width === width).length
    assert.equal(count(0, 256), 273)
    assert.deepEqual(tiles.filter((t) => t.level === 0 && t.width < 256), [{ level: 0, n: 273, width: 112 }])
    assert.equal(count(1, 256), 1)
    assert.deepEqual(tiles.filter((t) => t.level === 1 && t.width < 256), [{ level: 1, n: 1, width: 17 }])
    assert.deepEqual(tiles.filter((t) => t.level === 2), [{ level: 2, n: 0, width: 1 }])
    assert.equal(tiles.length, 273 + 1 + 1 + 1 + 1)
    assert.deepEqual(newTiles(0, 256), [{ level: 0, n: 0, width: 256 }, { level: 1, n: 0, width: 1 }])
    assert.deepEqual(newTiles(0, 0), [])
  })

  test('newTiles(old, new) is exactly the tiles the new tree has and the old one had not', () => {
    const next = random(5)
    const pairs: Array<[number, number]> = [[0, 1], [1, 1], [255, 256], [256, 257], [65_535, 65_536], [65_536, 65_537], [100, 70_000], [16_777_215, 16_777_216]]
    for (let i = 0; i < 200; i++) {
      const a = next(200_000)
      pairs.push([a, a + next(i % 2 === 0 ? 300 : 100_000)])
    }
    for (const [a, b] of pairs) {
      const before = new Set(tilesOfTree(a).map(tilePath))
      const expected = tilesOfTree(b).filter((t) => !before.has(tilePath(t)))
      assert.deepEqual(newTiles(a, b).map(tilePath).sort(), expected.map(tilePath).sort(), `${a} → ${b}`)
    }
    assert.throws(() => newTiles(5, 4), code('ERR_TLOG_MALFORMED'))
  })
})

describe('tile data', () => {
  test('readTileData lays the tile’s stored hashes end to end; hashFromTile gives back every stored hash of the log', async () => {
    const next = random(6)
    const indexes = [...Array.from({ length: 3000 }, (_, i) => i), ...Array.from({ length: 2000 }, () => next(storedHashCount(70_000)))]
    for (const index of indexes) {
      const least = tileForIndex(index)
      const data = await readTileData(least, log)
      assert.equal(data.length, least.width * 32)
      assert.equal(toHex(hashFromTile(least, data, index)), toHex(log.hashes[index]!), `index ${index} from ${tilePath(least)}`)
      // A wider tile of the same place answers too, as the tree's partial or full tile does.
      const widest: HashTile = { ...least, width: Math.min(TILE_WIDTH, Math.floor(70_000 / TILE_WIDTH ** least.level) - least.n * TILE_WIDTH) }
      assert.equal(toHex(hashFromTile(widest, await readTileData(widest, log), index)), toHex(log.hashes[index]!))
    }
    // A level-0 tile's own hashes are the record hashes in order.
    const tile0 = await readTileData({ level: 0, n: 3, width: 256 }, log)
    for (let i = 0; i < 256; i++) assert.equal(toHex(tile0.subarray(32 * i, 32 * i + 32)), toHex(log.hashes[splitIndexOfRecord(3 * 256 + i)]!))
  })

  test('a tile’s place: level 0 holds records, level 1 the hashes of full level-0 tiles', () => {
    for (const [index, path] of [[0, 'tile/0/000.p/1'], [2, 'tile/0/000.p/2'], [510, 'tile/1/000.p/1'], [storedHashCount(256 * 256) - 1, 'tile/2/000.p/1']] as const) {
      assert.equal(tilePath(tileForIndex(index)), path, `index ${index} (${JSON.stringify(splitStoredHashIndex(index))})`)
    }
  })

  test('hashFromTile refuses a tile that does not hold the index, data shorter than the tile, an entry bundle', async () => {
    const tile: HashTile = { level: 0, n: 1, width: 256 }
    const data = await readTileData(tile, log)
    assert.throws(() => hashFromTile(tile, data, 0), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => hashFromTile({ level: 1, n: 0, width: 256 }, data, splitIndexOfRecord(300)), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => hashFromTile({ ...tile, width: 10 }, data, splitIndexOfRecord(256 + 20)), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => hashFromTile(tile, data.subarray(32), splitIndexOfRecord(256)), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => hashFromTile({ level: 'entries', n: 1, width: 256 } as unknown as HashTile, data, splitIndexOfRecord(256)), code('ERR_TLOG_MALFORMED'))
    await assert.rejects(readTileData({ level: 'entries', n: 0, width: 1 } as unknown as HashTile, log), code('ERR_TLOG_MALFORMED'))
  })
})

/** The stored-hash index of record r's own hash. */
function splitIndexOfRecord(r: number): number {
  return 2 * r - [...r.toString(2)].filter((b) => b === '1').length
}

describe('tileHashReader', () => {
  test('answers the stored hashes of trees of many sizes, in one tile fetch per call, tiles saved once proven', async () => {
    const next = random(7)
    for (const size of [1, 2, 255, 256, 257, 511, 65_535, 65_536, 65_537, 69_999, 70_000]) {
      const th = await treeHash(size, log)
      const tiles = serveTiles(log)
      const reader = tileHashReader({ size, hash: th }, tiles)
      const stored = storedHashCount(size)
      const indexes = stored <= 600 ? Array.from({ length: stored }, (_, i) => i) : Array.from({ length: 300 }, () => next(stored))
      const hashes = await reader.readHashes(indexes)
      assert.deepEqual(hashes.map(toHex), indexes.map((i) => toHex(log.hashes[i]!)), `size ${size}`)
      assert.equal(tiles.calls.length, 1)
      assert.deepEqual(tiles.saved, tiles.calls)
      // Only tiles the tree has are asked for, each at the width the tree has it.
      const own = new Set(tilesOfTree(size).map(tilePath))
      for (const tile of tiles.calls[0]!) assert.ok(own.has(tilePath(tile)), `${tilePath(tile)} is a tile of the ${size}-entry tree`)
      assert.deepEqual(await reader.readHashes([]), [])
    }
  })

  test('proofs computed through tiles are the proofs computed from storage', async () => {
    const size = 69_001
    const reader = tileHashReader({ size, hash: await treeHash(size, log) }, serveTiles(log))
    for (const n of [0, 1, 255, 256, 40_000, 69_000]) assert.deepEqual((await proveRecord(size, n, reader)).map(toHex), (await proveRecord(size, n, log)).map(toHex))
    for (const m of [1, 256, 4097, 65_536, 69_000]) assert.deepEqual((await proveTree(size, m, reader)).map(toHex), (await proveTree(size, m, log)).map(toHex))
    assert.equal(toHex(await treeHash(size, reader)), toHex(await treeHash(size, log)))
  })

  test('any changed byte of any tile it used is refused: ERR_TLOG_PROOF_INVALID, and nothing is saved', async () => {
    for (const size of [3, 256, 300, 65_536, 70_000]) {
      const th = await treeHash(size, log)
      const honest = serveTiles(log)
      const indexes = [0, storedHashCount(size) - 1, Math.floor(storedHashCount(size) / 2)]
      await tileHashReader({ size, hash: th }, honest).readHashes(indexes)
      for (const target of honest.calls[0]!) {
        for (const byte of [0, target.width * 32 - 1]) {
          const changed = serveTiles(log, (t, d) => {
            if (tilePath(t) !== tilePath(target)) return d
            const out = d.slice()
            out[byte]! ^= 0x80
            return out
          })
          await assert.rejects(tileHashReader({ size, hash: th }, changed).readHashes(indexes), code('ERR_TLOG_PROOF_INVALID'), `size ${size}: ${tilePath(target)} byte ${byte}`)
          assert.equal(changed.saved.length, 0)
        }
      }
    }
  })

  test('refuses another tree hash, an index past the tree, and a tile reader that answers wrong', async () => {
    const size = 1000
    const th = await treeHash(size, log)
    await assert.rejects(tileHashReader({ size, hash: await treeHash(999, log) }, serveTiles(log)).readHashes([5]), code('ERR_TLOG_PROOF_INVALID'))
    await assert.rejects(tileHashReader({ size, hash: th }, serveTiles(log)).readHashes([storedHashCount(size)]), code('ERR_TLOG_MALFORMED'))
    await assert.rejects(tileHashReader({ size: 0, hash: await treeHash(0, log) }, serveTiles(log)).readHashes([0]), code('ERR_TLOG_MALFORMED'))
    const short: TileReader = { readTiles: async (tiles) => (await serveTiles(log).readTiles(tiles)).map((d) => d.subarray(32)) }
    const fewer: TileReader = { readTiles: async (tiles) => (await serveTiles(log).readTiles(tiles)).slice(1) }
    const notBytes: TileReader = { readTiles: (tiles) => tiles.map(() => 'x' as unknown as Uint8Array) }
    for (const bad of [short, fewer, notBytes]) await assert.rejects(tileHashReader({ size, hash: th }, bad).readHashes([5]), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => tileHashReader({ size: -1, hash: th }, serveTiles(log)), code('ERR_TLOG_MALFORMED'))
    assert.throws(() => tileHashReader({ size, hash: th.subarray(1) }, serveTiles(log)), code('ERR_TLOG_MALFORMED'))
  })

  test('trees past 2^32 entries: tile arithmetic stays exact', async () => {
    for (const size of [2 ** 32 + 300, 2 ** 40 + 65_537, 2 ** 52 - 1]) {
      const source = uniformLog(size)
      const reader = tileHashReader({ size, hash: await treeHash(size, source) }, serveTiles(source))
      const stored = storedHashCount(size)
      const indexes = [0, 1, 2 ** 33, stored - 1, stored - 2, Math.floor(stored / 3)]
      assert.deepEqual((await reader.readHashes(indexes)).map(toHex), (source.readHashes(indexes) as Hash[]).map(toHex), `size ${size}`)
    }
  })
})
