// What the browser bundle gives for Node's `crypto` module, which xml-crypto requires for its built-in algorithm
// tables. The verifier replaces every table it uses (verifier/src/nvidia/rim-signature.ts), so nothing here is ever
// called; if something were, it fails (a missing function) instead of reaching for an API a browser does not have.
module.exports = {}
