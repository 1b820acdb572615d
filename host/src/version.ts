/**
 * The host's version, from its package.json (read at load, from `src/` and `dist/` alike): what `GET /v2`, the
 * OpenAPI document and `vouch-host --version` say.
 */
import { readFileSync } from 'node:fs'

export const HOST_VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
