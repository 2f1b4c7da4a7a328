/** What a failure means for the run. */
export type FailureKind =
  /** Stop the run (or the container): going on could do harm or is pointless. */
  | "fatal"
  /** Worth another attempt later in this run or the next. */
  | "retryable"
  /** Only this blob failed. */
  | "item";

/** An error that stops the run, with a message an operator can act on. */
export class FatalError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "FatalError";
  }
}

/** A delete guard stopped a container before anything was deleted. */
export class GuardError extends FatalError {
  constructor(message: string) {
    super(message, 4);
    this.name = "GuardError";
  }
}

interface RestLike {
  statusCode?: number;
  code?: string;
  details?: { errorCode?: string; requestId?: string };
  request?: { headers?: { get(name: string): string | undefined } };
  response?: { headers?: { get(name: string): string | undefined } };
  message?: string;
}

export function statusOf(err: unknown): number | undefined {
  return (err as RestLike | undefined)?.statusCode;
}

export function errorCodeOf(err: unknown): string | undefined {
  const e = err as RestLike | undefined;
  return e?.details?.errorCode ?? e?.response?.headers?.get("x-ms-error-code") ?? undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

/**
 * A conditional write found the blob other than expected: 412 (If-Match), or 409 BlobAlreadyExists (If-None-Match *
 * on a blob that appeared since it was listed).
 */
export function isConditionFailed(err: unknown): boolean {
  const s = statusOf(err);
  return s === 412 || (s === 409 && /BlobAlreadyExists/i.test(errorCodeOf(err) ?? ""));
}

/** 401/403: the SAS is wrong, expired, or lacks a permission. */
export function isAuthFailure(err: unknown): boolean {
  const s = statusOf(err);
  return s === 401 || s === 403;
}

/** Faults another attempt may cure: throttling, server errors, timeouts, resets, truncated bodies. */
export function isTransient(err: unknown): boolean {
  const s = statusOf(err);
  if (s === 408 || s === 429 || (s !== undefined && s >= 500)) return true;
  const code = (err as { code?: string })?.code ?? "";
  if (["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "ECONNABORTED", "REQUEST_SEND_ERROR", "ERR_STREAM_PREMATURE_CLOSE"].includes(code)) return true;
  const name = (err as Error)?.name ?? "";
  if (name === "AbortError" && !(err as { byUser?: boolean }).byUser) return true;
  const msg = String((err as Error)?.message ?? "");
  return /socket hang up|timed? ?out|premature|aborted|truncated|ECONNRESET|terminated/i.test(msg);
}

/** A short, secret-free description of a storage error: status, service error code, request id, message. */
export function describeError(err: unknown): string {
  const e = err as RestLike;
  if (e && typeof e === "object" && e.statusCode !== undefined) {
    const code = errorCodeOf(err);
    const reqId = e.details?.requestId ?? e.response?.headers?.get("x-ms-request-id");
    const first = String(e.message ?? "").split("\n")[0].slice(0, 300);
    return `HTTP ${e.statusCode}${code ? ` ${code}` : ""}${first ? `: ${first}` : ""}${reqId ? ` (request id ${reqId})` : ""}`;
  }
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    // Node's own errors already start with their code ("ENOSPC: no space left on device").
    return code && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}

/** What an authorization failure most likely means, for the side that got it. */
export function explainAuthFailure(side: string, sasEnv: string, operation: string, err: unknown): string {
  const code = errorCodeOf(err) ?? "";
  let why = `the SAS in ${sasEnv} was refused`;
  if (/AuthorizationPermissionMismatch|AuthorizationResourceTypeMismatch/i.test(code)) {
    why = `the SAS in ${sasEnv} lacks the permission to ${operation}`;
  } else if (/AuthenticationFailed/i.test(code) || /failed to authenticate/i.test(String((err as RestLike)?.message ?? ""))) {
    // Some services (Azurite among them) answer a bad signature with AuthorizationFailure; the message tells them apart.
    why = `the SAS in ${sasEnv} is invalid or expired (signature or time window rejected)`;
  } else if (/AuthorizationFailure/i.test(code)) {
    why = `the SAS in ${sasEnv} is not allowed to ${operation} (permission, IP or protocol restriction)`;
  }
  return `${side}: ${why} (${describeError(err)})`;
}
