/**
 * `@vouch/verifier/log`: following a receipt log over its HTTP API, with the last checkpoint seen of each log kept on
 * disk, and auditing it (`vouch-verify log audit`). The checks are the pure ones of `@vouch/verifier`
 * (`verifyLogInclusion`, `verifyLogConsistency`); this subpath adds the network and the files.
 */
export { httpLogReader, advanceCheckpoint, CheckpointStore, defaultCheckpointDir, type HttpLogReaderOptions, type LogReader, type LogResponse } from './follow.js'
export { auditLog, type AuditOptions, type AuditReport, type AuditProblem } from './audit.js'
