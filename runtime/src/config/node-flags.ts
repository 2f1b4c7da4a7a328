/**
 * The Node.js flags dr-sync runs with on the VM (systemd unit and CLI wrapper), and in the benchmark, which measures
 * it as deployed. A small young generation makes V8 collect short-lived listing and request objects sooner instead
 * of growing the heap. `--optimize-for-size` would halve the peak again but doubled the CPU time of a full run of
 * 5,000 small blobs in our measurements, so it is not used.
 */
export const RUNTIME_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2"];
