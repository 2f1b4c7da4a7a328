/** What a reader needs to know to trust (or question) the numbers; printed under every report. */
export function benchNotes(sites: "one" | "two"): readonly string[] {
  return [
    sites === "two"
      ? "Each tool, in each repetition, gets its own fresh pair of Azurite 3.35 processes, one per site (the source account in one, the target account in the other, as two stamps each have their own servers; loopback, `--disableTelemetry`, API-version check on: no `--skipApiVersionCheck`, no `--loose`), started on a copy of one seeded data folder (the scale workload: in-memory Azurites seeded with the same generated blobs for each tool, as Azurite's on-disk store slows to a crawl at 100,000 blobs), so all tools start from identical data. The tools take turns, a different one first in each repetition."
      : "Each tool, in each repetition, gets its own fresh Azurite 3.35 holding both accounts (`--sites one`: it answers the two sites' requests one at a time; loopback, `--disableTelemetry`, API-version check on: no `--skipApiVersionCheck`, no `--loose`), started on a copy of one seeded data folder (the scale workload: an in-memory Azurite seeded with the same generated blobs for each tool), so all tools start from identical data. The tools take turns, a different one first in each repetition.",
    ...SHARED_NOTES.map((n) => (sites === "two" ? n.replace("the one Azurite process (both sites) used", "both Azurite processes (source and target) used") : n)),
  ];
}

const SHARED_NOTES: readonly string[] = [
  "Wall time is the whole cycle as an operator's timer sees it: both processes for the recipe and rclone (source → staging folder → target), the one `run` process for dr-sync, start-up included.",
  "Azurite CPU s is the CPU time the Azurite processes (one per site, or one holding both with `--sites one`) used during the cycle, read from /proc before and after: on one machine the service's work is part of every tool's wall time, and a tool can only be faster than another by what it spares the service or by overlapping its own work with it.",
  "Peak RSS is GNU time's maximum resident set size (getrusage) of the largest process in the cycle; each tool runs as one process per hop.",
  "Requests are counted from Azurite's own access log (one line per request; the seeding and the fidelity check are left out), and every tool talks to Azurite directly, as it would to a stamp. Until 2026-12-02 they went through a counting proxy in the bench's process, which copied every byte once more on the same cores: that cost most the tool that reads and writes at once (dr-sync's large first copy, 3.6-4.5 s through it against 2.5-2.6 s without). dr-sync's count includes its status-record requests (`dr-sync-status` container at the target).",
  "Fidelity lists source and target with metadata and compares, per source blob: bytes (SHA-256 of a download, or size in the listing-only scale check), content type, and metadata (names case-insensitively).",
  "rclone 1.60 (Debian 12) builds its service URL as `https://<account>.<endpoint>`, so it cannot reach a path-style http endpoint through `endpoint`; the remotes use an account SAS URL (`sas_url`), which it supports for any host. `use_emulator` only knows the fixed devstoreaccount1 on port 10000. No Azurite setting was changed for any peer: rclone's and AzCopy's requests pass the API-version check as they are.",
  "AzCopy polls its own job's progress every 2 seconds, so each `azcopy sync` takes at least about 2 s however little it has to do; that floor is part of the recipe's cost.",
  "AZCOPY_DISABLE_SYSLOG=true, AZCOPY_LOG_LOCATION and AZCOPY_JOB_PLAN_LOCATION point at the run's scratch folder; `--check-version=false`. Nothing else of AzCopy's or rclone's defaults is tuned, and dr-sync runs with its default config.",
  "Everything shares one machine: the Azurites, the bench and the tool compete for the same cores, so absolute times are not those of a real Stack Hub; the ratios between tools, measured in the same run, are the point.",
];
