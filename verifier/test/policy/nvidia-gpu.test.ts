/** The nvidiaGpu policy rules on real GPU evidence: each rule rejects with its own code and says what to change. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { describe } from '../../../test/helpers/suites.js'
import { parsePolicy, verifyNvidiaGpu, verifyNvidiaGpus, type Policy } from '@vouch/verifier'
import { fixturesMissing } from '../helpers/fixtures.js'
import { loadGpuCases, type GpuCase } from '../helpers/nvidia-cases.js'
import { compareVersions } from '../../src/policy/nvidia-gpu.js'

const skip = fixturesMissing('nvidia-gpu')
const byName = new Map<string, GpuCase>(skip ? [] : loadGpuCases().map((c) => [c.name, c]))
const get = (name: string): GpuCase => byName.get(name)!
const codes = (r: { errors: Array<{ code: string }> }): string[] => r.errors.map((e) => e.code)

function policy(rules: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Policy {
  const doc = {
    version: 1,
    name: 'gpu-test',
    allowSimulated: false,
    nvidiaGpu: { required: true, allowedArchitectures: ['HOPPER', 'BLACKWELL'], requireRimMatch: false, requireOcsp: false, ...rules },
    ...top,
  }
  return parsePolicy(JSON.stringify(doc, null, 2), 'gpu-policy.json')
}

describe('nvidiaGpu rules', { skip }, () => {
  const rows: Array<{ name: string; fixture: string; rules?: Record<string, unknown>; top?: Record<string, unknown>; want: string }> = [
    { name: 'architecture not allowed', fixture: 'blackwell-gb100-575.32', rules: { allowedArchitectures: ['HOPPER'] }, want: 'ERR_POLICY_GPU_ARCH_NOT_ALLOWED' },
    { name: 'driver below the minimum', fixture: 'hopper-h100-545.00-with-rims', rules: { minimumDriverVersion: '550.0' }, want: 'ERR_POLICY_DRIVER_VERSION' },
    { name: 'driver not on the list', fixture: 'hopper-h100-580.159.03', rules: { allowedDriverVersions: ['580.159.04'] }, want: 'ERR_POLICY_DRIVER_VERSION' },
    { name: 'VBIOS below the minimum (hex groups)', fixture: 'hopper-h100-550.90.07', rules: { minimumVbiosVersion: '96.00.A0.00.00' }, want: 'ERR_POLICY_VBIOS_VERSION' },
    { name: 'VBIOS not on the list', fixture: 'hopper-h100-580.159.03', rules: { allowedVbiosVersions: ['96.00.74.00.21'] }, want: 'ERR_POLICY_VBIOS_VERSION' },
    { name: 'RIMs required, none given', fixture: 'hopper-h100-580.159.03', rules: { requireRimMatch: true }, want: 'ERR_POLICY_RIM_REQUIRED' },
    { name: 'OCSP required, none given', fixture: 'hopper-h100-580.159.03', rules: { requireOcsp: true }, want: 'ERR_POLICY_OCSP_REQUIRED' },
    { name: 'protected PCIe required, normal mode', fixture: 'hopper-h100-580.159.03', rules: { requireProtectedPcie: true }, want: 'ERR_POLICY_PROTECTED_PCIE' },
    { name: 'normal mode required, protected PCIe', fixture: 'hgx-h100-ppcie-gpu0', rules: { requireProtectedPcie: false }, want: 'ERR_POLICY_PROTECTED_PCIE' },
    { name: 'NVDEC0 required enabled', fixture: 'hopper-h100-580.159.03', rules: { requireNvdec0Disabled: false }, want: 'ERR_POLICY_NVDEC0' },
    { name: 'no nvidiaGpu section', fixture: 'hopper-h100-580.159.03', top: { nvidiaGpu: undefined }, want: 'ERR_POLICY_MISSING_SECTION' },
  ]
  for (const row of rows) {
    test(row.name, async () => {
      const c = get(row.fixture)
      const result = await verifyNvidiaGpu(c.input, { policy: policy(row.rules, row.top) })
      assert.deepEqual(codes(result), [row.want])
      const failed = result.checks.find((k) => k.status === 'fail')!
      assert.ok(failed.hint, 'a failed policy check says what to change')
    })
  }

  test('every configured rule passes on matching evidence', async () => {
    const c = get('hopper-h100-580.159.03')
    const result = await verifyNvidiaGpu(c.input, {
      policy: policy({
        allowedArchitectures: ['HOPPER'],
        minimumDriverVersion: '580.100',
        allowedDriverVersions: ['580.159.03'],
        minimumVbiosVersion: '96.00.74.00.01',
        allowedVbiosVersions: ['96.00.74.00.20'],
        requireProtectedPcie: false,
        requireNvdec0Disabled: true,
      }),
    })
    assert.equal(result.verdict, 'accepted', JSON.stringify(result.errors))
  })

  test('required GPUs: none attested is rejected', async () => {
    const result = await verifyNvidiaGpus([], { policy: policy() })
    assert.deepEqual(codes(result), ['ERR_POLICY_GPU_COUNT'])
  })

  test('the policy is not evaluated on a report that failed authenticity', async () => {
    const result = await verifyNvidiaGpu(get('negative-invalid-signature').input, { policy: policy({ allowedArchitectures: ['BLACKWELL'] }) })
    assert.deepEqual(codes(result), ['ERR_GPU_FWID_MISMATCH', 'ERR_GPU_SIGNATURE_INVALID'])
  })
})

describe('version comparison', () => {
  test('drivers compare numerically, part by part', () => {
    assert.ok(compareVersions('580.159.03', '580.65.06', 10) > 0)
    assert.ok(compareVersions('550.0', '545.00', 10) > 0)
    assert.equal(compareVersions('550', '550.0', 10), 0)
  })
  test('VBIOS versions compare as hex groups', () => {
    assert.ok(compareVersions('96.00.A5.00.01', '96.00.9F.00.04', 16) > 0)
    assert.ok(compareVersions('96.00.74.00.20', '96.00.74.00.1F', 16) > 0)
  })
})
