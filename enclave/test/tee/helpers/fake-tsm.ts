/**
 * A fake configfs-tsm "kernel" for the SEV-SNP device's tests. configfs is not a plain directory: `mkdir`
 * creates an entry's attribute files at once, `generation` counts writes, reading `outblob` asks the PSP
 * for a report of the current `inblob`, and `rmdir` removes a populated entry. A plain temp folder
 * watched by a daemon cannot make `mkdir` and the attributes appear together (the device would race it),
 * so this fake sits at the device's filesystem seam instead: every call still goes to real files in a
 * temp folder through `nodeTsmFileSystem`, with the kernel's side effects added around it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { nodeTsmFileSystem, type TsmFileSystem } from '@vouch/enclave'

/** What the fake PSP returns for a request. */
export interface FakeAnswer {
  outblob: Uint8Array
  /** The certificate table; the `auxblob` attribute is absent when undefined and `omitAuxblob` is set. */
  auxblob?: Uint8Array
}

/** Options of {@link createFakeTsm}. */
export interface FakeTsmOptions {
  /** The entry's `provider`; `sev_guest` when unset. */
  provider?: string
  /** Answers a request: `inblob` as written, `privlevel` (0 unless written). */
  answer(inblob: Uint8Array, privlevel: number): FakeAnswer | Promise<FakeAnswer>
  /** Runs before an `outblob` read is answered, with the fake's own filesystem: a second writer, say. */
  beforeOutblob?(entry: string, fs: TsmFileSystem): Promise<void>
  /** No `auxblob` attribute at all (a provider without one). */
  omitAuxblob?: boolean
  /** An errno code thrown by the named call on an attribute (`read:outblob`, `mkdir`, ...). */
  fail?: { call: string; code: string }
}

/** The fake: its root (a temp folder), the filesystem to hand the device, and what it saw. */
export interface FakeTsm {
  root: string
  fs: TsmFileSystem
  /** Entries made so far, by full path. */
  entries: string[]
  /** Entries still present (a correct device leaves none). */
  remaining(): Promise<string[]>
  /** Removes the temp folder. */
  dispose(): void
}

const errnoError = (code: string, path: string): Error => Object.assign(new Error(`${code}: ${path}`), { code })

/** Creates the fake under a fresh temp folder (the configfs-tsm `report` folder exists). */
export function createFakeTsm(options: FakeTsmOptions): FakeTsm {
  const root = join(mkdtempSync(join(tmpdir(), 'vouch-tsm-')), 'report')
  mkdirSync(root)
  const real = nodeTsmFileSystem
  const state = new Map<string, { generation: number; answered: number }>()
  const entries: string[] = []
  const failIf = (call: string, path: string): void => {
    if (options.fail?.call === call) throw errnoError(options.fail.code, path)
  }
  const attributeOf = (path: string): { entry: string; name: string } => ({ entry: dirname(path), name: basename(path) })
  const bump = async (entry: string): Promise<void> => {
    const s = state.get(entry)!
    s.generation++
    await writeFile(join(entry, 'generation'), `${s.generation}\n`)
  }

  const fs: TsmFileSystem = {
    async mkdir(path) {
      failIf('mkdir', path)
      await real.mkdir(path)
      entries.push(path)
      state.set(path, { generation: 0, answered: -1 })
      // What configfs creates with the entry.
      await writeFile(join(path, 'provider'), `${options.provider ?? 'sev_guest'}\n`)
      await writeFile(join(path, 'generation'), '0\n')
      await writeFile(join(path, 'privlevel_floor'), '0\n')
      for (const name of ['inblob', 'outblob', 'privlevel', ...(options.omitAuxblob ? [] : ['auxblob'])]) {
        await writeFile(join(path, name), '')
      }
    },
    async rmdir(path) {
      failIf('rmdir', path)
      // configfs drops the attributes with the entry; a plain folder needs them removed first.
      await rm(path, { recursive: true })
      state.delete(path)
    },
    readdir: (path) => real.readdir(path),
    async writeFile(path, data) {
      const { entry, name } = attributeOf(path)
      failIf(`write:${name}`, path)
      await real.writeFile(path, data)
      await bump(entry)
    },
    async readFile(path) {
      const { entry, name } = attributeOf(path)
      failIf(`read:${name}`, path)
      const s = state.get(entry)
      if (s !== undefined && (name === 'outblob' || name === 'auxblob')) {
        if (name === 'outblob') await options.beforeOutblob?.(entry, fs)
        // Like the kernel: a new report when the entry changed since the last one.
        if (s.answered !== s.generation) {
          const inblob = new Uint8Array(await readFile(join(entry, 'inblob')))
          const privlevel = Number((await readFile(join(entry, 'privlevel'), 'utf8')).trim() || '0')
          const answer = await options.answer(inblob, privlevel)
          await writeFile(join(entry, 'outblob'), answer.outblob)
          if (!options.omitAuxblob) await writeFile(join(entry, 'auxblob'), answer.auxblob ?? new Uint8Array(0))
          s.answered = s.generation
        }
      }
      return real.readFile(path)
    },
  }

  return {
    root,
    fs,
    entries,
    async remaining() {
      return (await real.readdir(root)).map((name) => join(root, name))
    },
    dispose() {
      rmSync(dirname(root), { recursive: true, force: true })
    },
  }
}

