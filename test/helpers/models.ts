/** The default models (`models/*.yaml`) as an enclave attests them in a bundle, with made-up known answers. */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BundleModel } from '@vouch/protocol'
import { parseManifest } from '../../enclave/src/inference/manifest.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** ppocr-cls and ppocr-det, each with its manifest. */
export function defaultModels(): BundleModel[] {
  return ['ppocr-cls', 'ppocr-det'].map((name, i) => {
    const manifest = parseManifest(readFileSync(join(root, `models/${name}.yaml`), 'utf8'), `models/${name}.yaml`)
    return {
      name: manifest.name,
      version: manifest.version,
      digest: `sha256:${manifest.sha256}`,
      manifest: JSON.parse(JSON.stringify(manifest)) as BundleModel['manifest'],
      knownAnswer: { input: `sha256:${`${i}a`.repeat(32)}`, output: `sha256:${`${i}b`.repeat(32)}` },
    }
  })
}
