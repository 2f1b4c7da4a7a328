// A preload that times every HTTP request a process makes and writes them out at exit, one line each:
// `<sent ms>-<first byte ms>-<end ms> <status> <method> <path> [<comp, restype>]` (ms since the process started),
// to $TRACE_OUT-<pid>.txt (default /tmp/dr-sync-trace). Of the query only comp and restype are kept: a SAS never reaches the file.
// Use: PROBE_NODE_ARGS="--require $PWD/bench/trace-requests.cjs" node build/bench-probe.js folders 5000 1
"use strict";
const http = require("node:http");
const lines = [];
const now = () => performance.now().toFixed(0);
const original = http.request;
http.request = function (...args) {
  const req = original.apply(this, args);
  const sent = now();
  // Only the operation's own query keys (comp, restype) are kept, never a SAS.
  const [path, query = ""] = String(req.path).split("?");
  const op = new URLSearchParams(query);
  const kind = ["restype", "comp"].filter((k) => op.has(k)).map((k) => `${k}=${op.get(k)}`).join("&");
  const what = `${req.method} ${path}${kind ? ` [${kind}]` : ""}${req.getHeader("x-ms-copy-source") ? " [copy]" : ""}`;
  req.on("response", (res) => {
    const first = now();
    res.on("end", () => lines.push(`${sent}-${first}-${now()} ${res.statusCode} ${what}`));
  });
  return req;
};
process.on("exit", () => {
  lines.push(`exit ${now()}`);
  require("node:fs").writeFileSync(`${process.env.TRACE_OUT || "/tmp/dr-sync-trace"}-${process.pid}.txt`, lines.join("\n") + "\n");
});
