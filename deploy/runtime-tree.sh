#!/bin/sh
# Copies what Vouch needs at run time from a built checkout (npm ci, tsc -b, npm prune --omit=dev) into OUT:
# the root manifests and node_modules, and per workspace its package.json, dist/, bin/ and the node_modules npm
# keeps there when a version differs from the hoisted one; then models/, policies/ and the built trust-center page
# (trust-center/dist/). No sources, no tests.
# The Dockerfile's build stage runs it; running it by hand and starting OUT/host/bin/vouch-host.js checks the
# image's layout without a Docker engine.
set -eu
out=${1:?usage: deploy/runtime-tree.sh OUT}
mkdir -p "$out"
cp -a package.json package-lock.json node_modules "$out/"
for workspace in protocol verifier enclave host client; do
  mkdir -p "$out/$workspace"
  cp -a "$workspace/package.json" "$workspace/dist" "$out/$workspace/"
  for optional in bin node_modules; do
    if [ -d "$workspace/$optional" ]; then cp -a "$workspace/$optional" "$out/$workspace/"; fi
  done
done
cp -a models policies "$out/"
# The trust-center page (npm run build:page), when built: vouch-host serves it at /, and answers 404 there without it.
if [ -d trust-center/dist ]; then mkdir -p "$out/trust-center" && cp -a trust-center/dist "$out/trust-center/"; fi
