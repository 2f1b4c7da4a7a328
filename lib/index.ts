/**
 * stackhub-dr's public API: the constructs a CDKTF app adds to its own stacks, the environment-file form for those
 * who prefer JSON, and the runtime's config types. Everything else is internal and may change in any release.
 */
export { DrPair } from "./dr-pair";
export type { DrDnsProps, DrPairProps, DrSiteProps, DrVmProps } from "./dr-pair";
export { DrStack } from "./stack";
export type { DrStackProps } from "./stack";
export { azureSite, siteProvider, stackHubSite } from "./cloud/site-provider";
export type { AzureSiteProps, SiteCloud, SiteProviderProps, StackHubSiteProps } from "./cloud/site-provider";
export type { VmImage } from "./compute/intermediary-vm";
export type { SasRotationProps } from "./credentials/sas-rotation";
export { loadEnvironment, loadEnvironments } from "./environment/load";
export { EnvironmentError, validateEnvironment } from "./environment/validate";
export type {
  BackendSpec, CloudName, CredentialsSpec, DnsSpec, EnvironmentSpec, ResolvedEnvironment, ResolvedSite, SiteRole, SiteSpec, VmSpec,
} from "./environment/schema";
export { NODE_BINARY_ENV } from "./artifact/node-binary";
export { renderDrSyncCronJob } from "./kubernetes/cron-job";
export type { DrSyncCronJobProps, KubernetesObject, RenderedCronJob } from "./kubernetes/cron-job";
export type { ScaleOut, ShardSetting } from "./compute/shard-plan";
export { PropsError } from "./validation/prop-rules";
export { ConfigError, renderConfig, validateConfig } from "../runtime/src/config/schema";
export type { DrSyncConfig, GuardsConfig, ResolvedConfig, RetryConfig, SiteConfig } from "../runtime/src/config/schema";
