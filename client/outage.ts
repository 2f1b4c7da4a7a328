/** What came back from one attempt at a site: a status, or a network error code. */
export interface AttemptOutcome {
  readonly statusCode?: number;
  /** A network error code (ECONNREFUSED, ...), or the service's x-ms-error-code. */
  readonly code?: string;
  /** The error's name (AbortError, TimeoutError). */
  readonly name?: string;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ENOTFOUND",
  "EAI_AGAIN", "ECONNABORTED", "REQUEST_SEND_ERROR", "UND_ERR_SOCKET", "UND_ERR_CONNECT_TIMEOUT", "ERR_STREAM_PREMATURE_CLOSE",
]);

/**
 * Whether an attempt looks like the site is gone or fenced, so the fences are worth reading again before the next
 * request: refused, reset or timed-out connections, a 408 or any 5xx, and the 403 and 409 a site gives once it is
 * no longer meant for this application (its SAS revoked, or a fence-era lease or state conflict). A re-check only
 * reads the fences: it never moves the application by itself, so a false alarm costs two small reads.
 */
export function looksLikeSiteOutage(o: AttemptOutcome): boolean {
  if (o.statusCode !== undefined) {
    return o.statusCode === 408 || o.statusCode >= 500 || o.statusCode === 403 || o.statusCode === 409;
  }
  if (o.name === "TimeoutError") return true;
  return o.code !== undefined && NETWORK_CODES.has(o.code);
}
