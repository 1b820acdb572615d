// The `Buffer` xml-crypto's files see in the browser bundle (and only they: scripts/build-browser.mjs gives it to
// them alone). On the verifier's path xml-crypto uses Buffer once, to compare a Reference's digest with its
// DigestValue: `Buffer.from(base64)` and `equals`. Both are here, decoding base64 exactly as Node's Buffer does
// (the platform seam's decoder); anything else throws, so a path the verifier does not take cannot pass by accident.
// The browser seam itself (this file exists only in the browser bundle), not the package's index, which a require would pull in whole.
const { platform } = require('../../protocol/src/platform.browser.ts')

class ShimBuffer extends Uint8Array {
  static from(value, encoding) {
    if (typeof value !== 'string' || encoding !== 'base64') throw new Error('xml-crypto in the browser: only Buffer.from(text, "base64") is available')
    const bytes = platform.base64ToBytes(value)
    const out = new ShimBuffer(bytes.length)
    out.set(bytes)
    return out
  }

  static isBuffer(value) {
    return value instanceof ShimBuffer
  }

  equals(other) {
    if (!(other instanceof Uint8Array) || other.length !== this.length) return false
    for (let i = 0; i < this.length; i++) if (this[i] !== other[i]) return false
    return true
  }
}

exports.Buffer = ShimBuffer
