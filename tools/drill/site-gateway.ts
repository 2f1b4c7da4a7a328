import { createServer, Server, Socket, connect } from "node:net";
import { closeCutting, listenOnLoopback } from "./loopback-listener";

/**
 * A site's front door on the loopback: a TCP relay on its own port in front of the shared Azurite service. Both
 * local sites live in one Azurite, so stopping Azurite would take down both; closing one site's gateway (and
 * cutting its open connections) takes down exactly that site, the way a lost data centre looks to a client:
 * connection refused. `open()` brings it back on the same port, so endpoints in config files stay valid.
 */
export class SiteGateway {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private portNumber = 0;

  private constructor(private readonly upstreamPort: () => number) {}

  /** Opens a gateway on a free loopback port; `upstreamPort` is read per connection (Azurite may restart). */
  static async start(upstreamPort: () => number): Promise<SiteGateway> {
    const g = new SiteGateway(upstreamPort);
    await g.open();
    return g;
  }

  get port(): number {
    return this.portNumber;
  }

  get isOpen(): boolean {
    return this.server !== undefined;
  }

  /** Starts relaying, on the port it had before (a new free port the first time). */
  async open(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.relay(client));
    this.portNumber = await listenOnLoopback(server, this.portNumber);
    this.server = server;
  }

  /** Stops accepting and cuts every open connection; clients see resets, then refusals. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await closeCutting(server, this.sockets);
  }

  private relay(client: Socket): void {
    const upstream = connect(this.upstreamPort(), "127.0.0.1");
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("error", () => { client.destroy(); upstream.destroy(); });
      s.on("close", () => { this.sockets.delete(s); client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
