/**
 * The OpenAPI 3.1 description of the host's HTTP API, served at `GET /openapi.json`. `host/test/openapi.test.ts`
 * checks that it describes exactly the routes the app registers, with every error code of the registry.
 */
import { ARCHIVE_MEDIA_TYPE, EVIDENCE_MEDIA_TYPE, FLEET_MEDIA_TYPE, KEY_ID_HEADER, SEALED_MEDIA_TYPE } from '@vouch/protocol'
import { HOST_ERRORS, PROBLEM_MEDIA_TYPE } from './errors.js'

type Json = Record<string, unknown>

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` })
const problem = (description: string): Json => ({ description, content: { [PROBLEM_MEDIA_TYPE]: { schema: ref('Problem') } }, headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } } })
const json = (description: string, schema: Json): Json => ({ description, content: { 'application/json': { schema } }, headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } } })
const nameParam = { name: 'name', in: 'path', required: true, description: 'Model name, as `GET /v2/models` lists it', schema: { type: 'string', maxLength: 256 } }
const versionParam = { name: 'version', in: 'path', required: true, description: 'Model version', schema: { type: 'string', maxLength: 64 } }
const unavailable = problem(
  '`ERR_HOST_ENCLAVE_UNAVAILABLE` (the enclave is down or restarting), `ERR_HOST_QUEUE_FULL`, `ERR_HOST_SHUTTING_DOWN`, `ERR_ENCLAVE_BUSY`, or for inference `ERR_ENCLAVE_DRAINING` (the enclave holding the key takes no new request: send it to another), `ERR_INFERENCE_MODEL_CLOSED` and `ERR_MODEL_*` (a model refused at load); `Retry-After` says when to retry',
)
const failures = {
  '502': problem('`ERR_HOST_BAD_GATEWAY`: the enclave answered with something the host cannot relay; for inference, `ERR_HOST_ENCLAVE_LOST`: the enclave went away while it held the request (its outcome is unknown)'),
  '503': unavailable,
  '504': problem('`ERR_HOST_TIMEOUT` or `ERR_ENCLAVE_TIMEOUT`'),
  default: problem('Any other failure, as problem details (`ERR_HOST_NOT_FOUND` 404, `ERR_HOST_METHOD_NOT_ALLOWED` 405, `ERR_HOST_INTERNAL` 500, and from the receipt log `ERR_HOST_LOG_UNAVAILABLE` 503, `ERR_HOST_LOG_INCONSISTENT` 500, ...)'),
}

function modelMetadata(withVersion: boolean): Json {
  return {
    get: {
      operationId: withVersion ? 'getModelVersionMetadata' : 'getModelMetadata',
      summary: withVersion ? 'Metadata of one version of a model (OIP v2)' : 'Metadata of a model (OIP v2)',
      tags: ['models'],
      parameters: withVersion ? [nameParam, versionParam] : [nameParam],
      responses: { '200': json('OIP v2 model metadata with the digest the enclave attests', ref('ModelMetadata')), '404': problem('`ERR_HOST_MODEL_NOT_FOUND`'), ...failures },
    },
  }
}

function modelReady(withVersion: boolean): Json {
  return {
    get: {
      operationId: withVersion ? 'getModelVersionReady' : 'getModelReady',
      summary: 'Whether the enclave serves this model (OIP v2 model readiness)',
      tags: ['health'],
      parameters: withVersion ? [nameParam, versionParam] : [nameParam],
      responses: { '200': json('The model is loaded and the enclave is up', ref('ModelReady')), '404': problem('`ERR_HOST_MODEL_NOT_FOUND`'), ...failures },
    },
  }
}

function infer(withVersion: boolean): Json {
  return {
    post: {
      operationId: withVersion ? 'inferModelVersion' : 'inferModel',
      summary: 'Sealed inference: the body is relayed to the enclave, the sealed answer relayed back',
      description:
        'The body is `enc ‖ HPKE ciphertext` of a CBOR OIP v2 request (docs/protocol.md, "Sealed envelope"), sealed to the keyset ' +
        'of an attested evidence bundle. The host cannot read it. The answer is sealed to the same request; it holds the outputs and a receipt. ' +
        'A 2xx answer without a sealed body is a failure for the client.',
      tags: ['inference'],
      parameters: [
        ...(withVersion ? [nameParam, versionParam] : [nameParam]),
        { name: KEY_ID_HEADER, in: 'header', required: true, description: 'kid of the keyset the body is sealed to (from the evidence bundle)', schema: { type: 'string', pattern: '^[A-Za-z0-9._~-]{1,128}$' } },
      ],
      requestBody: { required: true, content: { [SEALED_MEDIA_TYPE]: { schema: ref('SealedBody') } } },
      responses: {
        '200': { description: 'The sealed response', content: { [SEALED_MEDIA_TYPE]: { schema: ref('SealedBody') } }, headers: { 'X-Request-Id': { $ref: '#/components/headers/RequestId' } } },
        '400': problem('`ERR_HOST_KEY_ID_INVALID`, `ERR_HOST_BAD_REQUEST`, or an enclave refusal (`ERR_ENCLAVE_OPEN_FAILED`, `ERR_ENCLAVE_REQUEST_MALFORMED`, `ERR_ENCLAVE_REQUEST_EXPIRED`, `ERR_ENCLAVE_MODEL_MISMATCH`, `ERR_INFERENCE_*`)'),
        '404': problem('`ERR_HOST_MODEL_NOT_FOUND` or `ERR_ENCLAVE_MODEL_NOT_FOUND`'),
        '408': problem('`ERR_HOST_BODY_TOO_SLOW` (the body arrived below the minimum rate) or `ERR_HOST_BODY_TIMEOUT` (it took too long); the connection is closed'),
        '409': problem('`ERR_ENCLAVE_UNKNOWN_KID` (no enclave behind this host holds the key: attest again and reseal) or `ERR_ENCLAVE_REPLAY`'),
        '413': problem('`ERR_HOST_BODY_TOO_LARGE` or `ERR_LINK_FRAME_TOO_LARGE`'),
        '415': problem('`ERR_HOST_UNSUPPORTED_MEDIA_TYPE`: the body must be `application/vnd.vouch.sealed`, without content encoding'),
        '500': problem('`ERR_ENCLAVE_INTERNAL` or `ERR_INFERENCE_RUNTIME`'),
        ...failures,
      },
    },
  }
}

// long: the document is data, one literal in the shape OpenAPI gives it; cut into functions it would be harder to check against the spec.
/** The OpenAPI 3.1 document of the host at `version`. */
export function openApiDocument(version: string): Json {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Vouch host',
      version,
      summary: 'Confidential inference: an untrusted relay in front of an attested enclave',
      description:
        'The Open Inference Protocol v2 (KServe) over HTTPS (TLS 1.3), with sealed request and response bodies and evidence bundles. ' +
        'The host relays ciphertext and never sees plaintext: verify the evidence (`GET /v1/attestation`) before sealing to its keyset. ' +
        'Every failure is RFC 9457 problem details with a stable `code` (docs/errors.md).',
    },
    servers: [{ url: 'https://localhost:8443', description: 'A local host with its development certificate' }],
    tags: [
      { name: 'server', description: 'Server metadata' },
      { name: 'health', description: 'Liveness and readiness' },
      { name: 'models', description: 'Models the enclave serves' },
      { name: 'inference', description: 'Sealed inference' },
      { name: 'attestation', description: 'Evidence bundles' },
      { name: 'operations', description: 'Metrics and this document' },
      { name: 'trust-center', description: 'The page that verifies the service in the browser (docs/trust-center.md)' },
    ],
    paths: {
      '/v2': {
        get: {
          operationId: 'getServerMetadata',
          summary: 'Server metadata (OIP v2)',
          tags: ['server'],
          responses: { '200': json('Name, version and extensions', ref('ServerMetadata')), default: failures.default },
        },
      },
      '/v2/health/live': {
        get: {
          operationId: 'getLive',
          summary: 'Liveness: the host process answers',
          tags: ['health'],
          responses: { '200': json('Alive', { type: 'object', required: ['live'], properties: { live: { const: true } } }), default: failures.default },
        },
      },
      '/v2/health/ready': {
        get: {
          operationId: 'getReady',
          summary: 'Readiness: the enclave link is up and the enclave answered ping',
          tags: ['health'],
          responses: { '200': json('Ready', { type: 'object', required: ['ready'], properties: { ready: { const: true } } }), '503': unavailable, default: failures.default },
        },
      },
      '/v2/models': {
        get: {
          operationId: 'listModels',
          summary: 'Every model the enclave serves, with its metadata',
          tags: ['models'],
          responses: { '200': json('The models', { type: 'object', required: ['models'], properties: { models: { type: 'array', items: ref('ModelMetadata') } } }), ...failures },
        },
      },
      '/v2/models/{name}': modelMetadata(false),
      '/v2/models/{name}/versions/{version}': modelMetadata(true),
      '/v2/models/{name}/ready': modelReady(false),
      '/v2/models/{name}/versions/{version}/ready': modelReady(true),
      '/v2/models/{name}/infer': infer(false),
      '/v2/models/{name}/versions/{version}/infer': infer(true),
      '/v1/log/checkpoint': {
        get: {
          operationId: 'getLogCheckpoint',
          summary: "The receipt log's latest checkpoint: a C2SP tlog-checkpoint in a signed note (Ed25519, the log's key)",
          tags: ['log'],
          responses: { '200': { description: 'The signed checkpoint (origin, size, base64 root hash, signature lines)', content: { 'text/plain': { schema: { type: 'string' } } } }, default: failures.default },
        },
      },
      '/v1/log/key': {
        get: {
          operationId: 'getLogKey',
          summary: "The log's note verifier key (name+keyid+key). A convenience: relying parties pin it, they do not learn it here",
          tags: ['log'],
          responses: { '200': { description: 'The verifier key, one line', content: { 'text/plain': { schema: { type: 'string' } } } }, default: failures.default },
        },
      },
      '/v1/log/proof': {
        get: {
          operationId: 'getLogInclusionProof',
          summary: "A receipt's inclusion proof (RFC 9162) at the latest checkpoint",
          tags: ['log'],
          parameters: [{ name: 'receipt', in: 'query', required: true, description: '`sha256:` and the hex SHA-256 of the receipt\'s compact JWS text', schema: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } }],
          responses: {
            '200': json('Index, tree size, root hash, proof hashes (base64) and the signed checkpoint they are checked against', {
              type: 'object',
              required: ['index', 'size', 'rootHash', 'proof', 'checkpoint'],
              properties: { index: { type: 'integer' }, size: { type: 'integer' }, rootHash: { type: 'string' }, proof: { type: 'array', items: { type: 'string' } }, checkpoint: { type: 'string' } },
            }),
            '400': problem('`ERR_HOST_BAD_REQUEST`: `receipt` is not a `sha256:` digest'),
            '404': problem('`ERR_HOST_LOG_ENTRY_NOT_FOUND`'),
            default: failures.default,
          },
        },
      },
      '/v1/log/consistency': {
        get: {
          operationId: 'getLogConsistencyProof',
          summary: 'A consistency proof (RFC 9162) between two tree sizes, `to` the latest checkpoint\'s when left out',
          tags: ['log'],
          parameters: [
            { name: 'from', in: 'query', required: true, schema: { type: 'integer', minimum: 0 } },
            { name: 'to', in: 'query', required: false, schema: { type: 'integer', minimum: 0 } },
          ],
          responses: {
            '200': json('The sizes and the proof hashes (base64)', { type: 'object', required: ['from', 'to', 'proof'], properties: { from: { type: 'integer' }, to: { type: 'integer' }, proof: { type: 'array', items: { type: 'string' } } } }),
            '400': problem('`ERR_HOST_LOG_RANGE_INVALID`'),
            default: failures.default,
          },
        },
      },
      '/v1/log/evidence/{digest}': {
        get: {
          operationId: 'getLogEvidence',
          summary: 'The evidence bundle a receipt names, as the log holds it (parts joined and checked)',
          tags: ['log'],
          parameters: [{ name: 'digest', in: 'path', required: true, schema: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' } }],
          responses: {
            '200': { description: 'The CBOR evidence bundle', content: { 'application/cbor': { schema: { type: 'string' } } } },
            '400': problem('`ERR_HOST_BAD_REQUEST`: not a `sha256:` digest'),
            '404': problem('`ERR_HOST_LOG_ENTRY_NOT_FOUND`'),
            default: failures.default,
          },
        },
      },
      '/v1/log/tile/{path}': {
        get: {
          operationId: 'getLogTile',
          summary: 'C2SP tlog-tiles: hash tiles (`tile/<L>/<N>[.p/<W>]`) and entry bundles (`tile/entries/<N>[.p/<W>]`) below the latest checkpoint',
          tags: ['log'],
          parameters: [{ name: 'path', in: 'path', required: true, description: 'The rest of the tile path, slashes included', schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The tile or bundle; full ones are immutable', content: { 'application/octet-stream': { schema: { type: 'string' } } } },
            '404': problem('`ERR_HOST_NOT_FOUND`: not a tile path, or beyond the latest checkpoint'),
            default: failures.default,
          },
        },
      },
      '/v1/ledger': {
        get: {
          operationId: 'getLedger',
          summary: 'The attribution ledger: per contributor, the answers of each model that credit them over entries [from, to) of the receipt log, at its latest signed checkpoint',
          description:
            'Counted only when the receipt is what its logged evidence attests (signed by its keyset key, an attested model, the attested manifest\'s contributors); every other entry is listed under `flagged` with an `ERR_LEDGER_*` code. ' +
            'Deterministic JSON: `vouch credits --json` re-computes it from the log and prints the same text.',
          tags: ['log'],
          parameters: [
            { name: 'from', in: 'query', required: false, description: 'First entry index (default 0)', schema: { type: 'integer', minimum: 0 } },
            { name: 'to', in: 'query', required: false, description: "One past the last entry index, at most the latest checkpoint's size (default: that size)", schema: { type: 'integer', minimum: 0 } },
          ],
          responses: {
            '200': json('The ledger', ref('Ledger')),
            '400': problem('`ERR_HOST_LOG_RANGE_INVALID`'),
            default: failures.default,
          },
        },
      },
      '/v1/attestation': {
        get: {
          operationId: 'getAttestation',
          summary: 'The enclave evidence bundle (CBOR), challenged with a nonce or the cached unchallenged one',
          description:
            'Without `nonce`: the unchallenged bundle (proves identity and keys, not freshness), cacheable for a short time, with an ETag. ' +
            'With `nonce`: a fresh bundle bound to it, never cached; challenged bundles are rate-limited per client by the host and overall by the enclave (429, with Retry-After). ' +
            `A client that accepts \`${ARCHIVE_MEDIA_TYPE}\` gets the bundle, byte for byte, inside an evidence archive with the AMD and NVIDIA collateral the host has cached for it (CRL, RIMs, OCSP responses), so it can verify the evidence without asking AMD or NVIDIA. ` +
            `With \`nonce\`, a client that prefers \`${FLEET_MEDIA_TYPE}\` gets the evidence of every enclave the host routes to (docs/protocol.md, "Fleet attestation"): for each, its challenged and unchallenged bundles (archives when it also accepts those); the client verifies each and seals only to those it accepts. ` +
            'The admin API (`--admin-port`, a separate plain-HTTP port, loopback by default) lists the enclaves and drains or rotates one: `ERR_HOST_ENCLAVE_NOT_FOUND` when the id names none.',
          tags: ['attestation'],
          parameters: [{ name: 'nonce', in: 'query', required: false, description: '32 bytes as 64 hexadecimal digits', schema: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' } }],
          responses: {
            '200': {
              description: 'The evidence bundle (docs/protocol.md, "Evidence bundle"), or the evidence archive holding it (docs/protocol.md, "Evidence archive") when the client accepts one',
              content: {
                [EVIDENCE_MEDIA_TYPE]: { schema: { type: 'string', contentMediaType: EVIDENCE_MEDIA_TYPE } },
                [ARCHIVE_MEDIA_TYPE]: { schema: { type: 'string', contentMediaType: ARCHIVE_MEDIA_TYPE } },
                [FLEET_MEDIA_TYPE]: { schema: { type: 'string', contentMediaType: FLEET_MEDIA_TYPE } },
              },
              headers: {
                'Cache-Control': { description: '`no-store` with a nonce; `public, max-age=30` without', schema: { type: 'string' } },
                ETag: { description: 'Strong validator of the unchallenged bundle or archive served', schema: { type: 'string' } },
                Vary: { description: '`Accept`: the same URL answers a bundle or an archive', schema: { type: 'string' } },
                'X-Request-Id': { $ref: '#/components/headers/RequestId' },
              },
            },
            '304': { description: 'The unchallenged bundle has not changed (If-None-Match)' },
            '400': problem('`ERR_HOST_NONCE_INVALID`'),
            '429': problem('`ERR_HOST_ATTEST_RATE_LIMITED` (this client asked for too many challenges) or `ERR_ENCLAVE_ATTEST_RATE_LIMITED` (all clients together did): retry after `Retry-After` seconds, or use the unchallenged bundle'),
            ...failures,
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'getMetrics',
          summary: 'Prometheus metrics',
          tags: ['operations'],
          responses: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } } }, default: failures.default },
        },
      },
      '/': {
        get: {
          operationId: 'getTrustCenter',
          summary: 'The trust-center page (static HTML): verifies the service in the browser, under a strict Content-Security-Policy',
          tags: ['trust-center'],
          responses: { '200': { description: 'The page', content: { 'text/html': { schema: { type: 'string' } } } }, '404': problem('`ERR_HOST_NOT_FOUND`: no page built (`npm run build:page`)'), default: failures.default },
        },
      },
      '/trust-center/{file}': {
        get: {
          operationId: 'getTrustCenterFile',
          summary: "One of the page's files (its script, styles, the verifier bundle, the error codes page), as built",
          tags: ['trust-center'],
          parameters: [{ name: 'file', in: 'path', required: true, description: 'A file name, such as `app.js`', schema: { type: 'string' } }],
          responses: { '200': { description: 'The file, with its media type', content: { 'text/javascript': { schema: { type: 'string' } }, 'text/css': { schema: { type: 'string' } }, 'text/html': { schema: { type: 'string' } } } }, '404': problem('`ERR_HOST_NOT_FOUND`'), default: failures.default },
        },
      },
      '/trust-center/policies': {
        get: {
          operationId: 'listShippedPolicies',
          summary: 'The names of the shipped policies (policies/*.yaml) the page offers',
          tags: ['trust-center'],
          responses: { '200': json('The names', { type: 'object', required: ['policies'], properties: { policies: { type: 'array', items: { type: 'string' } } } }), default: failures.default },
        },
      },
      '/trust-center/policies/{file}': {
        get: {
          operationId: 'getShippedPolicy',
          summary: 'A shipped policy, read-only, exactly as in policies/',
          tags: ['trust-center'],
          parameters: [{ name: 'file', in: 'path', required: true, description: 'A name `GET /trust-center/policies` lists', schema: { type: 'string' } }],
          responses: { '200': { description: 'The policy file', content: { 'application/yaml': { schema: { type: 'string' } } } }, '404': problem('`ERR_HOST_NOT_FOUND`'), default: failures.default },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'getOpenApi',
          summary: 'This document',
          tags: ['operations'],
          responses: { '200': json('OpenAPI 3.1', { type: 'object' }), default: failures.default },
        },
      },
    },
    components: {
      headers: {
        RequestId: { description: 'The request id (from a well-formed `X-Request-Id` of the request, else generated); logs carry it', schema: { type: 'string' } },
      },
      schemas: {
        Problem: {
          type: 'object',
          description: 'RFC 9457 problem details, with the stable `code` and the `requestId` that finds the request in the logs',
          required: ['type', 'title', 'status', 'detail', 'instance', 'code', 'requestId'],
          properties: {
            type: { type: 'string', format: 'uri', description: '`urn:vouch:error:<code>`' },
            title: { type: 'string', description: 'HTTP reason phrase' },
            status: { type: 'integer', minimum: 400, maximum: 599 },
            detail: { type: 'string', description: "The code's fixed public message" },
            instance: { type: 'string', description: 'Path of the request' },
            code: { type: 'string', pattern: '^ERR_[A-Z0-9_]+$', description: 'A host code, or the enclave code relayed', examples: Object.keys(HOST_ERRORS) },
            requestId: { type: 'string' },
          },
        },
        Ledger: {
          type: 'object',
          required: ['checkpoint', 'from', 'to', 'rows', 'flagged'],
          properties: {
            checkpoint: { type: 'string', description: 'The signed checkpoint (C2SP signed note) the ledger was computed at' },
            from: { type: 'integer', minimum: 0 },
            to: { type: 'integer', minimum: 0 },
            rows: {
              type: 'array',
              description: 'Sorted by role, id, model, version, name',
              items: {
                type: 'object',
                required: ['role', 'id', 'name', 'model', 'version', 'answers'],
                properties: { role: { type: 'string' }, id: { type: 'string' }, name: { type: 'string' }, model: { type: 'string' }, version: { type: 'string' }, answers: { type: 'integer', minimum: 1 } },
              },
            },
            flagged: {
              type: 'array',
              description: 'Entries of the range not counted, in index order',
              items: {
                type: 'object',
                required: ['index', 'receipt', 'code', 'reason'],
                properties: { index: { type: 'integer', minimum: 0 }, receipt: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' }, code: { type: 'string', pattern: '^ERR_LEDGER_[A-Z_]+$' }, reason: { type: 'string' } },
              },
            },
          },
        },
        ServerMetadata: {
          type: 'object',
          required: ['name', 'version', 'extensions'],
          properties: { name: { const: 'vouch' }, version: { type: 'string' }, extensions: { type: 'array', items: { type: 'string' } } },
        },
        TensorMetadata: {
          type: 'object',
          required: ['name', 'datatype', 'shape'],
          properties: { name: { type: 'string' }, datatype: { type: 'string' }, shape: { type: 'array', items: { type: 'integer', minimum: -1 }, description: '-1: any size' } },
        },
        ModelMetadata: {
          type: 'object',
          required: ['name', 'versions'],
          properties: {
            name: { type: 'string' },
            versions: { type: 'array', items: { type: 'string' } },
            platform: { type: 'string' },
            inputs: { type: 'array', items: ref('TensorMetadata') },
            outputs: { type: 'array', items: ref('TensorMetadata') },
            digest: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$', description: 'SHA-256 of the ONNX bytes, as the evidence bundle attests' },
            publisher: { type: 'string' },
            license: { type: 'string' },
          },
        },
        ModelReady: { type: 'object', required: ['name', 'ready'], properties: { name: { type: 'string' }, ready: { const: true } } },
        SealedBody: { type: 'string', contentMediaType: SEALED_MEDIA_TYPE, description: 'Request: enc (32 bytes) ‖ HPKE ciphertext. Response: response nonce (32 bytes) ‖ AES-256-GCM ciphertext.' },
      },
    },
  }
}
