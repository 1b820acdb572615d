// Renders deploy/kubernetes/'s overlays as `kubectl kustomize` does (scripts/kustomize.ts), after checking them
// (scripts/kubernetes-check.ts: the Kubernetes schemas, known fields only, and the fleet's invariants).
// Run: npm run deploy:render -- OVERLAY        print the overlay's objects (YAML), to pipe to kubectl apply -f -
//      npm run deploy:render -- --check       check every overlay, print a line each; exit 1 on any problem
import { OVERLAYS, checkFleet, checkKnownFields, renderOverlay, validateSchema, type OverlayName } from './kubernetes-check.js'
import { toYaml } from './kustomize.js'

const names = Object.keys(OVERLAYS) as OverlayName[]
const args = process.argv.slice(2)
const check = args.includes('--check')
const chosen = check ? names : args
if (chosen.length !== 1 && !check) {
  console.error(`usage: npm run deploy:render -- ${names.join('|')}    or    npm run deploy:render -- --check`)
  process.exit(2)
}
let failed = false
for (const name of chosen) {
  if (!(names as string[]).includes(name)) {
    console.error(`unknown overlay ${name} (known: ${names.join(', ')})`)
    process.exit(2)
  }
  const objects = renderOverlay(name)
  const problems = [...(await Promise.all(objects.map(validateSchema))).flat(), ...checkKnownFields(objects), ...checkFleet(name, objects)]
  for (const problem of problems) console.error(`${name}: ${problem}`)
  failed ||= problems.length > 0
  if (check) console.log(`${name}: ${objects.length} objects, ${problems.length === 0 ? 'valid' : `${problems.length} problems`}`)
  else if (problems.length === 0) process.stdout.write(toYaml(objects))
}
process.exit(failed ? 1 : 0)
