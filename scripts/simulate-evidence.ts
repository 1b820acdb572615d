/**
 * Writes simulated evidence to a folder, for trying `vouch-verify` without hardware (DESIGN.md §7):
 *   report.bin, vek.der, chain.pem       SEV-SNP: a v5 ATTESTATION_REPORT, its VCEK (or VLEK), ASK/ASVK then ARK
 *   gpu-report.bin, gpu-chain.pem        NVIDIA GPU: an SPDM measurement report answering --nonce, its device chain
 *   NV_GPU_DRIVER_….xml, NV_GPU_VBIOS_….xml  the GPU's driver and VBIOS RIMs, named by their RIM service ids
 * Only policies with `allowSimulated: true` accept any of it.
 *
 *   npm run simulate -- --out DIR [--product Milan|Genoa|Turin] [--vlek] [--gpu HOPPER|BLACKWELL]
 *                        [--report-data HEX] [--nonce HEX]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createSimulatedGpu, createSimulatedPsp } from '@vouch/enclave/simulated'
import { fromHex, type Product } from '@vouch/protocol'

const USAGE = 'usage: npm run simulate -- --out DIR [--product Milan|Genoa|Turin] [--vlek] [--gpu HOPPER|BLACKWELL] [--report-data HEX] [--nonce HEX]'
const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    product: { type: 'string', default: 'Genoa' },
    vlek: { type: 'boolean', default: false },
    gpu: { type: 'string', default: 'HOPPER' },
    'report-data': { type: 'string' },
    nonce: { type: 'string' },
  },
})
if (values.out === undefined || !['Milan', 'Genoa', 'Turin'].includes(values.product) || !['HOPPER', 'BLACKWELL'].includes(values.gpu)) {
  console.error(USAGE)
  process.exit(2)
}
const out = values.out
const pem = (der: Uint8Array): string => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`
mkdirSync(out, { recursive: true })

const reportData = values['report-data'] === undefined ? new Uint8Array(64) : fromHex(values['report-data'], '--report-data', 64)
const psp = createSimulatedPsp({ product: values.product as Product, signingKey: values.vlek ? 'VLEK' : 'VCEK' })
const sev = await psp.getReport(reportData)
writeFileSync(join(out, 'report.bin'), sev.report)
writeFileSync(join(out, 'vek.der'), sev.vek)
writeFileSync(join(out, 'chain.pem'), sev.chain.map(pem).join(''))
console.log(`SEV-SNP: simulated ${values.product} ${psp.signingKey} evidence in ${out}: report.bin, vek.der, chain.pem`)

const nonce = values.nonce === undefined ? new Uint8Array(32) : fromHex(values.nonce, '--nonce', 32)
const gpu = createSimulatedGpu({ arch: values.gpu as 'HOPPER' | 'BLACKWELL' })
const evidence = await gpu.getReport(nonce)
const { driver, vbios } = gpu.rims()
writeFileSync(join(out, 'gpu-report.bin'), evidence.report)
writeFileSync(join(out, 'gpu-chain.pem'), evidence.chain.map(pem).join(''))
writeFileSync(join(out, `${driver.id}.xml`), driver.xml)
writeFileSync(join(out, `${vbios.id}.xml`), vbios.xml)
console.log(`GPU: simulated ${values.gpu} evidence in ${out}: gpu-report.bin, gpu-chain.pem, ${driver.id}.xml, ${vbios.id}.xml`)
