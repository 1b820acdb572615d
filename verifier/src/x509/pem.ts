/** Normalises certificate and CRL inputs (PEM text, PEM bytes, DER, concatenated DER) to DER bytes. */
import { pemToDer, utf8Text } from '@vouch/protocol'
import { VerificationError } from '../errors.js'
import { splitDer } from './der.js'

/** Input forms accepted wherever the API takes certificates or CRLs. */
export type DerInput = string | Uint8Array | readonly Uint8Array[]

function looksLikePem(bytes: Uint8Array): boolean {
  // PEM may start with whitespace or an explanatory text line; DER always starts with a SEQUENCE tag.
  return bytes.length > 0 && bytes[0] !== 0x30
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
      list = looksLikePem(input) ? pemToDer(utf8Text(input)) : splitDer(input)
    } else list = [...input]
  } catch (cause) {
    throw new VerificationError('ERR_INPUT_INVALID', `${what}: neither PEM nor DER`, { cause })
  }
  if (list.length === 0) throw new VerificationError('ERR_INPUT_INVALID', `${what}: no certificate or CRL found`)
  return list
}
