import { join } from "node:path";
import { DrSyncConfig, normalizeEndpoint, SiteConfig, validateConfig } from "../../runtime/src/config/schema";

/** Where each cloud endpoint of the environment is served on this machine. */
export type EndpointMap = ReadonlyMap<string, string>;

/**
 * The VM's runtime config, moved onto this machine: each site's endpoint replaced by its local stand-in, staging
 * and state in the drill's folder, and `http://` allowed (the stand-ins are loopback only). Nothing else changes:
 * containers, guards, concurrency, retries, the SAS variable names and the direction stay as rendered. The result
 * passes the runtime's own validation or this throws, naming the key.
 */
export function localizeConfig(rendered: DrSyncConfig, endpoints: EndpointMap, workDir: string): DrSyncConfig {
  const local = (side: "source" | "target", s: SiteConfig): SiteConfig => {
    const endpoint = endpoints.get(normalizeEndpoint(s.blobEndpoint));
    if (!endpoint) {
      throw new Error(`${side}.blobEndpoint "${s.blobEndpoint}" of the rendered config is neither site of the environment (${[...endpoints.keys()].join(", ")})`);
    }
    return { ...s, blobEndpoint: endpoint };
  };
  const config: DrSyncConfig = {
    ...rendered,
    source: local("source", rendered.source),
    target: local("target", rendered.target),
    stagingDir: join(workDir, "staging"),
    stateDir: join(workDir, "state"),
    allowInsecureHttp: true,
  };
  validateConfig(config);
  return config;
}
