#!/usr/bin/env node
// Installed as the `vouch-host` bin. The host itself is compiled TypeScript under dist/.
let main
try {
  ;({ main } = await import('../dist/cli.js'))
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/cli.js')) {
    console.error('vouch-host is not built yet: run `npm run build` in the repository root')
    process.exit(2)
  }
  throw error
}
process.exitCode = await main(process.argv.slice(2))
