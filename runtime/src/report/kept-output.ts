import type { KeptCopy, KeptSink } from "../sync/list-kept";

/** Text: a line per kept copy, newest first, or "nothing is kept". Keeps nothing per copy. */
export function textKeptSink(write: (line: string) => void): KeptSink {
  return {
    add: (c) => write(`${c.retainedAt} ${c.site}/${c.container} ${JSON.stringify(c.name)} ${c.size} bytes (${c.reason})`),
    close: (count) => { if (count === 0) write("nothing is kept"); },
  };
}

/** `--json`: one array of kept copies, newest first, written a copy at a time (one per line). */
export function jsonKeptSink(write: (text: string) => void): KeptSink {
  // Nothing is written before the first copy: a listing that fails before it leaves no half document.
  let n = 0;
  return {
    add: (c: KeptCopy) => write(`${n++ ? "," : "["}\n  ${JSON.stringify(c)}`),
    close: () => write(n ? "\n]\n" : "[]\n"),
  };
}
