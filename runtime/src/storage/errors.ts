import { EXIT_CODES } from "../cli/exit-codes";

/** What a failure means for the run. */
export type FailureKind =
  /** Stop the run (or the container): going on could do harm or is pointless. */
  | "fatal"
  /** Worth another attempt later in this run or the next. */
  | "retryable"
  /** Only this blob failed. */
  | "item";

/** An error that stops the container (and the command), with a message an operator can act on. */
export class FatalError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT_CODES.failed) {
    super(message);
    this.name = "FatalError";
  }
}

/** A failure of the machine itself (the staging disk full, read-only or failing): it stops every container. */
export class StagingDiskError extends FatalError {
  constructor(message: string) {
    super(message);
    this.name = "StagingDiskError";
  }
}

/** A delete guard stopped a container before anything was deleted. */
export class GuardError extends FatalError {
  constructor(message: string) {
    super(message, EXIT_CODES.guard);
    this.name = "GuardError";
  }
}

/** Where an operation on a blob ran, to turn its failure into the right kind with a message naming it. */
export interface FailureScope {
  /** The site's label, as errors name it. */
  readonly side: string;
  /** The variable holding that site's SAS. */
  readonly sasEnv: string;
  /** What the SAS was used for, as `read blobs in "c"`. */
  readonly operation: string;
  /** What the staging disk was used for, as `pulling "c"`. */
  readonly doing: string;
  readonly stagingDir: string;
  /** What the stop leaves as it was, for the message: "nothing was deleted". */
  readonly consequence: string;
}

/**
 * The kind of a failure, by type and code, never by message text: errors already fatal stay so, an
 * authorization failure (every later request would fail the same way) and a failing staging disk become fatal,
 * transient faults are retryable, and anything else failed only its item.
 */
export function kindOf(err: unknown): FailureKind {
  if (err instanceof FatalError || isAuthFailure(err) || isStagingDiskFailure(err)) return "fatal";
  return isTransient(err) ? "retryable" : "item";
}

/**
 * The fatal error a per-blob failure stands for, or undefined when only that blob failed: the one place where an
 * authorization failure or a failing staging disk becomes a stop, with a message saying what to do.
 */
export function fatalOf(err: unknown, scope: FailureScope): FatalError | undefined {
  if (err instanceof FatalError) return err;
  if (isAuthFailure(err)) return new FatalError(`${explainAuthFailure(scope.side, scope.sasEnv, scope.operation, err)}; ${scope.consequence}`);
  if (isStagingDiskFailure(err)) {
    return new StagingDiskError(`staging disk: ${describeError(err)} while ${scope.doing}; the run stopped, ${scope.consequence}. ` +
      `Free space under ${scope.stagingDir} (or repair the disk) and run again`);
  }
  return undefined;
}

/**
 * A local file system error (not a storage service's answer) that no retry of the blob will cure, as the OS or
 * SQLite reports it: SQLITE_READONLY 8, SQLITE_IOERR 10, SQLITE_FULL 13, SQLITE_CANTOPEN 14 (extended codes keep
 * these in the low byte).
 */
export function isStagingDiskFailure(err: unknown): boolean {
  // An error that stands for one (a staging index that stopped on a full disk) is one too.
  if (err instanceof Error && err.cause !== undefined && isStagingDiskFailure(err.cause)) return true;
  const e = err as { code?: string; errcode?: number } | undefined;
  const code = e?.code;
  if (code === "ERR_SQLITE_ERROR") return typeof e?.errcode === "number" && [8, 10, 13, 14].includes(e.errcode & 0xff);
  return code === "ENOSPC" || code === "EDQUOT" || code === "EROFS" || code === "EIO" || (code === "EACCES" && statusOf(err) === undefined);
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
  return !isLeaseConflict(err) && (s === 412 || (s === 409 && /BlobAlreadyExists/i.test(errorCodeOf(err) ?? "")));
}

/**
 * 412 or 409 because someone holds a lease on the blob (LeaseIdMissing, LeaseAlreadyPresent, ...): not a change of
 * the blob, and nothing dr-sync retries or re-reads cures it.
 */
export function isLeaseConflict(err: unknown): boolean {
  const s = statusOf(err);
  return (s === 412 || s === 409) && /^Lease/i.test(errorCodeOf(err) ?? "");
}

/** Why a leased blob at `where` was left as it is: the one wording, for the walk and for a write the service refused. */
export function leasedMessage(where: string): string {
  return `leased at ${where}: a lease held there (an application, or a VM whose disk it is) blocks every write and delete, ` +
    "and dr-sync breaks no one's lease; left as it is until the lease is released";
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
  // A server-side copy whose source the service could not reach this time (it checks the source over HTTP).
  // Not when the source is gone (404): no retry brings it back.
  if (/CannotVerifyCopySource/i.test(errorCodeOf(err) ?? "") && s !== 404) return true;
  const code = (err as { code?: string })?.code ?? "";
  if (["ECONNRESET", "ECONNREFUSED", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "ECONNABORTED", "REQUEST_SEND_ERROR", "ERR_STREAM_PREMATURE_CLOSE"].includes(code)) return true;
  const name = (err as Error)?.name ?? "";
  if (name === "AbortError" && !(err as { byUser?: boolean }).byUser) return true;
  const msg = String((err as Error)?.message ?? "");
  // "received less data than required": the SDK's stream retries ran out on bodies cut short (truncated).
  return /socket hang up|timed? ?out|premature|aborted|truncated|ECONNRESET|terminated|received less data than required/i.test(msg);
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
