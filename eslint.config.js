// Lint, plus the dependency-direction rules of DESIGN.md §2 (the `check:boundaries` of STYLE.md).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const runtimeOnly = ['express', 'onnxruntime-node', 'pino', 'pino-http', 'node:net', 'node:http', 'node:https', 'net', 'http', 'https']
// `paths` match names exactly: a restricted workspace's subpaths (@vouch/verifier/trust, /files) are restricted with
// it, unless `subpaths` is false (the host, which may import one of them).
const restrict = (names, message, patterns = [], { subpaths = true } = {}) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: names.map((name) => ({ name, message })),
      patterns: [
        { group: ['@vouch/host', '@vouch/host/*', '@vouch/enclave', '@vouch/enclave/*'], message: 'nothing imports host or enclave (DESIGN.md §2)' },
        ...(subpaths ? names.filter((name) => name.startsWith('@vouch/')).map((name) => ({ group: [`${name}/*`], message })) : []),
        ...patterns,
      ],
    },
  ],
})
// The host fetches and caches AMD and NVIDIA collateral to staple it to the evidence it serves (issue 12).
const hostOnly =
  'of the verifier the host imports @vouch/verifier/trust only, to fetch, cache and staple AMD and NVIDIA collateral: the host is untrusted anyway, and the client verifies everything; verifying is for relying parties. onnxruntime-node belongs to enclave/src/inference/, cbor-x to protocol/src/cbor.ts (DESIGN.md §2)'
// The simulator and what only it needs stay off the enclave's production path: production code reaches it through
// the device factory's dynamic import (tee/device.ts), and may name its types.
const simulatorOnly = ['@peculiar/asn1-schema', '@peculiar/asn1-x509', 'xml-crypto', '@xmldom/xmldom']
const noSimulator = [
  { group: ['**/simulated/*', '**/simulated.js'], allowTypeImports: true, message: 'production code imports the simulator only through the device factory (tee/device.ts); tests, benchmarks and scripts import @vouch/enclave/simulated' },
  { group: simulatorOnly, message: 'a dependency only the simulator needs: keep it in enclave/src/tee/simulated/' },
]

export default tseslint.config(
  { ignores: ['**/dist/**', '**/dist-browser/**', '**/node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', performance: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Signature checks answer with promises (WebCrypto in a browser: docs/browser.md); one not awaited would let a
    // check pass unchecked, so the type-aware rules that see it run on the code that verifies and its callers (the
    // host's stapler and routes, the enclave's link among them).
    files: ['protocol/src/**/*.ts', 'verifier/src/**/*.ts', 'client/src/**/*.ts', 'host/src/**/*.ts', 'enclave/src/**/*.ts'],
    // browser.ts only re-exports, and is built by esbuild, not by its package's tsconfig (tsconfig.test.json checks it).
    ignores: ['**/*.d.ts', 'verifier/src/browser.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
    },
  },
  {
    // CommonJS stand-ins for Node built-ins in the browser bundle (scripts/build-browser.mjs): they are required, so they are CommonJS.
    files: ['scripts/browser-shims/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', exports: 'writable', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['protocol/src/**/*.ts'],
    rules: restrict([...runtimeOnly, '@vouch/verifier', '@vouch/client', 'cbor-x'], 'protocol holds wire formats only and imports no other package; cbor-x belongs to protocol/src/cbor.ts (DESIGN.md §2)'),
  },
  {
    files: ['protocol/src/cbor.ts'],
    rules: restrict([...runtimeOnly, '@vouch/verifier', '@vouch/client'], 'protocol holds wire formats only and imports no other package (DESIGN.md §2)'),
  },
  {
    files: ['verifier/src/**/*.ts'],
    rules: restrict([...runtimeOnly, '@vouch/client', 'cbor-x'], 'the verifier is pure and runs without servers, runtimes or loggers; cbor-x belongs to protocol/src/cbor.ts (DESIGN.md §2)'),
  },
  {
    // What @vouch/verifier reaches: no disk, no network. Those are @vouch/verifier/trust, /log, /files, and the CLI.
    files: ['verifier/src/**/*.ts'],
    ignores: ['verifier/src/trust/**', 'verifier/src/log/index.ts', 'verifier/src/log/follow.ts', 'verifier/src/log/audit.ts', 'verifier/src/input-file.ts', 'verifier/src/files.ts', 'verifier/src/cli/main.ts', 'verifier/src/cli/io.ts', 'verifier/src/cli/trust*.ts', 'verifier/src/cli/log.ts', 'verifier/src/cli/policy.ts'],
    rules: restrict([...runtimeOnly, '@vouch/client', 'cbor-x', 'node:fs', 'node:fs/promises', 'node:os', 'fs', 'os'], 'the verifier is pure: no servers, runtimes, loggers, disk or network (DESIGN.md §2); disk and network belong to @vouch/verifier/trust, /log and /files', [
      { group: ['**/trust/*', '**/log/index.js', '**/log/follow.js', '**/log/audit.js', '**/input-file.js', '**/files.js'], allowTypeImports: true, message: 'the pure verifier reaches neither the collateral fetchers, the log follower nor the file readers: those are @vouch/verifier/trust, /log and /files' },
    ]),
  },
  {
    files: ['enclave/src/**/*.ts'],
    rules: restrict(['@vouch/verifier', '@vouch/client', 'onnxruntime-node', 'cbor-x'], 'only the client may import the verifier; onnxruntime-node belongs to enclave/src/inference/, cbor-x to protocol/src/cbor.ts (DESIGN.md §2)'),
  },
  {
    files: ['host/src/**/*.ts'],
    rules: restrict(['@vouch/verifier', '@vouch/client', 'onnxruntime-node', 'cbor-x'], hostOnly, [{ group: ['@vouch/verifier/*', '!@vouch/verifier/trust'], message: hostOnly }], { subpaths: false }),
  },
  {
    files: ['enclave/src/**/*.ts'],
    ignores: ['enclave/src/tee/simulated/**', 'enclave/src/simulated.ts', 'enclave/src/inference/**'],
    rules: restrict(['@vouch/verifier', '@vouch/client', 'onnxruntime-node', 'cbor-x'], 'only the client may import the verifier; onnxruntime-node belongs to enclave/src/inference/, cbor-x to protocol/src/cbor.ts (DESIGN.md §2)', noSimulator),
  },
  {
    files: ['enclave/src/inference/**/*.ts'],
    rules: restrict(['@vouch/verifier', '@vouch/client', 'cbor-x'], 'only the client may import the verifier; cbor-x belongs to protocol/src/cbor.ts (DESIGN.md §2)', noSimulator),
  },
  {
    files: ['client/src/**/*.ts'],
    rules: restrict([], ''),
  },
)
