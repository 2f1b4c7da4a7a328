import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { AssetType, TerraformAsset, TerraformResource } from "cdktf";
import { Construct } from "constructs";
import { StorageBlob as AzurermStorageBlob } from "@cdktf/provider-azurerm/lib/storage-blob";
import { StorageBlob as AzurestackStorageBlob } from "@cdktf/provider-azurestack/lib/storage-blob";
import { SiteAccount } from "../storage/site-account";

export interface ArtifactBlobProps {
  /** Account that holds the artifacts; the VM's site, so the VM reaches it without the internet. */
  readonly account: SiteAccount;
  /** Container of the artifacts (created by the caller). */
  readonly container: string;
  /** Container resource to wait for. */
  readonly containerResource: TerraformResource;
  /** The file to ship. */
  readonly file: string;
  /** Folder of the blob; the blob is `<prefix>/<sha256>/<file name>`, so a new version is a new blob.
   *  @default the file's name without extension */
  readonly prefix?: string;
  /** Added to the error when the file is missing (how to produce it).
   *  @default "" */
  readonly missingHint?: string;
  /** The stackhub-dr release that shipped the file, kept in the blob's metadata (`release`).
   *  @default no metadata */
  readonly release?: string;
}

/**
 * One file shipped to the VM as a blob (a TerraformAsset uploaded into the artifacts container), with its SHA-256
 * computed at synth so the VM can pin it.
 */
export class ArtifactBlob extends Construct {
  /** Lowercase hex SHA-256 of the file. */
  readonly sha256: string;
  readonly blobName: string;
  /** `https://<account>.blob.<suffix>/<container>/<blob>`, without a SAS. */
  readonly url: string;
  readonly sizeBytes: number;
  readonly asset: TerraformAsset;

  constructor(scope: Construct, id: string, props: ArtifactBlobProps) {
    super(scope, id);
    if (!fs.existsSync(props.file) || !fs.statSync(props.file).isFile()) {
      throw new Error(`ArtifactBlob ${this.node.path}: file "${props.file}" does not exist${props.missingHint ? `; ${props.missingHint}` : ""}`);
    }
    const content = fs.readFileSync(props.file);
    this.sha256 = createHash("sha256").update(content).digest("hex");
    this.sizeBytes = content.length;
    const fileName = path.basename(props.file);
    this.blobName = `${props.prefix ?? path.parse(fileName).name}/${this.sha256}/${fileName}`;
    this.url = `${props.account.blobEndpoint}${props.container}/${this.blobName}`;

    // The content hash names the asset folder, so cdktf does not hash a large file a second time.
    this.asset = new TerraformAsset(this, "Asset", { path: path.resolve(props.file), type: AssetType.FILE, assetHash: this.sha256 });
    const Blob = props.account.site.cloud === "azurestack" ? AzurestackStorageBlob : AzurermStorageBlob;
    new Blob(this, "Resource", {
      provider: props.account.site.provider,
      name: this.blobName,
      storageAccountName: props.account.accountName,
      storageContainerName: props.container,
      type: "Block",
      source: this.asset.path,
      contentType: "application/octet-stream",
      ...(props.release ? { metadata: { release: props.release } } : {}),
      dependsOn: [props.containerResource],
    });
  }
}
