/**
 * The Node.js flags dr-sync runs with on the VM (systemd unit and CLI wrapper), and in the benchmark, which measures
 * it as deployed. Without them V8 lets garbage pile up to several times the live heap before a full collection
 * (a full run of 10,000 blobs: 30 MiB live, 188 MiB peak RSS):
 * - a small young generation collects short-lived listing and request objects sooner;
 * - `--heap-growing-percent=25` starts the next full collection when the heap has grown 25% past what the last
 *   one kept, instead of V8's adaptive factor (up to 4x). Measured on 5,000 small blobs: full-run peak RSS
 *   146 -> 100 MiB for 9% more CPU time. It caps nothing, so a larger container needs more memory, never crashes.
 * - `--no-turbofan` stops at Maglev, V8's tier below Turbofan: a cycle is too short for Turbofan's compiles (on
 *   threads of their own) to pay for themselves. Measured on a no-op of 5,000 blobs: CPU 0.49-0.60 -> 0.39-0.47 s,
 *   peak RSS 110-124 -> 98-107 MiB; a first copy's user CPU and the engine's 1,000,000-blob no-op (1.93 vs 1.94 µs
 *   per blob) the same (docs/benchmarks.md).
 * `--optimize-for-size` took a similar amount off but doubled the CPU time; a hard `--max-old-space-size` turns a
 * larger container than planned for into an out-of-memory crash. Neither is used.
 * A process started without them (the contract's plain `node dr-sync.js run`) applies what it can of them itself:
 * the growing percent, the compiler tier, and a looser cap on the young generation (`config/v8-policy.ts`).
 */
export const RUNTIME_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--heap-growing-percent=25", "--no-turbofan"];
