import { Server as NetServer, Socket } from "node:net";

/** Listens on 127.0.0.1 at `port` (0: a free one, the first time) and resolves with the port it got. */
export async function listenOnLoopback(server: NetServer, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return (server.address() as { port: number }).port;
}

/** Stops accepting and cuts every open connection: clients see resets, then refusals, as from a site that is down. */
export async function closeCutting(server: NetServer, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
