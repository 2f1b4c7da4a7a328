import { createServer, request, Server } from "node:http";
import { AddressInfo, Socket } from "node:net";

/** One request as the proxy saw it; the query's SAS is never kept, only the listing parameters. */
export interface SeenRequest {
  readonly method: string;
  /** The path without the query, decoded: `/<account>/<container>[/<blob>]`. */
  readonly path: string;
  readonly account: string;
  readonly container: string;
  readonly blob: string;
  /** `comp=list` with `restype=container`: a List Blobs request. */
  readonly list: boolean;
  readonly prefix?: string;
  readonly delimiter?: string;
  /** Put Blob, Put Block List or Copy Blob of a blob (what writes a blob's final name). */
  readonly upload: boolean;
  /** The SAS's expiry (`se`), which tests make distinct per process to tell them apart; the rest of the SAS is never kept. */
  readonly sasExpiry?: string;
  /** The query's `comp` (`block`: a Put Block), if any. */
  readonly comp?: string;
  /** Where a ranged read begins (x-ms-range or Range). */
  readonly rangeStart?: number;
}

export interface RecordingProxy {
  readonly port: number;
  readonly url: string;
  readonly seen: SeenRequest[];
  /** Requests for which `hold` returns true get no answer until `release()` (or the client goes away). */
  hold(pick: ((r: SeenRequest) => boolean) | undefined): void;
  release(): void;
  /** List Blobs answers for which `pick` returns true get their body through `rewrite` (a hostile service). */
  rewriteLists(pick: ((r: SeenRequest) => boolean) | undefined, rewrite?: (xml: string) => string): void;
  stop(): Promise<void>;
}

/** A loopback proxy in front of Azurite that records the requests passing through, and can hold chosen ones. */
export async function startRecordingProxy(upstreamPort: () => number): Promise<RecordingProxy> {
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  let holdPick: ((r: SeenRequest) => boolean) | undefined;
  let held: (() => void)[] = [];
  let rewritePick: ((r: SeenRequest) => boolean) | undefined;
  let rewrite: (xml: string) => string = (x) => x;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const parts = url.pathname.split("/");
    const q = url.searchParams;
    const method = req.method ?? "GET";
    const blob = decodeURIComponent(parts.slice(3).join("/"));
    const list = method === "GET" && q.get("comp") === "list" && q.get("restype") === "container";
    const range = /^bytes=(\d+)-/.exec(String(req.headers["x-ms-range"] ?? req.headers.range ?? ""));
    const rangeStart = range ? Number(range[1]) : undefined;
    const r: SeenRequest = {
      method, path: decodeURIComponent(url.pathname), account: parts[1] ?? "", container: parts[2] ?? "", blob, list,
      ...(q.has("prefix") ? { prefix: q.get("prefix")! } : {}), ...(q.has("delimiter") ? { delimiter: q.get("delimiter")! } : {}),
      upload: method === "PUT" && !!blob && (!q.has("comp") || q.get("comp") === "blocklist"),
      ...(q.has("se") ? { sasExpiry: q.get("se")! } : {}),
      ...(q.has("comp") ? { comp: q.get("comp")! } : {}),
      ...(rangeStart !== undefined ? { rangeStart } : {}),
    };
    seen.push(r);
    const forward = () => {
      const up = request({ host: "127.0.0.1", port: upstreamPort(), method, path: req.url, headers: req.headers }, (upRes) => {
        if (r.list && upRes.statusCode === 200 && rewritePick?.(r)) {
          const chunks: Buffer[] = [];
          upRes.on("data", (c: Buffer) => chunks.push(c));
          upRes.on("end", () => {
            const body = Buffer.from(rewrite(Buffer.concat(chunks).toString("utf8")), "utf8");
            const headers = { ...upRes.headers, "content-length": String(body.length) };
            delete headers["transfer-encoding"];
            res.writeHead(200, upRes.statusMessage, headers);
            res.end(body);
          });
          return;
        }
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.rawHeaders as unknown as Record<string, string>);
        upRes.pipe(res);
      });
      up.on("error", () => res.destroy());
      req.pipe(up);
    };
    // A held request whose client has gone (killed) is dropped, not sent late on its behalf.
    if (holdPick?.(r)) held.push(() => (req.socket.destroyed ? res.destroy() : forward()));
    else forward();
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port, url: `http://127.0.0.1:${port}`, seen,
    hold: (pick) => { holdPick = pick; },
    rewriteLists(pick, fn) {
      rewritePick = pick;
      rewrite = fn ?? ((x) => x);
    },
    release() {
      holdPick = undefined;
      const h = held;
      held = [];
      for (const f of h) f();
    },
    async stop() {
      held = [];
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
