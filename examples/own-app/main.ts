// A platform team's own CDKTF app: its own stack, provider, naming and tags, plus one DR pair from stackhub-dr.
import { App, TerraformStack } from "cdktf";
import { Construct } from "constructs";
import { AzurestackProvider } from "@cdktf/provider-azurestack/lib/provider";
import { ResourceGroup } from "@cdktf/provider-azurestack/lib/resource-group";
import { DrPair, stackHubSite } from "stackhub-dr";

const prefix = "contoso-inv";
const tags = { owner: "platform-team", "cost-center": "cc-4711" };

class InvoicesStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    // The team's own resource, with its own (unaliased) provider; the pair's providers are aliased by role.
    new AzurestackProvider(this, "azurestack", { metadataHost: "https://management.east.contoso.com", features: {}, skipProviderRegistration: true });
    new ResourceGroup(this, "App", { name: `${prefix}-app`, location: "east", tags });

    const site = (role: "source" | "target", region: string) => ({
      site: stackHubSite(this, role, { armEndpoint: `https://management.${region}.contoso.com` }),
      accountName: `contosoinv${region}`,
      resourceGroupName: `${prefix}-dr-data`,
      location: region,
      storageEndpointSuffix: `${region}.contoso.com`,
    });
    new DrPair(this, "InvoicesDr", {
      namePrefix: `${prefix}-dr`,
      source: site("source", "east"),
      target: site("target", "west"),
      containers: ["invoices", "receipts"],
      vm: { resourceGroupName: `${prefix}-dr-vm`, sshPublicKey: process.env.DR_SSH_PUBLIC_KEY ?? "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyReplaceMe00000000000000000000000 ops@contoso" },
      tags,
    });
  }
}

const app = new App();
new InvoicesStack(app, "invoices");
app.synth();
