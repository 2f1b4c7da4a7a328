import * as path from "path";
import { AssetType, Fn, TerraformAsset, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { DataAzurermStorageAccountBlobContainerSas } from "@cdktf/provider-azurerm/lib/data-azurerm-storage-account-blob-container-sas";
import { DataAzurermStorageAccountSas } from "@cdktf/provider-azurerm/lib/data-azurerm-storage-account-sas";
import { DataExternal } from "@cdktf/provider-external/lib/data-external";
import { externalProvider } from "../cloud/stack-provider";
import { repoRoot } from "../paths";
import { SiteAccount } from "../storage/site-account";
import { SasPermissions, permissionLetters } from "./sas-permissions";
import { SasRotation } from "./sas-rotation";
import { pattern, PropProblems, RULES } from "../validation/prop-rules";

export interface SiteSasProps {
  readonly account: SiteAccount;
  readonly permissions: SasPermissions;
  readonly rotation: SasRotation;
  /** What the token is for, in variable names and ids: lowercase letters, digits, underscores (e.g. "replication"). */
  readonly purpose: string;
  /** Scope the token to one container (a service SAS) instead of the account's blob service.
   *  @default the whole blob service (account SAS, resource types service, container, object) */
  readonly container?: string;
  /** `sign`: in the Terraform run. `variable`: the operator supplies it as the sensitive variable
   *  `<role>_<purpose>_sas` (and is responsible for its permissions and expiry).
   *  @default "sign" */
  readonly mode?: "sign" | "variable";
  /** Signed version; one the site accepts.
   *  @default "2017-11-09" */
  readonly signedVersion?: string;
}

/**
 * One least-privilege SAS token for one site, HTTPS only, valid for the rotation window.
 *
 * On `azure` it comes from azurerm's SAS data sources. On `azurestack`, which has none, an `external` data source
 * runs the shipped `scripts/sas/sign-sas.js` with the account key (node on the machine that runs Terraform).
 */
export class SiteSas extends Construct {
  /** The token, without a leading `?`; marked sensitive. */
  readonly token: string;
  readonly permissions: SasPermissions;

  constructor(scope: Construct, id: string, props: SiteSasProps) {
    super(scope, id);
    const version = props.signedVersion ?? "2017-11-09";
    const problems = new PropProblems();
    problems.check("purpose", props.purpose, pattern(/^[a-z][a-z0-9_]*$/, "lowercase letters, digits or underscores"));
    problems.check("signedVersion", version, RULES.sasVersion);
    problems.check("mode", props.mode, RULES.sasMode);
    if (!permissionLetters(props.permissions)) problems.add(`permissions must allow something (got none)`);
    problems.throwIfAny(`SiteSas ${this.node.path}`);
    this.permissions = props.permissions;

    const { account, rotation, permissions: p } = props;
    let raw: string;
    if (props.mode === "variable") {
      // At stack level, so the variable's name is what operators set (TF_VAR_<role>_<purpose>_sas).
      raw = new TerraformVariable(TerraformStack.of(this), `${account.site.role}_${props.purpose}_sas`, {
        type: "string",
        sensitive: true,
        description: `SAS of ${account.accountName} (${account.site.role} site) for ${props.purpose}: permissions "${permissionLetters(p)}", HTTPS only`,
      }).stringValue;
    } else if (account.site.cloud === "azure" && props.container) {
      raw = new DataAzurermStorageAccountBlobContainerSas(this, "Resource", {
        provider: account.site.provider,
        connectionString: account.connectionString,
        containerName: props.container,
        httpsOnly: true,
        start: rotation.start,
        expiry: rotation.expiry,
        permissions: { read: p.read, add: p.add, create: p.create, write: p.write, delete: p.delete, list: p.list },
      }).sas;
    } else if (account.site.cloud === "azure") {
      raw = new DataAzurermStorageAccountSas(this, "Resource", {
        provider: account.site.provider,
        connectionString: account.connectionString,
        httpsOnly: true,
        signedVersion: version,
        start: rotation.start,
        expiry: rotation.expiry,
        resourceTypes: { service: true, container: true, object: true },
        services: { blob: true, queue: false, table: false, file: false },
        permissions: {
          read: p.read, write: p.write, delete: p.delete, list: p.list, add: p.add, create: p.create,
          update: false, process: false, tag: false, filter: false,
        },
      }).sas;
    } else {
      raw = new DataExternal(this, "Resource", {
        provider: externalProvider(this),
        program: ["node", `\${path.module}/${signerAsset(this).path}`],
        query: {
          kind: props.container ? "container" : "account",
          account: account.accountName,
          key: account.primaryAccessKey,
          ...(props.container ? { container: props.container } : { services: "b", resourceTypes: "sco" }),
          permissions: permissionLetters(p),
          start: rotation.start,
          expiry: rotation.expiry,
          version,
          protocol: "https",
        },
      }).result.lookup("sas");
    }
    this.token = Fn.sensitive(Fn.trimprefix(raw, "?"));
  }
}

/** The signing script, copied once per stack into its assets so plain `terraform` in the stack folder finds it. */
function signerAsset(scope: Construct): TerraformAsset {
  const stack = TerraformStack.of(scope);
  return (stack.node.tryFindChild("sas-signer") as TerraformAsset | undefined)
    ?? new TerraformAsset(stack, "sas-signer", { path: path.join(repoRoot(), "scripts", "sas", "sign-sas.js"), type: AssetType.FILE });
}
