import { Agent, createServer, request, Server } from "node:http";
import { AddressInfo } from "node:net";

/** Kinds of storage requests, as counted in the report. */
export type RequestKind = "list" | "read" | "head" | "write" | "delete" | "other";
export const REQUEST_KINDS: readonly RequestKind[] = ["list", "read", "head", "write", "delete", "other"];
export type RequestCounts = Record<RequestKind | "total", number>;

/** Names a Blob service request by what it does to the data. */
export function classifyRequest(method: string, url: string): RequestKind {
  const query = url.includes("?") ? url.slice(url.indexOf("?") + 1) : "";
  const params = new URLSearchParams(query);
  const m = method.toUpperCase();
  if (m === "GET" && params.get("comp") === "list") return "list";
  if (m === "GET") return params.has("comp") || params.get("restype") === "container" ? "other" : "read";
  if (m === "HEAD") return "head";
  if (m === "PUT") return "write";
  if (m === "DELETE") return "delete";
  return "other";
}

export function emptyCounts(): RequestCounts {
  return { list: 0, read: 0, head: 0, write: 0, delete: 0, other: 0, total: 0 };
}

/** A loopback HTTP proxy in front of one Azurite that counts the requests passing through. */
export interface CountingProxy {
  readonly port: number;
  /** Counts since the last `take()`, and starts counting afresh. */
  take(): RequestCounts;
  stop(): Promise<void>;
}

/**
 * Starts the proxy. Every tool talks to Azurite through it, so each pays the same extra hop; the fidelity
 * check and the seeding go around it and are not counted. `upstreamPort` is one Azurite's port, or the port of
 * the Azurite holding each account (a path-style URL's first segment) when the sites run apart.
 */
export async function startCountingProxy(upstreamPort: number | ((account: string) => number)): Promise<CountingProxy> {
  const portOf = typeof upstreamPort === "number" ? () => upstreamPort : upstreamPort;
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let counts = emptyCounts();
  const server: Server = createServer((req, res) => {
    const kind = classifyRequest(req.method ?? "GET", req.url ?? "/");
    counts[kind]++;
    counts.total++;
    const up = request({
      host: "127.0.0.1", port: portOf((req.url ?? "/").split(/[/?]/)[1] ?? ""), method: req.method, path: req.url, headers: req.headers, agent,
    }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.rawHeaders as unknown as Record<string, string>);
      upRes.pipe(res);
    });
    up.on("error", (err) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
      res.end(`bench proxy: ${err.message}`);
    });
    req.pipe(up);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    take() {
      const c = counts;
      counts = emptyCounts();
      return c;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
