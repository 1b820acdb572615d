/**
 * Fields that hold plaintext, tensors, bodies, evidence, headers or keys. The host's and the enclave's loggers
 * log ids, codes, sizes and timings only; they also censor these fields, at the top level and one level down,
 * should an object carrying them ever be logged by mistake. One list, so the two processes cannot drift apart.
 */
const SECRET_FIELDS = ['body', 'plaintext', 'inputs', 'outputs', 'data', 'bundle', 'headers', 'privateKey', 'encPrivateKey', 'sigPrivateKey', 'd'] as const

/** pino `redact.paths` for {@link SECRET_FIELDS}: each field, and each field one level deep. */
export const LOG_REDACT_PATHS: readonly string[] = [...SECRET_FIELDS, ...SECRET_FIELDS.map((field) => `*.${field}`)]
