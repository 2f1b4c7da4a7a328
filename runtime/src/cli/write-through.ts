/**
 * Makes writes to stdout, when it is a pipe, wait for the reader instead of queueing in memory. Node.js writes to a
 * pipe asynchronously: `retention list --json | …` over 100,000 kept copies queued the whole output (peak RSS 106
 * MiB at 10,000 copies, 211 MiB at 100,000), though every command streams what it prints. Only stdout: the event
 * lines on stderr go to the journal, and a stalled journal must not stall transfers or keep a signal from being
 * handled. A reader that goes away (`| head`) ends the output quietly: the command runs to its end (its clean-up
 * included) and its exit code says how it went. Files and terminals are written synchronously already; a stream
 * without the handle (a test's) is left as it is.
 */
export function writeThrough(stream: NodeJS.WriteStream): void {
  const handle = (stream as unknown as { _handle?: { setBlocking?: (blocking: boolean) => unknown } })._handle;
  handle?.setBlocking?.(true);
  stream.on("error", (err: NodeJS.ErrnoException) => {
    // EPIPE: nobody reads any more. Anything else is not ours to hide.
    if (err.code !== "EPIPE" && err.code !== "ERR_STREAM_DESTROYED") throw err;
  });
}
