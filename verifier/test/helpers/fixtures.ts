/**
 * Real evidence lives in `../shared/fixtures` beside the repository (never copied into it). Tests that
 * need it skip with this reason when it is absent, as on a user's machine.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)))
/** Where the shared fixtures are expected. */
export const FIXTURES_DIR = process.env['VOUCH_FIXTURES_DIR'] ?? resolve(REPO_ROOT, '../shared/fixtures')

/** A skip reason when the fixtures are absent, or false when they are there. */
export function fixturesMissing(sub: string): string | false {
  const dir = join(FIXTURES_DIR, sub)
  return existsSync(dir) ? false : `real evidence not found at ${dir} (../shared/fixtures beside the repository); set VOUCH_FIXTURES_DIR to run these tests`
}

/** Reads a fixture file as bytes. */
export function fixtureBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES_DIR, ...parts)))
}

/** Reads a fixture file as text. */
export function fixtureText(...parts: string[]): string {
  return readFileSync(join(FIXTURES_DIR, ...parts), 'utf8')
}

/** Case folder names under `<sub>/cases`, or none when the fixtures are absent. */
export function fixtureCases(sub: string): string[] {
  const dir = join(FIXTURES_DIR, sub, 'cases')
  return existsSync(dir) ? readdirSync(dir).sort() : []
}

/** Whether a fixture file exists. */
export function fixtureExists(...parts: string[]): boolean {
  return existsSync(join(FIXTURES_DIR, ...parts))
}
