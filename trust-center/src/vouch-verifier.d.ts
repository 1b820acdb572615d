// The verifier bundle the page loads beside itself (/trust-center/vouch-verifier.js, built from verifier/src/browser.ts
// by npm run build:browser): its types are that module's.
export * from '../../verifier/src/browser.js'
