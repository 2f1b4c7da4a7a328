/** What `/usr/bin/time -v` reports about a finished process tree. */
export interface GnuTime {
  /** Peak resident set size of the largest process in the tree, in KiB (getrusage's ru_maxrss). */
  readonly maxRssKiB: number | null;
  readonly userSeconds: number | null;
  readonly systemSeconds: number | null;
  readonly exitStatus: number | null;
}

/** Parses GNU time's verbose report (`-v -o FILE`); fields it cannot find are null. */
export function parseGnuTime(text: string): GnuTime {
  const field = (label: string): number | null => {
    const m = new RegExp(`^\\s*${label.replace(/[()]/g, "\\$&")}:\\s*([0-9.]+)\\s*$`, "m").exec(text);
    return m ? Number(m[1]) : null;
  };
  return {
    maxRssKiB: field("Maximum resident set size (kbytes)"),
    userSeconds: field("User time (seconds)"),
    systemSeconds: field("System time (seconds)"),
    exitStatus: field("Exit status"),
  };
}
