/**
 * Issue 13 item 4: deploy/kubernetes/'s overlays build (as `kubectl kustomize` builds them), pass the Kubernetes
 * schemas, and keep the fleet's invariants: enclaves in the overlay's confidential runtime class and hosts never,
 * only host pods reach the enclaves' link, the GPU overlay passes a GPU through. Offline: no cluster, no kubectl
 * needed (where kubectl is installed, its kustomize is compared with the renderer too).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { HOST_NODE_FLAGS } from '@vouch/host'
import { KUBERNETES_DIR, OVERLAYS, checkFleet, checkKnownFields, renderOverlay, validateSchema, type OverlayName } from '../scripts/kubernetes-check.js'
import { KustomizeError, applyJson6902, buildKustomization, toYaml, type KubeObject } from '../scripts/kustomize.js'

const FIXTURES = fileURLToPath(new URL('./fixtures/kubernetes/', import.meta.url))
const NAMES = Object.keys(OVERLAYS) as OverlayName[]

/** `kubectl kustomize DIR`, or null where kubectl is not installed. */
function kubectlKustomize(dir: string): string | null {
  try {
    return execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw error
  }
}
const HAS_KUBECTL = kubectlKustomize(join(KUBERNETES_DIR, 'base')) !== null
const NO_KUBECTL = HAS_KUBECTL ? false : 'kubectl is not installed: the renderer is compared with the recorded kubectl kustomize output only'

describe('deploy/kubernetes overlays', () => {
  for (const name of NAMES) {
    test(`${name}: renders exactly as kubectl kustomize (v5.5.0, recorded in test/fixtures/kubernetes/${name}.yaml)`, () => {
      assert.equal(toYaml(renderOverlay(name)), readFileSync(join(FIXTURES, `${name}.yaml`), 'utf8'))
    })
    test(`${name}: the recorded output is what this kubectl kustomize prints (regenerate it with kubectl when a manifest changes)`, { skip: NO_KUBECTL }, () => {
      assert.equal(kubectlKustomize(join(KUBERNETES_DIR, 'overlays', name)), readFileSync(join(FIXTURES, `${name}.yaml`), 'utf8'))
    })
    test(`${name}: every object passes the Kubernetes schema, and the fleet's invariants hold`, async () => {
      const objects = renderOverlay(name)
      assert.deepEqual(objects.map((o) => o.kind).sort(), ['Deployment', 'Deployment', 'HorizontalPodAutoscaler', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Service', 'Service'])
      assert.deepEqual((await Promise.all(objects.map(validateSchema))).flat(), [])
      assert.deepEqual(checkFleet(name, objects), [])
    })
  }

  test("host pods run the image's entry point, which starts the host with its V8 options (host/src/node-flags.ts); enclave pods run without them", () => {
    // The options go on the command line: NODE_OPTIONS refuses --heap-growing-percent.
    const entryPoint = readFileSync(join(KUBERNETES_DIR, '..', '..', 'Dockerfile'), 'utf8').match(/^ENTRYPOINT (.+)$/m)?.[1]
    assert.deepEqual(JSON.parse(entryPoint ?? 'null'), ['node', ...HOST_NODE_FLAGS, 'host/bin/vouch-host.js'])
    const vouchYaml = parseAllDocuments(readFileSync(join(KUBERNETES_DIR, 'vouch.yaml'), 'utf8'), { version: '1.1' }).map((doc) => doc.toJS() as KubeObject)
    type Container = { command?: string[]; env?: Array<{ name: string }> }
    const container = (objects: KubeObject[], name: string): Container => {
      const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === name) as unknown as { spec: { template: { spec: { containers: Container[] } } } }
      return deployment.spec.template.spec.containers[0]!
    }
    for (const [where, host] of [...NAMES.map((name) => [name, container(renderOverlay(name), 'vouch-host')] as const), ['vouch.yaml', container(vouchYaml, 'vouch')] as const]) {
      assert.equal(host.command, undefined, `${where}: a command would replace the entry point and its options`)
      assert.equal(host.env?.find((e) => e.name === 'NODE_OPTIONS'), undefined, where)
    }
    for (const name of NAMES) {
      const enclave = container(renderOverlay(name), 'vouch-enclave')
      assert.deepEqual(enclave.command, ['node', 'enclave/bin/vouch-enclave.js'], name)
      assert.equal(enclave.env?.find((e) => e.name === 'NODE_OPTIONS'), undefined, name)
    }
  })

  test("vouch.yaml (today's single pod: the host supervising its enclave) passes the Kubernetes schema", async () => {
    const objects = parseAllDocuments(readFileSync(join(KUBERNETES_DIR, 'vouch.yaml'), 'utf8'), { version: '1.1' }).map((doc) => doc.toJS() as KubeObject)
    assert.deepEqual(objects.map((o) => o.kind), ['Deployment', 'Service'])
    assert.deepEqual((await Promise.all(objects.map(validateSchema))).flat(), [])
  })

  test('every overlay and vouch.yaml use only fields the Kubernetes API has (one type-check for all: it takes most of a second)', () => {
    const vouchYaml = parseAllDocuments(readFileSync(join(KUBERNETES_DIR, 'vouch.yaml'), 'utf8'), { version: '1.1' }).map((doc) => doc.toJS() as KubeObject)
    assert.deepEqual(checkKnownFields([...NAMES.flatMap(renderOverlay), ...vouchYaml]), [])
  })

  test('enclave pods run in the CoCo runtime classes of the sev-snp overlays, hosts in none, GPUs only in the GPU overlay', () => {
    const pods = (name: OverlayName, component: string): Record<string, unknown> => {
      const deployment = renderOverlay(name).find((o) => o.kind === 'Deployment' && o.metadata.name === `vouch-${component}`) as unknown as { spec: { template: { spec: Record<string, unknown> } } }
      return deployment.spec.template.spec
    }
    assert.equal(pods('simulated', 'enclave').runtimeClassName, undefined)
    assert.equal(pods('sev-snp', 'enclave').runtimeClassName, 'kata-qemu-snp')
    assert.equal(pods('sev-snp-nvidia-gpu', 'enclave').runtimeClassName, 'kata-qemu-nvidia-gpu-snp')
    for (const name of NAMES) assert.equal(pods(name, 'host').runtimeClassName, undefined)
    const limits = (name: OverlayName): unknown => (pods(name, 'enclave').containers as { resources: { limits: Record<string, unknown> } }[])[0]!.resources.limits
    assert.deepEqual(limits('sev-snp-nvidia-gpu'), { memory: '2Gi', 'nvidia.com/pgpu': '1' })
    assert.deepEqual(limits('sev-snp'), { memory: '2Gi' })
  })
})

/** `objects` with the one of `kind` and `name` changed by JSON 6902 `operations` (the renderer's). */
function mutate(objects: KubeObject[], kind: string, name: string, ...operations: Record<string, unknown>[]): KubeObject[] {
  const at = objects.findIndex((o) => o.kind === kind && o.metadata.name === name)
  assert.ok(at >= 0, `no ${kind} ${name}`)
  return objects.map((o, i) => (i === at ? (applyJson6902(o as never, operations as never, 'test') as unknown as KubeObject) : o))
}

describe('the checks refuse what breaks the fleet', () => {
  const snp = renderOverlay('sev-snp')
  const gpu = renderOverlay('sev-snp-nvidia-gpu')
  const refuses = (name: OverlayName, objects: KubeObject[], pattern: RegExp): void => {
    const problems = checkFleet(name, objects)
    assert.ok(problems.some((p) => pattern.test(p)), `expected a problem matching ${pattern}, got ${JSON.stringify(problems)}`)
  }

  test('a host pod in a confidential runtime class, an enclave outside it', () => {
    refuses('sev-snp', mutate(snp, 'Deployment', 'vouch-host', { op: 'add', path: '/spec/template/spec/runtimeClassName', value: 'kata-qemu-snp' }), /vouch-host: pods other than the enclaves' run in runtime class kata-qemu-snp/)
    refuses('sev-snp', mutate(snp, 'Deployment', 'vouch-enclave', { op: 'remove', path: '/spec/template/spec/runtimeClassName' }), /enclave pods: runtimeClassName undefined, expected kata-qemu-snp/)
    refuses('simulated', snp, /enclave pods: runtimeClassName kata-qemu-snp, expected null/)
  })

  test('a NetworkPolicy that is missing, admits every source, another namespace, or another port', () => {
    refuses('sev-snp', snp.filter((o) => o.kind !== 'NetworkPolicy'), /no NetworkPolicy selects the enclave pods/)
    refuses('sev-snp', mutate(snp, 'NetworkPolicy', 'vouch-enclave-link', { op: 'remove', path: '/spec/ingress/0/from' }), /ingress\[0\] has no from, so it admits every source/)
    refuses('sev-snp', mutate(snp, 'NetworkPolicy', 'vouch-enclave-link', { op: 'add', path: '/spec/ingress/0/from/0/namespaceSelector', value: {} }), /admits a source other than host pods/)
    refuses('sev-snp', mutate(snp, 'NetworkPolicy', 'vouch-enclave-link', { op: 'replace', path: '/spec/ingress/0/from/0/podSelector', value: {} }), /admits a source other than host pods/)
    refuses('sev-snp', mutate(snp, 'NetworkPolicy', 'vouch-enclave-link', { op: 'replace', path: '/spec/ingress/0/ports', value: [{ port: 8443 }] }), /must admit the link port only/)
    refuses('sev-snp', mutate(snp, 'NetworkPolicy', 'vouch-enclave-link', { op: 'replace', path: '/spec/policyTypes', value: ['Egress'] }), /policyTypes lacks Ingress/)
    refuses('sev-snp', mutate(snp, 'NetworkPolicy', 'vouch-enclave-link', { op: 'replace', path: '/spec/podSelector', value: { matchLabels: { 'app.kubernetes.io/name': 'vouch' } } }), /selects host pods too/)
  })

  test('the GPU overlay without its GPU, a GPU elsewhere', () => {
    refuses('sev-snp-nvidia-gpu', mutate(gpu, 'Deployment', 'vouch-enclave', { op: 'remove', path: '/spec/template/spec/containers/0/resources/limits/nvidia.com~1pgpu' }), /limits\.nvidia\.com\/pgpu must be at least 1/)
    refuses('sev-snp', mutate(snp, 'Deployment', 'vouch-host', { op: 'add', path: '/spec/template/spec/containers/0/resources/limits/nvidia.com~1pgpu', value: '1' }), /vouch-host: only enclaves get GPUs/)
  })

  test("host settings today's vouch-host refuses, a receipt log URL outside a Secret, an autoscaler metric the host does not export", () => {
    refuses('sev-snp', mutate(snp, 'Deployment', 'vouch-host', { op: 'add', path: '/spec/template/spec/containers/0/args/-', value: '--max-queue' }, { op: 'add', path: '/spec/template/spec/containers/0/args/-', value: 'many' }), /vouch-host refuses the manifest's settings/)
    refuses('sev-snp', mutate(snp, 'Deployment', 'vouch-host', { op: 'replace', path: '/spec/template/spec/containers/0/env/0', value: { name: 'VOUCH_HOST_RECEIPT_LOG_URL', value: 'postgres://u:p@db/vouch' } }), /must come from a Secret/)
    refuses('sev-snp', mutate(snp, 'HorizontalPodAutoscaler', 'vouch-enclave', { op: 'replace', path: '/spec/metrics/0/object/metric/name', value: 'vouch_queue' }), /exports no metric vouch_queue/)
    refuses('sev-snp', mutate(snp, 'Deployment', 'vouch-enclave', { op: 'add', path: '/spec/template/spec/containers/0/args/-', value: '--listen' }), /vouch-enclave has no --listen/)
  })

  test('the schema check refuses a wrong type, a missing field, an unknown kind', async () => {
    const [deployment] = mutate(snp, 'Deployment', 'vouch-host', { op: 'add', path: '/spec/replicas', value: 'two' }).filter((o) => o.metadata.name === 'vouch-host' && o.kind === 'Deployment')
    assert.match((await validateSchema(deployment!)).join('\n'), /Deployment vouch-host: .*replicas must be integer/)
    const [hpa] = mutate(snp, 'HorizontalPodAutoscaler', 'vouch-host', { op: 'remove', path: '/spec/scaleTargetRef' }).filter((o) => o.kind === 'HorizontalPodAutoscaler' && o.metadata.name === 'vouch-host')
    assert.match((await validateSchema(hpa!)).join('\n'), /HorizontalPodAutoscaler vouch-host: data\/spec must have required property scaleTargetRef/)
    assert.deepEqual(await validateSchema({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }), ['Widget w: no Kubernetes schema for example.com/v1 Widget'])
  })

  test('the known-fields check refuses a mistyped key the schema validators let through', async () => {
    const typo = mutate(snp, 'Deployment', 'vouch-enclave', { op: 'add', path: '/spec/template/spec/runtimeClass', value: 'kata-qemu-snp' })
    const enclave = typo.find((o) => o.kind === 'Deployment' && o.metadata.name === 'vouch-enclave')!
    assert.deepEqual(await validateSchema(enclave), [])
    assert.deepEqual(checkKnownFields(typo), ["Deployment vouch-enclave: Object literal may only specify known properties, and 'runtimeClass' does not exist in type 'IPodSpec'."])
  })
})

describe('the renderer', () => {
  const root = mkdtempSync(join(tmpdir(), 'vouch-kustomize-'))
  after(() => rmSync(root, { recursive: true, force: true }))
  let n = 0
  /** Writes `files` (path → text) into a fresh folder; returns the folder of its top kustomization. */
  const tree = (files: Record<string, string>): string => {
    const dir = join(root, String(n++))
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true })
      writeFileSync(join(dir, path), text)
    }
    return join(dir, 'overlay')
  }
  const BASE = {
    'base/kustomization.yaml': 'resources: [app.yaml]\nnamespace: ns\n',
    'base/app.yaml': `apiVersion: apps/v1
kind: Deployment
metadata: { name: app }
spec:
  selector: { matchLabels: { app: a } }
  template:
    metadata: { labels: { app: a } }
    spec:
      containers:
        - name: main
          image: i
          args: [--one]
          env: [{ name: A, value: "1" }, { name: B, value: "2" }]
          volumeMounts: [{ name: v, mountPath: /v }]
        - { name: side, image: s }
      volumes: [{ name: v, emptyDir: {} }]
---
apiVersion: v1
kind: Service
metadata: { name: app }
spec: { selector: { app: a }, ports: [{ port: 80 }] }
`,
  }
  /** Builds `dir`; where kubectl is installed, checks that it prints the same. */
  const build = (dir: string): KubeObject[] => {
    const objects = buildKustomization(dir)
    if (HAS_KUBECTL) assert.equal(toYaml(objects), kubectlKustomize(dir))
    return objects
  }

  test("strategic merge of a Deployment: containers, env and mounts merge by key (the patch's items first), null deletes, other lists are replaced", () => {
    const dir = tree({
      ...BASE,
      'overlay/kustomization.yaml': 'resources: [../base]\npatches: [{ path: p.yaml }]\n',
      'overlay/p.yaml': `apiVersion: apps/v1
kind: Deployment
metadata: { name: app }
spec:
  template:
    spec:
      runtimeClassName: rc
      containers:
        - name: main
          args: [--two]
          env: [{ name: B, value: "3" }, { name: C, value: "4" }]
          volumeMounts: [{ name: w, mountPath: /w }]
          image: null
`,
    })
    const [, deployment] = build(dir) as unknown as [unknown, { metadata: { namespace: string }; spec: { template: { spec: { runtimeClassName: string; containers: unknown } } } }]
    assert.equal(deployment.metadata.namespace, 'ns')
    const pod = deployment.spec.template.spec
    assert.equal(pod.runtimeClassName, 'rc')
    assert.deepEqual(pod.containers, [
      { name: 'main', args: ['--two'], env: [{ name: 'B', value: '3' }, { name: 'C', value: '4' }, { name: 'A', value: '1' }], volumeMounts: [{ name: 'w', mountPath: '/w' }, { name: 'v', mountPath: '/v' }] },
      { name: 'side', image: 's' },
    ])
  })

  test('JSON 6902 with a target: add (escaped path, append), replace, remove; labels on objects and pod templates; YAML 1.1', () => {
    const dir = tree({
      ...BASE,
      'overlay/kustomization.yaml': `resources: [../base]
labels: [{ pairs: { tier: t }, includeTemplates: true }]
patches:
  - target: { group: apps, version: v1, kind: Deployment, name: app }
    patch: |-
      - { op: add, path: "/spec/template/metadata/annotations", value: { "a/b": x } }
      - { op: add, path: "/spec/template/spec/containers/0/args/-", value: --three }
      - { op: replace, path: /spec/template/spec/containers/1/image, value: s2 }
      - { op: remove, path: /spec/template/spec/volumes }
      - { op: add, path: "/spec/template/spec/containers/0/env/0/value~1x", value: y }
`,
    })
    const [service, deployment] = build(dir) as unknown as [KubeObject, { metadata: KubeObject['metadata']; spec: { selector: unknown; template: { metadata: unknown; spec: { volumes?: unknown; containers: { args: string[]; image: string; env: Record<string, unknown>[] }[] } } } }]
    assert.deepEqual(service.metadata.labels, { tier: 't' })
    assert.deepEqual(deployment.metadata.labels, { tier: 't' })
    assert.deepEqual(deployment.spec.selector, { matchLabels: { app: 'a' } })
    assert.deepEqual(deployment.spec.template.metadata, { labels: { app: 'a', tier: 't' }, annotations: { 'a/b': 'x' } })
    const [main, side] = deployment.spec.template.spec.containers
    assert.deepEqual(main?.args, ['--one', '--three'])
    // YAML 1.1, as kubectl reads it: an unquoted y is true.
    assert.equal(main?.env[0]?.['value/x'], true)
    assert.equal(side?.image, 's2')
    assert.equal(deployment.spec.template.spec.volumes, undefined)
  })

  test('refuses what it does not implement, patches that match nothing, duplicates, and bad JSON 6902 paths', () => {
    const refused = (files: Record<string, string>, pattern: RegExp): void => assert.throws(() => buildKustomization(tree({ ...BASE, ...files })), (error: unknown) => error instanceof KustomizeError && pattern.test(error.message))
    refused({ 'overlay/kustomization.yaml': 'resources: [../base]\ncommonLabels: { a: b }\n' }, /commonLabels is not supported by this renderer/)
    refused({ 'overlay/kustomization.yaml': 'resources: [../base]\nlabels: [{ pairs: { a: b }, includeSelectors: true }]\n' }, /includeSelectors is not supported/)
    refused({ 'overlay/kustomization.yaml': 'resources: [../base]\npatches: [{ path: p.yaml }]\n', 'overlay/p.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: other }\n' }, /matches no resource/)
    refused({ 'overlay/kustomization.yaml': 'resources: [../base]\npatches: [{ path: p.yaml }]\n', 'overlay/p.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: app }\nspec: { type: NodePort }\n' }, /strategic merge patches are supported for Deployments only/)
    refused({ 'overlay/kustomization.yaml': 'resources: [../base]\npatches: [{ path: p.yaml }]\n', 'overlay/p.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: app }\nspec: { $patch: replace }\n' }, /the \$patch directive is not supported/)
    refused({ 'overlay/kustomization.yaml': 'resources: [../base/app.yaml, dup.yaml]\n', 'overlay/dup.yaml': BASE['base/app.yaml'] }, /apps\/Deployment\/\/app is listed twice/)
    refused({ 'overlay/kustomization.yaml': 'resources: [../base]\npatches: [{ target: { kind: Service }, patch: "[{ op: replace, path: /spec/nope, value: 1 }]" }]\n' }, /\/spec\/nope does not exist/)
    refused({ 'overlay/kustomization.yaml': 'resources: [../base]\npatches: [{ target: { kind: Service }, patch: "[{ op: move, from: /spec, path: /x }]" }]\n' }, /op move is not supported/)
    refused({ 'overlay/kustomization.yaml': 'resources: [../missing]\n' }, /resource \.\.\/missing does not exist/)
  })
})
