/**
 * The transparency log's core, pure and without I/O: RFC 9162 hashing, the stored-hash layout, tree hashes,
 * inclusion and consistency proofs, C2SP tlog-tiles tiles and entry bundles, C2SP tlog-checkpoint checkpoints and
 * C2SP signed notes (Ed25519). Storage, routes and clients build on it; docs/tlog-vectors.md has test vectors.
 */
export { HASH_SIZE, EMPTY_TREE_HASH, recordHash, nodeHash, type Hash, type HashReader } from './hash.js'
export {
  storedHashIndex,
  splitStoredHashIndex,
  storedHashCount,
  storedHashesForRecord,
  storedHashesForRecordHashes,
  treeHash,
} from './stored.js'
export { proveRecord, checkRecord, proveTree, checkTree, type RecordProof, type TreeProof } from './proof.js'
export {
  TILE_HEIGHT,
  TILE_WIDTH,
  tileForIndex,
  tilePath,
  parseTilePath,
  readTileData,
  hashFromTile,
  newTiles,
  tileHashReader,
  type Tile,
  type HashTile,
  type EntryBundleTile,
  type TileReader,
  type TreeHead,
} from './tile.js'
export { MAX_ENTRY_SIZE, encodeEntryBundle, decodeEntryBundle } from './bundle.js'
export { formatCheckpoint, parseCheckpoint, type Checkpoint } from './checkpoint.js'
export { openNote, type NoteSignature, type OpenedNote } from './note.js'
export { generateNoteKey, noteVerifierKey, signNote, type NoteKeys } from './note-sign.js'
