/**
 * Writes simulated SEV-SNP evidence to a folder, for trying `vouch-verify` without hardware:
 * report.bin (a v5 ATTESTATION_REPORT), vek.der (its VCEK or VLEK) and chain.pem (ASK/ASVK then ARK),
 * all from the simulated PSP (DESIGN.md §7). Only policies with `allowSimulated: true` accept them.
 *
 *   npm run simulate:sev-snp -- --out DIR [--product Milan|Genoa|Turin] [--vlek] [--report-data HEX]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createSimulatedPsp } from '@vouch/enclave'
import { fromHex, type Product } from '@vouch/protocol'

const { values } = parseArgs({
  options: { out: { type: 'string' }, product: { type: 'string', default: 'Genoa' }, vlek: { type: 'boolean', default: false }, 'report-data': { type: 'string' } },
})
if (values.out === undefined || !['Milan', 'Genoa', 'Turin'].includes(values.product)) {
  console.error('usage: npm run simulate:sev-snp -- --out DIR [--product Milan|Genoa|Turin] [--vlek] [--report-data HEX]')
  process.exit(2)
}
const reportData = values['report-data'] === undefined ? new Uint8Array(64) : fromHex(values['report-data'], '--report-data', 64)
const psp = createSimulatedPsp({ product: values.product as Product, signingKey: values.vlek ? 'VLEK' : 'VCEK' })
const { report, vek, chain } = await psp.getReport(reportData)
const pem = (der: Uint8Array): string => `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`
mkdirSync(values.out, { recursive: true })
writeFileSync(join(values.out, 'report.bin'), report)
writeFileSync(join(values.out, 'vek.der'), vek)
writeFileSync(join(values.out, 'chain.pem'), chain.map(pem).join(''))
console.log(`wrote simulated ${values.product} ${psp.signingKey} evidence to ${values.out}: report.bin, vek.der, chain.pem`)
