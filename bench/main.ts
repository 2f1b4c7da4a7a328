import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { BenchOptions, parseOptions, UsageError, USAGE } from "./options";
import { ToolName } from "./peers/peer";
import { projectRoot } from "./project-root";
import { consoleTable, renderMarkdown, renderResultChart } from "./report";
import { BenchResult, PEERS, runBench } from "./run-bench";
import { checkTargets, summarizeRuns } from "./summary";
import { replaceGeneratedSection } from "./docs-section";
import { benchNotes } from "./notes";
import { runShardBench } from "./shards";

/** `npm run bench`: checks the peers (installing them if asked), runs the comparison, writes the results and report. */
async function main(): Promise<number> {
  if (process.argv.includes("--help") || process.argv.includes("-h")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  // Scale-out is its own bench (docs/scale-out.md): N processes, one workload.
  if (process.argv.includes("--shards")) return runShardBench(process.argv.slice(2));
  let opts: BenchOptions;
  try {
    opts = parseOptions(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const skipped: Partial<Record<ToolName, string>> = {};
  let missing = opts.tools.filter((t) => PEERS[t].missing());
  if (missing.some((t) => t !== "dr-sync") && opts.setup) {
    log(`installing peers (${missing.join(", ")} missing): scripts/bench-setup.sh`);
    spawnSync("bash", [join(projectRoot(), "scripts", "bench-setup.sh")], { stdio: "inherit" });
    missing = opts.tools.filter((t) => PEERS[t].missing());
  }
  for (const t of missing) {
    skipped[t] = PEERS[t].missing()!;
    log(`skipping ${t}: ${skipped[t]}`);
  }
  const tools = opts.tools.filter((t) => !missing.includes(t));
  if (!tools.length) {
    log("bench: no tool can run");
    return 1;
  }
  const versions: Partial<Record<ToolName, string>> = {};
  for (const t of tools) versions[t] = await PEERS[t].version();
  log(`tools: ${tools.map((t) => versions[t]).join(", ")}`);

  const measured = await runBench(opts, tools, { log });
  const result: BenchResult = { ...measured, versions, skipped };
  const summaries = summarizeRuns(result.runs);
  const targets = tools.includes("dr-sync") ? checkTargets(result, summaries) : [];
  process.stdout.write(`\n${consoleTable(summaries, tools)}\n\n`);
  for (const t of targets) process.stdout.write(`${t.verdict.padEnd(12)} ${t.target} — ${t.measured}\n`);

  const stamp = result.startedAt.replace(/:\d\d\.\d+Z$/, "Z").replace(/:/g, "");
  const outDir = resolve(opts.outDir);
  mkdirSync(outDir, { recursive: true });
  const jsonFile = join(outDir, `${stamp}.json`);
  const svgFile = join(outDir, `${stamp}.svg`);
  const mdFile = join(outDir, `${stamp}.md`);
  writeFileSync(jsonFile, JSON.stringify({ ...result, summaries, targets }, null, 2) + "\n");
  writeFileSync(svgFile, renderResultChart(result, summaries, tools));
  writeFileSync(mdFile, `# Benchmark ${stamp}\n\n${renderMarkdown(result, summaries, targets, `./${stamp}.svg`, benchNotes(result.sites ?? "one"))}`);
  const written = [jsonFile, svgFile, mdFile];
  if (opts.docsFile) {
    const docs = resolve(opts.docsFile);
    const section = renderMarkdown(result, summaries, targets, relative(dirname(docs), svgFile), benchNotes(result.sites ?? "one"));
    mkdirSync(dirname(docs), { recursive: true });
    const before = existsSync(docs) ? readFileSync(docs, "utf8") : "# Benchmarks\n";
    writeFileSync(docs, replaceGeneratedSection(before, `Latest run: [${stamp}](${relative(dirname(docs), mdFile)}).\n\n${section}`));
    written.push(docs);
  }
  log(`wrote ${written.map((f) => relative(process.cwd(), f)).join(", ")}`);
  return result.runs.some((r) => !r.ok) ? 1 : 0;
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
