// A preload that times every HTTP request a process makes and writes them out at exit, one line each:
// `<sent ms>-<first byte ms>-<end ms> <status> <method> <path without the query>` (ms since the process started),
// to $TRACE_OUT-<pid>.txt (default /tmp/dr-sync-trace). No query string is kept: a SAS never reaches the file.
// Use: PROBE_NODE_ARGS="--require $PWD/bench/trace-requests.cjs" node build/bench-probe.js folders 5000 1
"use strict";
const http = require("node:http");
const lines = [];
const now = () => performance.now().toFixed(0);
const original = http.request;
http.request = function (...args) {
  const req = original.apply(this, args);
  const sent = now();
  const what = `${req.method} ${String(req.path).split("?")[0]}`;
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
