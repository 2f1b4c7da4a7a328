import { Construct } from "constructs";
import { DnsCnameRecord as AzCname } from "@cdktf/provider-azurerm/lib/dns-cname-record";
import { DnsCnameRecord as AsCname } from "@cdktf/provider-azurestack/lib/dns-cname-record";
import { SiteCloud } from "../cloud/site-provider";
import { PropProblems, RULES } from "../validation/prop-rules";

export interface FailoverCnameProps {
  /** Cloud and provider of the site whose subscription holds the zone. */
  readonly zoneSite: SiteCloud;
  readonly zoneName: string;
  readonly resourceGroupName: string;
  /** Record name in the zone, e.g. "blobs". */
  readonly recordName: string;
  /** Host the name points at: the active site's blob host. */
  readonly targetHost: string;
  /** Seconds resolvers may cache the answer; short, so a failover is seen soon.
   *  @default 60 */
  readonly ttl?: number;
  /** @default {} */
  readonly tags?: Readonly<Record<string, string>>;
}

/**
 * A stable name (`<record>.<zone>`) for the active site's blob host. It only helps clients that accept the other
 * host's certificate and send requests the storage service accepts under that host; see docs/runbooks.md.
 */
export class FailoverCname extends Construct {
  readonly fqdn: string;

  constructor(scope: Construct, id: string, props: FailoverCnameProps) {
    super(scope, id);
    const ttl = props.ttl ?? 60;
    const problems = new PropProblems();
    problems.check("zoneName", props.zoneName, RULES.dnsZone);
    problems.check("recordName", props.recordName, RULES.dnsRecordName);
    problems.check("resourceGroupName", props.resourceGroupName, RULES.resourceGroupName);
    problems.check("ttl", ttl, RULES.dnsTtl);
    problems.throwIfAny(`FailoverCname ${this.node.path}`);
    const Cname = props.zoneSite.cloud === "azurestack" ? AsCname : AzCname;
    new Cname(this, "Resource", {
      provider: props.zoneSite.provider,
      name: props.recordName,
      zoneName: props.zoneName,
      resourceGroupName: props.resourceGroupName,
      ttl,
      record: props.targetHost,
      tags: { ...(props.tags ?? {}) },
    });
    this.fqdn = `${props.recordName}.${props.zoneName}`;
  }
}
