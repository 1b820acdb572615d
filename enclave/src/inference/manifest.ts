/**
 * Model manifests: YAML (or JSON) text → a validated {@link ModelManifest}, or every problem in the file with
 * its line, column and field. Pure: the caller reads the file.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import { createFileIssueList, formatFileIssues } from '@vouch/protocol'
import { isMap, isPair, isScalar, parseDocument, type Document } from 'yaml'
import { ModelError } from '../errors.js'
import { manifestSchema, type CONTRIBUTOR_ROLES } from './manifest-schema.js'

/** A contributor's role, from {@link CONTRIBUTOR_ROLES}. */
export type ContributorRole = (typeof CONTRIBUTOR_ROLES)[number]

/** Who contributed to a model; receipts carry these as `attribution` (DESIGN.md §4). */
export interface Contributor {
  role: ContributorRole
  id: string
  name: string
}

/** Where a model's ONNX bytes are: relative to the manifest, or inside an npm package. */
export type ModelSource = { path: string } | { package: string; path: string }

/** A validated model manifest (`models/manifest.schema.json` describes each field). */
export interface ModelManifest {
  name: string
  version: string
  description: string
  source: ModelSource
  /** SHA-256 of the ONNX bytes, lower-case hex. */
  sha256: string
  /** The `id` of the contributor with role `publisher`. */
  publisher: string
  license: string
  /** Intra-op threads of this model's session; unset: the enclave's setting. */
  threads?: number
  /** An OIP v2 JSON request for the known-answer test at start-up, relative to the manifest; unset: none. */
  sample?: string
  contributors: Contributor[]
}

/** One problem in a manifest file. `field` is a dotted path (`contributors[0].role`), empty for the whole file. */
export interface ManifestIssue {
  file: string
  line: number
  column: number
  field: string
  message: string
}

/** A manifest that is not valid: `issues` lists every problem, and the message lists them one per line. */
export class ManifestInvalidError extends ModelError {
  readonly issues: readonly ManifestIssue[]

  constructor(issues: readonly ManifestIssue[], options?: { cause?: unknown }) {
    super('ERR_MODEL_MANIFEST_INVALID', formatManifestIssues(issues), options)
    this.issues = issues
  }
}

/** One line per issue, `file:line:column: field: message`. */
export function formatManifestIssues(issues: readonly ManifestIssue[]): string {
  return formatFileIssues(issues)
}

/**
 * Parses and validates a model manifest.
 *
 * @param text - The file's contents, YAML or JSON.
 * @param file - The file's name or path, used in messages.
 * @returns The manifest, deeply frozen.
 * @throws {@link ManifestInvalidError} (`ERR_MODEL_MANIFEST_INVALID`) listing every problem with its field.
 */
export function parseManifest(text: string, file: string): ModelManifest {
  const { issues, add: issue } = createFileIssueList(file, text)

  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true })
  for (const e of doc.errors) {
    issue(e.pos[0], '', e.code === 'DUPLICATE_KEY' ? `duplicate key: ${e.message}` : `invalid YAML: ${e.message}`)
  }
  if (issues.length > 0) throw new ManifestInvalidError(issues)
  if (doc.contents === null) {
    issue(0, '', 'the manifest is empty')
    throw new ManifestInvalidError(issues)
  }

  let data: unknown
  try {
    // Manifests have no use for aliases; a small cap keeps a hostile file from expanding.
    data = doc.toJS({ maxAliasCount: 10 })
  } catch (cause) {
    issue(0, '', `invalid YAML: ${cause instanceof Error ? cause.message : String(cause)}`)
    throw new ManifestInvalidError(issues, { cause })
  }

  const validate = manifestValidator()
  if (!validate(data)) {
    for (const e of relevantErrors(validate.errors ?? [])) {
      const { segments, field, message } = describe(e)
      issue(offsetOf(doc, segments), field, message)
    }
    throw new ManifestInvalidError(issues)
  }

  const manifest = data as ModelManifest & { $schema?: string }
  // Rules the schema cannot state.
  const { path } = manifest.source
  if (!isRelativePath(path)) {
    issue(offsetOf(doc, ['source', 'path']), 'source.path', 'must be a relative path with "/" separators')
  } else if ('package' in manifest.source && path.split('/').includes('..')) {
    issue(offsetOf(doc, ['source', 'path']), 'source.path', 'must stay inside the package (no "..")')
  }
  if (manifest.sample !== undefined && !isRelativePath(manifest.sample)) {
    issue(offsetOf(doc, ['sample']), 'sample', 'must be a relative path with "/" separators')
  }
  if (!manifest.contributors.some((c) => c.role === 'publisher' && c.id === manifest.publisher)) {
    issue(
      offsetOf(doc, ['publisher']),
      'publisher',
      `no contributor with role "publisher" has id "${manifest.publisher}"`,
    )
  }
  if (issues.length > 0) throw new ManifestInvalidError(issues)

  const { $schema: _schema, ...rest } = manifest
  return deepFreeze(rest)
}

// ---------------------------------------------------------------------------------------------------------------------

/** A path written the one portable way: relative, with "/" separators (no drive letter, no backslash). */
function isRelativePath(path: string): boolean {
  return !path.includes('\\') && !path.startsWith('/') && !/^[A-Za-z]:/.test(path)
}

let validator: ValidateFunction | undefined

function manifestValidator(): ValidateFunction {
  validator ??= new Ajv2020({ allErrors: true, strict: true }).compile(manifestSchema)
  return validator
}

/** Drops errors that only echo a more precise one (another keyword on a value whose type is already wrong). */
function relevantErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const typed = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath))
  return errors.filter((e) => e.keyword === 'type' || !typed.has(e.instancePath))
}

/** The path segments of the offending node, its dotted field name, and a message in the schema's words. */
function describe(e: ErrorObject): { segments: (string | number)[]; field: string; message: string } {
  const segments: (string | number)[] = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
  const params = e.params as Record<string, unknown>
  let message = e.message ?? 'is not valid'
  if (e.keyword === 'required') {
    segments.push(String(params['missingProperty']))
    message = 'is required'
  } else if (e.keyword === 'additionalProperties') {
    segments.push(String(params['additionalProperty']))
    message = 'is not a manifest field'
  } else if (e.keyword === 'enum') {
    message = `must be one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
  } else if (e.keyword === 'pattern') {
    message = `must match ${String(params['pattern'])}`
  }
  const field = segments.reduce<string>(
    (acc, s) => (typeof s === 'number' ? `${acc}[${s}]` : acc === '' ? s : `${acc}.${s}`),
    '',
  )
  return { segments, field, message }
}

/** Offset of the deepest node on `segments` that exists (its key, for a map entry), or 0. */
function offsetOf(doc: Document, segments: readonly (string | number)[]): number {
  let node: unknown = doc.contents
  let offset = nodeStart(node) ?? 0
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === segment)
      if (pair === undefined) return offset
      offset = nodeStart(pair.key) ?? offset
      node = pair.value
    } else if (node !== null && typeof node === 'object' && 'items' in node && Array.isArray(node.items)) {
      node = typeof segment === 'number' ? node.items[segment] : undefined
      if (node === undefined) return offset
      offset = nodeStart(node) ?? offset
    } else {
      return offset
    }
  }
  return offset
}

function nodeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined
  const range = node.range
  return Array.isArray(range) && typeof range[0] === 'number' ? range[0] : undefined
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
