import { createServer, request as httpRequest, Server } from "node:http";
import { Socket } from "node:net";
import { closeCutting, listenOnLoopback } from "./loopback-listener";

/** One request as it crossed the wire: method and path (the query, where a SAS lives, is never kept). */
export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  /** The request's x-ms-version header. */
  readonly version?: string;
}

/**
 * A counting HTTP relay on 127.0.0.1 in front of one site: it forwards every request unchanged and logs method and
 * path, so a test or the drill can say which site an application talked to, from the network's side rather than the
 * client's own account. `close()` makes the site refuse connections; `open()` brings it back on the same port.
 */
export class RequestLog {
  readonly requests: LoggedRequest[] = [];
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private portNumber = 0;

  private constructor(private readonly upstreamPort: () => number) {}

  static async start(upstreamPort: () => number): Promise<RequestLog> {
    const log = new RequestLog(upstreamPort);
    await log.open();
    return log;
  }

  get port(): number {
    return this.portNumber;
  }

  /** Requests from index `since` on, fence reads excluded when `withoutFences`. */
  since(since: number, withoutFences = false): LoggedRequest[] {
    return this.requests.slice(since).filter((r) => !withoutFences || !isFenceRead(r));
  }

  async open(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => {
      const version = req.headers["x-ms-version"];
      this.requests.push({ method: req.method ?? "GET", path: (req.url ?? "/").split("?")[0], ...(typeof version === "string" ? { version } : {}) });
      const port = this.upstreamPort();
      const up = httpRequest({ host: "127.0.0.1", port, method: req.method, path: req.url, headers: { ...req.headers, host: `127.0.0.1:${port}` } }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, upRes.headers);
        upRes.pipe(res);
      });
      // The site behind is down: the client sees its connection dropped, as it would without the relay.
      up.on("error", () => req.socket.destroy());
      req.pipe(up);
    });
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
    this.portNumber = await listenOnLoopback(server, this.portNumber);
    this.server = server;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await closeCutting(server, this.sockets);
  }
}

/** The client's own fence reads: `GET .../dr-sync-status/fence.json` (HEAD too, for other readers). */
export function isFenceRead(r: LoggedRequest): boolean {
  return (r.method === "GET" || r.method === "HEAD") && /\/fence\.json$/.test(r.path);
}
