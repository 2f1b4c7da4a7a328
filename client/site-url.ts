import { ResolvedSite } from "./options";
import { SAS_PARAMETERS } from "./redact";

/** A request URL located at one of the two sites. */
export interface SiteLocation {
  readonly site: 0 | 1;
  /** The path below the endpoint, still percent-encoded as the SDK wrote it: `container/blob/name`. */
  readonly relativePath: string;
  /** The query without any SAS parameter, still encoded: `comp=block&blockid=...`. */
  readonly query: string;
  /** The container (decoded), or "" for service-level requests. */
  readonly container: string;
  /** The blob name (decoded), or undefined for service- and container-level requests. */
  readonly blob?: string;
}

/**
 * Which site a request URL points at (by origin and endpoint path), or undefined when it is neither: such requests
 * are left alone. Any SAS in the URL (the application may have put one in its connection string) is dropped: the
 * SAS of the site the request is sent to is applied instead, each site having its own.
 */
export function locate(url: string, sites: readonly [ResolvedSite, ResolvedSite]): SiteLocation | undefined {
  const q = url.indexOf("?");
  const base = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? "" : url.slice(q + 1);
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    return undefined;
  }
  for (const i of [0, 1] as const) {
    const s = sites[i];
    if (parsed.origin !== s.origin) continue;
    const path = parsed.pathname;
    let relativePath: string;
    if (path.startsWith(s.path)) relativePath = path.slice(s.path.length);
    else if (`${path}/` === s.path) relativePath = "";
    else continue;
    const slash = relativePath.indexOf("/");
    const container = safeDecode(slash < 0 ? relativePath : relativePath.slice(0, slash));
    const blobPart = slash < 0 ? "" : relativePath.slice(slash + 1);
    return {
      site: i, relativePath, container, query: withoutSas(rawQuery),
      ...(blobPart ? { blob: safeDecode(blobPart) } : {}),
    };
  }
  return undefined;
}

/** The URL of the same request at `site`, with that site's SAS. */
export function urlAt(site: ResolvedSite, loc: SiteLocation): string {
  const query = [loc.query, site.sas].filter(Boolean).join("&");
  return `${site.origin}${site.path}${loc.relativePath}${query ? `?${query}` : ""}`;
}

function withoutSas(query: string): string {
  return query.split("&").filter((pair) => {
    if (!pair) return false;
    const key = safeDecode(pair.split("=")[0]).toLowerCase();
    return !SAS_PARAMETERS.has(key);
  }).join("&");
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
