/**
 * The Node.js (V8) options the host runs with: `npm start` (scripts/start.mjs) passes them, the Kubernetes host pods
 * set them in `NODE_OPTIONS` (deploy/kubernetes), and the benchmarks start the host with them. Nothing imports here:
 * the launcher reads it before it loads anything else of the host's.
 *
 * `--max-semi-space-size=4`: a young generation of 4 MB per semi-space instead of V8's 16. With 16, V8 starts a full
 * collection whenever the old generation's room falls below the young generation's size, which for the host's
 * 21 MB heap is every 40 or so classifier requests; with 4, a sixth as often (6 against 32 per 1,500 sequential
 * requests, main-thread collection time 201 against 356 ms), and its peak under the concurrency test (200 requests at
 * once) is lower and steadier: 134, 144 and 141 MB against 147, 157 and 146 MB (DESIGN.md §10's bound is 150 MB).
 * Throughput at concurrency 8 does not change (274 against 268 requests per second, alternating rounds).
 */
export const HOST_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4']
