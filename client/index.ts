/**
 * stackhub-dr/client: failover routing and synchronous dual writes for applications written with
 * `@azure/storage-blob`, driven by the fences the stackhub-dr deployment writes into both sites.
 * See docs/applications.md. Depends only on @azure/storage-blob (and its @azure/core-rest-pipeline).
 */
export { FailoverRouter, createFailoverClient, SiteInfo } from "./failover-router";
export { failoverPolicyName } from "./failover-policy";
export {
  FailoverClientOptions, SiteOptions, DualWriteOptions, DualWriteMode, ClientEvent, CLIENT_DEFAULTS,
} from "./options";
export {
  StackhubDrClientError, ClientErrorKind, ClientConfigError, SplitBrainError, NoActiveSiteError, DualWriteError,
  UnsupportedDualWriteError, ReadOnlyClientError, ServiceFailure,
} from "./errors";
export { MissRecord, MISS_JOURNAL_PREFIX, journalBlobName, formatMiss } from "./miss-journal";
export { FENCE_BLOB } from "./fence-reader";
export { chooseSite, needsCheck, FenceReading, SiteChoice, CheckState } from "./choose-site";
export { looksLikeSiteOutage, AttemptOutcome } from "./outage";
