import { TerraformProvider, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { AzurermProvider } from "@cdktf/provider-azurerm/lib/provider";
import { AzurestackProvider } from "@cdktf/provider-azurestack/lib/provider";
import { CloudName, SiteRole } from "../environment/schema";

/** A site's cloud and the provider configuration every resource of that site is created with. */
export interface SiteCloud {
  readonly role: SiteRole;
  readonly cloud: CloudName;
  readonly provider: TerraformProvider;
}

export interface SiteProviderProps {
  /** `source` or `target`: the provider's alias, and the role of the site in the pair. */
  readonly role: SiteRole;
  /** `azurestack` (provider azurestack) or `azure` (provider azurerm). */
  readonly cloud: CloudName;
  /** ARM endpoint of a Stack Hub stamp (its `metadata_host`). Required on `azurestack`. */
  readonly armEndpoint?: string;
  /** Azure cloud of an `azure` site.
   *  @default "public" */
  readonly azureEnvironment?: string;
  /** Subscription of the site.
   *  @default the provider's ARM_SUBSCRIPTION_ID */
  readonly subscriptionId?: string;
  /** Tenant (directory) of the site.
   *  @default the provider's ARM_TENANT_ID */
  readonly tenantId?: string;
  /** `variables`: client id and secret from sensitive variables `<role>_client_id` / `<role>_client_secret`.
   *  @default "environment" (the ARM_* variables) */
  readonly auth?: "environment" | "variables";
}

/**
 * One provider configuration per site, aliased by role: each Stack Hub stamp has its own ARM endpoint, and the two
 * sites may sit in different clouds or subscriptions.
 */
export function siteProvider(scope: Construct, props: SiteProviderProps): SiteCloud {
  const errors: string[] = [];
  if (props.cloud === "azurestack" && !props.armEndpoint) errors.push(`armEndpoint is required on azurestack (got ${JSON.stringify(props.armEndpoint)})`);
  if (errors.length) throw new Error(`${props.role} site provider:\n  - ${errors.join("\n  - ")}`);

  const principal = props.auth === "variables"
    ? {
        clientId: new TerraformVariable(scope, `${props.role}_client_id`, {
          type: "string", sensitive: true, description: `Client id of the service principal of the ${props.role} site`,
        }).stringValue,
        clientSecret: new TerraformVariable(scope, `${props.role}_client_secret`, {
          type: "string", sensitive: true, description: `Client secret of the service principal of the ${props.role} site`,
        }).stringValue,
      }
    : {};
  const common = { alias: props.role, subscriptionId: props.subscriptionId, tenantId: props.tenantId, ...principal };

  const provider = props.cloud === "azurestack"
    ? new AzurestackProvider(scope, `${props.role}-azurestack`, {
        ...common,
        // The azurestack provider reads the stamp's endpoints from its ARM metadata.
        metadataHost: props.armEndpoint,
        // Stack Hub has no provider namespaces to register beyond those the operator enabled.
        skipProviderRegistration: true,
        features: {},
      })
    : new AzurermProvider(scope, `${props.role}-azurerm`, {
        ...common,
        environment: props.azureEnvironment ?? "public",
        // The principal needs no subscription-wide registration rights.
        resourceProviderRegistrations: "none",
        features: [{}],
      });
  return { role: props.role, cloud: props.cloud, provider };
}

/** A site on an Azure Stack Hub stamp. */
export type StackHubSiteProps = Omit<SiteProviderProps, "role" | "cloud" | "azureEnvironment" | "armEndpoint"> & {
  /** ARM endpoint of the stamp, e.g. "https://management.east.contoso.com". */
  readonly armEndpoint: string;
};

/** A site on public or sovereign Azure. */
export type AzureSiteProps = Omit<SiteProviderProps, "role" | "cloud" | "armEndpoint">;

/** The provider of a site on an Azure Stack Hub stamp (azurestack provider, aliased by role). */
export function stackHubSite(scope: Construct, role: SiteRole, props: StackHubSiteProps): SiteCloud {
  return siteProvider(scope, { ...props, role, cloud: "azurestack" });
}

/** The provider of a site on public or sovereign Azure (azurerm provider, aliased by role). */
export function azureSite(scope: Construct, role: SiteRole, props: AzureSiteProps = {}): SiteCloud {
  return siteProvider(scope, { ...props, role, cloud: "azure" });
}
