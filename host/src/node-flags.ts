/**
 * The Node.js (V8) options the host runs with: `npm start` (scripts/start.mjs) passes them, the container image's
 * entry point runs the host with them (Dockerfile; the Kubernetes host pods use it), and the benchmarks start the host
 * with them. Nothing imports here: the launcher reads it before it loads anything else of the host's.
 *
 * `--max-semi-space-size=4`: a young generation of 4 MB per semi-space instead of V8's 16. With 16, V8 starts a full
 * collection whenever the old generation's room falls below the young generation's size, which for the host's
 * 21 MB heap is every 40 or so classifier requests; with 4, a sixth as often (6 against 32 per 1,500 sequential
 * requests, main-thread collection time 201 against 356 ms), and its peak under the concurrency test (200 requests at
 * once) is lower and steadier: 134, 144 and 141 MB against 147, 157 and 146 MB (DESIGN.md §10's bound is 150 MB).
 * Throughput at concurrency 8 does not change (274 against 268 requests per second, alternating rounds).
 *
 * `--heap-growing-percent=100`: after each full collection the old generation may grow to twice what survived it.
 * V8 otherwise picks the factor from how fast it has been collecting against how fast the host allocates, and a
 * host that sat idle, or was collecting while the enclave held the cores, settles near 1.1: its heap stays a few MB
 * above what is live, and it runs a full collection every 50 or so answers. Under load at concurrency 8 (the
 * classifier, three hosts of each kind started alike, windows alternating between them), hosts without it ran 38 to
 * 46 full collections in a run, or 10 to 13 in one that happened to settle higher, and served 224 to 262 requests per
 * second; with it, 14 or 15 in every host, and 243 to 284 requests per second (9 and 13 % more on average, in two
 * runs; 50: 28 collections and no gain; 200: 7 or 8, the same throughput as 100 for 20 MB more resident memory).
 * Not accepted in `NODE_OPTIONS`: the image's entry point (Dockerfile) passes both on the command line.
 */
export const HOST_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=100']
