/**
 * stackhub-dr/client: failover routing and synchronous dual writes for applications written with
 * `@azure/storage-blob`, driven by the fences the stackhub-dr deployment writes into both sites.
 * See docs/applications.md. Depends only on @azure/storage-blob (and its @azure/core-rest-pipeline).
 */
export { FailoverRouter, createFailoverClient } from "./failover-router";
export type { SiteInfo } from "./failover-router";
export { failoverPolicyName } from "./failover-policy";
export { CLIENT_DEFAULTS } from "./options";
export type { FailoverClientOptions, SiteOptions, DualWriteOptions, DualWriteMode, ClientEvent } from "./options";
export {
  StackhubDrClientError, ClientConfigError, SplitBrainError, NoActiveSiteError, DualWriteError, UnsupportedDualWriteError,
  ReadOnlyClientError,
} from "./errors";
export type { ClientErrorKind, ServiceFailure } from "./errors";
export { MISS_JOURNAL_PREFIX, journalBlobName, formatMiss } from "./miss-journal";
export type { MissRecord } from "./miss-journal";
export { FENCE_BLOB } from "./fence-reader";
export { chooseSite, needsCheck } from "./choose-site";
export type { FenceReading, SiteChoice, CheckState } from "./choose-site";
export { looksLikeSiteOutage } from "./outage";
export type { AttemptOutcome } from "./outage";
