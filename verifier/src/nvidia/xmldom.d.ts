/**
 * The part of @xmldom/xmldom 0.8 that rim-xml.ts uses, as `#xmldom` (package.json `imports` maps it to the package).
 * Its own typings reference the DOM lib, which would retype Node's globals for the whole verifier.
 */
import type { XmlNode } from './rim-xml.js'

declare const xmldom: {
  DOMParser: new (options: { errorHandler: (level: string, message: unknown) => void }) => {
    parseFromString(xml: string, mimeType: 'text/xml'): XmlNode
  }
}
export default xmldom
