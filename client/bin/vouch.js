#!/usr/bin/env node
// Installed as the `vouch` bin. The CLI itself is compiled TypeScript under dist/.
try {
  await import('../dist/bin.js')
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/bin.js')) {
    console.error('vouch is not built yet: run `npm run build` in the repository root')
    process.exit(2)
  }
  throw error
}
