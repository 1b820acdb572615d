// What the browser bundle gives for Node's `util` module, which xml-crypto requires only to wrap its deprecated
// helpers in `util.deprecate` (a Node warning): here they stay as they are.
exports.deprecate = (fn) => fn
