/**
 * The Node.js flags dr-sync runs with on the VM (systemd unit and CLI wrapper), and in the benchmark, which measures
 * it as deployed. They make V8 collect garbage sooner instead of growing the heap: the live heap of a run is a few
 * tens of MiB, but by default V8 lets short-lived listing and request objects pile up to several times that.
 * Measured on 5,000 small blobs: peak RSS of a full run 246 → 118 MiB, at no measurable cost in time.
 */
export const RUNTIME_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=2", "--optimize-for-size"];
