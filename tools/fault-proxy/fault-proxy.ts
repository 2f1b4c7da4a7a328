import { createServer, IncomingMessage, request as httpRequest, Server, ServerResponse } from "node:http";
import { AddressInfo, Socket } from "node:net";

/**
 * What the proxy does to a request it picked:
 * - `status`: answers itself with an error status (503 by default) and a `Retry-After`, never reaching the service;
 * - `reset`: drops the connection with a TCP reset before answering;
 * - `stall`: sends nothing back until `stallMs` has passed (or the client gives up), then drops the connection;
 * - `stall-body`: forwards, sends the headers and half the body, then goes quiet like `stall`;
 * - `truncate`: forwards, sends the headers (with the full Content-Length) and half the body, then drops the connection;
 * - `corrupt-request`: forwards a request with a body (a PUT) with the byte in the middle of its body flipped, the
 *   length kept: the service receives damaged bytes, as from a faulty network card;
 * - `corrupt-response`: forwards, and flips the byte in the middle of the answer's body (a download), length kept;
 * - `delay`: forwards unharmed after `delayMs`, to put one request behind others without a race.
 */
export type FaultKind = "status" | "reset" | "stall" | "stall-body" | "truncate" | "corrupt-request" | "corrupt-response" | "delay";

/** One fault and the requests it applies to. Rules are tried in order; the first that picks a request wins. */
export interface FaultRule {
  readonly fault: FaultKind;
  /** Only this HTTP method. @default every method */
  readonly method?: string;
  /** Only paths (without the query, which holds the SAS) matching this. @default every path */
  readonly path?: RegExp;
  /** Only requests whose query's `comp` parameter is this (e.g. "block"); nothing else of the query is read. @default any */
  readonly comp?: string;
  /** Only requests that carry (`true`) or lack (`false`) a Range header. @default either */
  readonly ranged?: boolean;
  /** Only ranged requests whose range starts at this byte. @default any */
  readonly rangeStart?: number;
  /** Status of a `status` fault. @default 503 */
  readonly status?: number;
  /** The error code (`x-ms-error-code` and the body's `<Code>`) of a `status` fault. @default "ServerBusy" */
  readonly errorCode?: string;
  /** `Retry-After` seconds sent with a `status` fault. @default 1 */
  readonly retryAfterSeconds?: number;
  /** Waited before the fault strikes (a `delay` then forwards). @default 0, except `delay`: 500 */
  readonly delayMs?: number;
  /** How long a stall lasts before the connection is dropped. @default 60000 */
  readonly stallMs?: number;
  /** With `corrupt-response`: these response headers (lower case) are left out of the answer, e.g. the range's
   *  `content-md5`, as from an endpoint that does not send one. @default none */
  readonly dropHeaders?: readonly string[];
  /** Matching requests this rule may fault, then it stops. @default unlimited */
  readonly times?: number;
  /** Chance that a matching request is faulted, drawn from the proxy's seeded generator. @default 1 */
  readonly probability?: number;
}

export interface FaultProxy {
  readonly port: number;
  /** Base URL of the proxy, e.g. `http://127.0.0.1:41235`. */
  readonly url: string;
  /** Replaces the rules; counts are kept. */
  setRules(rules: readonly FaultRule[]): void;
  /** Faults injected so far, by kind. */
  readonly injected: Readonly<Record<FaultKind, number>>;
  /** Each fault injected so far, in order: its kind, method and path (never the query, where a SAS lives). */
  readonly faulted: readonly string[];
  /** Requests seen so far (faulted or not). */
  readonly requests: number;
  stop(): Promise<void>;
}

export interface FaultProxyOptions {
  /** Port of the service behind the proxy on 127.0.0.1, read per request (the service may restart on the same port). */
  readonly upstreamPort: () => number;
  /** Seed of the generator behind `probability`, so a failing run can be replayed. @default 1 */
  readonly seed?: number;
  readonly rules?: readonly FaultRule[];
}

/**
 * A fault-injecting HTTP proxy on 127.0.0.1 for tests and drills: it sits between dr-sync and the storage
 * service and breaks chosen requests on purpose. The query string (where a SAS lives) is never matched, kept
 * or printed.
 */
export async function startFaultProxy(opts: FaultProxyOptions): Promise<FaultProxy> {
  let rules: { rule: FaultRule; left: number }[] = [];
  const setRules = (r: readonly FaultRule[]) => { rules = r.map((rule) => ({ rule, left: rule.times ?? Infinity })); };
  setRules(opts.rules ?? []);
  const injected: Record<FaultKind, number> = { status: 0, reset: 0, stall: 0, "stall-body": 0, truncate: 0, "corrupt-request": 0, "corrupt-response": 0, delay: 0 };
  const faulted: string[] = [];
  const random = mulberry32(opts.seed ?? 1);
  const sockets = new Set<Socket>();
  let requests = 0;

  const pick = (req: IncomingMessage): FaultRule | undefined => {
    const path = (req.url ?? "/").split("?")[0];
    for (const r of rules) {
      const { rule } = r;
      if (r.left <= 0) continue;
      if (rule.method && rule.method !== req.method) continue;
      // Body faults need a body to cut: only downloads have one.
      if ((rule.fault === "truncate" || rule.fault === "stall-body" || rule.fault === "corrupt-response") && req.method !== "GET") continue;
      // ... and a request fault a body to damage.
      if (rule.fault === "corrupt-request" && !(Number(req.headers["content-length"] ?? 0) > 0)) continue;
      if (rule.path && !rule.path.test(path)) continue;
      if (rule.comp !== undefined && new URLSearchParams((req.url ?? "").split("?")[1] ?? "").get("comp") !== rule.comp) continue;
      if (rule.ranged !== undefined && rule.ranged !== (req.headers["x-ms-range"] !== undefined || req.headers.range !== undefined)) continue;
      if (rule.rangeStart !== undefined && rangeStartOf(req) !== rule.rangeStart) continue;
      if (rule.probability !== undefined && random() >= rule.probability) continue;
      r.left--;
      return rule;
    }
    return undefined;
  };

  const server: Server = createServer((req, res) => {
    requests++;
    const rule = pick(req);
    const wait = rule?.delayMs ?? (rule?.fault === "delay" ? 500 : 0);
    if (wait > 0) {
      // The body waits with the request: paused until the fault (or the forwarding) reads it.
      req.pause();
      setTimeout(() => act(req, res, rule), wait);
    } else act(req, res, rule);
  });
  const act = (req: IncomingMessage, res: ServerResponse, rule: FaultRule | undefined): void => {
    const path = (req.url ?? "/").split("?")[0];
    const note = (kind: FaultKind) => { injected[kind]++; faulted.push(`${kind} ${req.method} ${path}`); };
    if (rule && !["truncate", "stall-body", "corrupt-request", "corrupt-response", "delay"].includes(rule.fault)) note(rule.fault);
    switch (rule?.fault) {
      case "status": {
        req.resume();
        const status = rule.status ?? 503;
        const code = rule.errorCode ?? "ServerBusy";
        const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>injected by fault-proxy</Message></Error>`;
        res.writeHead(status, { "Retry-After": String(rule.retryAfterSeconds ?? 1), "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body), "x-ms-error-code": code });
        res.end(body);
        return;
      }
      case "reset":
        req.socket.resetAndDestroy();
        return;
      case "stall":
        req.resume();
        setTimeout(() => req.socket.destroy(), rule.stallMs ?? 60000).unref();
        return;
      case "delay":
        note(rule.fault);
        forward(req, res, opts.upstreamPort(), undefined, () => undefined);
        return;
      default:
        forward(req, res, opts.upstreamPort(), rule, () => { if (rule) note(rule.fault); });
    }
  };
  server.keepAliveTimeout = 5000;
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    setRules,
    injected,
    faulted,
    get requests() { return requests; },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Passes a request to the service; with a body fault, cuts or stalls the answer halfway, or damages the request's. */
function forward(req: IncomingMessage, res: ServerResponse, upstreamPort: number, rule: FaultRule | undefined, onFault: () => void): void {
  const headers = { ...req.headers, host: `127.0.0.1:${upstreamPort}` };
  const up = httpRequest({ host: "127.0.0.1", port: upstreamPort, method: req.method, path: req.url, headers }, (upRes) => {
    const answer = { ...upRes.headers };
    if (rule?.fault === "corrupt-response") for (const h of rule.dropHeaders ?? []) delete answer[h];
    res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, answer);
    const length = Number(upRes.headers["content-length"] ?? 0);
    if (!rule || rule.fault === "corrupt-request" || length < 2) {
      upRes.pipe(res);
      return;
    }
    if (rule.fault === "corrupt-response") {
      onFault();
      flipMiddleByte(upRes, length, (chunk) => res.write(chunk), () => res.end());
      return;
    }
    // A body fault: let half the bytes through, then cut (truncate) or go quiet (stall-body).
    onFault();
    let sent = 0;
    const half = Math.floor(length / 2);
    upRes.on("data", (chunk: Buffer) => {
      if (sent >= half) return;
      const part = chunk.subarray(0, half - sent);
      sent += part.length;
      res.write(part);
      if (sent >= half) {
        upRes.destroy();
        if (rule.fault === "truncate") setTimeout(() => res.socket?.destroy(), 20);
        else setTimeout(() => res.socket?.destroy(), rule.stallMs ?? 60000).unref();
      }
    });
  });
  up.on("error", () => {
    // The service is down or went away: the client sees the connection drop, as it would without the proxy.
    req.socket.destroy();
  });
  if (rule?.fault !== "corrupt-request") {
    req.pipe(up);
    return;
  }
  onFault();
  flipMiddleByte(req, Number(req.headers["content-length"]), (chunk) => up.write(chunk), () => up.end());
  // A client that gave up mid-body: the service's request goes too, instead of waiting for the rest.
  req.on("close", () => { if (!req.complete) up.destroy(); });
}

/** Where a request's range begins (`bytes=N-…` in x-ms-range or Range), if it has one. */
function rangeStartOf(req: IncomingMessage): number | undefined {
  const m = /^bytes=(\d+)-/.exec(String(req.headers["x-ms-range"] ?? req.headers.range ?? ""));
  return m ? Number(m[1]) : undefined;
}

/** Passes a body of `length` bytes on with the byte in its middle flipped. */
function flipMiddleByte(from: IncomingMessage, length: number, write: (chunk: Buffer) => void, end: () => void): void {
  const middle = Math.floor(length / 2);
  let seen = 0;
  from.on("data", (chunk: Buffer) => {
    if (middle >= seen && middle < seen + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[middle - seen] ^= 0xff;
    }
    seen += chunk.length;
    write(chunk);
  });
  from.on("end", end);
}

/** A small seeded generator (mulberry32): the same seed gives the same faults. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
