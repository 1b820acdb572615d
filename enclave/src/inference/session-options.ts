/**
 * The onnxruntime session options of every model the enclave serves (and of the benchmarks' comparisons).
 * A type-only import: the session worker is the only module that loads onnxruntime-node (DESIGN.md §2).
 */
import type { InferenceSession } from 'onnxruntime-node'

/** The enclave's session options, with `intraOpNumThreads` when given (unset: one thread per physical core). */
export function sessionOptions(intraOpNumThreads?: number): InferenceSession.SessionOptions {
  return {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    // Errors come back to the caller through the rejected run; onnxruntime's own log lines would only repeat
    // them on stderr.
    logSeverityLevel: 4,
    // The intra-op threads stop spinning once a run ends: with two models on a small machine, idle spinning burnt
    // about 40 ms of CPU per classifier run (bench/e2e), time the other model, the link and the host needed.
    extra: { session: { force_spinning_stop: '1' } },
    // No memory pattern: the block it plans and keeps per input shape cost about 57 MB of resident memory with the
    // detector in steady state (a bare process with both models: 224 MB with it, 167 MB without), for 2-3 % of the
    // detector's run time (DESIGN.md §10 memory).
    enableMemPattern: false,
    ...(intraOpNumThreads === undefined ? {} : { intraOpNumThreads }),
  }
}
