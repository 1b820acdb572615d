# syntax=docker/dockerfile:1
# Vouch host + enclave image. Two stages: the build stage installs the locked dependencies and compiles the
# TypeScript and the trust-center page; the final stage holds only production dependencies, the compiled code, the
# model manifests, the policies and the built page, and runs as the unprivileged `node` user. No compiler, no npm cache, no sources in the final stage.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so a code change does not re-run `npm ci`. onnxruntime-node's install script would
# download CUDA libraries from NuGet; its CPU binaries ship in the package. npm 11.17+ skips the script for
# package.json's allowScripts; this image's npm predates that, so the script's own switch skips it.
ENV ONNXRUNTIME_NODE_INSTALL=skip
# better-sqlite3 (the receipt log) fetches its prebuilt binary, or compiles it with node-gyp when it cannot: the
# compiler stays in this stage, and only the built addon reaches the final one.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY protocol/package.json protocol/
COPY verifier/package.json verifier/
COPY enclave/package.json enclave/
COPY host/package.json host/
COPY client/package.json client/
RUN npm ci --no-audit --no-fund
COPY protocol protocol
COPY verifier verifier
COPY enclave enclave
COPY host host
COPY client client
COPY models models
COPY policies policies
COPY deploy/runtime-tree.sh deploy/
# The trust-center page vouch-host serves at / (static files; esbuild, a development dependency, builds it here).
COPY trust-center trust-center
COPY scripts/build-browser.mjs scripts/build-page.mjs scripts/
COPY scripts/browser-shims scripts/browser-shims
COPY docs/errors.md docs/
RUN npx tsc -b && npm run build:page && npm prune --omit=dev --no-audit --no-fund && sh deploy/runtime-tree.sh /out

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /out ./
USER node
# The development certificate is generated and cached under the node user's home; mount real ones in production.
ENV VOUCH_CACHE_DIR=/home/node/.cache/vouch
EXPOSE 8443
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "require('node:https').get({host:'127.0.0.1',port:8443,path:'/v2/health/ready',rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
# The host's V8 options (host/src/node-flags.ts; NODE_OPTIONS cannot carry them all).
ENTRYPOINT ["node", "--max-semi-space-size=4", "--heap-growing-percent=100", "host/bin/vouch-host.js"]
CMD ["--host", "0.0.0.0", "--port", "8443", "--tee", "simulated", "--gpu", "none"]
