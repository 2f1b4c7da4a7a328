/** Query parameters of a SAS token (account and service SAS, 2017-11-09 and later). */
export const SAS_PARAMETERS: ReadonlySet<string> = new Set([
  "sv", "ss", "srt", "sp", "se", "st", "spr", "sip", "sig", "sr", "si", "sdd", "ses",
  "skoid", "sktid", "skt", "ske", "sks", "skv", "saoid", "suoid", "scid",
  "rscc", "rscd", "rsce", "rscl", "rsct",
]);

/**
 * Removes secrets from text taken from elsewhere (an error message of the network stack or the SDK): every known SAS
 * verbatim, and any `sig=` value, so a URL quoted in a message keeps its path but never its signature.
 */
export function redact(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join("<sas>");
  return out.replace(/([?&;]|\b)sig=[^&\s"'<>]*/gi, "$1sig=<redacted>");
}

/**
 * Takes the SAS out of an error of the SDK or the network stack before it reaches the application: its message and
 * stack (a "Cannot connect to <url>" quotes the URL whole), and the URL of the request it carries. The policy puts
 * each site's SAS into the URLs it sends, so it owes the application errors that do not show them.
 */
export function scrubError<T>(err: T, secrets: readonly string[]): T {
  if (typeof err !== "object" || err === null) return err;
  const e = err as { message?: unknown; stack?: unknown; request?: { url?: unknown }; response?: { request?: { url?: unknown } } };
  const clean = (v: unknown) => (typeof v === "string" ? redact(v, secrets) : v);
  try {
    if (typeof e.message === "string") e.message = clean(e.message);
    if (typeof e.stack === "string") e.stack = clean(e.stack);
    for (const r of [e.request, e.response?.request]) if (r && typeof r.url === "string") r.url = clean(r.url);
  } catch {
    // A frozen error keeps its text; the SDK's own are not frozen.
  }
  return err;
}
