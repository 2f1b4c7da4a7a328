/**
 * Errors of the failover-aware client. Each carries its kind as a type and as `kind`, so an application decides
 * from the type (retry later, page someone, fail the request), never from the message text. No message, property
 * or `cause` ever holds a SAS: errors of the storage service are reduced to status, codes and request id.
 */
export type ClientErrorKind = "config" | "split-brain" | "no-active-site" | "dual-write" | "unsupported" | "read-only";

export abstract class StackhubDrClientError extends Error {
  abstract readonly kind: ClientErrorKind;
}

/** The options are invalid; every problem is listed, each naming its key. Nothing was sent. */
export class ClientConfigError extends StackhubDrClientError {
  readonly kind = "config";
  constructor(readonly problems: readonly string[]) {
    super(`invalid stackhub-dr client options:\n  ${problems.join("\n  ")}`);
    this.name = "ClientConfigError";
  }
}

/** Both fences say `active`. The client never guesses: every request fails until the fences are fixed. */
export class SplitBrainError extends StackhubDrClientError {
  readonly kind = "split-brain";
  constructor(readonly sites: readonly [string, string], fenceContainer: string) {
    super(`split brain: the fences of both sites, ${sites[0]} and ${sites[1]}, say "active" (${fenceContainer}/fence.json); ` +
      "the client sends nothing until one of them is passive. Deploy the environment with the intended activeSite, which rewrites both fences");
    this.name = "SplitBrainError";
  }
}

/** No fence says `active` (and no site was active before that could still be). */
export class NoActiveSiteError extends StackhubDrClientError {
  readonly kind = "no-active-site";
  constructor(readonly states: Readonly<Record<string, string>>, fenceContainer: string) {
    super(`no active site: ${Object.entries(states).map(([site, s]) => `${site} ${s}`).join(", ")} (${fenceContainer}/fence.json); ` +
      "the client never picks a site the deployment has not marked active");
    this.name = "NoActiveSiteError";
  }
}

/** What the storage service answered, without the request (whose URL holds the SAS). */
export interface ServiceFailure {
  readonly statusCode?: number;
  /** Network code (ECONNREFUSED, ...) or the service's error code. */
  readonly code?: string;
  readonly requestId?: string;
}

/** A write to a synchronous container could not be made durable at both sites. */
export class DualWriteError extends StackhubDrClientError {
  readonly kind = "dual-write";
  constructor(message: string, readonly operation: string, readonly container: string, readonly blob: string | undefined,
    /** The site the write did not reach. */ readonly site: string, readonly failure: ServiceFailure) {
    super(message);
    this.name = "DualWriteError";
  }
}

/** An operation the client will not dual-write (Copy Blob and writes from a URL, in a synchronous container). */
export class UnsupportedDualWriteError extends StackhubDrClientError {
  readonly kind = "unsupported";
  constructor(message: string) {
    super(message);
    this.name = "UnsupportedDualWriteError";
  }
}

/** A write through a client pinned to one site for reading (`FailoverRouter.siteReader`). */
export class ReadOnlyClientError extends StackhubDrClientError {
  readonly kind = "read-only";
  constructor(site: string, method: string) {
    super(`the reader pinned to ${site} only reads; a ${method} request was refused before it was sent`);
    this.name = "ReadOnlyClientError";
  }
}
