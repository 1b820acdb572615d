/**
 * Renders deploy/kubernetes/'s overlays and checks them without a cluster: every object against the Kubernetes
 * schemas (kubernetes-models' validators: types, required fields, formats), then what the fleet's security rests
 * on: enclave pods in the overlay's confidential runtime class and hosts never in one, the NetworkPolicy admitting
 * only host pods to the enclaves' link port, the GPU overlay's enclaves with a passed-through GPU, the host's
 * flags and variables accepted by today's `vouch-host`, the autoscaler's metric one the host exports.
 * Used by test/deploy-kubernetes.test.ts and scripts/render-kubernetes.ts.
 */
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { loadConfig } from '../host/src/config.js'
import { OPTIONS as ENCLAVE_OPTIONS } from '../enclave/src/cli.js'
import { createMetrics } from '../host/src/metrics.js'
import { buildKustomization, type KubeObject } from './kustomize.js'

/** The overlays, each with the runtime class its enclave pods must have (null: none, ordinary pods). */
export const OVERLAYS = {
  simulated: { runtimeClass: null, tee: 'simulated', gpu: false },
  'sev-snp': { runtimeClass: 'kata-qemu-snp', tee: 'sev-snp', gpu: false },
  'sev-snp-nvidia-gpu': { runtimeClass: 'kata-qemu-nvidia-gpu-snp', tee: 'sev-snp', gpu: true },
} as const

export type OverlayName = keyof typeof OVERLAYS

/** deploy/kubernetes/ in this checkout. */
export const KUBERNETES_DIR = fileURLToPath(new URL('../deploy/kubernetes/', import.meta.url))

/** The GPU resource NVIDIA's GPU operator advertises for a GPU passed through to a (confidential) VM. */
export const GPU_RESOURCE = 'nvidia.com/pgpu'

/** The objects of overlay `name`, as `kubectl kustomize deploy/kubernetes/overlays/<name>` prints them. */
export function renderOverlay(name: OverlayName): KubeObject[] {
  return buildKustomization(`${KUBERNETES_DIR}overlays/${name}`)
}

/** Problems of `object` against the Kubernetes schema of its apiVersion and kind; none: valid. */
export async function validateSchema(object: KubeObject): Promise<string[]> {
  const what = `${object.kind} ${object.metadata.name}`
  const path = toModelPath(object)
  if (path === null) return [`${what}: unknown apiVersion ${object.apiVersion}`]
  let Model: new (data: unknown) => { validate(): void }
  try {
    const module = (await import(path)) as Record<string, typeof Model>
    Model = module[object.kind]!
    if (Model === undefined) throw new Error('no model')
  } catch {
    return [`${what}: no Kubernetes schema for ${object.apiVersion} ${object.kind}`]
  }
  try {
    new Model(object).validate()
    return []
  } catch (error) {
    return [`${what}: ${(error as Error).message}`]
  }
}

/** The module path of `kubernetes-models`' model for an apiVersion and kind, or null for a name that is no identifier. */
function toModelPath({ apiVersion, kind }: KubeObject): string | null {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [null, apiVersion]
  // The names become an import path: nothing but identifier characters and dots.
  if (!/^[A-Za-z0-9.]+$/.test(`${group ?? ''}${version}${kind}`)) return null
  return `kubernetes-models/${group === null ? '' : `${group}/`}${version}/${kind}`
}

/** The last program {@link checkKnownFields} type-checked. */
let lastProgram: ts.Program | undefined

/**
 * Fields the Kubernetes API does not have (a mistyped key, which the schema validators let through), found by
 * TypeScript's excess property check: each object is type-checked as a literal of its kubernetes-models interface.
 * Objects without a model are left to {@link validateSchema}, which reports them.
 */
export function checkKnownFields(objects: readonly KubeObject[]): string[] {
  const file = fileURLToPath(new URL('./rendered-objects.virtual.ts', import.meta.url))
  const lines: { line: string; object: KubeObject | null }[] = []
  objects.forEach((object, i) => {
    const path = toModelPath(object)
    if (path === null) return
    lines.push({ line: `import type { I${object.kind} as T${i} } from '${path}'`, object: null })
    lines.push({ line: `export const o${i}: T${i} = ${JSON.stringify(object)}`, object })
  })
  const source = lines.map((l) => l.line).join('\n')
  const host = ts.createCompilerHost({})
  const getSourceFile = host.getSourceFile.bind(host)
  const fileExists = host.fileExists.bind(host)
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest))
  host.fileExists = (name) => name === file || fileExists(name)
  const options: ts.CompilerOptions = { strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['lib.es2022.d.ts'], target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }
  // The previous program's unchanged files (the library and kubernetes-models declarations) are reused.
  const program = ts.createProgram({ rootNames: [file], options, host, ...(lastProgram && { oldProgram: lastProgram }) })
  lastProgram = program
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const line = diagnostic.file !== undefined && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1
    const object = lines[line]?.object
    const what = object ? `${object.kind} ${object.metadata.name}` : 'the objects'
    // The objects are written as JSON, so TypeScript names their keys quoted: '"key"'.
    return `${what}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ').replace(/'"([^"']*)"'/g, "'$1'")}`
  })
}

type Labels = Record<string, string>
type Obj = Record<string, unknown>

const get = (node: unknown, ...path: string[]): unknown => path.reduce<unknown>((at, key) => (typeof at === 'object' && at !== null ? (at as Obj)[key] : undefined), node)
const list = (node: unknown): Obj[] => (Array.isArray(node) ? (node as Obj[]) : [])

/** Whether a label selector (matchLabels only; matchExpressions are not evaluated here and count as no match) selects `labels`. */
function selects(selector: unknown, labels: Labels): boolean {
  if (typeof selector !== 'object' || selector === null || get(selector, 'matchExpressions') !== undefined) return false
  return Object.entries((get(selector, 'matchLabels') ?? {}) as Labels).every(([key, value]) => labels[key] === value)
}

interface Workload {
  deployment: KubeObject
  labels: Labels
  pod: Obj
  container: Obj
}

function toWorkload(deployment: KubeObject): Workload {
  const pod = (get(deployment, 'spec', 'template', 'spec') ?? {}) as Obj
  return { deployment, labels: (get(deployment, 'spec', 'template', 'metadata', 'labels') ?? {}) as Labels, pod, container: list(pod.containers)[0] ?? {} }
}

/** The value after `flag` in `args`, if any. */
const flagValue = (args: string[], flag: string): string | undefined => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined)

/** The enclave and host Deployments, found by their pods' `app.kubernetes.io/component` label. */
interface Fleet {
  enclave: Workload
  host: Workload
  deployments: Workload[]
  linkPort: Obj | undefined
}

/** The trust boundary: enclaves in the overlay's confidential runtime class, hosts (untrusted) never in one; GPUs for the enclaves of the GPU overlay only. */
function checkTrustBoundary({ enclave, deployments }: Fleet, expected: (typeof OVERLAYS)[OverlayName]): string[] {
  const problems: string[] = []
  if ((enclave.pod.runtimeClassName ?? null) !== expected.runtimeClass) problems.push(`enclave pods: runtimeClassName ${String(enclave.pod.runtimeClassName)}, expected ${String(expected.runtimeClass)}`)
  for (const w of deployments) if (w !== enclave && w.pod.runtimeClassName !== undefined) problems.push(`${w.deployment.metadata.name}: pods other than the enclaves' run in runtime class ${String(w.pod.runtimeClassName)}`)
  const enclaveArgs = list(enclave.container.args as unknown).map(String)
  if (flagValue(enclaveArgs, '--tee') !== expected.tee) problems.push(`enclave: --tee ${String(flagValue(enclaveArgs, '--tee'))}, expected ${expected.tee}`)
  for (const flag of enclaveArgs.filter((a) => a.startsWith('--'))) if (!Object.hasOwn(ENCLAVE_OPTIONS, flag.slice(2).split('=')[0]!)) problems.push(`enclave: vouch-enclave has no ${flag}`)
  const gpus = get(enclave.container, 'resources', 'limits', GPU_RESOURCE)
  if (expected.gpu) {
    if (!(Number(gpus) >= 1)) problems.push(`enclave: limits.${GPU_RESOURCE} must be at least 1, is ${String(gpus)}`)
    if (flagValue(enclaveArgs, '--gpu') !== 'nvidia') problems.push('enclave: --gpu nvidia expected')
  } else if (gpus !== undefined) problems.push(`enclave: requests ${GPU_RESOURCE} in an overlay without GPUs`)
  for (const w of deployments) for (const c of list(w.pod.containers)) if (w !== enclave && get(c, 'resources', 'limits', GPU_RESOURCE) !== undefined) problems.push(`${w.deployment.metadata.name}: only enclaves get GPUs`)
  return problems
}

/** Only host pods reach the enclaves' link port: every NetworkPolicy that selects enclave pods must say so. */
function checkNetworkPolicy({ enclave, host, linkPort }: Fleet, objects: readonly KubeObject[]): string[] {
  const problems: string[] = []
  const policies = objects.filter((o) => o.kind === 'NetworkPolicy' && selects(get(o, 'spec', 'podSelector'), enclave.labels))
  if (policies.length === 0) problems.push('no NetworkPolicy selects the enclave pods')
  for (const policy of policies) {
    const at = `NetworkPolicy ${policy.metadata.name}`
    if (selects(get(policy, 'spec', 'podSelector'), host.labels)) problems.push(`${at}: selects host pods too`)
    if (!(get(policy, 'spec', 'policyTypes') as unknown[] | undefined)?.includes('Ingress')) problems.push(`${at}: policyTypes lacks Ingress, so it admits everything`)
    const rules = list(get(policy, 'spec', 'ingress'))
    if (rules.length === 0) problems.push(`${at}: admits no host pod`)
    for (const [i, rule] of rules.entries()) {
      const peers = list(rule.from)
      if (peers.length === 0) problems.push(`${at}: ingress[${i}] has no from, so it admits every source`)
      for (const peer of peers) {
        if (Object.keys(peer).some((key) => key !== 'podSelector') || !selects(peer.podSelector, host.labels) || selects(peer.podSelector, enclave.labels)) problems.push(`${at}: ingress[${i}] admits a source other than host pods: ${JSON.stringify(peer)}`)
      }
      const ports = list(rule.ports)
      if (ports.length === 0 || ports.some((p) => (p.protocol ?? 'TCP') !== 'TCP' || (p.port !== 'link' && p.port !== linkPort?.containerPort) || p.endPort !== undefined)) problems.push(`${at}: ingress[${i}] must admit the link port only`)
    }
  }
  return problems
}

/** The enclaves' headless Service (the hosts' `dns://` address), the hosts' Service, and readiness from the link: the host's ready route (503 while no enclave link is up), the enclave's link port. */
function checkServicesAndProbes({ enclave, host, linkPort }: Fleet, objects: readonly KubeObject[]): string[] {
  const problems: string[] = []
  const services = objects.filter((o) => o.kind === 'Service')
  const headless = services.find((s) => get(s, 'spec', 'clusterIP') === 'None' && selects({ matchLabels: get(s, 'spec', 'selector') }, enclave.labels))
  if (headless === undefined) problems.push('no headless Service selects the enclave pods')
  else if (!list(get(headless, 'spec', 'ports')).some((p) => p.targetPort === 'link' || p.targetPort === linkPort?.containerPort)) problems.push(`Service ${headless.metadata.name}: no port to the link`)
  const hostService = services.find((s) => selects({ matchLabels: get(s, 'spec', 'selector') }, host.labels))
  if (hostService === undefined || !list(get(hostService, 'spec', 'ports')).some((p) => p.port === 8443)) problems.push('no Service on 8443 selects the host pods')
  if (get(host.container, 'readinessProbe', 'httpGet', 'path') !== '/v2/health/ready') problems.push('host: readinessProbe must GET /v2/health/ready')
  const enclaveProbe = get(enclave.container, 'readinessProbe', 'tcpSocket', 'port')
  if (enclaveProbe !== 'link' && enclaveProbe !== linkPort?.containerPort) problems.push('enclave: readinessProbe must open the link port')
  return problems
}

/** The host's arguments and variables, as today's `vouch-host` reads them (secrets stand in as placeholders). */
function checkHostSettings({ host }: Fleet): string[] {
  const problems: string[] = []
  const hostArgs = list(host.container.args as unknown).map(String)
  const env: NodeJS.ProcessEnv = {}
  for (const variable of list(host.container.env)) env[String(variable.name)] = variable.value !== undefined ? String(variable.value) : 'postgres://from-a-secret.invalid/vouch'
  if (get(list(host.container.env).find((v) => v.name === 'VOUCH_HOST_RECEIPT_LOG_URL'), 'valueFrom', 'secretKeyRef', 'name') === undefined) problems.push('host: VOUCH_HOST_RECEIPT_LOG_URL must come from a Secret')
  try {
    loadConfig(hostArgs, { env, cwd: '/' })
  } catch (error) {
    problems.push(`host: vouch-host refuses the manifest's settings: ${(error as Error).message}`)
  }
  return problems
}

/** Autoscalers on metrics the host exports; disruption budgets that select pods. */
function checkScaling({ deployments }: Fleet, objects: readonly KubeObject[]): string[] {
  const problems: string[] = []
  const registry = createMetrics({ processMetrics: false }).registry
  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    for (const metric of list(get(hpa, 'spec', 'metrics'))) {
      const metricName = get(metric, 'object', 'metric', 'name') ?? get(metric, 'pods', 'metric', 'name')
      if (typeof metricName === 'string' && registry.getSingleMetric(metricName) === undefined) problems.push(`HorizontalPodAutoscaler ${hpa.metadata.name}: the host exports no metric ${metricName}`)
    }
  }
  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    if (!deployments.some((w) => selects(get(pdb, 'spec', 'selector'), w.labels))) problems.push(`PodDisruptionBudget ${pdb.metadata.name}: selects no pods`)
  }
  return problems
}

/** Problems of the rendered overlay `name` with what the fleet's security and operation rest on; none: sound. */
export function checkFleet(name: OverlayName, objects: readonly KubeObject[]): string[] {
  const deployments = objects.filter((o) => o.kind === 'Deployment').map(toWorkload)
  const byComponent = (component: string): Workload[] => deployments.filter((w) => w.labels['app.kubernetes.io/component'] === component)
  const [enclave, ...moreEnclaves] = byComponent('enclave')
  const [host, ...moreHosts] = byComponent('host')
  if (enclave === undefined || host === undefined || moreEnclaves.length > 0 || moreHosts.length > 0) return ['expected one enclave Deployment and one host Deployment (by app.kubernetes.io/component)']
  const linkPort = list(enclave.container.ports).find((p) => p.name === 'link')
  const fleet: Fleet = { enclave, host, deployments, linkPort }
  return [
    ...(linkPort === undefined ? ['enclave: no container port named link'] : []),
    ...checkTrustBoundary(fleet, OVERLAYS[name]),
    ...checkNetworkPolicy(fleet, objects),
    ...checkServicesAndProbes(fleet, objects),
    ...checkHostSettings(fleet),
    ...checkScaling(fleet, objects),
  ]
}
