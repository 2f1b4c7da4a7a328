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
