import type { ICronJob } from "kubernetes-models/batch/v1/CronJob";
import type { IPersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { RUNTIME_NODE_FLAGS } from "../../runtime/src/config/node-flags";
import { VM_LAYOUT as L } from "../compute/vm-layout";
import { pattern, PropProblems, RULES, wholeNumber } from "../validation/prop-rules";

export interface DrSyncCronJobProps {
  /** Shards of the pair: the Job's completions and parallelism, each pod one shard (`--shard <index>/<shards>`);
   *  the same bound as `vm.instances`. */
  readonly shards: number;
  /** The CronJob's schedule, in cron syntax (five fields, e.g. "*&#47;15 * * * *"), not systemd's `OnCalendar=`. */
  readonly schedule: string;
  /** Image with the pinned Node.js at `/usr/local/lib/dr-sync/bin/node` and the runtime bundle at
   *  `/usr/local/lib/dr-sync/dr-sync.js` (docs/kubernetes.md builds one), by digest preferably. */
  readonly image: string;
  /** A storage class that provisions ReadWriteMany volumes: every index's pod mounts its own folder of one volume,
   *  whichever node it lands on. */
  readonly storageClassName: string;
  /** Name of the CronJob; the claim is `<name>-staging`. At most 52 characters (the CronJob's limit).
   *  @default "dr-sync" */
  readonly name?: string;
  /** @default "dr-sync" */
  readonly namespace?: string;
  /** The Secret, created by the operator, holding `config.json` (the runtime config, e.g. the `runtime_config`
   *  output) and the SAS tokens under the variable names the config's `sasEnv` gives. Never in this manifest.
   *  @default "dr-sync" */
  readonly secretName?: string;
  /** Size of the shared staging volume, in GiB: the staging and state of every shard.
   *  @default 128 times shards */
  readonly stagingVolumeGb?: number;
  /** Retries of failed pods per run (the Job's `backoffLimit`, for all indexes together).
   *  @default 2 */
  readonly backoffLimit?: number;
}

/** A Kubernetes object as rendered here (checked against the API's own types when this package is built). */
export interface KubernetesObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace: string; readonly labels: Readonly<Record<string, string>> };
  readonly spec: Readonly<Record<string, unknown>>;
}

export interface RenderedCronJob {
  /** The objects, in apply order: the staging claim, then the CronJob. */
  readonly items: readonly [KubernetesObject, KubernetesObject];
  /** A `v1` `List` of them, as JSON text (YAML's superset): `kubectl apply -f` takes it. */
  readonly text: string;
}

const CRON = pattern(/^(@(yearly|annually|monthly|weekly|daily|hourly)|[0-9A-Za-z*/,?-]+( [0-9A-Za-z*/,?-]+){4})$/, 'a cron schedule of five fields like "*/15 * * * *"');
const K8S_NAME = pattern(/^[a-z0-9]([a-z0-9-]{0,50}[a-z0-9])?$/, "a lowercase DNS label of at most 52 characters");
const IMAGE = pattern(/^[A-Za-z0-9][A-Za-z0-9._\-/:@]{0,254}$/, 'an image reference like "registry.contoso.com/dr-sync@sha256:..."');
/** The runtime's user in the pod; a number, so `runAsNonRoot` can be checked without the image's passwd. */
const RUNTIME_UID = 10001;
const INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index";

/**
 * dr-sync as a Kubernetes CronJob for clusters on Stack Hub (AKS engine): each run is one Job in Indexed completion
 * mode, `shards` pods at once, pod `i` running `dr-sync run --shard i/N` with the index Kubernetes gives it
 * (`JOB_COMPLETION_INDEX`). A Job cannot create a claim per index (a StatefulSet can; a Job's pods share one pod
 * template), so one ReadWriteMany claim holds a folder per index, `shard-<i>`, mounted by `subPathExpr` at the VM's
 * staging mount point: each shard keeps its staging and state across runs, and the config the VM gets works as is.
 * The config and the SAS tokens come from a Secret the manifest only names. Rendered and schema-checked here, never
 * run (docs/kubernetes.md).
 */
export function renderDrSyncCronJob(props: DrSyncCronJobProps): RenderedCronJob {
  const problems = new PropProblems();
  problems.check("shards", props.shards, RULES.instances);
  problems.check("schedule", props.schedule, CRON);
  problems.check("image", props.image, IMAGE);
  problems.check("storageClassName", props.storageClassName, K8S_NAME);
  problems.check("name", props.name, K8S_NAME);
  problems.check("namespace", props.namespace, K8S_NAME);
  problems.check("secretName", props.secretName, K8S_NAME);
  problems.check("stagingVolumeGb", props.stagingVolumeGb, wholeNumber(1, 65536));
  problems.check("backoffLimit", props.backoffLimit, wholeNumber(0, 100));
  for (const k of ["shards", "schedule", "image", "storageClassName"] as const) {
    if (props[k] === undefined) problems.add(`${k} is required`);
  }
  problems.throwIfAny("renderDrSyncCronJob");

  const name = props.name ?? "dr-sync";
  const namespace = props.namespace ?? "dr-sync";
  const secretName = props.secretName ?? "dr-sync";
  const claimName = `${name}-staging`;
  const n = props.shards;
  const labels = { "app.kubernetes.io/name": "dr-sync", "app.kubernetes.io/instance": name, "app.kubernetes.io/part-of": "stackhub-dr" };
  const sasVariables = Object.values({ source: L.env.source, target: L.env.target });

  const claim = {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: claimName, namespace, labels },
    spec: {
      accessModes: ["ReadWriteMany"],
      storageClassName: props.storageClassName,
      resources: { requests: { storage: `${props.stagingVolumeGb ?? 128 * n}Gi` } },
    },
  } satisfies IPersistentVolumeClaim;

  const cronJob = {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name, namespace, labels },
    spec: {
      schedule: props.schedule,
      // One run at a time, as the VM's oneshot service: a run still going when the next is due makes it skip.
      concurrencyPolicy: "Forbid",
      // Without a deadline, a controller that missed more than 100 schedules stops scheduling the job at all.
      startingDeadlineSeconds: 300,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          completionMode: "Indexed",
          completions: n,
          parallelism: n,
          backoffLimit: props.backoffLimit ?? 2,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              automountServiceAccountToken: false,
              securityContext: {
                runAsNonRoot: true, runAsUser: RUNTIME_UID, runAsGroup: RUNTIME_UID, fsGroup: RUNTIME_UID,
                seccompProfile: { type: "RuntimeDefault" },
              },
              containers: [{
                name: "dr-sync",
                image: props.image,
                command: [L.nodeBin, ...RUNTIME_NODE_FLAGS, L.runtimeJs],
                args: ["run", "--config", L.configFile, ...(n > 1 ? ["--shard", `$(JOB_COMPLETION_INDEX)/${n}`] : [])],
                env: [
                  // Set by the Job controller from 1.22 on; declared from the pod's annotation so that it is there on
                  // every version and `$(JOB_COMPLETION_INDEX)` expands in the args and the subPathExpr.
                  { name: "JOB_COMPLETION_INDEX", valueFrom: { fieldRef: { fieldPath: `metadata.annotations['${INDEX_ANNOTATION}']` } } },
                  ...sasVariables.map((v) => ({ name: v, valueFrom: { secretKeyRef: { name: secretName, key: v } } })),
                  { name: "NODE_EXTRA_CA_CERTS", value: L.caBundle },
                ],
                volumeMounts: [
                  { name: "config", mountPath: L.etcDir, readOnly: true },
                  { name: "staging", mountPath: L.mountPoint, subPathExpr: "shard-$(JOB_COMPLETION_INDEX)" },
                  { name: "tmp", mountPath: "/tmp" },
                ],
                securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                resources: { requests: { cpu: "250m", memory: "256Mi" }, limits: { memory: "1Gi" } },
              }],
              volumes: [
                { name: "config", secret: { secretName, items: [{ key: "config.json", path: "config.json" }], defaultMode: 0o440 } },
                { name: "staging", persistentVolumeClaim: { claimName } },
                { name: "tmp", emptyDir: {} },
              ],
            },
          },
        },
      },
    },
  } satisfies ICronJob;

  const items: [KubernetesObject, KubernetesObject] = [claim, cronJob];
  return { items, text: JSON.stringify({ apiVersion: "v1", kind: "List", items }, null, 2) + "\n" };
}
