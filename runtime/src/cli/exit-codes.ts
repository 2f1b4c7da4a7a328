/**
 * Every exit code dr-sync returns, in one place: the CLI, the errors that carry a code, the status record and
 * docs/runbooks.md all use this table (a test checks the runbook against it).
 */
export const EXIT_CODES = {
  /** Done; every container replicated (or identical, for `verify`). */
  ok: 0,
  /** Some blobs or containers failed (the summary names them), or `verify` found differences; deletions of a failed hop were held back. */
  failed: 1,
  /** Bad config or usage, a missing, expired or under-privileged SAS, or a command that needs `--yes`; nothing was touched. */
  usage: 2,
  /** Another run holds the lock; this one exited without touching anything. */
  locked: 3,
  /** A guard (deletions, or mass change) stopped a container before it changed anything there. */
  guard: 4,
  /** The destination is the active site (its fence); nothing was written. */
  fenced: 5,
  /** A second SIGINT or SIGTERM stopped the run at once (the first lets the blobs in flight finish, then exits 1). */
  interrupted: 130,
} as const;

export type ExitCodeName = keyof typeof EXIT_CODES;
export type ExitCode = (typeof EXIT_CODES)[ExitCodeName];
