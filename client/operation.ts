/** What a request does, as far as dual writes are concerned. */
export type Operation =
  | { readonly kind: "read"; readonly name: string }
  /** Written at both sites in a synchronous container. */
  | { readonly kind: "mirrored"; readonly name: string }
  /** A write that stays at the active site: per-site state (leases, snapshots, tiers, ACLs), not data dr-sync carries. */
  | { readonly kind: "active-only"; readonly name: string }
  /** A write whose bytes come from a URL: cannot be repeated at the other site as it is. */
  | { readonly kind: "from-url"; readonly name: string };

/** Request headers that make a write conditional on the site's own state (ETags and leases differ between sites). */
export const SITE_CONDITIONS = ["if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "x-ms-lease-id",
  "x-ms-if-sequence-number-le", "x-ms-if-sequence-number-lt", "x-ms-if-sequence-number-eq", "x-ms-blob-condition-maxsize",
  "x-ms-blob-condition-appendpos"] as const;

/**
 * Classifies a request by method, `comp`/`restype` and headers (Blob service REST API, 2017-11-09). Blob writes that
 * change what dr-sync replicates (bytes, properties, metadata, existence) are mirrored, and so are container
 * creation, deletion and metadata; writes from a URL are refused in a synchronous container.
 */
export function classify(method: string, query: string, header: (name: string) => string | undefined, isBlob: boolean): Operation {
  const params = new URLSearchParams(query);
  const comp = params.get("comp") ?? "";
  const restype = params.get("restype") ?? "";
  const m = method.toUpperCase();
  if (m === "GET" || m === "HEAD" || m === "OPTIONS") return { kind: "read", name: comp ? `read ${comp}` : "read" };
  if (!isBlob) {
    if (restype === "container" && (comp === "" || comp === "metadata")) return { kind: "mirrored", name: `${m === "DELETE" ? "delete" : comp ? "set" : "create"} container${comp ? ` ${comp}` : ""}` };
    return { kind: "active-only", name: `${m.toLowerCase()} ${restype || "service"}${comp ? ` ${comp}` : ""}` };
  }
  const fromUrl = header("x-ms-copy-source") !== undefined;
  if (m === "DELETE") return { kind: "mirrored", name: "delete blob" };
  if (m !== "PUT") return { kind: "active-only", name: `${m.toLowerCase()} blob` };
  switch (comp) {
    case "":
      return fromUrl ? { kind: "from-url", name: "copy blob" } : { kind: "mirrored", name: "put blob" };
    case "block":
      return fromUrl ? { kind: "from-url", name: "put block from URL" } : { kind: "mirrored", name: "put block" };
    case "blocklist":
      return { kind: "mirrored", name: "put block list" };
    case "properties":
      return { kind: "mirrored", name: "set blob properties" };
    case "metadata":
      return { kind: "mirrored", name: "set blob metadata" };
    case "page":
      return fromUrl ? { kind: "from-url", name: "put page from URL" } : { kind: "mirrored", name: "put page" };
    case "appendblock":
      return fromUrl ? { kind: "from-url", name: "append block from URL" } : { kind: "mirrored", name: "append block" };
    case "incrementalcopy":
      return { kind: "from-url", name: "incremental copy" };
    default:
      return { kind: "active-only", name: `${comp} blob` };
  }
}
