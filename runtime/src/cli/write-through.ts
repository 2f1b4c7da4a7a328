/**
 * Makes writes to a pipe wait for the reader instead of queueing in memory. Node.js writes to a pipe
 * asynchronously: `retention list --json | …` over 100,000 kept copies queued the whole output (peak RSS 106 MiB at
 * 10,000 copies, 211 MiB at 100,000), though every command streams what it prints. Files and terminals are written
 * synchronously already; a stream without the handle (a test's) is left as it is.
 */
export function writeThrough(stream: NodeJS.WritableStream): void {
  const handle = (stream as unknown as { _handle?: { setBlocking?: (blocking: boolean) => unknown } })._handle;
  handle?.setBlocking?.(true);
}
