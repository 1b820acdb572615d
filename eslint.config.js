// Lint, plus the dependency-direction rules of DESIGN.md §2 (the `check:boundaries` of STYLE.md).
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

const runtimeOnly = ['express', 'onnxruntime-node', 'pino', 'pino-http', 'node:net', 'node:http', 'node:https', 'net', 'http', 'https']
const restrict = (names, message) => ({
  'no-restricted-imports': ['error', { paths: names.map((name) => ({ name, message })), patterns: [{ group: ['@vouch/host', '@vouch/host/*', '@vouch/enclave', '@vouch/enclave/*'], message: 'nothing imports host or enclave (DESIGN.md §2)' }] }],
})

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**'] },
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
    files: ['enclave/src/**/*.ts', 'host/src/**/*.ts'],
    rules: restrict(['@vouch/verifier', '@vouch/client', 'onnxruntime-node', 'cbor-x'], 'only the client may import the verifier; onnxruntime-node belongs to enclave/src/inference/, cbor-x to protocol/src/cbor.ts (DESIGN.md §2)'),
  },
  {
    files: ['enclave/src/inference/**/*.ts'],
    rules: restrict(['@vouch/verifier', '@vouch/client', 'cbor-x'], 'only the client may import the verifier; cbor-x belongs to protocol/src/cbor.ts (DESIGN.md §2)'),
  },
  {
    files: ['client/src/**/*.ts'],
    rules: restrict([], ''),
  },
)
