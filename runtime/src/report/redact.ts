/**
 * Removes secrets from text before it leaves the process. Every line the runtime prints, and every file it writes,
 * passes through one `Redactor`, so a SAS token that reaches an error message (the SDK puts request URLs in some)
 * never reaches a log.
 */
export class Redactor {
  private readonly secrets: string[] = [];

  /** Registers a secret; its exact text, and its URL-decoded and URL-encoded forms, are replaced from now on. */
  add(secret: string): void {
    const s = secret.replace(/^\?/, "");
    if (s.length < 8) return;
    for (const form of new Set([s, safeDecode(s), encodeURIComponent(s)])) {
      if (form && !this.secrets.includes(form)) this.secrets.push(form);
    }
    this.secrets.sort((a, b) => b.length - a.length);
  }

  redact(text: string): string {
    let out = text;
    for (const s of this.secrets) out = out.split(s).join("[REDACTED]");
    // A signature we were never told about (a token from elsewhere, a partial URL) is still hidden.
    return out.replace(/([?&](?:amp;)?sig=)[^&\s"'<>]+/gi, "$1[REDACTED]");
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
