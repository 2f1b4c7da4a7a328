import { get } from "node:http";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pinnedNodeBinary } from "../lib/artifact/pinned-node";
import { LocalSite, startLocalSites } from "../tools/azurite/local-sites";
import { uploadBlobs } from "./seed-data";
import { generateBlobs } from "./workload";

/**
 * `node build/bench-list-cost.js [COUNT] [REPS]` (after `npm run build`): what one List Blobs of COUNT blobs (default
 * 5,000 of the folders layout, 50 folders of 100) costs the service itself, the floor under any tool's unchanged
 * cycle: plain HTTP requests (no SDK) against one Azurite on disk, idle but for them. Prints the time to the first
 * byte and to the end of one flat page with and without `include=metadata`, the whole flat listing in pages of
 * 1,000 (dr-sync's) and of 5,000 followed by their markers, and 50 prefix listings (one per folder) sent at once.
 * Then the floor under any unchanged cycle that sees both sites, as the bench runs them (one Azurite per site, on the
 * same cores): both whole listings at once in pages of 1,000, and a bare start of the pinned Node.js (`node -e 0`).
 * The rows above run against the source's Azurite alone (the target's holds the same blobs and stays idle).
 */
async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 5000);
  const reps = Number(process.argv[3] ?? 3);
  const work = mkdtempSync(join(tmpdir(), "bench-list-cost-"));
  const sites = await startLocalSites({ dataDir: join(work, "azurite"), separate: true });
  try {
    const blobs = generateBlobs(count, 1024, "folders", 0, "folders");
    for (const site of [sites.source, sites.target]) {
      const cc = site.container("list-cost");
      await cc.create();
      await uploadBlobs(cc, blobs, 32);
    }
    const sas = new Map<LocalSite, string>([[sites.source, sites.source.sas("rl")], [sites.target, sites.target.sas("rl")]]);
    const list = (query: string) => new Promise<{ firstMs: number; endMs: number }>((resolve, reject) => {
      const t0 = performance.now();
      let first = 0;
      get(`${sites.source.blobEndpoint}list-cost?restype=container&comp=list&maxresults=5000${query}&${sas.get(sites.source)}`, { headers: { "x-ms-version": "2017-11-09" } }, (res) => {
        res.on("data", () => { first ||= performance.now(); });
        res.on("end", () => (res.statusCode === 200 ? resolve({ firstMs: first - t0, endMs: performance.now() - t0 }) : reject(new Error(`List Blobs answered ${res.statusCode}`))));
      }).on("error", reject);
    });
    // The whole body, for following NextMarker; maxresults in `query` comes last, so it overrides the 5,000 above.
    const listBody = (query: string, site = sites.source) => new Promise<string>((resolve, reject) => {
      get(`${site.blobEndpoint}list-cost?restype=container&comp=list${query}&${sas.get(site)}`, { headers: { "x-ms-version": "2017-11-09" } }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(parts).toString("utf8")) : reject(new Error(`List Blobs answered ${res.statusCode}`))));
      }).on("error", reject);
    });
    /** Follows the markers through one site's whole listing; returns how many pages it took. */
    const listAll = async (size: number, site = sites.source) => {
      let marker = "";
      let pages = 0;
      do {
        const body = await listBody(`&include=metadata&maxresults=${size}${marker ? `&marker=${encodeURIComponent(marker)}` : ""}`, site);
        pages++;
        marker = /<NextMarker>([^<]*)<\/NextMarker>/.exec(body)?.[1] ?? "";
      } while (marker);
      return pages;
    };
    const folders = [...new Set(blobs.map((b) => b.name.slice(0, b.name.lastIndexOf("/") + 1)))];
    for (let r = 1; r <= reps; r++) {
      for (const [label, q] of [["flat, include=metadata", "&include=metadata"], ["flat, no metadata", ""]]) {
        const m = await list(q);
        process.stdout.write(`rep ${r}  ${label.padEnd(24)} first byte ${m.firstMs.toFixed(0).padStart(5)} ms  end ${m.endMs.toFixed(0).padStart(5)} ms\n`);
      }
      for (const size of [1000, 5000]) {
        const t = performance.now();
        const pages = await listAll(size);
        process.stdout.write(`rep ${r}  ${`flat, ${pages} pages of ${size}`.padEnd(24)} all ended after ${(performance.now() - t).toFixed(0).padStart(5)} ms\n`);
      }
      const t0 = performance.now();
      await Promise.all(folders.map((f) => list(`&include=metadata&prefix=${encodeURIComponent(f)}`)));
      process.stdout.write(`rep ${r}  ${`${folders.length} prefix listings at once`.padEnd(24)} all ended after ${(performance.now() - t0).toFixed(0).padStart(5)} ms\n`);
      const t1 = performance.now();
      await Promise.all([listAll(1000, sites.source), listAll(1000, sites.target)]);
      process.stdout.write(`rep ${r}  ${"both sites at once, 1000".padEnd(24)} all ended after ${(performance.now() - t1).toFixed(0).padStart(5)} ms\n`);
      const t2 = performance.now();
      execFileSync(pinnedNodeBinary(), ["-e", "0"]);
      process.stdout.write(`rep ${r}  ${"node -e 0 (pinned)".padEnd(24)}       ended after ${(performance.now() - t2).toFixed(0).padStart(5)} ms\n`);
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
