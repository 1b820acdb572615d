/**
 * Everything a verifier shows is bound to the hardware (issue 10): a v2 bundle from the simulated SEV-SNP PSP and a
 * simulated GPU, with the real model manifests, has each byte outside its two signed reports flipped in turn (its
 * lowest bit: a CBOR length, a digit of a digest, a bit of a certificate). Every variant must be rejected, or
 * accepted with exactly the claims of the original: no byte lets a host change what a relying party is shown. The
 * reports themselves are covered by the verifier's own signature tests.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { bindingStatement, decodeBundle, encodeBundle, reportDataFor, type EvidenceBundleV1 } from '@vouch/protocol'
import { parsePolicy, verifyBundle, type BundleClaims } from '@vouch/verifier'
import { defaultModels } from './helpers/models.js'
import { EvidenceService } from '../enclave/src/service/evidence.js'
import { generateKeyset } from '../enclave/src/service/keys.js'
import { createCpuTee, createGpuTee } from '../enclave/src/tee/device.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const policy = parsePolicy(readFileSync(join(root, 'policies/dev-simulated.yaml'), 'utf8'), 'policies/dev-simulated.yaml')


/** The claims a relying party is shown, less the digest of the bundle bytes (which any change changes). */
function shown(claims: BundleClaims | null): unknown {
  if (claims === null) return null
  const { digest: _digest, ...rest } = claims
  return rest
}

describe('a v2 bundle, every byte outside the signed reports changed in turn', () => {
  test('is rejected, or accepted with unchanged claims', async () => {
    const cpu = await createCpuTee('simulated')
    const gpu = await createGpuTee('simulated')
    const nonce = randomBytes(32)
    const at = new Date()
    try {
      const built = await new EvidenceService(cpu, gpu, generateKeyset(), defaultModels()).challenged(nonce)
      const original = await verifyBundle(built.bytes, { policy, nonce, at })
      assert.equal(original.verdict, 'accepted', JSON.stringify(original.errors))
      const bundle = decodeBundle(built.bytes)
      const signed = [bundle.cpu.report, ...bundle.gpus.map((g) => g.report)].map((report) => {
        const start = Buffer.from(built.bytes).indexOf(Buffer.from(report))
        assert.ok(start > 0)
        return [start, start + report.length] as const
      })
      const outcomes = { rejected: 0, unchanged: 0 }
      const changed: string[] = []
      for (let i = 0; i < built.bytes.length; i++) {
        if (signed.some(([start, end]) => i >= start && i < end)) continue
        const bytes = Uint8Array.from(built.bytes)
        bytes[i]! ^= 0x01
        const result = await verifyBundle(bytes, { policy, nonce, at })
        if (result.verdict === 'rejected') {
          assert.ok(result.errors.length > 0 && result.errors.every((e) => /^ERR_[A-Z0-9_]+$/.test(e.code)), `byte ${i}: rejected without a code`)
          outcomes.rejected++
        } else if (JSON.stringify(shown(result.claims)) === JSON.stringify(shown(original.claims))) outcomes.unchanged++
        else changed.push(`byte ${i}`)
      }
      assert.deepEqual(changed, [], 'accepted with other claims')
      const outside = built.bytes.length - signed.reduce((n, [start, end]) => n + end - start, 0)
      assert.equal(outcomes.rejected + outcomes.unchanged, outside)
      assert.ok(outside > 8000, `${outside} bytes outside the reports`)
    } finally {
      await gpu.close()
      await cpu.close()
    }
  })

  test('for contrast, a v1 bundle (still verified) leaves issuedAt and model names to the host: the reason for v2', async () => {
    const cpu = await createCpuTee('simulated')
    try {
      const keyset = generateKeyset().public
      const refs = defaultModels().map(({ name, version, digest }) => ({ name, version, digest }))
      const evidence = await cpu.attest(reportDataFor(bindingStatement({ nonce: null, keyset, gpus: [], models: refs })))
      const v1: EvidenceBundleV1 = { v: 1, platform: 'simulated', nonce: null, keyset, models: refs, cpu: { type: 'sev-snp', report: evidence.report, vek: evidence.vek, chain: [evidence.chain[0]!, evidence.chain[1]!] }, gpus: [], issuedAt: Math.floor(Date.now() / 1000) }
      const original = await verifyBundle(encodeBundle(v1), { policy })
      assert.equal(original.verdict, 'accepted', JSON.stringify(original.errors))
      const rewritten = await verifyBundle(encodeBundle({ ...v1, issuedAt: v1.issuedAt - 12 * 3600, models: [{ ...refs[0]!, name: refs[1]!.name }, { ...refs[1]!, name: refs[0]!.name }] }), { policy })
      assert.equal(rewritten.verdict, 'accepted')
      assert.notDeepEqual(shown(rewritten.claims), shown(original.claims))
    } finally {
      await cpu.close()
    }
  })
})
