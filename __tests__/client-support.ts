import { inspect } from "node:util";
import { FailoverClientOptions, SiteOptions } from "../client";
import { renderFence } from "../runtime/src/state/fence";
import { LocalSite, LocalSites } from "../tools/azurite/local-sites";
import { RequestLog } from "../tools/drill/request-log";

/** The two sites as an application reaches them: each behind its own counting relay, each with its own SAS. */
export interface AppSites {
  readonly logs: { readonly source: RequestLog; readonly target: RequestLog };
  readonly options: (extra?: Partial<FailoverClientOptions>) => FailoverClientOptions;
  /** Writes the fences the way the drill's deploy does (the stack's rendering, `dr-sync-status/fence.json`). */
  fences(roles: { source?: "active" | "passive"; target?: "active" | "passive" }): Promise<void>;
  /** Every SAS handed to the client, to check that none leaks. */
  readonly secrets: readonly string[];
  close(): Promise<void>;
}

export async function appSites(sites: LocalSites): Promise<AppSites> {
  const logs = { source: await RequestLog.start(() => sites.port), target: await RequestLog.start(() => sites.port) };
  const site = (name: string, s: LocalSite, log: RequestLog): SiteOptions =>
    ({ name, blobEndpoint: `http://127.0.0.1:${log.port}/${s.account}/`, sas: s.sas("rwdlac") });
  const source = site("hub-east", sites.source, logs.source);
  const target = site("hub-west", sites.target, logs.target);
  return {
    logs,
    secrets: [source.sas, target.sas],
    options: (extra = {}) => ({ sites: [source, target], allowInsecureHttp: true, ...extra }),
    async fences(roles) {
      for (const [role, s] of [["source", sites.source], ["target", sites.target]] as const) {
        const r = roles[role];
        if (!r) continue;
        const content = renderFence({ role: r, environment: "client-test" });
        await s.container("dr-sync-status").createIfNotExists();
        await s.container("dr-sync-status").getBlockBlobClient("fence.json").upload(content, Buffer.byteLength(content), { blobHTTPHeaders: { blobContentType: "application/json" } });
      }
    },
    async close() {
      await logs.source.close();
      await logs.target.close();
    },
  };
}

/** Everything an error shows, however it is printed or serialized. */
export function allTextOf(err: unknown): string {
  return [String(err), (err as Error)?.stack ?? "", inspect(err, { depth: 6 }), safeJson(err)].join("\n");
}

function safeJson(x: unknown): string {
  try {
    return JSON.stringify(x) ?? "";
  } catch {
    return "";
  }
}

export async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected the call to fail");
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
