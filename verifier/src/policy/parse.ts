/**
 * Policy files: YAML or JSON text → a validated, normalised {@link Policy}, or every problem in the file with its
 * line, column and field. Pure: the caller reads the file. JSON goes through the same YAML parser (JSON is YAML), so
 * both get positions; `.json` files are also held to strict JSON.
 */
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2020.js'
import { Composer, Lexer, Parser, YAMLParseError, isAlias, isMap, isScalar, isSeq, visit, type CST, type Document } from 'yaml'
import { createFileIssueList, formatFileIssues, isRecord, utf8Length, type FirmwareVersion, type Product, type TextPosition } from '@vouch/protocol'
import { PolicyError } from '../errors.js'
import validatePolicySchema from './policy-validator.generated.js'
import { policySchema } from './schema.js'
import type {
  FirmwareMinimums,
  GuestPolicyRequirement,
  Policy,
  PolicyIssue,
  PolicyPosition,
  SevSnpPolicy,
  NvidiaGpuPolicy,
  GpuArchitecture,
  ModelsPolicy,
  TcbMinimums,
} from './types.js'

/**
 * Largest policy accepted, in UTF-8 bytes: the shipped ones are about 3 KB, and 1,800 chip ids fit. The YAML parser
 * takes about 14 µs per value, so the worst case (a flow list of one-digit numbers) costs about 2 s on a 2-core machine.
 */
export const MAX_POLICY_BYTES = 256 * 1024

/**
 * Deepest nesting of mappings and lists accepted: the schema needs 4 levels. The YAML composer recurses once per
 * level, and past a few thousand levels (a few KB of `[`) it exhausts the stack, which can kill the process.
 */
export const MAX_POLICY_DEPTH = 32

/**
 * Most values aliases may add to a policy once expanded. Aliases let a policy write a list once and use it twice;
 * nested, they multiply (a few hundred bytes can stand for billions of values), so their expansion is counted
 * before anything walks the document.
 */
export const MAX_POLICY_ALIAS_VALUES = 10_000

/** A policy file that is not valid: `issues` lists every problem, and the message lists them one per line. */
export class PolicyInvalidError extends PolicyError {
  readonly issues: readonly PolicyIssue[]

  constructor(issues: readonly PolicyIssue[], options?: { cause?: unknown }) {
    super('ERR_POLICY_INVALID', formatPolicyIssues(issues), options)
    this.issues = issues
  }
}

/**
 * Parses and validates a policy file (YAML or JSON).
 *
 * @param text - The file's contents.
 * @param file - The file name, used in messages and in `Policy.source`; a `.json` name is held to strict JSON.
 * @returns The policy, normalised (hex in lower case, firmware versions as numbers) and deeply frozen.
 * @throws {@link PolicyInvalidError} (`ERR_POLICY_INVALID`) listing every problem found.
 */
export function parsePolicy(text: string, file: string): Policy {
  const { policy, issues } = readPolicy(text, file)
  if (policy === undefined || issues.length > 0) throw new PolicyInvalidError(issues)
  return policy
}

/**
 * Checks a policy file without throwing: the issues {@link parsePolicy} would report, in file order; empty when the
 * file is valid. For `vouch-verify policy lint`.
 */
export function lintPolicy(text: string, file: string): PolicyIssue[] {
  return readPolicy(text, file).issues
}

/** One line per issue, `file:line:column: field: message` (the field left out for whole-file problems). */
export function formatPolicyIssues(issues: readonly PolicyIssue[]): string {
  return formatFileIssues(issues)
}

// ---------------------------------------------------------------------------------------------------------------------
// Reading

/** Where a field is written: the start of its key (or list item) and of its value. */
interface Span {
  key: number
  value: number
}

/** The parsed text, with the positions the messages need. */
interface Source {
  file: string
  position: (offset: number) => TextPosition
  spans: Map<string, Span>
  /** For a key written twice, the first occurrence (`spans` holds the last, the one that takes effect). */
  firstKeys: Map<string, number>
  /** What each alias refers to, found in one pass (`Alias.resolve` searches the whole document on every call). */
  aliasTargets: Map<unknown, unknown>
  /** Values reached through aliases so far, against {@link MAX_POLICY_ALIAS_VALUES}. */
  aliasValues: number
  /** Set when aliases expand past the limit: the outermost alias being expanded then. Indexing stops. */
  aliasBomb?: { offset: number; field: string }
}

interface Reading {
  policy?: Policy
  issues: PolicyIssue[]
}

/** Reports the YAML parser's errors and warnings through `issue`; returns whether one leaves the document unreadable. */
function reportYamlProblems(doc: Document.Parsed, src: Source, issue: (offset: number, field: string, message: string) => void): boolean {
  let fatal = false
  const reported = new Set<number>()
  for (const e of doc.errors) {
    const offset = e.pos[0]
    // The parser often explains one slip twice from the same spot; once is enough.
    if (reported.has(offset)) continue
    reported.add(offset)
    if (e.code === 'DUPLICATE_KEY') {
      // A repeated key does not stop parsing (the last one wins), so the schema still runs and reports the rest.
      const field = fieldAtKey(src, offset)
      const first = src.firstKeys.get(field)
      const where = first === undefined ? '' : ` (first written at line ${src.position(first).line})`
      issue(offset, field, `duplicate key "${lastSegment(field)}"${where}`)
      continue
    }
    fatal = true
    const message = e.code === 'MULTIPLE_DOCS' ? 'a policy file holds one YAML document; found a second' : undefined
    issue(offset, '', message ?? `invalid YAML: ${e.message}`)
  }
  for (const w of doc.warnings) issue(w.pos[0], '', `invalid YAML: ${w.message}`)
  return fatal
}

function readPolicy(text: string, file: string): Reading {
  const { issues, add: issue, position } = createFileIssueList(file, text)
  const src: Source = { file, position, spans: new Map(), firstKeys: new Map(), aliasTargets: new Map(), aliasValues: 0 }

  // Bounded before the parser sees it, so no file costs more than a parse of MAX_POLICY_BYTES.
  const bytes = utf8Length(text)
  if (bytes > MAX_POLICY_BYTES) {
    issue(0, '', `a policy is at most ${MAX_POLICY_BYTES} bytes, and this one holds ${bytes}`)
    return { issues }
  }
  const parsed = parseTokens(text, MAX_POLICY_DEPTH)
  if ('tooDeepAt' in parsed) {
    issue(parsed.tooDeepAt, '', `nested more than ${MAX_POLICY_DEPTH} levels deep (a policy needs 4)`)
    return { issues }
  }
  const doc = composeDocument(parsed.tokens, text.length)
  if (/\.json$/i.test(file)) {
    const jsonProblem = strictJsonProblem(text)
    if (jsonProblem !== undefined) {
      issue(jsonProblem.offset ?? doc.errors[0]?.pos[0] ?? 0, '', jsonProblem.message)
      return { issues }
    }
  }
  src.aliasTargets = aliasTargets(doc)
  indexNode(doc.contents, '', src, new Set(), null)
  if (src.aliasBomb !== undefined) {
    const { offset, field } = src.aliasBomb
    issue(offset, field, `aliases here expand the policy by more than ${MAX_POLICY_ALIAS_VALUES} values; write the values out instead`)
    return finish(issues)
  }

  if (reportYamlProblems(doc, src, issue)) return finish(issues)

  if (doc.contents === null) {
    issue(0, '', 'the policy is empty')
    return finish(issues)
  }

  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: 100 })
  } catch (error) {
    const alias = unresolvedAlias(doc, src.aliasTargets)
    if (alias === undefined) issue(0, '', `invalid YAML: ${error instanceof Error ? error.message : String(error)}`)
    else issue(alias.offset, '', `unknown alias "*${alias.name}": its anchor "&${alias.name}" must come first`)
    return finish(issues)
  }

  const validate = policyValidator()
  if (!validate(data)) {
    for (const e of relevantErrors(validate.errors ?? [])) {
      const found = toIssue(e, data, src)
      issue(found.offset, found.field, found.message)
    }
    return finish(issues)
  }

  const document = data as PolicyDocument
  for (const found of semanticProblems(document, src)) issue(found.offset, found.field, found.message)
  if (issues.length > 0) return finish(issues)
  return { policy: toPolicy(document, src), issues }
}

function finish(issues: PolicyIssue[]): Reading {
  const seen = new Set<string>()
  const unique = issues.filter((i) => {
    const k = `${i.line}:${i.column}:${i.field}:${i.message}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
  unique.sort((a, b) => a.line - b.line || a.column - b.column || a.field.localeCompare(b.field))
  return { issues: unique }
}

/** `JSON.parse`'s verdict on a `.json` file, which YAML alone would accept with trailing commas or comments. */
function strictJsonProblem(text: string): { offset?: number; message: string } | undefined {
  const bom = text.startsWith('\uFEFF') ? 1 : 0
  try {
    JSON.parse(text.slice(bom))
    return undefined
  } catch (error) {
    const raw = error instanceof Error ? error.message : String(error)
    const at = /at position (\d+)/.exec(raw)
    const reason = raw
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/, ".*" is not valid JSON$/s, '')
      .replace(/ \(line \d+ column \d+\)$/, '')
    const message = `invalid JSON: ${reason}`
    if (at?.[1] !== undefined) return { offset: Number(at[1]) + bom, message }
    if (/end of JSON input/.test(raw)) return { offset: text.length, message }
    return { message }
  }
}

/**
 * The YAML document of a policy, composed from its syntax tree as `parseDocument` would: the first document, with
 * a `MULTIPLE_DOCS` error when there are more.
 */
function composeDocument(tokens: CST.Token[], length: number): Document.Parsed {
  const composer = new Composer({ prettyErrors: false, uniqueKeys: true })
  let doc: Document.Parsed | undefined
  for (const next of composer.compose(tokens, true, length)) {
    if (doc === undefined) doc = next
    else {
      doc.errors.push(new YAMLParseError(next.range.slice(0, 2) as [number, number], 'MULTIPLE_DOCS', 'Source contains multiple documents'))
      break
    }
  }
  // compose(…, forceDoc = true) always ends with a document.
  return doc!
}

/**
 * The syntax tree of `text`, or where it first nests collections more than `limit` deep. The parser is fed one
 * token at a time and its stack of open collections is checked after each, so a deep file is refused after
 * `limit` levels, not after the parser (slower the deeper it goes) has read all of it.
 */
function parseTokens(text: string, limit: number): { tokens: CST.Token[] } | { tooDeepAt: number } {
  const parser = new Parser()
  const tokens: CST.Token[] = []
  for (const lexeme of new Lexer().lex(text)) {
    for (const token of parser.next(lexeme)) tokens.push(token)
    // The stack holds the document, the open collections, and on top perhaps a scalar being read.
    const top = parser.stack.at(-1)
    const depth = parser.stack.length - 1 - (top === undefined || isCollectionToken(top) ? 0 : 1)
    if (depth > limit) return { tooDeepAt: parser.offset }
  }
  for (const token of parser.end()) tokens.push(token)
  return { tokens }
}

function isCollectionToken(token: CST.Token): boolean {
  return token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection'
}

/**
 * Records where every field is written, by dotted path. Aliases are followed, so positions point at the anchor;
 * what they add is counted, and past {@link MAX_POLICY_ALIAS_VALUES} indexing stops with `src.aliasBomb` set.
 */
function indexNode(node: unknown, path: string, src: Source, active: Set<unknown>, alias: { offset: number; field: string } | null): void {
  if (src.aliasBomb !== undefined) return
  if (alias !== null && ++src.aliasValues > MAX_POLICY_ALIAS_VALUES) {
    src.aliasBomb = alias
    return
  }
  if (isAlias(node)) {
    const target = src.aliasTargets.get(node)
    if (target === undefined || active.has(target)) return
    active.add(target)
    indexNode(target, path, src, active, alias ?? { offset: node.range?.[0] ?? 0, field: path })
    active.delete(target)
    return
  }
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key)
      const field = joinField(path, key)
      const keyStart = nodeStart(pair.key)
      const valueStart = nodeStart(pair.value)
      const span = { key: keyStart ?? valueStart ?? 0, value: valueStart ?? keyStart ?? 0 }
      if (src.spans.has(field) && !src.firstKeys.has(field)) src.firstKeys.set(field, src.spans.get(field)!.key)
      src.spans.set(field, span)
      indexNode(pair.value, field, src, active, alias)
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const field = `${path}[${i}]`
      const start = nodeStart(item) ?? src.spans.get(path)?.value ?? 0
      src.spans.set(field, { key: start, value: start })
      indexNode(item, field, src, active, alias)
    })
  }
}

/** Start offset of a node that has text; an empty value (`key:` and nothing) has none. */
function nodeStart(node: unknown): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined
  const range = (node as { range?: readonly [number, number, number] | null }).range
  if (range === undefined || range === null || range[0] === range[1]) return undefined
  return range[0]
}

function fieldAtKey(src: Source, offset: number): string {
  for (const [field, span] of src.spans) if (span.key === offset) return field
  return ''
}

/**
 * The node each alias refers to: the last node anchored with its name before it, in document order, as YAML
 * resolves aliases. An alias with no such anchor is left out.
 */
function aliasTargets(doc: Document): Map<unknown, unknown> {
  const anchors = new Map<string, unknown>()
  const targets = new Map<unknown, unknown>()
  visit(doc, {
    Node(_, node) {
      if (isAlias(node)) {
        const target = anchors.get(node.source)
        if (target !== undefined) targets.set(node, target)
      } else if (typeof node.anchor === 'string') anchors.set(node.anchor, node)
    },
  })
  return targets
}

function unresolvedAlias(doc: Document, targets: Map<unknown, unknown>): { offset: number; name: string } | undefined {
  let found: { offset: number; name: string } | undefined
  visit(doc, {
    Alias(_, node) {
      if (targets.has(node)) return undefined
      found = { offset: node.range?.[0] ?? 0, name: node.source }
      return visit.BREAK
    },
  })
  return found
}

// ---------------------------------------------------------------------------------------------------------------------
// Schema validation and its messages

/**
 * The schema's validator, compiled by ajv at build time (npm run schema:policy): compiling at run time would call
 * `new Function`, which a page's Content Security Policy without 'unsafe-eval' forbids (docs/browser.md). Node and
 * browsers run the same generated code, so their errors are the same.
 */
function policyValidator(): ValidateFunction {
  return validatePolicySchema as unknown as ValidateFunction
}

interface Found {
  offset: number
  field: string
  message: string
}

/**
 * Keeps one error per real problem: a value of the wrong type gets only its type error (not also const, enum or
 * pattern), and combinator errors are dropped when the errors they summarise are there.
 */
function relevantErrors(errors: readonly ErrorObject[]): ErrorObject[] {
  const typed = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath))
  const combinators = new Set(['anyOf', 'oneOf', 'allOf', 'if', 'then', 'else', 'contains', '$ref'])
  return errors.filter((e) => {
    if (e.keyword !== 'type' && typed.has(e.instancePath)) return false
    if (combinators.has(e.keyword)) return !errors.some((o) => o !== e && o.instancePath.startsWith(e.instancePath))
    return true
  })
}

function toIssue(e: ErrorObject, data: unknown, src: Source): Found {
  const { field, value } = resolvePointer(e.instancePath, data)
  const parent: Record<string, unknown> = isRecord(e.parentSchema) ? e.parentSchema : {}
  const params = e.params as Record<string, unknown>
  const keyAt = (f: string): number => src.spans.get(f)?.key ?? 0
  const atValue = (message: string): Found => ({ offset: src.spans.get(field)?.value ?? 0, field, message })
  const custom = (keyword: string): string | undefined =>
    typeof parent[keyword] === 'string' ? (parent[keyword] as string) : undefined

  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params['additionalProperty'])
      const f = joinField(field, key)
      return { offset: keyAt(f), field: f, message: unknownKeyMessage(key, parent, field) }
    }
    case 'required': {
      // The key is not in the file: point at the mapping that should hold it (the top of the file for the root).
      const key = String(params['missingProperty'])
      const offset = field === '' ? 0 : keyAt(field)
      return { offset, field: joinField(field, key), message: `missing required key "${key}"` }
    }
    case 'type': {
      const type = String(params['type'])
      const expected = custom('patternErrorMessage') ?? `must be ${typeName(type)}`
      return atValue(`${expected}, got ${describe(value)}${typeHint(type, value, parent)}`)
    }
    case 'const':
      return atValue(`must be ${JSON.stringify(params['allowedValue'])}, got ${describe(value)}`)
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map((v) => String(v))
      const guess = typeof value === 'string' ? closest(value, allowed) : undefined
      const hint = guess === undefined ? '' : ` (did you mean "${guess}"?)`
      return atValue(`must be one of ${allowed.map((v) => `"${v}"`).join(', ')}, got ${describe(value)}${hint}`)
    }
    case 'pattern': {
      const pattern = String(params['pattern'])
      const expected = custom('patternErrorMessage') ?? `must match ${pattern}`
      return atValue(`${expected}, got ${describePatternMismatch(String(value), pattern.includes('[0-9a-fA-F]'))}`)
    }
    case 'minimum':
    case 'maximum': {
      const bound = e.keyword === 'minimum' ? 'at least' : 'at most'
      return atValue(`must be ${bound} ${String(params['limit'])}, got ${describe(value)}`)
    }
    case 'minItems':
    case 'minProperties':
      return atValue(Number(params['limit']) === 1 ? 'must not be empty' : (e.message ?? 'has too few entries'))
    case 'minLength':
      return atValue('must not be empty')
    case 'uniqueItems': {
      // ajv names the two equal items; report the later one, as the repeat.
      const [first, again] = [Number(params['i']), Number(params['j'])].sort((a, b) => a - b) as [number, number]
      const f = `${field}[${again}]`
      const item = Array.isArray(value) ? value[again] : undefined
      const message = `${describe(item)} is listed twice (also at ${field}[${first}])`
      return { offset: src.spans.get(f)?.value ?? 0, field: f, message }
    }
    case 'not':
    case 'false schema':
      return { offset: keyAt(field), field, message: custom('errorMessage') ?? 'is not allowed here' }
    default:
      return atValue(e.message ?? `fails ${e.keyword}`)
  }
}

/** JSON Pointer (`/sevSnp/measurements/1`) → dotted field (`sevSnp.measurements[1]`) and the value there. */
function resolvePointer(pointer: string, data: unknown): { field: string; value: unknown } {
  let field = ''
  let value = data
  if (pointer === '') return { field, value }
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(value)) {
      field = `${field}[${segment}]`
      value = value[Number(segment)]
    } else {
      field = joinField(field, segment)
      value = isRecord(value) ? value[segment] : undefined
    }
  }
  return { field, value }
}

function unknownKeyMessage(key: string, parent: Record<string, unknown>, where: string): string {
  const properties = isRecord(parent['properties']) ? parent['properties'] : {}
  const known = Object.keys(properties).filter((k) => k !== '$schema' && !isForbidden(properties[k]))
  const guess = closest(key, known)
  if (guess !== undefined) return `unknown key "${key}" (did you mean "${guess}"?)`
  const homes = (keyHomes().get(key) ?? []).filter((h) => h !== where)
  if (homes.length === 0) return `unknown key "${key}"`
  return `unknown key "${key}" here (it belongs in ${homes.map((h) => h || 'the top level').join(' or ')})`
}

let keyHomesCache: Map<string, string[]> | undefined

/** Every key the schema knows, with the sections it belongs in, to redirect a key written at the wrong level. */
function keyHomes(): Map<string, string[]> {
  if (keyHomesCache !== undefined) return keyHomesCache
  const found = new Map<string, string[]>()
  const defs = policySchema.$defs as Record<string, unknown>
  const walk = (schema: unknown, path: string, depth: number): void => {
    if (!isRecord(schema) || depth > 8) return
    const ref = schema['$ref']
    if (typeof ref === 'string' && ref.startsWith('#/$defs/')) walk(defs[ref.slice('#/$defs/'.length)], path, depth + 1)
    if (!isRecord(schema['properties'])) return
    for (const [name, sub] of Object.entries(schema['properties'])) {
      if (name === '$schema' || isForbidden(sub)) continue
      found.set(name, [...(found.get(name) ?? []), path])
      walk(sub, joinField(path, name), depth + 1)
    }
  }
  walk(policySchema, '', 0)
  keyHomesCache = found
  return found
}

/** A property the schema names only to forbid it (`fmc` on Milan), with a message of its own. */
function isForbidden(schema: unknown): boolean {
  return schema === false || (isRecord(schema) && 'not' in schema)
}

function typeName(type: string): string {
  const names: Record<string, string> = {
    boolean: 'a boolean',
    integer: 'an integer',
    number: 'a number',
    string: 'a string',
    array: 'a list',
    object: 'a mapping',
    null: 'empty',
  }
  return names[type] ?? type
}

/** YAML reads unquoted digits as numbers and only true/false as booleans; say so where that is the likely slip. */
function typeHint(expected: string, value: unknown, schema: Record<string, unknown>): string {
  const scalar = typeof value === 'number' || typeof value === 'boolean'
  // Hex and version strings are where unquoted digits happen; a product name written as 1 is not a quoting slip.
  if (expected === 'string' && scalar && 'pattern' in schema) return ' (put it in quotes)'
  if (expected === 'boolean' && typeof value === 'string') return ' (write true or false)'
  return ''
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing'
  if (value === null) return 'an empty value'
  if (typeof value === 'string') return `string ${quote(value)}`
  if (typeof value === 'number' || typeof value === 'boolean') return `${typeof value} ${String(value)}`
  if (Array.isArray(value)) return 'a list'
  if (value instanceof Uint8Array) return 'binary data'
  if (value instanceof Date) return `a date (${value.toISOString()})`
  return 'a mapping'
}

/** Short strings in full; long ones by length and start, which is what tells a truncated digest apart. */
function quote(text: string): string {
  if (text.length <= 24) return JSON.stringify(text)
  return `${text.length} characters (${JSON.stringify(`${text.slice(0, 16)}…`)})`
}

function describePatternMismatch(text: string, hexOnly: boolean): string {
  const shown = quote(text)
  if (!hexOnly) return shown
  const bad = /[^0-9a-fA-F]/.exec(text)
  if (bad === null) return shown
  return `${shown}, with non-hex character ${JSON.stringify(bad[0])} at position ${bad.index + 1}`
}

/** The candidate nearest to `word` by edit distance (case-insensitive), if it is near enough to be a slip. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = Math.max(1, Math.floor(word.length / 3)) + 1
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return best
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1)
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution))
    }
    previous = current
  }
  return previous[b.length]!
}

// ---------------------------------------------------------------------------------------------------------------------
// The file's shape once the schema accepts it, rules the schema cannot express, and normalisation

interface TcbDocument {
  fmc?: number
  bootloader: number
  tee: number
  snp: number
  microcode: number
}

interface SevSnpDocument {
  allowedProducts: Product[]
  allowedSigningKeys: SevSnpPolicy['allowedSigningKeys']
  allowDebug: boolean
  allowMigrationAgent: boolean
  requireCrl: boolean
  allowStaleCrl?: boolean
  allowSmt?: boolean
  minimumAbi?: { major: number; minor: number }
  requireGuestPolicy?: GuestPolicyRequirement[]
  allowedVmpls?: number[]
  minimumGuestSvn?: number
  measurements?: string[]
  hostData?: string[]
  reportData?: string
  idKeyDigests?: string[]
  authorKeyDigests?: string[]
  chipIds?: string[]
  minimumTcb?: Partial<Record<Product, TcbDocument>>
  minimumFirmware?: Partial<Record<Product, string>>
  allowProvisionalFirmware?: boolean
}

interface NvidiaGpuDocument {
  required: boolean
  allowedArchitectures: GpuArchitecture[]
  count?: number
  requireRimMatch: boolean
  requireOcsp: boolean
  allowOcspUnknown?: boolean
  ocspRevokedGracePeriod?: string
  minimumDriverVersion?: string
  allowedDriverVersions?: string[]
  minimumVbiosVersion?: string
  allowedVbiosVersions?: string[]
  requireProtectedPcie?: boolean
  requireNvdec0Disabled?: boolean
}

interface PolicyDocument {
  version: 1
  name: string
  description?: string
  allowSimulated: boolean
  sevSnp?: SevSnpDocument
  nvidiaGpu?: NvidiaGpuDocument
  evidence?: { maximumAge?: string }
  models?: { allowedDigests?: string[]; allowedPublishers?: string[]; allowedManifests?: string[]; knownAnswers?: { model: string; input: string; output: string }[] }
  receipts?: { minimumVersion?: 1 | 2 }
  log?: { keys: string[]; requireInclusion?: boolean }
  fleet?: { minEnclaves?: number }
}

const HEX_LISTS = ['measurements', 'hostData', 'idKeyDigests', 'authorKeyDigests', 'chipIds'] as const

function semanticProblems(doc: PolicyDocument, src: Source): Found[] {
  const found: Found[] = []
  const sev = doc.sevSnp
  if (sev === undefined) return found
  const keyAt = (f: string): number => src.spans.get(f)?.key ?? 0

  // A floor for some products only would leave the others' TCB or firmware unchecked without saying so.
  for (const rule of ['minimumTcb', 'minimumFirmware'] as const) {
    const floors = sev[rule]
    if (floors === undefined) continue
    for (const product of sev.allowedProducts) {
      if (floors[product] !== undefined) continue
      found.push({
        offset: keyAt(`sevSnp.${rule}`),
        field: `sevSnp.${rule}.${product}`,
        message:
          `no floor for "${product}", which allowedProducts allows: ` +
          `add one, or remove "${product}" from allowedProducts`,
      })
    }
  }

  // The schema compares items exactly; hex is case-insensitive, so "AB" repeats "ab".
  for (const rule of HEX_LISTS) {
    const seen = new Map<string, number>()
    sev[rule]?.forEach((item, i) => {
      const first = seen.get(item.toLowerCase())
      if (first === undefined) {
        seen.set(item.toLowerCase(), i)
        return
      }
      const field = `sevSnp.${rule}[${i}]`
      found.push({
        offset: keyAt(field),
        field,
        message:
          `${describe(item)} is listed twice ` +
          `(also at sevSnp.${rule}[${first}]; hex is compared case-insensitively)`,
      })
    })
  }
  return found
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] }

function toPolicy(doc: PolicyDocument, src: Source): Policy {
  const positions = new Map<string, PolicyPosition>()
  for (const [field, span] of src.spans) {
    const { line, column } = src.position(span.key)
    positions.set(field, Object.freeze({ line, column }))
  }
  const policy: Mutable<Policy> = {
    version: doc.version,
    name: doc.name,
    ...(doc.description === undefined ? {} : { description: doc.description }),
    allowSimulated: doc.allowSimulated,
    // Strict unless the file says otherwise: a v1 receipt's plain digests let anyone test guesses.
    receipts: { minimumVersion: doc.receipts?.minimumVersion ?? 2 },
    // One enclave, as before fleets: a policy asks for more when it wants them.
    fleet: { minEnclaves: doc.fleet?.minEnclaves ?? 1 },
    source: { file: src.file },
    locate(path: string): PolicyPosition | undefined {
      for (let p = path; p !== ''; p = parentField(p)) {
        const at = positions.get(p)
        if (at !== undefined) return at
      }
      return undefined
    },
  }
  if (doc.log !== undefined) policy.log = { keys: [...doc.log.keys], requireInclusion: doc.log.requireInclusion ?? false }
  if (doc.sevSnp !== undefined) policy.sevSnp = toSevSnpPolicy(doc.sevSnp)
  if (doc.nvidiaGpu !== undefined) policy.nvidiaGpu = toNvidiaGpuPolicy(doc.nvidiaGpu)
  if (doc.evidence !== undefined) {
    policy.evidence = doc.evidence.maximumAge === undefined ? {} : { maximumAgeMs: durationMs(doc.evidence.maximumAge) }
  }
  if (doc.models !== undefined) {
    const models: Mutable<ModelsPolicy> = {}
    if (doc.models.allowedDigests !== undefined) models.allowedDigests = doc.models.allowedDigests.map((d) => d.toLowerCase())
    if (doc.models.allowedPublishers !== undefined) models.allowedPublishers = [...doc.models.allowedPublishers]
    if (doc.models.allowedManifests !== undefined) models.allowedManifests = doc.models.allowedManifests.map((d) => d.toLowerCase())
    if (doc.models.knownAnswers !== undefined) {
      models.knownAnswers = doc.models.knownAnswers.map((k) => ({ model: k.model.toLowerCase(), input: k.input.toLowerCase(), output: k.output.toLowerCase() }))
    }
    policy.models = models
  }
  return deepFreeze(policy)
}

/** Milliseconds of a schema-checked duration ("90s", "5m", "48h", "7d"). */
function durationMs(text: string): number {
  return Number(text.slice(0, -1)) * DURATION_UNIT_MS[text.slice(-1)]!
}

const DURATION_UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

function toNvidiaGpuPolicy(doc: NvidiaGpuDocument): NvidiaGpuPolicy {
  const grace = doc.ocspRevokedGracePeriod ?? '0s'
  const out: Mutable<NvidiaGpuPolicy> = {
    required: doc.required,
    allowedArchitectures: [...doc.allowedArchitectures],
    requireRimMatch: doc.requireRimMatch,
    requireOcsp: doc.requireOcsp,
    allowOcspUnknown: doc.allowOcspUnknown ?? false,
    ocspRevokedGracePeriodMs: durationMs(grace),
  }
  if (doc.count !== undefined) out.count = doc.count
  if (doc.minimumDriverVersion !== undefined) out.minimumDriverVersion = doc.minimumDriverVersion
  if (doc.allowedDriverVersions !== undefined) out.allowedDriverVersions = [...doc.allowedDriverVersions]
  if (doc.minimumVbiosVersion !== undefined) out.minimumVbiosVersion = doc.minimumVbiosVersion.toUpperCase()
  if (doc.allowedVbiosVersions !== undefined) out.allowedVbiosVersions = doc.allowedVbiosVersions.map((v) => v.toUpperCase())
  if (doc.requireProtectedPcie !== undefined) out.requireProtectedPcie = doc.requireProtectedPcie
  if (doc.requireNvdec0Disabled !== undefined) out.requireNvdec0Disabled = doc.requireNvdec0Disabled
  return out
}

function toSevSnpPolicy(doc: SevSnpDocument): SevSnpPolicy {
  const lower = (items: readonly string[]): string[] => items.map((h) => h.toLowerCase())
  const out: Mutable<SevSnpPolicy> = {
    allowedProducts: [...doc.allowedProducts],
    allowedSigningKeys: [...doc.allowedSigningKeys],
    allowDebug: doc.allowDebug,
    allowMigrationAgent: doc.allowMigrationAgent,
    requireCrl: doc.requireCrl,
    allowStaleCrl: doc.allowStaleCrl ?? false,
  }
  if (doc.allowSmt !== undefined) out.allowSmt = doc.allowSmt
  if (doc.minimumAbi !== undefined) out.minimumAbi = { major: doc.minimumAbi.major, minor: doc.minimumAbi.minor }
  if (doc.requireGuestPolicy !== undefined) out.requireGuestPolicy = [...doc.requireGuestPolicy]
  if (doc.allowedVmpls !== undefined) out.allowedVmpls = [...doc.allowedVmpls]
  if (doc.minimumGuestSvn !== undefined) out.minimumGuestSvn = doc.minimumGuestSvn
  if (doc.measurements !== undefined) out.measurements = lower(doc.measurements)
  if (doc.hostData !== undefined) out.hostData = lower(doc.hostData)
  if (doc.reportData !== undefined) out.reportData = doc.reportData.toLowerCase()
  if (doc.idKeyDigests !== undefined) out.idKeyDigests = lower(doc.idKeyDigests)
  if (doc.authorKeyDigests !== undefined) out.authorKeyDigests = lower(doc.authorKeyDigests)
  if (doc.chipIds !== undefined) out.chipIds = lower(doc.chipIds)
  if (doc.minimumTcb !== undefined) out.minimumTcb = toTcbMinimums(doc.minimumTcb)
  if (doc.minimumFirmware !== undefined) out.minimumFirmware = toFirmwareMinimums(doc.minimumFirmware)
  if (doc.allowProvisionalFirmware !== undefined) out.allowProvisionalFirmware = doc.allowProvisionalFirmware
  return out
}

function toTcbMinimums(doc: Partial<Record<Product, TcbDocument>>): TcbMinimums {
  const legacy = (t: TcbDocument) => ({ bootloader: t.bootloader, tee: t.tee, snp: t.snp, microcode: t.microcode })
  const out: Mutable<TcbMinimums> = {}
  if (doc.Milan !== undefined) out.Milan = legacy(doc.Milan)
  if (doc.Genoa !== undefined) out.Genoa = legacy(doc.Genoa)
  // The schema requires fmc on Turin.
  if (doc.Turin !== undefined) out.Turin = { fmc: doc.Turin.fmc ?? 0, ...legacy(doc.Turin) }
  return out
}

function toFirmwareMinimums(doc: Partial<Record<Product, string>>): FirmwareMinimums {
  const out: { [P in Product]?: FirmwareVersion } = {}
  for (const product of ['Milan', 'Genoa', 'Turin'] as const) {
    const text = doc[product]
    if (text === undefined) continue
    const [major, minor, build] = text.split('.').map(Number) as [number, number, number]
    out[product] = { major, minor, build }
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------------
// Small helpers

function joinField(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`
}

/** `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``. */
function parentField(field: string): string {
  return field.replace(/(\[\d+\]|\.?[^.[\]]+)$/, '')
}

function lastSegment(field: string): string {
  return /([^.[\]]+)$/.exec(field)?.[1] ?? field
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const v of Object.values(value)) deepFreeze(v)
  }
  return value
}
