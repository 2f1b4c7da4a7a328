import { startFaultProxy } from "../tools/fault-proxy/fault-proxy";
import { expectSitesEqual, seed, snapshot, startDrill } from "./support/harness";

/**
 * What a run must leave as it is at the target when its own view is incomplete, found by a second hostile pass over
 * the push (2026-12-02). Each scenario runs the built runtime against real Azurite and failed on the runtime before
 * its fix.
 */
const json = (r: { stdout: string }) => JSON.parse(r.stdout);
const container = (s: { containers: { container: string }[] }, c: string) => s.containers.find((x) => x.container === c) as Record<string, any>;

describe("a blob the pull could not fetch", () => {
  test("is neither deleted at the target nor rolled back there to an older staged version; the next run converges", async () => {
    const drill = await startDrill(["shared"]);
    const proxy = await startFaultProxy({ upstreamPort: () => drill.sites.port, seed: 7 });
    try {
      drill.writeConfig({ containers: ["shared"], source: { blobEndpoint: `${proxy.url}/source/`, sasEnv: "DR_SOURCE_SAS" },
        retry: { maxTries: 2, retryDelayMs: 20, maxRetryDelayMs: 100, tryTimeoutSeconds: 10 } });
      await seed(drill.sites.source, "shared", [
        { name: "dual.txt", body: "version 1" },
        ...Array.from({ length: 8 }, (_, i) => ({ name: `other/${i}.txt`, body: `other ${i}` })),
      ]);
      expect((await drill.run(["run"])).code).toBe(0);

      // An application that writes to both sites: version 2 of dual.txt, and a new lost.txt, at each.
      for (const site of [drill.sites.source, drill.sites.target]) {
        await seed(site, "shared", [{ name: "dual.txt", body: "version 2" }, { name: "lost.txt", body: "new at both sites" }]);
      }
      // Every read of the two blobs fails while the rest of the container replicates.
      proxy.setRules([{ fault: "status", status: 500, method: "GET", path: /shared\/(lost|dual)\.txt$/ }]);
      const failing = await drill.run(["run", "--json"]);
      expect(failing.code).toBe(1);
      const c = container(json(failing), "shared");
      expect(c.exceptions.map((e: { name: string }) => e.name).sort()).toEqual(["dual.txt", "lost.txt"]);
      expect(c.push.deleted).toBe(0);
      expect(c.push.heldBack).toBe(1);
      expect(failing.stderr).toMatch(/"push\.left"/);
      const target = await snapshot(drill.sites.target.container("shared"));
      expect(Object.keys(target)).toEqual(expect.arrayContaining(["lost.txt", "dual.txt"]));
      expect((await drill.sites.target.container("shared").getBlockBlobClient("dual.txt").downloadToBuffer()).toString()).toBe("version 2");

      proxy.setRules([]);
      expect((await drill.run(["run"])).code).toBe(0);
      await expectSitesEqual(drill);
    } finally {
      await proxy.stop();
      await drill.stop();
    }
  });
});
