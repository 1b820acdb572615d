/**
 * The JSON Schema of model manifests (`models/<name>.yaml`), the single source of truth:
 * `scripts/write-manifest-schema.ts` writes it to `models/manifest.schema.json` for editors, and
 * {@link parseManifest} validates against it.
 */

/** Roles a contributor can have; each becomes the `role` of a receipt's `attribution` entry. */
export const CONTRIBUTOR_ROLES = ['model-author', 'data-provider', 'converter', 'publisher', 'infrastructure'] as const

/** The JSON Schema (draft 2020-12) of a model manifest. */
export const manifestSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Vouch model manifest',
  description:
    'One model the enclave loads: where its ONNX bytes come from, their SHA-256 (the enclave refuses other bytes), ' +
    'and who made and published it: reference values for relying parties. Unknown keys are errors.',
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'description', 'source', 'sha256', 'publisher', 'license', 'contributors'],
  properties: {
    $schema: {
      type: 'string',
      description: 'Optional. The JSON Schema this file follows, for editors; not checked.',
    },
    name: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9._-]{0,63}$',
      description:
        'Required. The model name in OIP v2 routes (`/v2/models/{name}`), requests, evidence and receipts: lower case ' +
        'letters, digits, ".", "_" and "-", at most 64 characters.',
    },
    version: {
      type: 'string',
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$',
      description:
        'Required. The model version (`/v2/models/{name}/versions/{version}`); a string, so quote numbers in YAML.',
    },
    description: {
      type: 'string',
      minLength: 1,
      description: 'Required. What the model does and what it expects, for people.',
    },
    source: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      description:
        'Required. Where the ONNX bytes are: `{ path }` relative to this manifest, or `{ package, path }` inside an ' +
        'npm package found with Node.js module resolution from the enclave.',
      properties: {
        package: {
          type: 'string',
          pattern: '^(@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$',
          description: 'Optional. An npm package name; when set, `path` is inside that package.',
        },
        path: {
          type: 'string',
          minLength: 1,
          description:
            'Required. A relative path with "/" separators: from this manifest\'s folder, or from the package root ' +
            '(where it may not leave the package).',
        },
      },
    },
    sha256: {
      type: 'string',
      pattern: '^[0-9a-f]{64}$',
      description: 'Required. SHA-256 of the ONNX file, lower-case hex. The enclave refuses bytes with another digest.',
    },
    publisher: {
      type: 'string',
      minLength: 1,
      description:
        'Required. The `id` of whoever published these exact bytes; a contributor with role "publisher" must have ' +
        'this id. Policies can allow models by publisher.',
    },
    license: {
      type: 'string',
      minLength: 1,
      description: 'Required. The license of the model weights, as an SPDX expression (for example "Apache-2.0").',
    },
    threads: {
      type: 'integer',
      minimum: 1,
      maximum: 256,
      description:
        'Optional. Threads onnxruntime may use within one operator of this model (intra-op). Unset: one per ' +
        'physical core. A small model runs about as fast on one thread for half the CPU (the PP-OCR classifier: ' +
        '2.1 ms either way), leaving the cores to larger models and to the rest of the enclave.',
    },
    sample: {
      type: 'string',
      minLength: 1,
      description:
        'Optional. A sample request for this model, relative to this manifest with "/" separators, plain or gzipped: an ' +
        'OIP v2 JSON inference request (`{ "inputs": [...] }`), or the CBOR array of input tensors a request plaintext ' +
        'carries (raw little-endian data; better for large inputs). At start-up the enclave runs the model on it once and attests the ' +
        'digests of its input and output tensors beside the model (a known-answer test), so a policy can require the ' +
        'answer it expects; a model that cannot run its sample is refused. Unset: no known answer is attested.',
    },
    contributors: {
      type: 'array',
      minItems: 1,
      description: 'Required. Who contributed what; copied into every receipt as `attribution`.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['role', 'id', 'name'],
        properties: {
          role: {
            enum: [...CONTRIBUTOR_ROLES],
            description:
              'Required. "model-author" (designed and trained the model), "data-provider" (training data), ' +
              '"converter" (converted it to ONNX), "publisher" (distributes these bytes), "infrastructure".',
          },
          id: {
            type: 'string',
            minLength: 1,
            description: 'Required. A stable identifier, such as "github:<owner>" or "npm:<package>".',
          },
          name: {
            type: 'string',
            minLength: 1,
            description: 'Required. The name shown to people.',
          },
        },
      },
    },
  },
} as const
