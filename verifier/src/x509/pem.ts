/** Normalises certificate and CRL inputs (PEM text, PEM bytes, DER, concatenated DER) to DER bytes. */
import { VerificationError } from '../errors.js'
import { splitDer } from './der.js'

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g

/** Input forms accepted wherever the API takes certificates or CRLs. */
export type DerInput = string | Uint8Array | readonly Uint8Array[]

function looksLikePem(bytes: Uint8Array): boolean {
  // PEM may start with whitespace or an explanatory text line; DER always starts with a SEQUENCE tag.
  return bytes.length > 0 && bytes[0] !== 0x30
}

/** The DER of every PEM block in `text`, in order. */
export function pemToDer(text: string): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const match of text.matchAll(PEM_BLOCK)) {
    out.push(new Uint8Array(Buffer.from(match[2]!.replace(/\s+/g, ''), 'base64')))
  }
  return out
}

/**
 * DER elements of `input`: PEM text (any number of blocks), bytes holding PEM, one DER element,
 * several DER elements back to back, or an array of DER. `what` names the input in errors.
 */
export function toDerList(input: DerInput, what: string): Uint8Array[] {
  let list: Uint8Array[]
  try {
    if (typeof input === 'string') list = pemToDer(input)
    else if (input instanceof Uint8Array) {
      list = looksLikePem(input) ? pemToDer(Buffer.from(input).toString('utf8')) : splitDer(input)
    } else list = [...input]
  } catch (cause) {
    throw new VerificationError('ERR_INPUT_INVALID', `${what}: neither PEM nor DER`, { cause })
  }
  if (list.length === 0) throw new VerificationError('ERR_INPUT_INVALID', `${what}: no certificate or CRL found`)
  return list
}
