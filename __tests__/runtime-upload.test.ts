import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StagedEntry } from "../runtime/src/model/blob";
import { uploadFromFile } from "../runtime/src/transfer/file-to-blob";
import { LocalSites, startLocalSites } from "../tools/azurite/local-sites";

/**
 * The upload of a staged block blob, against Azurite: the block size it picks when the configured one would need
 * more blocks than a block list holds (50,000). With 1-byte blocks configured, 50,001 bytes would be 50,001 Put
 * Blocks and a block list the service refuses.
 */
describe("uploading a staged block blob in blocks", () => {
  let sites: LocalSites;
  let dir: string;
  beforeAll(async () => {
    sites = await startLocalSites({ inMemory: true });
    await sites.target.container("uploads").create();
    dir = mkdtempSync(join(tmpdir(), "drsync-upload-"));
  }, 60_000);
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await sites?.stop();
  });

  test("a configured block size that needs more than 50,000 blocks gives way to the smallest whole MiB that fits", async () => {
    const body = randomBytes(50_001);
    const path = join(dir, "staged.bin");
    writeFileSync(path, body);
    const entry: StagedEntry = {
      name: "over-the-limit.bin", srcEtag: "0x1", size: body.length, lastModified: "2026-12-01T10:00:00.000Z", kind: "BlockBlob",
      props: { contentType: "application/octet-stream" }, metadata: {}, dataFile: "staged.bin", stagedMd5: createHash("md5").update(body).digest("base64"),
    };
    const client = sites.target.container("uploads").getBlockBlobClient(entry.name);
    await uploadFromFile(client, entry, path, { singleShotMax: 0, blockSize: 1, blockConcurrency: 4 });
    const list = await client.getBlockList("committed");
    expect(list.committedBlocks?.map((b) => b.size)).toEqual([body.length]);
    expect((await client.downloadToBuffer()).equals(body)).toBe(true);
  }, 60_000);
});
