/** What a reader needs to know to trust (or question) the numbers; printed under every report. */
export const BENCH_NOTES: readonly string[] = [
  "Each tool, in each repetition, gets its own fresh Azurite 3.35 (two accounts, loopback, `--disableTelemetry`, API-version check on: no `--skipApiVersionCheck`, no `--loose`) started on a copy of one seeded data folder, so all tools start from byte-identical data. The tools take turns, a different one first in each repetition.",
  "Wall time is the whole cycle as an operator's timer sees it: both processes for the recipe and rclone (source → staging folder → target), the one `run` process for dr-sync, start-up included.",
  "Peak RSS is GNU time's maximum resident set size (getrusage) of the largest process in the cycle; each tool runs as one process per hop.",
  "Requests are counted by a small loopback HTTP proxy that every tool talks through (seeding and the fidelity check go around it). dr-sync's count includes its two status-record requests (`dr-sync-status` container at the target).",
  "Fidelity lists source and target with metadata and compares, per source blob: bytes (SHA-256 of a download, or size in the listing-only scale check), content type, and metadata (names case-insensitively).",
  "rclone 1.60 (Debian 12) builds its service URL as `https://<account>.<endpoint>`, so it cannot reach a path-style http endpoint through `endpoint`; the remotes use an account SAS URL (`sas_url`), which it supports for any host. `use_emulator` only knows the fixed devstoreaccount1 on port 10000. No Azurite setting was changed for any peer: rclone's and AzCopy's requests pass the API-version check as they are.",
  "AzCopy polls its own job's progress every 2 seconds, so each `azcopy sync` takes at least about 2 s however little it has to do; that floor is part of the recipe's cost.",
  "AZCOPY_DISABLE_SYSLOG=true, AZCOPY_LOG_LOCATION and AZCOPY_JOB_PLAN_LOCATION point at the run's scratch folder; `--check-version=false`. Nothing else of AzCopy's or rclone's defaults is tuned, and dr-sync runs with its default config.",
  "Everything shares one machine: Azurite, the proxy and the tool compete for the same cores, so absolute times are not those of a real Stack Hub; the ratios between tools, measured in the same run, are the point.",
];
