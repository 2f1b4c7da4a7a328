import { get } from "node:http";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startLocalSites } from "../tools/azurite/local-sites";
import { uploadBlobs } from "./seed-data";
import { generateBlobs } from "./workload";

/**
 * `node build/bench-list-cost.js [COUNT] [REPS]` (after `npm run build`): what one List Blobs of COUNT blobs (default
 * 5,000 of the folders layout, 50 folders of 100) costs the service itself, the floor under any tool's unchanged
 * cycle: plain HTTP requests (no SDK) against one Azurite on disk, idle but for them. Prints the time to the first
 * byte and to the end of one flat page with and without `include=metadata`, and of 50 prefix listings (one per
 * folder) sent at once.
 */
async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 5000);
  const reps = Number(process.argv[3] ?? 3);
  const work = mkdtempSync(join(tmpdir(), "bench-list-cost-"));
  const sites = await startLocalSites({ dataDir: join(work, "azurite"), separate: false });
  try {
    const cc = sites.source.container("list-cost");
    await cc.create();
    await uploadBlobs(cc, generateBlobs(count, 1024, "folders", 0, "folders"), 32);
    const sas = sites.source.sas("rl");
    const list = (query: string) => new Promise<{ firstMs: number; endMs: number }>((resolve, reject) => {
      const t0 = performance.now();
      let first = 0;
      get(`${sites.source.blobEndpoint}list-cost?restype=container&comp=list&maxresults=5000${query}&${sas}`, { headers: { "x-ms-version": "2017-11-09" } }, (res) => {
        res.on("data", () => { first ||= performance.now(); });
        res.on("end", () => (res.statusCode === 200 ? resolve({ firstMs: first - t0, endMs: performance.now() - t0 }) : reject(new Error(`List Blobs answered ${res.statusCode}`))));
      }).on("error", reject);
    });
    const folders = [...new Set(generateBlobs(count, 1024, "folders", 0, "folders").map((b) => b.name.slice(0, b.name.lastIndexOf("/") + 1)))];
    for (let r = 1; r <= reps; r++) {
      for (const [label, q] of [["flat, include=metadata", "&include=metadata"], ["flat, no metadata", ""]]) {
        const m = await list(q);
        process.stdout.write(`rep ${r}  ${label.padEnd(24)} first byte ${m.firstMs.toFixed(0).padStart(5)} ms  end ${m.endMs.toFixed(0).padStart(5)} ms\n`);
      }
      const t0 = performance.now();
      await Promise.all(folders.map((f) => list(`&include=metadata&prefix=${encodeURIComponent(f)}`)));
      process.stdout.write(`rep ${r}  ${`${folders.length} prefix listings at once`.padEnd(24)} all ended after ${(performance.now() - t0).toFixed(0).padStart(5)} ms\n`);
    }
  } finally {
    await sites.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
