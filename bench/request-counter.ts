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

/** The method and URL of one request as Azurite's access log (morgan's "common" format) records it; undefined for
 *  a line that is not a request (start-up messages). */
export function parseAccessLine(line: string): { method: string; url: string } | undefined {
  const m = /"([A-Z]+) (\S+) HTTP\/[\d.]+"/.exec(line);
  return m ? { method: m[1], url: m[2] } : undefined;
}

/** Query parameter of the request `take` sends to mark where a cycle's log lines end. */
const MARK_PARAM = "bench-mark";

/**
 * Counts the requests Azurite's own access logs record (`startLocalSites({ accessLog })`), so that the tools talk
 * to the service directly, as in a deployment: a proxy in the path copies every byte through one more process on
 * the same cores, which costs a tool that reads and writes at once more than one that does one after the other.
 */
export class AccessLogCounter {
  private counts = emptyCounts();
  private readonly marks = new Map<string, () => void>();
  private nextMark = 0;

  /** Give this to `startLocalSites` as `accessLog`. */
  readonly line = (line: string): void => {
    const req = parseAccessLine(line);
    if (!req) return;
    const mark = new URLSearchParams(req.url.split("?")[1] ?? "").get(MARK_PARAM);
    if (mark !== null) {
      this.marks.get(mark)?.();
      return;
    }
    this.counts[classifyRequest(req.method, req.url)]++;
    this.counts.total++;
  };

  /**
   * The counts since the last `take`, and counting afresh. Azurite logs a request when its response ends, so a
   * request sent to each Azurite (`ports`) after the cycle, logged after everything the cycle sent, marks the end
   * of its lines; the marks themselves are not counted.
   */
  async take(ports: readonly number[]): Promise<RequestCounts> {
    await Promise.all(ports.map(async (port) => {
      const mark = String(this.nextMark++);
      let logged!: () => void;
      const seen = new Promise<void>((resolve) => { logged = resolve; });
      this.marks.set(mark, logged);
      let timer: NodeJS.Timeout | undefined;
      try {
        const res = await fetch(`http://127.0.0.1:${port}/?${MARK_PARAM}=${mark}`);
        await res.arrayBuffer();
        await Promise.race([seen, new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`Azurite on port ${port} did not log the bench's mark within 10 s`)), 10_000);
        })]);
      } finally {
        clearTimeout(timer);
        this.marks.delete(mark);
      }
    }));
    const c = this.counts;
    this.counts = emptyCounts();
    return c;
  }
}

/** A loopback HTTP proxy in front of one Azurite that counts the requests passing through (the shards bench:
 *  one per dr-sync process, which one Azurite's log cannot tell apart). */
export interface CountingProxy {
  readonly port: number;
  /** Counts since the last `take()`, and starts counting afresh. */
  take(): RequestCounts;
  stop(): Promise<void>;
}

/**
 * Starts the proxy in front of the Azurite on `upstreamPort`; what goes around it (the seeding) is not counted.
 */
export async function startCountingProxy(upstreamPort: number): Promise<CountingProxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  let counts = emptyCounts();
  const server: Server = createServer((req, res) => {
    const kind = classifyRequest(req.method ?? "GET", req.url ?? "/");
    counts[kind]++;
    counts.total++;
    const up = request({
      host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers: req.headers, agent,
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
