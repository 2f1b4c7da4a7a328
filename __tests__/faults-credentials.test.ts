import { chmodSync, readFileSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import {
  AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, generateAccountSASQueryParameters, SASProtocol, StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { siteKey } from "../runtime/src/staging/object-path";
import { Drill, RunResult, seed, snapshot, startDrill } from "./support/harness";
import { eventsOf, Figures, secretLeaks, walk } from "./support/faults";

/**
 * Credentials gone wrong: expired, too weak, or for the wrong side. Each ends with a message naming the side, the
 * variable and what is missing, and nothing deleted anywhere. No SAS ever appears in what the runtime prints or
 * writes. Also the rest of the security review's checks: least-privilege source SAS, private file modes, HTTPS
 * outside loopback, secrets only in the environment.
 */
describe("credentials and secrets", () => {
  let drill: Drill;
  const figures = new Figures("faults-credentials");
  /** Every SAS handed to the runtime in this file, right or wrong: none may show up anywhere. */
  const secrets: string[] = [];
  const outputs: Record<string, string> = {};
  let before: { source: Record<string, unknown>; target: Record<string, unknown> };

  const sas = (account: string, key: string, permissions: string, o: { expiresInMinutes?: number; resourceTypes?: string } = {}) => {
    const now = Date.now();
    const token = generateAccountSASQueryParameters({
      permissions: AccountSASPermissions.parse(permissions),
      resourceTypes: AccountSASResourceTypes.parse(o.resourceTypes ?? "sco").toString(),
      services: AccountSASServices.parse("b").toString(),
      startsOn: new Date(now - 3600000),
      expiresOn: new Date(now + (o.expiresInMinutes ?? 600) * 60000),
      protocol: SASProtocol.HttpsAndHttp,
      version: "2017-11-09",
    }, new StorageSharedKeyCredential(account, key)).toString();
    secrets.push(token);
    return token;
  };
  const run = async (label: string, env: { source?: string; target?: string }, args = ["run"]): Promise<RunResult> => {
    const res = await drill.run(args, { env: { ...drill.env, DR_SOURCE_SAS: env.source ?? drill.env.DR_SOURCE_SAS, DR_TARGET_SAS: env.target ?? drill.env.DR_TARGET_SAS } });
    outputs[`${label} stdout`] = res.stdout;
    outputs[`${label} stderr`] = res.stderr;
    figures.add("scenarios");
    return res;
  };
  const sites = async () => ({
    source: await snapshot(drill.sites.source.container("docs")),
    target: await snapshot(drill.sites.target.container("docs")),
  });

  beforeAll(async () => {
    drill = await startDrill(["docs"]);
    secrets.push(drill.env.DR_SOURCE_SAS as string, drill.env.DR_TARGET_SAS as string);
    await seed(drill.sites.source, "docs", Array.from({ length: 12 }, (_, i) => ({ name: `d/${i}.txt`, body: `doc ${i}` })));
    const first = await run("first", {});
    expect(first.code).toBe(0);
    // Pending work that a run with good credentials would do, deletions included: a refused run must do none of it.
    await drill.sites.source.container("docs").deleteBlob("d/0.txt");
    await seed(drill.sites.source, "docs", [{ name: "d/1.txt", body: "changed" }]);
    before = await sites();
  });
  afterAll(async () => {
    figures.write();
    await drill?.stop();
  });

  afterEach(async () => {
    // Whatever a refused run did, neither site lost or changed anything.
    expect(await sites()).toEqual(before);
  });

  test("the source SAS can only read and list, and that is enough", () => {
    expect(new URLSearchParams(drill.env.DR_SOURCE_SAS).get("sp")).toBe("rl");
    expect(outputs["first stderr"]).toMatch(/"run.end".*"exitCode":0/);
  });

  test("an expired source SAS is refused before anything is touched, naming the side and the variable", async () => {
    const res = await run("expired", { source: sas("source", drill.sites.source.key, "rl", { expiresInMinutes: -5 }) });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/source\.sasEnv: the SAS in DR_SOURCE_SAS expired at .*nothing was touched/s);
  });

  test.each([
    ["source", "r", /source\.sasEnv: the SAS in DR_SOURCE_SAS lacks list \(l\); the source side needs "rl"/],
    ["target", "rl", /target\.sasEnv: the SAS in DR_TARGET_SAS lacks write \(w\), create \(c\), delete \(d\); the target side needs "rlwcd"/],
  ])("a %s SAS with too few permissions (%s) is refused, naming each missing permission", async (side, perms, message) => {
    const site = side === "source" ? drill.sites.source : drill.sites.target;
    const res = await run(`weak ${side}`, { [side]: sas(site.account, site.key, perms) });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
  });

  test("the source's SAS given as the target's: refused before anything is touched (it cannot write)", async () => {
    const res = await run("swapped", { target: drill.env.DR_SOURCE_SAS as string });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/target\.sasEnv: the SAS in DR_TARGET_SAS lacks write/);
  });

  // From here on the token looks right to the runtime's pre-check (sp and se are fine), so only the service refuses.
  test("a target SAS signed with another key: the service refuses, the message names the target and its variable", async () => {
    const res = await run("wrong key", { target: sas("target", randomBytes(32).toString("base64"), "rwdlac") });
    expect(res.code).toBe(1);
    // The first request to the target is the fence read (runtime/src/state/fence.ts); its refusal stops the run.
    const failed = eventsOf(res.stderr).find((e) => e.event === "container.failed" || e.event === "fence.unreadable");
    expect(failed?.msg).toMatch(/^target \(127\.0\.0\.1:\d+\): the SAS in DR_TARGET_SAS is invalid or expired \(signature or time window rejected\) \(HTTP 403 (AuthenticationFailed|AuthorizationFailure)/);
  });

  test("a full-permission SAS of the source account given as the target's: the service refuses it", async () => {
    const res = await run("other account", { target: sas("source", drill.sites.source.key, "rwdlac") });
    expect(res.code).toBe(1);
    expect(eventsOf(res.stderr).find((e) => e.event === "container.failed" || e.event === "fence.unreadable")?.msg).toMatch(/^target .*DR_TARGET_SAS is invalid or expired.*HTTP 403/);
  });

  test("a source SAS whose sp claims read and list but whose signature is wrong: the service refuses the listing", async () => {
    const good = new URLSearchParams(sas("source", drill.sites.source.key, "rl"));
    good.set("sig", Buffer.from(randomBytes(32)).toString("base64"));
    secrets.push(good.toString());
    const res = await run("bad sig", { source: good.toString() });
    expect(res.code).toBe(1);
    expect(eventsOf(res.stderr).find((e) => e.event === "container.failed")?.msg)
      .toMatch(/^source .*: the SAS in DR_SOURCE_SAS is invalid or expired \(signature or time window rejected\) \(HTTP 403/);
  });

  test("a source SAS with sp=rl but no container resource type: the service says which permission is missing", async () => {
    const res = await run("no srt=c", { source: sas("source", drill.sites.source.key, "rl", { resourceTypes: "o" }) });
    expect(res.code).toBe(1);
    expect(eventsOf(res.stderr).find((e) => e.event === "container.failed")?.msg)
      .toMatch(/^source .*the SAS in DR_SOURCE_SAS lacks the permission to list container "docs".*HTTP 403 AuthorizationResourceTypeMismatch/);
  });

  test("HTTPS is enforced outside loopback, and http:// on loopback needs allowInsecureHttp", async () => {
    drill.writeConfig({ target: { blobEndpoint: "http://dr.example.com/target/", sasEnv: "DR_TARGET_SAS" } });
    const remote = await run("http remote", {});
    drill.writeConfig({ allowInsecureHttp: false });
    const local = await run("http loopback", {});
    drill.writeConfig({});
    expect(remote.code).toBe(2);
    expect(remote.stderr).toMatch(/target\.blobEndpoint may use http:\/\/ only on a loopback host \(got host "dr\.example\.com"\)/);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/source\.blobEndpoint must use https:\/\//);
  });

  test("a config file others can write is warned about", async () => {
    chmodSync(drill.configPath, 0o666);
    const res = await run("loose config", {}, ["plan"]);
    chmodSync(drill.configPath, 0o600);
    expect(eventsOf(res.stderr).find((e) => e.event === "config.warning")?.msg).toMatch(/dr-sync\.json is writable by group or others \(mode 666\); 0600 is expected/);
  });

  test("secrets reach the runtime only through its environment: not in its arguments, not in its config, no flag takes one", async () => {
    const child = drill.spawn(["plan"]);
    // Listened for from the start: a "close" that comes before anyone listens is never heard again.
    const closed = new Promise((r) => child.on("close", r));
    const pid = child.pid as number;
    let cmdline = "";
    for (let i = 0; i < 50 && !cmdline; i++) {
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        // Not started yet.
      }
      if (!cmdline) await new Promise((r) => setTimeout(r, 10));
    }
    await closed;
    expect(cmdline).toContain("dr-sync.js");
    expect(secretLeaks(secrets, { cmdline, config: readFileSync(drill.configPath, "utf8") }, [])).toEqual([]);
    const flag = await run("sas flag", {}, ["run", "--sas", drill.env.DR_SOURCE_SAS as string]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/unknown option "--sas"/);
  });

  test("staging and state are private: folders 0700, files 0600", () => {
    const loose = [drill.config.stagingDir, drill.config.stateDir].flatMap((d) => [{ rel: d, mode: 0o700, dir: true }, ...walk(d)])
      .filter((f) => (f.mode & 0o077) !== 0).map((f) => `${f.rel} ${f.mode.toString(8)}`);
    expect(loose).toEqual([]);
    const modes = new Set(walk(drill.config.stagingDir).map((f) => `${f.dir ? "dir" : "file"} ${f.mode.toString(8)}`));
    expect([...modes].sort()).toEqual(["dir 700", "file 600"]);
  });

  test("staging and state folders made looser by someone else (a unit's install -d -m 0750) are tightened to 0700", async () => {
    chmodSync(drill.config.stagingDir, 0o755);
    chmodSync(drill.config.stateDir, 0o750);
    const res = await run("loose dirs", {}, ["plan"]);
    expect(res.code).toBe(0);
    expect(statSync(drill.config.stagingDir).mode & 0o777).toBe(0o700);
    expect(statSync(drill.config.stateDir).mode & 0o777).toBe(0o700);
  });

  test("no SAS in anything the runtime printed or wrote: stdout, stderr, staging, state, the status blob", async () => {
    const status = await drill.sites.target.container("dr-sync-status").getBlobClient(`${siteKey(drill.config.source.blobEndpoint)}.json`).downloadToBuffer();
    const texts = { ...outputs, "status blob": status.toString("utf8") };
    const leaks = secretLeaks(secrets, texts, [drill.config.stagingDir, drill.config.stateDir]);
    figures.add("secretChecks", secrets.length * (Object.keys(texts).length + walk(drill.config.stagingDir).length + walk(drill.config.stateDir).length));
    expect(leaks).toEqual([]);
    // And the runs that failed at the service did print the (redacted) error, so the check above saw real failures.
    expect(Object.values(outputs).join("\n")).toMatch(/HTTP 403/);
  });
});
