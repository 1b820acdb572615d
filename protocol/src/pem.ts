/**
 * PEM (RFC 7468) to DER and back: how certificates, CRLs and keys travel as text (files, NVML, `--chain`).
 * Encoding only; what the DER holds is the verifier's to decide.
 */
import { toBase64 } from './bytes.js'
import { platform } from './platform.js'

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g

/**
 * The DER of every PEM block in `text`, in order; of the blocks labelled `label` only (e.g. `CERTIFICATE`) when
 * given. Text around and between the blocks is ignored.
 */
export function pemToDer(text: string, label?: string): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const match of text.matchAll(PEM_BLOCK)) {
    if (label !== undefined && match[1] !== label) continue
    out.push(platform.base64ToBytes(match[2]!.replace(/\s+/g, '')))
  }
  return out
}

/** One PEM block as OpenSSL writes it: 64-character base64 lines, LF line endings, a final newline. */
export function derToPem(label: string, der: Uint8Array | ArrayBuffer): string {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der)
  const lines = toBase64(bytes).match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}
